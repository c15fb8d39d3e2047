// What the main thread is doing when its event loop stalls: a watchdog thread sees the loop's
// heartbeat stop and samples the main thread's kernel state (/proc/self/task/<tid>/stat, syscall,
// wchan) until it beats again. R = on a CPU or waiting for one; S/D = blocked, in `syscall`.
// The thread's schedstat (time on a CPU, time runnable but waiting for one) across the stall tells
// the two R cases apart: cpuMs ≈ ms is work on the thread (JS, GC), waitMs is the scheduler.
// Started by bench/target-watchfire.ts (BENCH_STALL_WATCH=0 to leave it out).
import { Worker } from 'node:worker_threads';

export interface Stall {
  at: number;
  ms: number;
  /** Samples taken during the stall: "state syscall-number wchan", counted. */
  states: Record<string, number>;
  /** Of the stall, ms the main thread ran on a CPU and ms it waited runnable for one (schedstat). */
  cpuMs?: number;
  waitMs?: number;
}

const WORKER = `
const { workerData, parentPort } = require('node:worker_threads');
const { readFileSync } = require('node:fs');
const beat = new Float64Array(workerData.sab);
const tid = workerData.tid;
const read = (f) => { try { return readFileSync('/proc/self/task/' + tid + '/' + f, 'utf8').trim(); } catch { return '?'; } };
let stall = null;
// schedstat: ns on a CPU, ns waiting on a run queue, timeslices.
const sched = () => read('schedstat').split(' ').map(Number);
setInterval(() => {
  const now = performance.timeOrigin + performance.now();
  const late = now - beat[0];
  if (late > workerData.thresholdMs) {
    stall ??= { at: beat[0], states: {}, sched: sched() };
    const stat = read('stat');
    const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
    const key = state + ' ' + read('syscall').split(' ')[0] + ' ' + read('wchan');
    stall.states[key] = (stall.states[key] || 0) + 1;
  } else if (stall) {
    const [run, wait] = sched();
    // The first sample comes thresholdMs into the stall: the deltas cover the rest of it.
    parentPort.postMessage({ at: stall.at, ms: Math.round(now - stall.at), states: stall.states, cpuMs: Math.round((run - stall.sched[0]) / 1e6), waitMs: Math.round((wait - stall.sched[1]) / 1e6) });
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
