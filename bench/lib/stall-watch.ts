// What the main thread is doing when its event loop stalls: a watchdog thread sees the loop's
// heartbeat stop and samples the main thread's kernel state (/proc/self/task/<tid>/stat, syscall,
// wchan) until it beats again. R = on a CPU or waiting for one; S/D = blocked, in `syscall`.
// Started by bench/target-watchfire.ts (BENCH_STALL_WATCH=0 to leave it out).
import { Worker } from 'node:worker_threads';

export interface Stall {
  at: number;
  ms: number;
  /** Samples taken during the stall: "state syscall-number wchan", counted. */
  states: Record<string, number>;
}

const WORKER = `
const { workerData, parentPort } = require('node:worker_threads');
const { readFileSync } = require('node:fs');
const beat = new Float64Array(workerData.sab);
const tid = workerData.tid;
const read = (f) => { try { return readFileSync('/proc/self/task/' + tid + '/' + f, 'utf8').trim(); } catch { return '?'; } };
let stall = null;
setInterval(() => {
  const now = performance.timeOrigin + performance.now();
  const late = now - beat[0];
  if (late > workerData.thresholdMs) {
    stall ??= { at: beat[0], states: {} };
    const stat = read('stat');
    const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
    const key = state + ' ' + read('syscall').split(' ')[0] + ' ' + read('wchan');
    stall.states[key] = (stall.states[key] || 0) + 1;
  } else if (stall) {
    parentPort.postMessage({ at: stall.at, ms: Math.round(now - stall.at), states: stall.states });
    stall = null;
  }
}, 5);
`;

export function watchStalls(thresholdMs = 50): { stalls(): Stall[]; reset(): void } {
  const sab = new SharedArrayBuffer(8);
  const beat = new Float64Array(sab);
  const tick = (): void => {
    beat[0] = performance.timeOrigin + performance.now();
  };
  tick();
  setInterval(tick, 5).unref();
  let found: Stall[] = [];
  const w = new Worker(WORKER, { eval: true, workerData: { sab, tid: process.pid, thresholdMs } });
  w.unref();
  w.on('message', (s: Stall) => found.push(s));
  return {
    stalls: () => found,
    reset: () => {
      found = [];
    },
  };
}
