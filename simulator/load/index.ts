// Load mode for benchmarks: N devices at a reporting rate for a duration, connections ramped,
// spread over worker processes so that the generator is not the bottleneck; a progress bar while
// it runs and a summary (sent, acknowledged, errors, rate, publish → PUBACK latency) at the end.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { cpus } from 'node:os';
import { writeFileSync } from 'node:fs';
import type CliProgress from 'cli-progress';
import { createHistogram } from './histogram.ts';
import type { FromWorker, WorkerCounters, WorkerDone, WorkerStart } from './protocol.ts';

export interface LoadOptions {
  url: string;
  devices: number;
  /** Messages per second per device (the gateway's default budget is 20/s sustained). */
  rate: number;
  durationSec: number;
  /** Worker processes; default: CPU count − 1, and at least one per 15,000 devices (open files: NOTES.md). */
  workers?: number;
  /** Spread connections over source addresses 127.0.0.2 … 127.0.0.(1+n) (loopback targets only). */
  sourceAddresses?: number;
  /** CONNECTs per second across all workers. */
  connectPerSec?: number;
  /** device id → secret; the first `devices` entries are used. Without: ids `load-00001…` and no password (a bare broker). */
  credentials?: Readonly<Record<string, string>>;
  qos?: 0 | 1;
  drainMs?: number;
  /** Show a cli-progress bar on stderr. */
  progress?: boolean;
  /** Also write the summary here as JSON. */
  jsonFile?: string;
}

export interface LoadSummary {
  url: string;
  devices: number;
  workers: number;
  ratePerDevice: number;
  qos: 0 | 1;
  durationSec: number;
  connected: number;
  connectErrors: number;
  sent: number;
  acked: number;
  errors: number;
  backpressure: number;
  /** Acknowledged messages per second over the publishing window. */
  rate: number;
  /** Publish → PUBACK (QoS 1), milliseconds. */
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
}

const DEVICES_PER_WORKER = 15_000;
// From the TypeScript sources (development) the worker runs through tsx like the rest; from the
// production build (dist/, issue 18 point 1) it is plain JavaScript beside this file.
const FROM_SOURCE = import.meta.url.endsWith('.ts');
const WORKER = fileURLToPath(new URL(FROM_SOURCE ? './worker.ts' : './worker.js', import.meta.url));
const WORKER_EXEC_ARGV = FROM_SOURCE ? ['--import', 'tsx'] : [];

/** cli-progress is a development package: without it (a production install) there is no bar. */
async function progressBar(): Promise<typeof CliProgress | undefined> {
  try {
    return (await import('cli-progress')).default;
  } catch {
    return undefined;
  }
}
const r3 = (x: number) => Math.round(x * 1000) / 1000;

export async function runLoad(opts: LoadOptions): Promise<LoadSummary> {
  if (!(opts.devices >= 1) || !(opts.rate > 0) || !(opts.durationSec > 0)) throw new RangeError('devices ≥ 1, rate > 0 and durationSec > 0 are required');
  // One process holds at most ~19,500 sockets here (20,000 open files, NOTES.md).
  const nWorkers = Math.max(1, Math.min(opts.devices, opts.workers ?? Math.max(cpus().length - 1, Math.ceil(opts.devices / DEVICES_PER_WORKER))));
  const sourceAddresses = Array.from({ length: opts.sourceAddresses ?? 0 }, (_, i) => `127.0.0.${2 + i}`);
  const qos = opts.qos ?? 1;
  let devices: Array<{ id: string; secret: string }>;
  if (opts.credentials) {
    devices = Object.entries(opts.credentials).slice(0, opts.devices).map(([id, secret]) => ({ id, secret }));
    if (devices.length < opts.devices) throw new RangeError(`only ${devices.length} credentials for ${opts.devices} devices`);
  } else {
    devices = Array.from({ length: opts.devices }, (_, i) => ({ id: `load-${String(i + 1).padStart(5, '0')}`, secret: '' }));
  }
  const shares: Array<Array<{ id: string; secret: string }>> = Array.from({ length: nWorkers }, () => []);
  devices.forEach((d, i) => shares[i % nWorkers]!.push(d));
  const connectPerSec = opts.connectPerSec ?? 500;
  const durationMs = opts.durationSec * 1000;

  const elapsed: number[] = shares.map(() => 0);
  const live: WorkerCounters[] = shares.map(() => ({ connected: 0, connectErrors: 0, sent: 0, acked: 0, errors: 0, backpressure: 0 }));
  const total = () => live.reduce((a, w) => ({ connected: a.connected + w.connected, connectErrors: a.connectErrors + w.connectErrors, sent: a.sent + w.sent, acked: a.acked + w.acked, errors: a.errors + w.errors, backpressure: a.backpressure + w.backpressure }));
  const cliProgress = opts.progress ? await progressBar() : undefined;
  const bar = cliProgress
    ? new cliProgress.SingleBar({ format: 'load |{bar}| {percentage}% {duration}s | conn {connected}/{devices} | sent {sent} acked {acked} err {errors} | {rate}/s', hideCursor: true }, cliProgress.Presets.shades_classic)
    : undefined;
  bar?.start(opts.durationSec, 0, { connected: 0, devices: opts.devices, sent: 0, acked: 0, errors: 0, rate: 0 });
  let lastAcked = 0;
  let lastT = Date.now();
  const ticker = bar
    ? setInterval(() => {
        const s = total();
        const now = Date.now();
        const rate = Math.round(((s.acked - lastAcked) * 1000) / Math.max(1, now - lastT));
        lastAcked = s.acked;
        lastT = now;
        // Progress is the workers' own clock: they start after their processes boot.
        bar.update(Math.min(opts.durationSec, Math.max(...elapsed) / 1000), { ...s, devices: opts.devices, rate });
      }, 250)
    : undefined;

  const children: ChildProcess[] = [];
  try {
    const results = await Promise.all(shares.map((share, i) => new Promise<WorkerDone>((resolve, reject) => {
      const child = fork(WORKER, [], { execArgv: WORKER_EXEC_ARGV, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      children.push(child);
      let done: WorkerDone | undefined;
      child.on('message', (m: FromWorker) => {
        if (m.type === 'ready') {
          const job: WorkerStart = { type: 'start', url: opts.url, devices: share, rate: opts.rate, durationMs, connectPerSec: Math.max(1, connectPerSec / nWorkers), qos, drainMs: opts.drainMs ?? 5000, sourceAddresses };
          child.send(job);
        } else if (m.type === 'progress') {
          live[i] = m;
          elapsed[i] = m.elapsedMs;
        }
        else if (m.type === 'done') {
          live[i] = m;
          done = m;
        } else if (m.type === 'error') reject(new Error(`load worker ${i}: ${m.message}`));
      });
      child.on('error', reject);
      child.on('exit', (code) => (done ? resolve(done) : reject(new Error(`load worker ${i} exited with ${code} before finishing`))));
    })));
    const hist = createHistogram();
    for (const r of results) hist.merge(r.counts, r.max);
    const s = total();
    const publishMs = Math.max(1, ...results.map((r) => r.publishMs));
    const summary: LoadSummary = {
      url: opts.url,
      devices: opts.devices,
      workers: nWorkers,
      ratePerDevice: opts.rate,
      qos,
      durationSec: opts.durationSec,
      ...s,
      rate: Math.round((s.acked * 1000) / publishMs),
      latencyMs: { p50: r3(hist.quantile(0.5)), p90: r3(hist.quantile(0.9)), p99: r3(hist.quantile(0.99)), max: r3(hist.max), mean: r3(hist.mean()) },
    };
    if (opts.jsonFile) writeFileSync(opts.jsonFile, `${JSON.stringify(summary, null, 2)}\n`);
    return summary;
  } finally {
    if (ticker) clearInterval(ticker);
    bar?.stop();
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill();
  }
}

export function formatSummary(s: LoadSummary): string {
  return [
    `devices ${s.devices} (${s.connected} connected, ${s.connectErrors} refused) over ${s.workers} worker(s), ${s.ratePerDevice}/s each, QoS ${s.qos}, ${s.durationSec} s`,
    `sent ${s.sent}  acked ${s.acked}  errors ${s.errors}  backpressure ${s.backpressure}  rate ${s.rate} msg/s`,
    `publish→PUBACK ms  p50 ${s.latencyMs.p50}  p90 ${s.latencyMs.p90}  p99 ${s.latencyMs.p99}  max ${s.latencyMs.max}`,
  ].join('\n');
}
