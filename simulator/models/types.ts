// What every device model is: pure and time-stepped. The clock stamps payloads (`ts`); physics
// advance by simulated seconds handed to step(), so a demo can compress time while the gateway
// still sees honest timestamps (PROTOCOL.md: more than 5 min ahead is flagged clock_bad).
import type { DeviceType } from '../../contracts/protocol.ts';
import type { Clock } from '../../contracts/ports.ts';
import type { Rng } from '../prng.ts';

export type Payload = Record<string, unknown>;

/** Something the device sends: a reading or event object, published on its topic. */
export interface Emission {
  readonly kind: 'telemetry' | 'events';
  readonly payload: Payload;
}

export interface ModelDeps {
  deviceId: string;
  rng: Rng;
  clock: Clock;
  /** Expected reporting interval from the registry (seconds of simulated time). */
  intervalSec: number;
  meta?: Readonly<Record<string, string | number | boolean>> | undefined;
}

export interface DeviceModel {
  readonly deviceId: string;
  readonly type: DeviceType;
  /** Events of one instant go out as one array message (a panel's transmission unit batches). */
  readonly batchesEvents: boolean;
  /** Simulated seconds between periodic reports now; shorter while something is happening. */
  reportEverySec(): number;
  /** True while a condition changes fast (smoke rising): the runner steps it every second. */
  active(): boolean;
  /** Advance the physics by dt simulated seconds; threshold crossings queue events. */
  step(dtSec: number): void;
  /** Queue the periodic report (telemetry or heartbeat). */
  report(): void;
  /** Everything queued since the last call, in order. */
  drain(): Emission[];
}

/** Exponential approach of x to target with time constant tau (first-order lag, e.g. a room filling with smoke). */
export function approach(x: number, target: number, dtSec: number, tauSec: number): number {
  if (tauSec <= 0) return target;
  return target + (x - target) * Math.exp(-dtSec / tauSec);
}

export const round = (x: number, digits: number): number => {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
};

export const clamp = (x: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, x));

/** A queue of emissions stamped with the model's clock. */
export function createOutbox(clock: Clock) {
  let queue: Emission[] = [];
  return {
    event(type: string, fields: Payload = {}): void {
      queue.push({ kind: 'events', payload: { type, ts: clock.now(), ...fields } });
    },
    telemetry(values: Payload): void {
      queue.push({ kind: 'telemetry', payload: { ts: clock.now(), ...values } });
    },
    drain(): Emission[] {
      const out = queue;
      queue = [];
      return out;
    },
  };
}
