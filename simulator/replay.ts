// Replaying recorded traffic as the devices that sent it (their own credentials), at 1×, N× or
// full speed. The timing shape is kept: message i goes out at (t_i − t_0) / speed after the start,
// scheduled against the start time rather than by chaining sleeps, so delays do not accumulate.
import type { Logger } from 'pino';
import type { TrafficRecord } from './device-client.ts';
import { createDeviceClient, type DeviceClient } from './device-client.ts';
import { payloadBytes } from './record.ts';

export type ReplaySpeed = number | 'max';

export interface PlannedPublish {
  /** Wall ms after the replay starts. */
  readonly atMs: number;
  readonly rec: TrafficRecord;
}

/** Records in time order, each with its offset from the start at this speed (0 for 'max'). */
export function planReplay(records: readonly TrafficRecord[], speed: ReplaySpeed): PlannedPublish[] {
  if (speed !== 'max' && !(speed > 0)) throw new RangeError(`speed must be > 0 or "max", got ${speed}`);
  const sorted = records.map((rec, i) => ({ rec, i })).sort((a, b) => a.rec.t - b.rec.t || a.i - b.i);
  const t0 = sorted[0]?.rec.t ?? 0;
  return sorted.map(({ rec }) => ({ atMs: speed === 'max' ? 0 : (rec.t - t0) / speed, rec }));
}

export interface Timer {
  now(): number;
  sleep(ms: number): Promise<void>;
}
export const realTimer: Timer = { now: () => performance.now(), sleep: (ms) => new Promise((r) => setTimeout(r, ms)) };

/** Runs a plan against a timer, handing each record to `send` at its time. */
export async function runPlan(plan: readonly PlannedPublish[], timer: Timer, send: (rec: TrafficRecord) => void, signal?: AbortSignal): Promise<void> {
  const start = timer.now();
  for (const p of plan) {
    if (signal?.aborted) return;
    const wait = start + p.atMs - timer.now();
    if (wait > 0) await timer.sleep(wait);
    send(p.rec);
  }
}

/** Shifts numeric `ts` fields of a JSON payload by delta ms (a replay that looks live). */
export function shiftTs(payload: string, deltaMs: number): string {
  let v: unknown;
  try {
    v = JSON.parse(payload);
  } catch {
    return payload;
  }
  const fix = (o: unknown): unknown => {
    if (o && typeof o === 'object' && !Array.isArray(o)) {
      const r = o as Record<string, unknown>;
      if (typeof r.ts === 'number') return { ...r, ts: r.ts + deltaMs };
    }
    return o;
  };
  return JSON.stringify(Array.isArray(v) ? v.map(fix) : fix(v));
}

export interface ReplayDeps {
  records: readonly TrafficRecord[];
  url: string;
  credentials: Readonly<Record<string, string>>;
  speed: ReplaySpeed;
  /** Move every `ts` so the first record is "now" (default false: the same readings are stored again). */
  retime?: boolean;
  timer?: Timer;
  logger?: Logger | undefined;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
}

export interface ReplaySummary {
  published: number;
  acked: number;
  errors: number;
  /** Records of devices without a credential, or that the gateway refused: not sent. */
  skipped: number;
  devices: number;
  wallMs: number;
}

export async function replay(deps: ReplayDeps): Promise<ReplaySummary> {
  const timer = deps.timer ?? realTimer;
  const clients = new Map<string, DeviceClient>();
  for (const id of new Set(deps.records.map((r) => r.deviceId))) {
    if (deps.credentials[id] === undefined) continue;
    // The recording holds the devices' own status messages, so the client does not announce itself.
    clients.set(id, createDeviceClient({ url: deps.url, deviceId: id, secret: deps.credentials[id], logger: deps.logger, announceOnline: false, reconnectMs: 0 }));
  }
  await Promise.all([...clients.entries()].map(async ([id, c]) => {
    try {
      await c.start();
    } catch (err) {
      // A device the gateway refuses (unknown, wrong secret, disabled): its records are skipped.
      deps.logger?.warn({ err, deviceId: id }, 'replay: device could not connect');
      clients.delete(id);
    }
  }));
  const plan = planReplay(deps.records.filter((r) => clients.has(r.deviceId)), deps.speed);
  const skipped = deps.records.length - plan.length;
  const delta = deps.retime && plan.length ? Date.now() - plan[0]!.rec.t : 0;
  const inflight: Array<Promise<void>> = [];
  let done = 0;
  const t0 = timer.now();
  await runPlan(plan, timer, (rec) => {
    const c = clients.get(rec.deviceId)!;
    const body = delta && rec.enc !== 'base64' ? Buffer.from(shiftTs(rec.payload, delta), 'utf8') : payloadBytes(rec);
    inflight.push(c.publishRaw(rec.topic, body, { qos: rec.qos === 0 ? 0 : 1, retain: rec.retain }).then(() => {
      done++;
      deps.onProgress?.(done, plan.length);
    }));
  }, deps.signal);
  await Promise.all(inflight);
  const wallMs = timer.now() - t0;
  let acked = 0, errors = 0;
  for (const c of clients.values()) {
    acked += c.stats.acked;
    errors += c.stats.errors;
  }
  // Stop without the graceful offline status: the recording decides what the devices said.
  await Promise.all([...clients.values()].map((c) => c.stop({ announceOffline: false })));
  return { published: plan.length, acked, errors, skipped, devices: clients.size, wallMs };
}
