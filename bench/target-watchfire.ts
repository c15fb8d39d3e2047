// Watchfire under benchmark, in its own process so that its CPU and RSS are measured on their own
// (/proc/<pid>/stat, /proc/<pid>/status). Started by bench/lib/targets.ts with a JSON argument:
//   { dataDir, influxUrl, registryFile, consoleUser: { username, password } }
// It loads the registry, creates a console user for the live stream, and prints
//   {"mqtt": port, "http": port, "pid": pid}
// on one line of stdout. Notifications handed to the email and webhook channels are reported to
// the parent over IPC ({ t: 'notify', channel, deviceId, at }) and resolve at once, so the
// benchmark measures Watchfire up to the hand-over, not a mail server.
import { readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { constants, monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { join } from 'node:path';
import { getHeapSpaceStatistics, getHeapStatistics, writeHeapSnapshot } from 'node:v8';
import pino from 'pino';
import { loadConfig } from '../app/config.ts';
import { createWatchfire } from '../app/watchfire.ts';
import { RegistryFile } from '../contracts/registry.ts';
import { createUser, findUser } from '../dashboards/index.ts';
import { watchStalls } from './lib/stall-watch.ts';
import type { Channel, OutboundMessage } from '../alerts/index.ts';

interface TargetArgs {
  dataDir: string;
  influxUrl: string;
  registryFile: string;
  consoleUser: { username: string; password: string };
  config?: Record<string, unknown>;
  restart?: boolean;
}

const args = JSON.parse(process.argv[2] ?? '{}') as TargetArgs;
const now = (): number => performance.timeOrigin + performance.now();

function recorder(name: 'email' | 'webhook'): Channel {
  return {
    name,
    send(m: OutboundMessage) {
      const inc = (m.data as { incident?: { deviceId?: string; level?: string } }).incident;
      process.send?.({ t: 'notify', channel: name, kind: m.kind, deviceId: inc?.deviceId ?? null, level: inc?.level ?? null, at: now() });
      return Promise.resolve();
    },
    close: () => Promise.resolve(),
  };
}

const config = loadConfig({
  env: {},
  overrides: {
    dataDir: args.dataDir,
    'log.level': 'warn',
    'gateway.host': '127.0.0.1',
    'gateway.port': 0,
    // The load generator stands in for thousands of devices on 127.0.0.1–9 (bench/lib/load.ts);
    // real devices come from their own (or a NAT's) addresses. Hostile traffic in the soak comes
    // from 127.0.0.20 and up, which admission control sees as it would in the field.
    'gateway.admission.exemptAddresses': Array.from({ length: 9 }, (_, i) => `127.0.0.${i + 1}`),
    'http.host': '127.0.0.1',
    'http.port': 0,
    'influx.url': args.influxUrl,
    ...args.config,
  },
});
const wf = createWatchfire({
  config,
  logger: pino({ level: 'warn' }, pino.destination(2)),
  alerts: { channels: { email: recorder('email'), webhook: recorder('webhook') }, cron: false },
});
await wf.start();
if (!args.restart) {
  const registry = RegistryFile.parse(JSON.parse(readFileSync(args.registryFile, 'utf8')));
  await wf.registry.importFile(registry);
  // Cluster nodes on one PostgreSQL share their users: the second node finds the first's.
  if (!(await findUser(wf.users, args.consoleUser.username))) {
    await createUser(wf.users, { username: args.consoleUser.username, role: 'admin', password: args.consoleUser.password }, { cost: { N: 1024, r: 8, p: 1 } });
  }
}

// Incidents as the bus sees them, for the alarm scenarios' cross-check against the stream.
wf.bus.on('incident', 'bench', (ev) => {
  if (ev.kind === 'opened' || ev.kind === 'raised' || ev.kind === 'updated') {
    process.send?.({ t: 'incident', kind: ev.kind, key: ev.incident.key, deviceId: ev.incident.deviceId, receivedAt: ev.receivedAt ?? null, at: now() });
  }
});

// What holds the event loop up, for the latency scenarios: its delay histogram and GC pauses
// since the last 'loop' request (which resets both).
const loopDelay = monitorEventLoopDelay({ resolution: 1 });
loopDelay.enable();
let gcPauses: Record<string, { n: number; totalMs: number; maxMs: number }> = {};
const GC_KINDS: Record<number, string> = { [constants.NODE_PERFORMANCE_GC_MINOR]: 'scavenge', [constants.NODE_PERFORMANCE_GC_MAJOR]: 'mark-compact', [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental', [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weak-callbacks' };
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    const kind = GC_KINDS[((e as { detail?: { kind?: number } }).detail)?.kind ?? -1] ?? 'other';
    const g = (gcPauses[kind] ??= { n: 0, totalMs: 0, maxMs: 0 });
    g.n++;
    g.totalMs += e.duration;
    g.maxMs = Math.max(g.maxMs, e.duration);
  }
}).observe({ entryTypes: ['gc'] });

// BENCH_HEAP_SAMPLING=<file>: where the process allocates (including what GC collected since),
// sampled from start to stop; open the file in Chrome DevTools (Memory → Load).
// BENCH_HEAP_SAMPLING_SURVIVORS=1 leaves out what the young-generation GC collected: what is left
// is what lived long enough to be promoted (the cost of old-generation GC) or was alive at the end.
const heapSampling = process.env.BENCH_HEAP_SAMPLING ? new Session() : undefined;
if (heapSampling) {
  heapSampling.connect();
  heapSampling.post('HeapProfiler.startSampling', { samplingInterval: 16384, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: process.env.BENCH_HEAP_SAMPLING_SURVIVORS !== '1' });
}
function stopHeapSampling(): Promise<void> {
  if (!heapSampling) return Promise.resolve();
  return new Promise((resolve) => {
    heapSampling.post('HeapProfiler.stopSampling', (err, r) => {
      if (!err) writeFileSync(process.env.BENCH_HEAP_SAMPLING!, JSON.stringify(r.profile));
      resolve();
    });
  });
}

// What the main thread was doing in each event-loop stall over 50 ms (BENCH_STALL_WATCH=0 turns it off).
const stallWatch = process.env.BENCH_STALL_WATCH === '0' ? undefined : watchStalls(50);

/** The gateway's PUBACK hold histogram (watchfire_gateway_puback_hold_seconds) as cumulative counts per upper bound, seconds. */
async function pubackHold(): Promise<Array<[number, number]>> {
  const metric = wf.metrics.getSingleMetric('watchfire_gateway_puback_hold_seconds');
  const got = (await metric?.get()) as { values: Array<{ metricName?: string; labels: { le?: number | string }; value: number }> } | undefined;
  return (got?.values ?? []).filter((v) => v.metricName?.endsWith('_bucket')).map((v) => [v.labels.le === '+Inf' ? Infinity : Number(v.labels.le), v.value]);
}

process.on('message', async (m: { t: string; id?: number }) => {
  if (m.t === 'loop') {
    const ms = (ns: number): number => Math.round(ns / 1e4) / 100;
    const round = (x: number): number => Math.round(x * 100) / 100;
    const stalls = stallWatch?.stalls() ?? [];
    stallWatch?.reset();
    process.send?.({ t: 'loop', id: m.id, stalls, pubackHold: await pubackHold(), delay: { p50: ms(loopDelay.percentile(50)), p99: ms(loopDelay.percentile(99)), max: ms(loopDelay.max) }, gc: Object.fromEntries(Object.entries(gcPauses).map(([k, g]) => [k, { n: g.n, totalMs: round(g.totalMs), maxMs: round(g.maxMs) }])) });
    loopDelay.reset();
    gcPauses = {};
  } else if (m.t === 'stats') {
    const s = wf.store.stats();
    process.send?.({ t: 'stats', id: m.id, store: s, journal: wf.journal.stats(), backlog: wf.store.backlog(), gateway: wf.gateway.stats(), online: wf.gateway.onlineCount() });
  } else if (m.t === 'memory') {
    // Memory probes (bench/lib/memory-probe.ts): after a full GC when --expose-gc is given, and a
    // heap snapshot when BENCH_HEAP_SNAPSHOT names a directory.
    (globalThis as { gc?: () => void }).gc?.();
    const file = process.env.BENCH_HEAP_SNAPSHOT ? writeHeapSnapshot(join(process.env.BENCH_HEAP_SNAPSHOT, `wf-${Date.now()}.heapsnapshot`)) : null;
    process.send?.({ t: 'memory', id: m.id, usage: process.memoryUsage(), heap: getHeapStatistics(), spaces: Object.fromEntries(getHeapSpaceStatistics().map((sp) => [sp.space_name, { size: sp.space_size, used: sp.space_used_size }])), snapshot: file });
  } else if (m.t === 'flush') {
    void wf.store.flush().then(() => process.send?.({ t: 'flushed', id: m.id }));
  } else if (m.t === 'stop') {
    void stopHeapSampling().then(() => wf.stop()).then(() => process.exit(0));
  }
});
process.on('disconnect', () => {
  void wf.stop().finally(() => process.exit(0));
});

const a = wf.addresses();
process.stdout.write(`${JSON.stringify({ mqtt: a.mqtt, http: a.http, pid: process.pid, ...(a.gbt26875 ? { gbt26875: a.gbt26875 } : {}) })}\n`);
