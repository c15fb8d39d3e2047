// Rates and filters over time for structural sensors (issue 14 point 3), with bounded memory per
// device whatever the sampling: weekly manual rods, hourly automatic points, 100 Hz inclinometers.

/** Scratch for pairwise slopes: one per process, rates are computed one at a time. */
const SLOPES = new Float64Array((32 * 31) / 2);
const IDX = new Int32Array(32);

/**
 * The k-th smallest of a[0..n) (Hoare's selection, in place, no allocation). Afterwards a[0..k)
 * holds values not above it, so the (k-1)-th is then found in a[0..k).
 */
function select(a: Float64Array, n: number, k: number): number {
  let lo = 0, hi = n - 1;
  while (lo < hi) {
    const pivot = a[(lo + hi) >> 1]!;
    let i = lo, j = hi;
    while (i <= j) {
      while (a[i]! < pivot) i++;
      while (a[j]! > pivot) j--;
      if (i <= j) {
        const t = a[i]!;
        a[i] = a[j]!;
        a[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return a[k]!;
  }
  return a[k]!;
}

/** Little-endian throughout: the layout is the same on every machine (and native on x86 and ARM). */
const LE = true;

/*
 * Window state lives in a device's one ArrayBuffer, read through one DataView (issue 14 point 8:
 * ≤ 2 KiB per device). A typed array costs about 200 B of heap beside its data (its object, its
 * ArrayBuffer's), a DataView over a shared buffer about 90, and a double field of an object a heap
 * number of its own, so the classes below hold no state: they are cursors pointed (at()) at a
 * device's state for one call. Mixed widths in one buffer: f64 where a value is compared with a
 * limit or shown, f32 for the points of a rate fit, small integers as u8/u32.
 */

/** BucketSeries header (byte offsets): then the points, (t, v) as two f32 each. */
const S_T0 = 0, S_V0 = 8, S_SLOPE = 16, S_BUCKET = 24, S_BUCKET_MS = 32, S_N = 40, S_HEAD = 44, S_SIZE = 45, S_DIRTY = 46, S_CAP = 47, S_POINTS = 48;

/**
 * The newest `cap` points of a series, each the mean (time, value) of the readings that fell in one
 * time bucket. A gap never clears anything: old points leave only by age (outside the window when
 * the slope is taken) or by being the oldest of a full ring.
 *
 * A point is (t, v) in Float32 (24-bit significand): hours since the series' first reading and the
 * value less the first reading's. Worst-case rounding: hours ≤ 1.8 s for 1.8 years (ulp 2^-10 h
 * below 16,384 h); settlement ≤ 0.00049 mm for a difference up to 16 m (ulp 2^-10 mm: the 0.001 mm
 * resolution holds over the ±10 m of MEASURED_RANGES, 0.001 mm at worst for a 20 m swing), crack
 * and tilt ≤ 8e-6 mm or ‰ up to 200 mm or 141 ‰ (ulp 2^-16). All far inside a rate fit's noise;
 * levels, which meet alarm values as read, are not stored in Float32. Only the newest point's
 * reading count is kept: an older point's mean never changes again.
 */
export class BucketSeries {
  private v: DataView;
  private o: number;
  private cap: number;

  /** Bytes a series of `cap` points takes in a device's buffer. */
  static bytes(cap: number): number {
    return S_POINTS + 8 * cap;
  }

  /** Makes an empty series at `offset` of `view` (its own buffer when none is given). */
  constructor(cap: number, bucketMs: number, view?: DataView, offset = 0) {
    // at most 32 points: the pairwise slopes' scratch (SLOPES, IDX) is sized for 32
    if (!(cap >= 1 && cap <= 32)) throw new RangeError(`BucketSeries capacity ${cap} not in 1..32`);
    this.v = view ?? new DataView(new ArrayBuffer(BucketSeries.bytes(cap)));
    this.o = offset;
    this.cap = cap;
    BucketSeries.init(this.v, offset, cap, bucketMs);
  }

  /** Writes an empty series of `cap` points and `bucketMs` buckets at `offset` of `view`. */
  static init(view: DataView, offset: number, cap: number, bucketMs: number): void {
    view.setFloat64(offset + S_T0, NaN, LE);
    view.setFloat64(offset + S_V0, 0, LE);
    view.setFloat64(offset + S_SLOPE, NaN, LE);
    view.setFloat64(offset + S_BUCKET, -Infinity, LE);
    view.setFloat64(offset + S_BUCKET_MS, bucketMs, LE);
    view.setUint32(offset + S_N, 0, LE);
    view.setUint8(offset + S_HEAD, cap - 1); // the first point goes to slot 0
    view.setUint8(offset + S_SIZE, 0);
    view.setUint8(offset + S_DIRTY, 0);
    view.setUint8(offset + S_CAP, cap);
  }

  /** Points the cursor at the series at `offset` of `view` (made by init()). */
  at(view: DataView, offset: number): this {
    this.v = view;
    this.o = offset;
    this.cap = view.getUint8(offset + S_CAP);
    return this;
  }

  get bucketMs(): number {
    return this.v.getFloat64(this.o + S_BUCKET_MS, LE);
  }
  /** A point was added or changed since the slope was last taken. */
  get dirty(): boolean {
    return this.v.getUint8(this.o + S_DIRTY) !== 0;
  }
  /** Result of the last slope() (value per day), NaN when not trusted. */
  get slopePerDay(): number {
    return this.v.getFloat64(this.o + S_SLOPE, LE);
  }

  /** Adds a reading; true when it opened a new point. Readings older than the newest point's bucket are ignored. */
  add(ts: number, x: number): boolean {
    const { v, o, cap } = this;
    const k = Math.floor(ts / v.getFloat64(o + S_BUCKET_MS, LE));
    let t0 = v.getFloat64(o + S_T0, LE);
    if (Number.isNaN(t0)) {
      t0 = ts;
      v.setFloat64(o + S_T0, ts, LE);
      v.setFloat64(o + S_V0, x, LE);
    }
    const t = (ts - t0) / 3_600_000, y = x - v.getFloat64(o + S_V0, LE);
    const headBucket = v.getFloat64(o + S_BUCKET, LE);
    if (k === headBucket) {
      const at = o + S_POINTS + 8 * v.getUint8(o + S_HEAD);
      const n = v.getUint32(o + S_N, LE) + 1;
      // a running mean in Float32: exact enough for a bucket of up to thousands of readings
      const mt = v.getFloat32(at, LE), mv = v.getFloat32(at + 4, LE);
      v.setFloat32(at, mt + (t - mt) / n, LE);
      v.setFloat32(at + 4, mv + (y - mv) / n, LE);
      v.setUint32(o + S_N, n, LE);
      v.setUint8(o + S_DIRTY, 1);
      return false;
    }
    if (k < headBucket) return false;
    v.setFloat64(o + S_BUCKET, k, LE);
    const head = (v.getUint8(o + S_HEAD) + 1) % cap;
    v.setUint8(o + S_HEAD, head);
    const at = o + S_POINTS + 8 * head;
    v.setFloat32(at, t, LE);
    v.setFloat32(at + 4, y, LE);
    v.setUint32(o + S_N, 1, LE);
    const size = v.getUint8(o + S_SIZE);
    if (size < cap) v.setUint8(o + S_SIZE, size + 1);
    v.setUint8(o + S_DIRTY, 1);
    return true;
  }

  /**
   * Sets slopePerDay: the Theil–Sen slope (median of pairwise slopes, value per day) over the points within windowMs of
   * the newest, NaN unless there are at least minPoints spanning minSpanMs. Robust: a minority of
   * outliers (a misread rod, a knocked sensor) does not move it.
   */
  slope(windowMs: number, minPoints: number, minSpanMs: number): void {
    const { v, o, cap } = this;
    v.setUint8(o + S_DIRTY, 0);
    const size = v.getUint8(o + S_SIZE);
    if (size === 0) { v.setFloat64(o + S_SLOPE, NaN, LE); return; }
    const p = o + S_POINTS;
    const head = v.getUint8(o + S_HEAD);
    const newest = v.getFloat32(p + 8 * head, LE);
    let oldest = newest;
    const windowH = windowMs / 3_600_000, minSpanH = minSpanMs / 3_600_000;
    // points newest first, within the window: their byte offsets
    const idx = IDX;
    let n = 0;
    for (let i = 0; i < size; i++) {
      const at = p + 8 * ((head - i + cap) % cap);
      const t = v.getFloat32(at, LE);
      if (newest - t > windowH) break;
      idx[n++] = at;
      oldest = t;
    }
    if (n < minPoints || newest - oldest < minSpanH) { v.setFloat64(o + S_SLOPE, NaN, LE); return; }
    let m = 0;
    for (let a = 0; a < n; a++) {
      const pa = idx[a]!;
      const ta = v.getFloat32(pa, LE), va = v.getFloat32(pa + 4, LE);
      for (let b = a + 1; b < n; b++) {
        const pb = idx[b]!;
        const dt = ta - v.getFloat32(pb, LE);
        if (dt > 0) SLOPES[m++] = (va - v.getFloat32(pb + 4, LE)) / dt;
      }
    }
    if (m === 0) { v.setFloat64(o + S_SLOPE, NaN, LE); return; }
    const hi = select(SLOPES, m, m >> 1);
    const med = m & 1 ? hi : (select(SLOPES, m >> 1, (m >> 1) - 1) + hi) / 2;
    v.setFloat64(o + S_SLOPE, med * 24, LE);
  }
}

/** Sub-windows per tilt filter window: the tilt is the median (or mean) of the newest SUB means. */
export const SUB = 5;
/**
 * Sub-windows per level window (settlement, crack): 12 of windowSec / 12 each, so over the default
 * 120 s a point reporting every 10 s (or slower) has each reading in its own sub-window and the
 * level is the median of its readings.
 */
export const LEVEL_SUB = 12;
/** Scratch for the median of a filter's sub-windows: one per process, filters are computed one at a time. */
const MEANS = new Float64Array(Math.max(SUB, LEVEL_SUB));
/** The filtered value, lower and upper of the last filter() (any filter): read right after it. */
const OUT = new Float64Array(3);
/**
 * WindowFilter header (byte offsets), then a slot per sub-window: a level's latest reading (f64,
 * NaN when empty), or a tilt sub-window's sum (f64) and reading count (u32).
 */
const F_BUCKET = 0, F_SUB_MS = 8, F_HEAD = 16, F_COUNT = 17, F_SLOTS = 18, F_LEVEL = 19, F_DATA = 24;

/**
 * A value filtered over a time window of `slots` sub-windows (windowMs / slots each): the median (or
 * mean) of the sub-windows' values. One class for two uses:
 * - tilt (`level` false): a sub-window's value is the mean of its readings, over the newest `slots`
 *   sub-windows that received readings, however old. Vibration of a high-rate inclinometer
 *   averages out inside a sub-window; a sparse sensor's single bad reading is one of five and the
 *   median ignores it. A sustained change shows within one window.
 * - levels (`level` true): only the sub-windows of the last windowMs count (one that got no reading
 *   is empty), and each holds its latest reading, so the level is the median of the readings of the
 *   window, taken one per sub-window from a faster sensor. A point read hourly or weekly has one
 *   reading in its window and is judged on that reading, as before; a point reporting every 10 s is
 *   judged on its last 12, so a laser blocked for a few readings is outvoted. The latest, not the
 *   mean: settlement does not vibrate, and a mean would carry one blocked reading into the value of
 *   its whole sub-window (and a time-lapse demo's ramp, all in one instant, into one mean).
 * Readings and sums stay f64: a level is compared with its alarm value and shown in the finding, as
 * read.
 */
export class WindowFilter {
  private v: DataView;
  private o: number;
  private slots: number;
  private level: boolean;

  /** Bytes a filter of `slots` sub-windows takes in a device's buffer. */
  static bytes(slots: number, level: boolean): number {
    return F_DATA + slots * (level ? 8 : 12);
  }

  /** Makes an empty filter at `offset` of `view` (its own buffer when none is given). */
  constructor(view?: DataView, offset = 0, slots = SUB, level = false) {
    this.v = view ?? new DataView(new ArrayBuffer(WindowFilter.bytes(slots, level)));
    this.o = offset;
    this.slots = slots;
    this.level = level;
    WindowFilter.init(this.v, offset, slots, level);
  }

  /** Writes an empty filter at `offset` of `view`. */
  static init(view: DataView, offset: number, slots: number, level: boolean): void {
    view.setFloat64(offset + F_BUCKET, -Infinity, LE);
    view.setFloat64(offset + F_SUB_MS, NaN, LE);
    view.setUint8(offset + F_HEAD, slots - 1); // the first sub-window is slot 0
    view.setUint8(offset + F_COUNT, 0);
    view.setUint8(offset + F_SLOTS, slots);
    view.setUint8(offset + F_LEVEL, level ? 1 : 0);
    WindowFilter.clear(view, offset, slots, level);
  }

  private static clear(view: DataView, offset: number, slots: number, level: boolean): void {
    for (let i = 0; i < slots; i++) {
      if (level) view.setFloat64(offset + F_DATA + 8 * i, NaN, LE);
      else {
        view.setFloat64(offset + F_DATA + 12 * i, 0, LE);
        view.setUint32(offset + F_DATA + 12 * i + 8, 0, LE);
      }
    }
  }

  /** Points the cursor at the filter at `offset` of `view` (made by init()). */
  at(view: DataView, offset: number): this {
    this.v = view;
    this.o = offset;
    this.slots = view.getUint8(offset + F_SLOTS);
    this.level = view.getUint8(offset + F_LEVEL) !== 0;
    return this;
  }

  /** Sub-windows holding readings (within the window, for a level). */
  get count(): number {
    return this.v.getUint8(this.o + F_COUNT);
  }
  /** The filtered value, set by filter() (the last filter() of any filter: read it right after). */
  get value(): number {
    return OUT[0]!;
  }
  /** The two middle values of the median (equal for an odd count): a level takes the one nearer its baseline. */
  get lower(): number {
    return OUT[1]!;
  }
  get upper(): number {
    return OUT[2]!;
  }

  /** Adds a reading; true when it opened a new sub-window. Readings older than the newest sub-window are ignored. */
  add(ts: number, x: number, subMs: number): boolean {
    const { v, o, slots, level } = this;
    if (subMs !== v.getFloat64(o + F_SUB_MS, LE)) {
      // another sub-window length (a reloaded windowSec) starts afresh
      v.setFloat64(o + F_SUB_MS, subMs, LE);
      v.setFloat64(o + F_BUCKET, -Infinity, LE);
      v.setUint8(o + F_COUNT, 0);
      WindowFilter.clear(v, o, slots, level);
    }
    const k = Math.floor(ts / subMs);
    const bucket = v.getFloat64(o + F_BUCKET, LE);
    if (k < bucket) return false;
    let opened = false;
    let head = v.getUint8(o + F_HEAD);
    if (k !== bucket) {
      // For a level, every sub-window passed since the last reading is a slot that left the window.
      const steps = level ? Math.min(k - bucket, slots) : 1;
      let count = v.getUint8(o + F_COUNT);
      for (let i = 0; i < steps; i++) {
        head = (head + 1) % slots;
        if (level) {
          const at = o + F_DATA + 8 * head;
          if (!Number.isNaN(v.getFloat64(at, LE))) count--;
          v.setFloat64(at, NaN, LE);
        } else {
          const at = o + F_DATA + 12 * head;
          if (v.getUint32(at + 8, LE) > 0) count--;
          v.setFloat64(at, 0, LE);
          v.setUint32(at + 8, 0, LE);
        }
      }
      v.setUint8(o + F_HEAD, head);
      v.setFloat64(o + F_BUCKET, k, LE);
      v.setUint8(o + F_COUNT, count + 1);
      opened = true;
    }
    if (level) v.setFloat64(o + F_DATA + 8 * head, x, LE);
    else {
      const at = o + F_DATA + 12 * head;
      v.setFloat64(at, v.getFloat64(at, LE) + x, LE);
      v.setUint32(at + 8, v.getUint32(at + 8, LE) + 1, LE);
    }
    return opened;
  }

  /** Sets value (and lower, upper): the median or the mean of the sub-windows holding readings. */
  filter(median: boolean): void {
    const { v, o, slots, level } = this;
    // insertion sort of at most `slots` means, in a shared scratch (nothing allocated per reading)
    const m = MEANS;
    let n = 0, sum = 0;
    for (let i = 0; i < slots; i++) {
      let x: number;
      if (level) {
        x = v.getFloat64(o + F_DATA + 8 * i, LE);
        if (Number.isNaN(x)) continue;
      } else {
        const at = o + F_DATA + 12 * i;
        const c = v.getUint32(at + 8, LE);
        if (c === 0) continue;
        x = v.getFloat64(at, LE) / c;
      }
      sum += x;
      let j = n++;
      if (!median) continue;
      while (j > 0 && m[j - 1]! > x) {
        m[j] = m[j - 1]!;
        j--;
      }
      m[j] = x;
    }
    if (n === 0) OUT[0] = OUT[1] = OUT[2] = NaN;
    else if (!median) OUT[0] = OUT[1] = OUT[2] = sum / n;
    else {
      const upper = m[n >> 1]!;
      const lower = n & 1 ? upper : m[(n >> 1) - 1]!;
      OUT[1] = lower;
      OUT[2] = upper;
      OUT[0] = (lower + upper) / 2;
    }
  }
}
