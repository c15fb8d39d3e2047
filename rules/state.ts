// Per-device state: plain classes with fixed fields (one hidden class each, small and monomorphic)
// and typed-array windows; nothing grows with the number of readings.
import type { ByteReader, ByteWriter } from '../contracts/bytes.ts';
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

  /** The set as it is, for a partition snapshot (rules/snapshot.ts). */
  save(w: ByteWriter): void {
    w.u8(this.n);
    w.u32(this.overflow);
    for (let i = 0; i < this.n; i++) w.f64(this.keys![i]!);
  }

  load(r: ByteReader): void {
    const n = r.u8();
    if (n > 16) throw new RangeError(`point set of ${n} keys in the snapshot, at most 16 here`);
    this.overflow = r.u32();
    this.n = n;
    this.keys = n > 0 ? new Float64Array(16) : null;
    for (let i = 0; i < n; i++) this.keys![i] = r.f64();
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

/** Byte layout of a settlement point's sections (offsets within a section). */
const LEVEL_BYTES = WindowFilter.bytes(LEVEL_SUB, true);
const FAST_BYTES = BucketSeries.bytes(FAST_POINTS);
const SLOW_BYTES = BucketSeries.bytes(SLOW_POINTS);
const TILT_BYTES = WindowFilter.bytes(SUB, false);
/** Settlement: its level, then the fast and slow rate series. */
const SETTLEMENT = { level: 0, fast: LEVEL_BYTES, slow: LEVEL_BYTES + FAST_BYTES, bytes: LEVEL_BYTES + FAST_BYTES + SLOW_BYTES } as const;
/** Tilt: the x and y filters, then the series of the tilt's magnitude. */
const TILT = { x: 0, y: TILT_BYTES, slow: 2 * TILT_BYTES, bytes: 2 * TILT_BYTES + SLOW_BYTES } as const;
/** Crack: the first width seen (f64), its level, then the fast and slow rate series. */
const CRACK = { crack0: 0, level: 8, fast: 8 + LEVEL_BYTES, slow: 8 + LEVEL_BYTES + FAST_BYTES, bytes: 8 + LEVEL_BYTES + FAST_BYTES + SLOW_BYTES } as const;

/**
 * A settlement point's windows: one ArrayBuffer, and this DataView over it (rules/trend.ts), in
 * sections made on the first reading of their quantity, so a rod that reports settlement only
 * carries no tilt or crack windows (issue 14 point 8: ≤ 2 KiB per device). The state is the view
 * itself, not an object holding one: an object, an ArrayBuffer and a DataView are ~50, ~100 and ~90
 * B of heap. A DataView cannot grow, so a new section is a new state with the bytes copied, at
 * most three times in a point's life; a point that has reported no structural value shares EMPTY.
 */
// (typed for TypeScript, whose DataView constructor is generic and so cannot be extended as is)
const DataViewOfBuffer: new (buffer: ArrayBuffer) => DataView<ArrayBuffer> = DataView;

export class SettlementState extends DataViewOfBuffer {
  /** Byte offsets of the sections, -1 until the quantity is first reported. */
  readonly settlementAt: number;
  readonly tiltAt: number;
  readonly crackAt: number;

  private constructor(buffer: ArrayBuffer, settlementAt: number, tiltAt: number, crackAt: number) {
    super(buffer);
    this.settlementAt = settlementAt;
    this.tiltAt = tiltAt;
    this.crackAt = crackAt;
  }

  static readonly EMPTY = new SettlementState(new ArrayBuffer(0), -1, -1, -1);

  /** This state's bytes and `bytes` more at the end (where the new section goes). */
  private grown(bytes: number): ArrayBuffer {
    const next = new ArrayBuffer(this.byteLength + bytes);
    new Uint8Array(next).set(new Uint8Array(this.buffer));
    return next;
  }

  /** This state with a settlement section (level, fast and slow series), made on the first settlement value. */
  withSettlement(r: SettlementRules): SettlementState {
    if (this.settlementAt >= 0) return this;
    const at = this.byteLength;
    const s = new SettlementState(this.grown(SETTLEMENT.bytes), at, this.tiltAt, this.crackAt);
    WindowFilter.init(s, at + SETTLEMENT.level, LEVEL_SUB, true);
    BucketSeries.init(s, at + SETTLEMENT.fast, FAST_POINTS, r.rate.fast.bucketHours * 3_600_000);
    BucketSeries.init(s, at + SETTLEMENT.slow, SLOW_POINTS, r.rate.slow.bucketHours * 3_600_000);
    return s;
  }

  /** This state with a tilt section (x and y filters, the magnitude's series), made on the first tilt value. */
  withTilt(r: SettlementRules): SettlementState {
    if (this.tiltAt >= 0) return this;
    const at = this.byteLength;
    const s = new SettlementState(this.grown(TILT.bytes), this.settlementAt, at, this.crackAt);
    WindowFilter.init(s, at + TILT.x, SUB, false);
    WindowFilter.init(s, at + TILT.y, SUB, false);
    BucketSeries.init(s, at + TILT.slow, SLOW_POINTS, r.tilt.rate.bucketHours * 3_600_000);
    return s;
  }

  /** This state with a crack section (first width, level, fast and slow series), made on the first crack width. */
  withCrack(r: SettlementRules): SettlementState {
    if (this.crackAt >= 0) return this;
    const at = this.byteLength;
    const s = new SettlementState(this.grown(CRACK.bytes), this.settlementAt, this.tiltAt, at);
    s.setFloat64(at + CRACK.crack0, NaN, true);
    WindowFilter.init(s, at + CRACK.level, LEVEL_SUB, true);
    BucketSeries.init(s, at + CRACK.fast, FAST_POINTS, r.crackRate.fast.bucketHours * 3_600_000);
    BucketSeries.init(s, at + CRACK.slow, SLOW_POINTS, r.crackRate.slow.bucketHours * 3_600_000);
    return s;
  }

  /**
   * A point's windows from a partition snapshot (rules/snapshot.ts): its bytes and where its
   * sections start, each checked to lie inside the bytes (a section's own layout is the snapshot's
   * version to vouch for).
   */
  static restore(bytes: Uint8Array, settlementAt: number, tiltAt: number, crackAt: number): SettlementState {
    if (bytes.length === 0 && settlementAt < 0 && tiltAt < 0 && crackAt < 0) return SettlementState.EMPTY;
    const fits = (at: number, size: number): boolean => at === -1 || (at >= 0 && at + size <= bytes.length);
    if (!fits(settlementAt, SETTLEMENT.bytes) || !fits(tiltAt, TILT.bytes) || !fits(crackAt, CRACK.bytes)) {
      throw new RangeError(`settlement windows of ${bytes.length} bytes with sections at ${settlementAt}, ${tiltAt}, ${crackAt}: not this layout`);
    }
    const buffer = new ArrayBuffer(bytes.length);
    new Uint8Array(buffer).set(bytes);
    return new SettlementState(buffer, settlementAt, tiltAt, crackAt);
  }

  /** Offsets within the sections, for the cursors of rules/settlement.ts. */
  static readonly SETTLEMENT = SETTLEMENT;
  static readonly TILT = TILT;
  static readonly CRACK = CRACK;
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
    this.settlement = type === 'settlement_sensor' ? SettlementState.EMPTY : null;
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

  /** The ring as it is, for a partition snapshot (rules/snapshot.ts). */
  save(w: ByteWriter): void {
    w.u8(this.next);
    for (let i = 0; i < 8; i++) {
      const id = this.ids[i];
      w.bool(id !== undefined);
      if (id !== undefined) w.str(id);
      w.f64(this.ts[i]!);
    }
  }

  load(r: ByteReader): void {
    this.next = r.u8() & 7;
    for (let i = 0; i < 8; i++) {
      this.ids[i] = r.bool() ? r.str() : undefined;
      this.ts[i] = r.f64();
    }
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
