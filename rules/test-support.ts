// Builders for rule engine tests and the benchmark: devices, a small in-memory DeviceDirectory
// (a contracts/ports.ts interface used as a test input) and readings as ingest hands them over.
import type { DeviceDirectory } from '../contracts/ports.ts';
import type { DeviceEvent, DeviceType } from '../contracts/protocol.ts';
import { DEFAULT_INTERVAL_SEC, type DeviceInfo } from '../contracts/registry.ts';
import type { EventReading, ReadingFlag, TelemetryReading } from '../contracts/reading.ts';

export function device(id: string, type: DeviceType, over: Partial<DeviceInfo> = {}): DeviceInfo {
  return {
    id,
    type,
    siteId: 'site-1',
    centerId: 'center-1',
    gridId: 'grid-1',
    location: '',
    intervalSec: DEFAULT_INTERVAL_SEC[type],
    enabled: true,
    rules: undefined,
    meta: undefined,
    ...over,
  };
}

export interface TestDirectory extends DeviceDirectory {
  set(info: DeviceInfo): void;
}

export function directory(devices: readonly DeviceInfo[]): TestDirectory {
  const map = new Map(devices.map((d) => [d.id, d]));
  return {
    get: (id) => map.get(id),
    verifySecret: () => 'ok',
    all: () => map.values(),
    set: (info) => void map.set(info.id, info),
  };
}

export interface ReadingExtra {
  seq?: number;
  flags?: readonly ReadingFlag[];
  receivedAt?: number;
}

export function telemetry(dev: DeviceInfo, ts: number, values: Record<string, number | string>, extra: ReadingExtra = {}): TelemetryReading {
  return {
    kind: 'telemetry',
    deviceId: dev.id,
    deviceType: dev.type,
    siteId: dev.siteId,
    centerId: dev.centerId,
    gridId: dev.gridId,
    ts,
    receivedAt: extra.receivedAt ?? ts,
    seq: extra.seq,
    flags: extra.flags ?? [],
    values,
  };
}

export function event(dev: DeviceInfo, ts: number, ev: DeviceEvent | { type: string; [k: string]: unknown }, extra: ReadingExtra = {}): EventReading {
  const values: Record<string, number> = {};
  for (const [k, v] of Object.entries(ev)) if (typeof v === 'number' && k !== 'ts' && k !== 'seq') values[k] = v;
  return {
    kind: 'event',
    deviceId: dev.id,
    deviceType: dev.type,
    siteId: dev.siteId,
    centerId: dev.centerId,
    gridId: dev.gridId,
    ts,
    receivedAt: extra.receivedAt ?? ts,
    seq: extra.seq,
    flags: extra.flags ?? [],
    event: ev as DeviceEvent,
    values,
  };
}

/** Deterministic PRNG (mulberry32) so noisy series are the same on every run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
