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

/**
 * The newest `cap` points of a series, each the mean (time, value) of the readings that fell in one
 * time bucket. A gap never clears anything: old points leave only by age (outside the window when
 * the slope is taken) or by being the oldest of a full ring.
 */
export class BucketSeries {
  readonly cap: number;
  readonly bucketMs: number;
  /**
   * [t0..t(cap-1), v0..v(cap-1), n0..n(cap-1)]: times (hours) and values relative to the first
   * reading's, in Float32 to halve the state (issue 14 point 8: ≤ 2 KiB per device). Hours in
   * Float32 stay exact to seconds for years; values to 1e-7 of their range.
   */
  private readonly buf: Float32Array;
  /** Where this series starts in buf: the series of one device share one array (fewer objects). */
  private readonly o: number;
  private head = -1; // slot of the newest point
  private size = 0;
  private headBucket = -Infinity;
  private t0 = NaN;
  private v0 = 0;
  /** A point was added or changed since the slope was last taken. */
  dirty = false;
  /** Cached result of the last slope() (value per day), NaN when not trusted. */
  slopePerDay = NaN;

  constructor(cap: number, bucketMs: number, buf?: Float32Array, offset = 0) {
    this.cap = cap;
    this.bucketMs = bucketMs;
    this.buf = buf ?? new Float32Array(cap * 3);
    this.o = offset;
  }

  /** Adds a reading; true when it opened a new point. Readings older than the newest point's bucket are ignored. */
  add(ts: number, v: number): boolean {
    const k = Math.floor(ts / this.bucketMs);
    if (Number.isNaN(this.t0)) {
      this.t0 = ts;
      this.v0 = v;
    }
    const { buf, cap, o } = this;
    const t = (ts - this.t0) / 3_600_000, x = v - this.v0;
    if (k === this.headBucket) {
      const h = this.head;
      const n = buf[o + 2 * cap + h]! + 1;
      buf[o + h] = buf[o + h]! + (t - buf[o + h]!) / n;
      buf[o + cap + h] = buf[o + cap + h]! + (x - buf[o + cap + h]!) / n;
      // (a running mean in Float32: exact enough for a bucket of up to thousands of readings)
      buf[o + 2 * cap + h] = n;
      this.dirty = true;
      return false;
    }
    if (k < this.headBucket) return false;
    this.headBucket = k;
    this.head = (this.head + 1) % cap;
    buf[o + this.head] = t;
    buf[o + cap + this.head] = x;
    buf[o + 2 * cap + this.head] = 1;
    if (this.size < cap) this.size++;
    this.dirty = true;
    return true;
  }

  /**
   * Sets slopePerDay: the Theil–Sen slope (median of pairwise slopes, value per day) over the points within windowMs of
   * the newest, NaN unless there are at least minPoints spanning minSpanMs. Robust: a minority of
   * outliers (a misread rod, a knocked sensor) does not move it.
   */
  slope(windowMs: number, minPoints: number, minSpanMs: number): void {
    this.dirty = false;
    const { buf, cap, o } = this;
    let n = 0;
    if (this.size === 0) { this.slopePerDay = NaN; return; }
    const newest = buf[o + this.head]!;
    let oldest = newest;
    const windowH = windowMs / 3_600_000, minSpanH = minSpanMs / 3_600_000;
    // points newest first, within the window
    const idx = IDX;
    for (let i = 0; i < this.size; i++) {
      const s = (this.head - i + cap) % cap;
      if (newest - buf[o + s]! > windowH) break;
      idx[n++] = s;
      oldest = buf[o + s]!;
    }
    if (n < minPoints || newest - oldest < minSpanH) { this.slopePerDay = NaN; return; }
    let m = 0;
    for (let a = 0; a < n; a++) {
      const sa = idx[a]!;
      for (let b = a + 1; b < n; b++) {
        const sb = idx[b]!;
        const dt = buf[o + sa]! - buf[o + sb]!;
        if (dt > 0) SLOPES[m++] = (buf[o + cap + sa]! - buf[o + cap + sb]!) / dt;
      }
    }
    if (m === 0) { this.slopePerDay = NaN; return; }
    const hi = select(SLOPES, m, m >> 1);
    const med = m & 1 ? hi : (select(SLOPES, m >> 1, (m >> 1) - 1) + hi) / 2;
    { this.slopePerDay = med * 24; return; }
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
/** A window filter's state in its array: the head cells, then the sub-windows. */
const HEAD_HEAD = 0, HEAD_BUCKET = 1, HEAD_SUB_MS = 2, HEAD_COUNT = 3, HEAD_VALUE = 4, HEAD_LOWER = 5, HEAD_UPPER = 6, HEAD = 7;

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
 */
export class WindowFilter {
  /**
   * All of the filter's state lives at offset o of an array the filters of one point share, none in
   * the object (a double field is a heap number of its own: issue 14 point 8, ≤ 2 KiB per point):
   * [head, bucket, subMs, count, value, lower, upper], then [sum, n] per slot.
   */
  private readonly a: Float64Array;
  private readonly o: number;
  private readonly slots: number;
  private readonly level: boolean;

  /** Doubles a filter of `slots` sub-windows takes in the shared array. */
  static size(slots: number): number {
    return HEAD + 2 * slots;
  }

  constructor(a?: Float64Array, offset = 0, slots = SUB, level = false) {
    this.a = a ?? new Float64Array(WindowFilter.size(slots));
    this.o = offset;
    this.slots = slots;
    this.level = level;
    this.a[offset + HEAD_HEAD] = -1;
    this.a[offset + HEAD_BUCKET] = -Infinity;
    this.a[offset + HEAD_SUB_MS] = NaN;
    this.a[offset + HEAD_VALUE] = this.a[offset + HEAD_LOWER] = this.a[offset + HEAD_UPPER] = NaN;
  }

  /** Sub-windows holding readings (within the window, for a level). */
  get count(): number {
    return this.a[this.o + HEAD_COUNT]!;
  }
  /** The filtered value, set by filter(). */
  get value(): number {
    return this.a[this.o + HEAD_VALUE]!;
  }
  /** The two middle values of the median (equal for an odd count): a level takes the one nearer its baseline. */
  get lower(): number {
    return this.a[this.o + HEAD_LOWER]!;
  }
  get upper(): number {
    return this.a[this.o + HEAD_UPPER]!;
  }

  /** Adds a reading; true when it opened a new sub-window. Readings older than the newest sub-window are ignored. */
  add(ts: number, v: number, subMs: number): boolean {
    const { a, o, slots } = this;
    const s0 = o + HEAD;
    if (subMs !== a[o + HEAD_SUB_MS]) {
      // another sub-window length (a reloaded windowSec) starts afresh
      a[o + HEAD_SUB_MS] = subMs;
      a[o + HEAD_BUCKET] = -Infinity;
      a[o + HEAD_COUNT] = 0;
      a.fill(0, s0, s0 + 2 * slots);
    }
    const k = Math.floor(ts / subMs);
    const bucket = a[o + HEAD_BUCKET]!;
    if (k < bucket) return false;
    let opened = false;
    let head = a[o + HEAD_HEAD]!;
    if (k !== bucket) {
      // For a level, every sub-window passed since the last reading is a slot that left the window.
      const steps = this.level ? Math.min(k - bucket, slots) : 1;
      let count = a[o + HEAD_COUNT]!;
      for (let i = 0; i < steps; i++) {
        head = (head + 1) % slots;
        const at = s0 + 2 * head;
        if (a[at + 1]! > 0) count--;
        a[at] = 0;
        a[at + 1] = 0;
      }
      a[o + HEAD_HEAD] = head;
      a[o + HEAD_BUCKET] = k;
      a[o + HEAD_COUNT] = count + 1;
      opened = true;
    }
    const at = s0 + 2 * head;
    if (this.level) {
      a[at] = v;
      a[at + 1] = 1;
    } else {
      a[at] = a[at]! + v;
      a[at + 1] = a[at + 1]! + 1;
    }
    return opened;
  }

  /** Sets value (and lower, upper): the median or the mean of the sub-windows holding readings. */
  filter(median: boolean): void {
    const { a, o } = this;
    const s0 = o + HEAD;
    // insertion sort of at most `slots` means, in a shared scratch (nothing allocated per reading)
    const m = MEANS;
    let n = 0, sum = 0;
    for (let i = 0; i < this.slots; i++) {
      const c = a[s0 + 2 * i + 1]!;
      if (c === 0) continue;
      const x = a[s0 + 2 * i]! / c;
      sum += x;
      let j = n++;
      if (!median) continue;
      while (j > 0 && m[j - 1]! > x) {
        m[j] = m[j - 1]!;
        j--;
      }
      m[j] = x;
    }
    if (n === 0) a[o + HEAD_VALUE] = a[o + HEAD_LOWER] = a[o + HEAD_UPPER] = NaN;
    else if (!median) a[o + HEAD_VALUE] = a[o + HEAD_LOWER] = a[o + HEAD_UPPER] = sum / n;
    else {
      const upper = m[n >> 1]!;
      const lower = n & 1 ? upper : m[(n >> 1) - 1]!;
      a[o + HEAD_LOWER] = lower;
      a[o + HEAD_UPPER] = upper;
      a[o + HEAD_VALUE] = (lower + upper) / 2;
    }
  }
}
