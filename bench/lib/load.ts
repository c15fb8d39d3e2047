// The load generator as the scenarios see it: a pool of worker processes (child_process.fork),
// each holding a share of the devices as real MQTT connections. Connections are spread over
// several processes (one process holds at most ~19.5k sockets here: 20,000 open files, NOTES.md)
// and over several loopback source addresses (ephemeral ports are per source address).
// If simulator/load's runLoad() grows step control, this interface is the seam to swap it in.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { WorkerCommand, WorkerDevice, WorkerReply, WorkerSnapshot } from './load-protocol.ts';
import { merge, newHistogram } from './stats.ts';

export interface LoadPoolOptions {
  host: string;
  port: number;
  devices: WorkerDevice[];
  /** Worker processes; default: one per 5,000 devices, at least 2. */
  workers?: number;
  /** Source addresses 127.0.0.2 … 127.0.0.(1+n). */
  sourceAddresses?: number;
  keepaliveSec?: number;
  inflightPerDevice?: number;
  announce?: boolean;
  retryMs?: number;
  /** `wire` (default): the hand-written codec, so the broker is the limit; `mqttjs`: every device an
   * MQTT.js client, one PUBLISH per reading, as firmware behaves (issue 15 point 6). */
  client?: 'wire' | 'mqttjs';
}

export interface ConnectResult {
  connected: number;
  refused: number;
  errors: number;
  /** Until the last worker had all its devices connected (or gave up). */
  ms: number;
  complete: boolean;
}

export interface LoadSnapshot extends Omit<WorkerSnapshot, 'hist' | 'recvHist'> {
  hist: number[];
  recvHist: number[];
}

export interface LoadPool {
  readonly pids: number[];
  readonly size: number;
  connect(opts?: { perSec?: number; timeoutMs?: number }): Promise<ConnectResult>;
  /** Total offered publishes per second across all devices (0 stops publishing). */
  setRate(perSec: number, qos?: 0 | 1): void;
  snapshot(reset?: boolean): Promise<LoadSnapshot>;
  /** Every socket closed at once without DISCONNECT (a network cut). */
  drop(): Promise<void>;
  /** Subscriber mode (device 0 of worker 0 subscribes). */
  subscribe(filter: string, qos: 0 | 1): Promise<void>;
  close(): Promise<void>;
}

const WORKER = fileURLToPath(new URL('./load-worker.ts', import.meta.url));
const WORKER_MQTTJS = fileURLToPath(new URL('./load-worker-mqttjs.ts', import.meta.url));

export async function createLoadPool(o: LoadPoolOptions): Promise<LoadPool> {
  const nWorkers = Math.max(1, Math.min(o.devices.length, o.workers ?? Math.max(2, Math.ceil(o.devices.length / 5000))));
  const addrs = Array.from({ length: o.sourceAddresses ?? 4 }, (_, i) => `127.0.0.${2 + i}`);
  const workers: ChildProcess[] = [];
  const waiters = new Map<ChildProcess, Array<(m: WorkerReply) => void>>();
  for (let w = 0; w < nWorkers; w++) {
    const child = fork(o.client === 'mqttjs' ? WORKER_MQTTJS : WORKER, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    waiters.set(child, []);
    child.on('message', (m: WorkerReply) => {
      const q = waiters.get(child)!;
      q.shift()?.(m);
    });
    workers.push(child);
  }
  const ask = (w: ChildProcess, cmd: WorkerCommand): Promise<WorkerReply> =>
    new Promise((resolve, reject) => {
      waiters.get(w)!.push(resolve);
      w.send(cmd, (err) => {
        if (err) reject(err);
      });
    });
  const tell = (w: ChildProcess, cmd: WorkerCommand): void => {
    w.send(cmd);
  };

  await Promise.all(workers.map((w, i) => ask(w, {
    cmd: 'init',
    host: o.host,
    port: o.port,
    devices: o.devices.filter((_, j) => j % nWorkers === i),
    localAddresses: addrs,
    keepaliveSec: o.keepaliveSec ?? 600,
    inflightPerDevice: o.inflightPerDevice ?? 4,
    announce: o.announce ?? false,
    retryMs: o.retryMs ?? 1000,
  })));

  return {
    pids: workers.map((w) => w.pid!),
    size: o.devices.length,
    async connect(c = {}) {
      const perWorker = (c.perSec ?? 0) / nWorkers;
      const rs = await Promise.all(workers.map((w) => ask(w, { cmd: 'connect', perSec: perWorker, timeoutMs: c.timeoutMs ?? 120_000 })));
      const out: ConnectResult = { connected: 0, refused: 0, errors: 0, ms: 0, complete: true };
      for (const r of rs) {
        if (r.ev !== 'connected') continue;
        out.connected += r.connected;
        out.refused += r.refused;
        out.errors += r.errors;
        out.ms = Math.max(out.ms, r.ms);
        out.complete &&= r.complete;
      }
      return out;
    },
    setRate(perSec, qos = 1) {
      for (const w of workers) tell(w, { cmd: 'rate', perSec: perSec / nWorkers, qos });
    },
    async snapshot(reset = false) {
      const rs = await Promise.all(workers.map((w) => ask(w, { cmd: 'snapshot', reset })));
      const out: LoadSnapshot = { offered: 0, sent: 0, acked: 0, deferred: 0, unackedAtClose: 0, inflight: 0, connected: 0, disconnects: 0, refused: 0, errors: 0, hist: newHistogram(), received: 0, recvHist: newHistogram(), loop: { p99: 0, max: 0 } };
      for (const r of rs) {
        if (r.ev !== 'snapshot') continue;
        const s = r.snap;
        for (const k of ['offered', 'sent', 'acked', 'deferred', 'unackedAtClose', 'inflight', 'connected', 'disconnects', 'refused', 'errors', 'received'] as const) out[k] += s[k];
        merge(out.hist, s.hist);
        merge(out.recvHist, s.recvHist);
        // The worst worker: its devices' latencies carry its delay.
        out.loop = { p99: Math.max(out.loop.p99, s.loop.p99), max: Math.max(out.loop.max, s.loop.max) };
      }
      return out;
    },
    async drop() {
      await Promise.all(workers.map((w) => ask(w, { cmd: 'drop' })));
    },
    async subscribe(filter, qos) {
      await ask(workers[0]!, { cmd: 'subscribe', filter, qos });
    },
    async close() {
      await Promise.all(workers.map(async (w) => {
        if (w.exitCode !== null) return;
        const exited = new Promise<void>((r) => w.once('exit', () => r()));
        try {
          await Promise.race([ask(w, { cmd: 'end' }), new Promise((r) => setTimeout(r, 5000))]);
        } catch {
          // already gone
        }
        const killer = setTimeout(() => w.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(killer);
      }));
    },
  };
}
