// Per-device state: plain classes with fixed fields (one hidden class each, small and monomorphic)
// and typed-array windows; nothing grows with the number of readings.
import type { DeviceType } from '../contracts/protocol.ts';
import type { DeviceInfo } from '../contracts/registry.ts';
import { SampleRing } from './ring.ts';
import { BucketSeries, LEVEL_SUB, SUB, WindowFilter } from './trend.ts';
import { FAST_POINTS, SLOW_POINTS, type PanelRules, type SettlementRules, type SmokeRules, type TypeRules } from './schema.ts';

/** Conditions that clear by themselves; a bit is set while one is active, so its clear is emitted once. */
export const COND = {
  battery: 1,
  tamper: 2,
  fault: 4,
  clock: 8,
  power: 16,
  supervisory: 32,
  disabled: 64,
  smokeOffset: 128,
  coOffset: 256,
  rulesInvalid: 512,
} as const;

/** Fire signal kinds of a smoke detector; two different kinds within the window confirm. */
export const SIGNAL = { alarm: 0, smoke: 1, heat: 2 } as const;

/**
 * A detector's zero (rules/smoke.ts): NaN until the first sample, then follows a falling signal
 * quickly and a rising one at most maxRisePerHour, and never while the signal is above the
 * pre-alarm level (smoke is not drift).
 */
export class Zero {
  value = NaN;
  lastTs = -Infinity;
  /** The last sample above the zero (written in place: a returned double would be boxed). */
  above = 0;
}

/** Persistence of one threshold: the last 32 samples as bits, and since when it has been above. */
export class Persisting {
  bits = 0;
  since = NaN;
}

export class SmokeState {
  /** Last time of each fire signal kind (ms), indexed by SIGNAL. */
  readonly signalTs = new Float64Array(3).fill(-Infinity);
  alarmActive = false;
  readonly smokeZero = new Zero();
  readonly smokeAlarm = new Persisting();
  readonly smokePre = new Persisting();
  readonly heatFixed = new Persisting();
  readonly coZero = new Zero();
  /** CO dose as a fraction of the alarm curve (1 = alarm), the last CO sample (ppm above zero) and its time. */
  coDose = 0;
  coLast = NaN;
  coLastTs = -Infinity;
  /** Recent temperatures for rate-of-rise. */
  readonly temps = new SampleRing(8);
}

/** A small bounded set of point keys (faulted, supervisory, disabled points of a panel). */
export class PointSet {
  /** Allocated on the first point: most panels never have one of each kind. */
  private keys: Float64Array | null = null;
  private n = 0;
  /** Points beyond capacity are counted, so the set never looks empty while some are active. */
  private overflow = 0;
  add(key: number): void {
    const keys = (this.keys ??= new Float64Array(16));
    for (let i = 0; i < this.n; i++) if (keys[i] === key) return;
    if (this.n < keys.length) keys[this.n++] = key;
    else this.overflow++;
  }
  remove(key: number): void {
    const keys = this.keys;
    if (keys) {
      for (let i = 0; i < this.n; i++) {
        if (keys[i] === key) {
          keys[i] = keys[--this.n]!;
          return;
        }
      }
    }
    if (this.overflow > 0) this.overflow--;
  }
  get size(): number {
    return this.n + this.overflow;
  }
}

export class PanelState {
  /** Recent fire points: key and time, ring of 8, plus the zone each was in. */
  readonly fireKeys = new Float64Array(8);
  readonly fireTs = new Float64Array(8).fill(-Infinity);
  readonly fireZones: Array<string | undefined> = new Array<string | undefined>(8).fill(undefined);
  fireNext = 0;
  /** A fire or manual-call point event was seen since the last reset: its zone has an incident. */
  pointFireSinceReset = false;
  actionTs = -Infinity;
  readonly faults = new PointSet();
  readonly supervisory = new PointSet();
  readonly disabled = new PointSet();
  /** From telemetry counts (0 when not reported). */
  telFault = 0;
  telDisabled = 0;
  mainFail = false;
  backupFail = false;
}

export class SettlementState {
  /** Settlement rate: fast (short buckets) and slow (daily buckets) windows. */
  readonly fast: BucketSeries;
  readonly slow: BucketSeries;
  /** Crack rate and tilt rate series, made on the first crack / tilt reading (most points have neither). */
  crackFast: BucketSeries | null = null;
  crackSlow: BucketSeries | null = null;
  tiltSlow: BucketSeries | null = null;
  tiltX: WindowFilter | null = null;
  tiltY: WindowFilter | null = null;
  /** Settlement and crack levels: the median of the readings of a trailing window (rules/trend.ts). */
  level: WindowFilter | null = null;
  crackLevel: WindowFilter | null = null;
  /** First crack width seen, the growth baseline when the installer gave none. */
  crack0 = NaN;

  /**
   * Every series of the point in one Float32Array, and every window filter in one Float64Array
   * (made on the first filtered value): a typed array costs an object and a buffer, so fewer of
   * them keep a point's state under 2 KiB (issue 14 point 8). Layouts: fast, slow, crackFast,
   * crackSlow, tiltSlow; tiltX, tiltY, level, crackLevel (rules/trend.ts WindowFilter).
   */
  readonly series = new Float32Array((FAST_POINTS * 2 + SLOW_POINTS * 3) * 3);
  private filters: Float64Array | null = null;

  /** The array every window filter of the point shares, made on the first filtered value. */
  filterSums(): Float64Array {
    return (this.filters ??= new Float64Array(SettlementState.FILTERS));
  }

  constructor(fastBucketMs: number, slowBucketMs: number) {
    this.fast = new BucketSeries(FAST_POINTS, fastBucketMs, this.series, 0);
    this.slow = new BucketSeries(SLOW_POINTS, slowBucketMs, this.series, FAST_POINTS * 3);
  }

  /** Offsets in `series` of the crack and tilt series. */
  static readonly CRACK_FAST = (FAST_POINTS + SLOW_POINTS) * 3;
  static readonly CRACK_SLOW = (FAST_POINTS * 2 + SLOW_POINTS) * 3;
  static readonly TILT_SLOW = (FAST_POINTS * 2 + SLOW_POINTS * 2) * 3;
  /** Offsets in `filters`. */
  static readonly TILT_Y = WindowFilter.size(SUB);
  static readonly LEVEL = WindowFilter.size(SUB) * 2;
  static readonly CRACK_LEVEL = WindowFilter.size(SUB) * 2 + WindowFilter.size(LEVEL_SUB);
  static readonly FILTERS = (WindowFilter.size(SUB) + WindowFilter.size(LEVEL_SUB)) * 2;
}

export function newSettlementState(r: SettlementRules): SettlementState {
  return new SettlementState(r.rate.fast.bucketHours * 3_600_000, r.rate.slow.bucketHours * 3_600_000);
}

export class DeviceState {
  readonly deviceId: string;
  readonly type: DeviceType;
  info: DeviceInfo | undefined = undefined;
  rulesVersion = -1;
  rules: TypeRules;
  /** Last gateway receive time of anything from the device (ms), -Infinity before any. */
  lastSeen = -Infinity;
  offline = false;
  lastSeq = -1;
  seqGaps = 0;
  seqMissing = 0;
  active = 0;
  readonly smoke: SmokeState | null;
  readonly panel: PanelState | null;
  settlement: SettlementState | null;

  constructor(deviceId: string, type: DeviceType, rules: TypeRules) {
    this.deviceId = deviceId;
    this.type = type;
    this.rules = rules;
    this.smoke = type === 'smoke_detector' ? new SmokeState() : null;
    this.panel = type === 'fire_panel' ? new PanelState() : null;
    this.settlement = type === 'settlement_sensor' ? newSettlementState(rules as SettlementRules) : null;
  }

  get smokeRules(): SmokeRules {
    return this.rules as SmokeRules;
  }
  get panelRules(): PanelRules {
    return this.rules as PanelRules;
  }
  get settlementRules(): SettlementRules {
    return this.rules as SettlementRules;
  }
}

/**
 * Recent fire signals per site, for confirmation by a second detector: a ring of 8 (device, time).
 * Created only for sites that have had a fire signal.
 */
export class SiteFire {
  private readonly ids: Array<string | undefined> = new Array<string | undefined>(8).fill(undefined);
  private readonly ts = new Float64Array(8).fill(-Infinity);
  private next = 0;

  record(deviceId: string, t: number): void {
    for (let i = 0; i < 8; i++) {
      if (this.ids[i] === deviceId) {
        if (t > this.ts[i]!) this.ts[i] = t;
        return;
      }
    }
    this.ids[this.next] = deviceId;
    this.ts[this.next] = t;
    this.next = (this.next + 1) & 7;
  }

  /** Another device of the site signalled within windowMs of t (either side: uploads may be late). */
  other(deviceId: string, t: number, windowMs: number): string | undefined {
    for (let i = 0; i < 8; i++) {
      const id = this.ids[i];
      if (id !== undefined && id !== deviceId && Math.abs(t - this.ts[i]!) <= windowMs) return id;
    }
    return undefined;
  }
}
