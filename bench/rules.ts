// Rule engine benchmark (issue 3 point 8): readings scored per second on one core with 10,000
// devices' state warm, p99 per reading, and heap bytes per device state.
//   node --expose-gc --import tsx bench/rules.ts        (pin to one core: taskset -c 0 …)
// Targets: ≥ 1,000,000 readings/s, p99 ≤ 20 µs, ≤ 2 KiB per device state.
// Writes bench/results/rules.json. Knobs: BENCH_DEVICES (10000), BENCH_ONLY=<device type>,
// BENCH_NO_MEM=1 (skip the heap measurement, e.g. under --cpu-prof).
// Readings are timed as built two ways: one object literal (one hidden class) and the spread ingest
// uses today (a hidden class per reading on Node 20); see build().
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createRuleEngine, DEFAULT_RULE_SET } from '../rules/index.ts';
import { device, directory, prng } from '../rules/test-support.ts';
import type { DeviceInfo } from '../contracts/registry.ts';
import type { DeviceType } from '../contracts/protocol.ts';

const DEVICES = Number(process.env.BENCH_DEVICES ?? 10_000);
/** A county: mostly home detectors, some panels, a few buildings' settlement points. */
const MIX: Array<[DeviceType, number]> = process.env.BENCH_ONLY
  ? [[process.env.BENCH_ONLY as DeviceType, 1]]
  : [['smoke_detector', 0.85], ['fire_panel', 0.05], ['settlement_sensor', 0.1]];
/** Readings per device in one pass's pool. */
const ROUNDS = 4;
const PASSES = 40;
const BATCH = 32; // readings per timed batch for the latency distribution (amortises the clock read)
const T0 = Date.UTC(2026, 10, 1);
const HOUR = 3_600_000;

const maybeGc = (globalThis as { gc?: () => void }).gc;
if (!maybeGc) {
  console.error('run with: node --expose-gc --import tsx bench/rules.ts');
  process.exit(2);
}
const gc: () => void = maybeGc;
const fullGc = () => { for (let i = 0; i < 3; i++) gc(); };

function makeDevices(n: number, mix: Array<[DeviceType, number]>): DeviceInfo[] {
  const out: DeviceInfo[] = [];
  let i = 0;
  for (const [type, share] of mix) {
    const k = Math.round(n * share);
    for (let j = 0; j < k && out.length < n; j++, i++) {
      // homes have 1–3 detectors: sites shared by neighbouring ids
      out.push(device(`${type.slice(0, 3)}-${i}`, type, { siteId: `site-${type === 'smoke_detector' ? i >> 1 : i}`, location: 'kitchen' }));
    }
  }
  return out;
}

interface MutableReading {
  kind: 'telemetry' | 'event';
  deviceId: string; deviceType: DeviceType; siteId: string; centerId: string; gridId: string | undefined;
  ts: number; receivedAt: number; seq: number | undefined; flags: readonly 'clock_bad'[];
  values: Record<string, number | string>;
  event?: { type: string; [k: string]: unknown };
}

type Shape = 'literal' | 'spread';
let shape: Shape = 'literal';

/**
 * A reading as ingest builds it. 'literal': one object literal, one hidden class for all readings.
 * 'spread': `{ ...base, kind, values }` as ingest/ingest.ts does today; on Node 20 that gives
 * almost every reading its own hidden class (19,992 maps for 20,000 readings measured), so every
 * property read of a reading anywhere downstream is a megamorphic lookup.
 */
function build(d: DeviceInfo, ts: number, seq: number, kind: 'telemetry' | 'event', values: Record<string, number | string>, ev?: { type: string; [k: string]: unknown }): MutableReading {
  if (shape === 'spread') {
    const base = { deviceId: d.id, deviceType: d.type, siteId: d.siteId, centerId: d.centerId, gridId: d.gridId, ts, receivedAt: ts + 50, seq, flags: [] as const };
    return kind === 'telemetry' ? { ...base, kind, values } : { ...base, kind, event: ev!, values };
  }
  return { deviceId: d.id, deviceType: d.type, siteId: d.siteId, centerId: d.centerId, gridId: d.gridId, ts, receivedAt: ts + 50, seq, flags: NO_FLAGS, kind, values, event: ev };
}
const NO_FLAGS: readonly 'clock_bad'[] = [];

/** A realistic stream: almost all green telemetry, a few maintenance events, the odd pre-alarm. */
function makeReading(d: DeviceInfo, round: number, rnd: () => number, step: number): MutableReading {
  const ts = T0 + round * step;
  const x = rnd();
  if (d.type === 'smoke_detector') {
    if (x < 0.005) return build(d, ts, round, 'event', {}, { type: 'test' });
    if (x < 0.008) return build(d, ts, round, 'event', {}, { type: 'low_battery' });
    return build(d, ts, round, 'telemetry', { smoke: x < 0.01 ? 0.09 : 0.01 + rnd() * 0.02, temp: 21 + rnd(), co: rnd() * 3, battery: 80, rssi: -80 });
  }
  if (d.type === 'fire_panel') {
    const point = 1 + (round % 5);
    if (x < 0.02) return build(d, ts, round, 'event', { loop: 1, point }, { type: 'fault', loop: 1, point });
    if (x < 0.04) return build(d, ts, round, 'event', { loop: 1, point }, { type: 'fault_clear', loop: 1, point });
    return build(d, ts, round, 'telemetry', { mainPower: 'ok', backupPower: 'ok', pointsInAlarm: 0, pointsInFault: 0, pointsDisabled: 0 });
  }
  // Worst case for state (issue 14): settlement, both tilt axes and a crack meter on one point.
  return build(d, ts, round, 'telemetry', { settlement: 3 + rnd() - 0.5, tiltX: 0.5 + rnd() * 0.1, tiltY: 0.2, crack: 0.3 + rnd() * 0.01, battery: 90 });
}

function buildPool(devs: DeviceInfo[], rounds: number, seed: number, first = 0): MutableReading[] {
  const rnd = prng(seed);
  const pool: MutableReading[] = [];
  for (let r = first; r < first + rounds; r++) {
    for (const d of devs) pool.push(makeReading(d, r, rnd, d.type === 'settlement_sensor' ? HOUR : d.type === 'fire_panel' ? 60_000 : 300_000));
  }
  return pool;
}

/**
 * Bytes per device state: engine with n warm devices of the mix, minus the same without states —
 * the V8 heap and the typed arrays' backing stores outside it (rules/ring.ts windows live there).
 */
const used = (): number => {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};
function bytesPerState(mix: Array<[DeviceType, number]>, n: number): number {
  const devs = makeDevices(n, mix);
  const dir = directory(devs);
  fullGc();
  const before = used();
  const engine = createRuleEngine({ ruleSet: DEFAULT_RULE_SET, devices: dir });
  {
    // Settlement history: 35 days of hourly readings fill every rate window as in steady state.
    const history = buildPool(devs.filter((d) => d.type === 'settlement_sensor'), 35 * 24, 8);
    for (const r of history) engine.evaluate(r as never);
    const pool = buildPool(devs, 2, 7);
    for (const r of pool) { r.ts += 36 * 24 * HOUR; r.receivedAt += 36 * 24 * HOUR; engine.evaluate(r as never); }
  }
  fullGc(); // the readings are garbage now; what stays is the engine and its states
  const after = used();
  if (engine.stats().devices !== n) throw new Error('not every device has state');
  return (after - before) / n;
}

interface Measured {
  best: number;
  median: number;
  cpu: number;
  latencyUs: { batch: number; p50: number; p90: number; p99: number; p999: number; max: number };
  findingsPerReading: number;
  internalErrors: number;
}

/** Warm 10,000 devices, then time `passes` passes of freshly built readings of the given shape. */
function measure(as: Shape, passes: number): Measured {
  shape = as;
  const devs = makeDevices(DEVICES, MIX);
  const engine = createRuleEngine({ ruleSet: DEFAULT_RULE_SET, devices: directory(devs) });
  let round = 0;
  let pool = buildPool(devs, ROUNDS, 1, round);
  for (const r of pool) engine.evaluate(r as never);
  // Each pass gets freshly built readings, as ingest hands over a reading it has just built (hot
  // in cache), while the device states were made long ago and lie spread over the heap.
  const fresh = () => {
    round += ROUNDS;
    pool = buildPool(devs, ROUNDS, round, round);
    gc(); // collection between passes, never inside a timed batch
  };
  let findings = 0;
  let readings = 0;
  const batches: number[] = [];
  for (let p = 0; p < passes; p++) {
    fresh();
    for (let i = 0; i + BATCH <= pool.length; i += BATCH) {
      const b0 = process.hrtime.bigint();
      for (let j = i; j < i + BATCH; j++) findings += engine.evaluate(pool[j] as never).findings.length;
      batches.push(Number(process.hrtime.bigint() - b0) / BATCH);
      readings += BATCH;
    }
  }
  // Throughput without the per-batch clock reads, by wall clock per pass (best and median: on a
  // shared machine a pass is often descheduled) and per CPU second of this process (all threads).
  const rates: number[] = [];
  let cpuUs = 0;
  const plain = Math.max(4, passes >> 2);
  for (let p = 0; p < plain; p++) {
    fresh();
    const c0 = process.cpuUsage();
    const t1 = process.hrtime.bigint();
    for (let i = 0; i < pool.length; i++) findings += engine.evaluate(pool[i] as never).findings.length;
    const wallNs = Number(process.hrtime.bigint() - t1);
    const c = process.cpuUsage(c0);
    cpuUs += c.user + c.system;
    rates.push(pool.length / (wallNs / 1e9));
    readings += pool.length;
  }
  rates.sort((x, y) => x - y);
  batches.sort((x, y) => x - y);
  const q = (f: number) => Math.round(batches[Math.min(batches.length - 1, Math.floor(f * batches.length))]!) / 1000;
  return {
    best: Math.round(rates[rates.length - 1]!),
    median: Math.round(rates[rates.length >> 1]!),
    cpu: Math.round((plain * pool.length) / (cpuUs / 1e6)),
    latencyUs: { batch: BATCH, p50: q(0.5), p90: q(0.9), p99: q(0.99), p999: q(0.999), max: q(1) },
    findingsPerReading: Math.round((findings / readings) * 1e4) / 1e4,
    internalErrors: engine.stats().internalErrors,
  };
}

function main(): void {
  // Memory first, on a quiet heap.
  // Heap per device state, each mix in a fresh process so nothing of another run is on the heap.
  const skipMem = process.env.BENCH_NO_MEM === '1'; // profiling the hot loop alone
  const memOf = (only: string): number => {
    const out = execFileSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url)], {
      env: { ...process.env, BENCH_MEM_CHILD: only },
      encoding: 'utf8',
    });
    return Number(out.trim().split('\n').at(-1));
  };
  const mem = skipMem ? { mix: NaN, smoke_detector: NaN, fire_panel: NaN, settlement_sensor: NaN } : {
    mix: memOf('mix'),
    smoke_detector: memOf('smoke_detector'),
    fire_panel: memOf('fire_panel'),
    settlement_sensor: memOf('settlement_sensor'),
  };
  const literal = measure('literal', PASSES);
  const spread = measure('spread', Math.max(4, PASSES >> 2));

  const result = {
    date: new Date().toISOString(),
    node: process.version,
    cpu: cpus()[0]?.model,
    loadAverage: loadavg().map((x) => Math.round(x * 100) / 100),
    devices: DEVICES,
    mix: Object.fromEntries(MIX),
    readingsPerSec: literal.best,
    literal,
    ingestSpreadShape: spread,
    bytesPerDeviceState: Object.fromEntries(Object.entries(mem).map(([k, v]) => [k, Math.round(v)])),
    targets: { readingsPerSec: 1_000_000, p99Us: 20, bytesPerDevice: 2048 },
    met: {
      readingsPerSec: literal.best >= 1_000_000,
      p99: literal.latencyUs.p99 <= 20,
      memory: mem.mix <= 2048 && mem.settlement_sensor <= 2048,
    },
  };
  mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
  writeFileSync(new URL('./results/rules.json', import.meta.url), `${JSON.stringify(result, null, 2)}\n`);
  console.log(JSON.stringify(result, null, 2));
}

const child = process.env.BENCH_MEM_CHILD;
if (child) console.log(bytesPerState(child === 'mix' ? MIX : [[child as DeviceType, 1]], DEVICES));
else main();
