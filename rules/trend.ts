// Rates and filters over time for structural sensors (issue 14 point 3), with bounded memory per
// device whatever the sampling: weekly manual rods, hourly automatic points, 100 Hz inclinometers.

/** Scratch for pairwise slopes: one per process, rates are computed one at a time. */
const SLOPES = new Float64Array((32 * 31) / 2);
const IDX = new Int32Array(32);

/**
 * The newest `cap` points of a series, each the mean (time, value) of the readings that fell in one
 * time bucket. A gap never clears anything: old points leave only by age (outside the window when
 * the slope is taken) or by being the oldest of a full ring.
 */
export class BucketSeries {
  readonly cap: number;
  readonly bucketMs: number;
  /** [t0..t(cap-1), v0..v(cap-1), n0..n(cap-1)]: times and values relative to t0/v0 for precision. */
  private readonly buf: Float64Array;
  private head = -1; // slot of the newest point
  private size = 0;
  private headBucket = -Infinity;
  private t0 = NaN;
  private v0 = 0;
  /** A point was added or changed since the slope was last taken. */
  dirty = false;
  /** Cached result of the last slope() (value per day), NaN when not trusted. */
  slopePerDay = NaN;

  constructor(cap: number, bucketMs: number) {
    this.cap = cap;
    this.bucketMs = bucketMs;
    this.buf = new Float64Array(cap * 3);
  }

  /** Adds a reading; true when it opened a new point. Readings older than the newest point's bucket are ignored. */
  add(ts: number, v: number): boolean {
    const k = Math.floor(ts / this.bucketMs);
    if (Number.isNaN(this.t0)) {
      this.t0 = ts;
      this.v0 = v;
    }
    const { buf, cap } = this;
    const t = ts - this.t0, x = v - this.v0;
    if (k === this.headBucket) {
      const h = this.head;
      const n = buf[2 * cap + h]! + 1;
      buf[h] = buf[h]! + (t - buf[h]!) / n;
      buf[cap + h] = buf[cap + h]! + (x - buf[cap + h]!) / n;
      buf[2 * cap + h] = n;
      this.dirty = true;
      return false;
    }
    if (k < this.headBucket) return false;
    this.headBucket = k;
    this.head = (this.head + 1) % cap;
    buf[this.head] = t;
    buf[cap + this.head] = x;
    buf[2 * cap + this.head] = 1;
    if (this.size < cap) this.size++;
    this.dirty = true;
    return true;
  }

  /**
   * Theil–Sen slope (median of pairwise slopes, value per day) over the points within windowMs of
   * the newest, NaN unless there are at least minPoints spanning minSpanMs. Robust: a minority of
   * outliers (a misread rod, a knocked sensor) does not move it.
   */
  slope(windowMs: number, minPoints: number, minSpanMs: number): number {
    this.dirty = false;
    const { buf, cap } = this;
    let n = 0;
    if (this.size === 0) return (this.slopePerDay = NaN);
    const newest = buf[this.head]!;
    let oldest = newest;
    // points newest first, within the window
    const idx = IDX;
    for (let i = 0; i < this.size; i++) {
      const s = (this.head - i + cap) % cap;
      if (newest - buf[s]! > windowMs) break;
      idx[n++] = s;
      oldest = buf[s]!;
    }
    if (n < minPoints || newest - oldest < minSpanMs) return (this.slopePerDay = NaN);
    let m = 0;
    for (let a = 0; a < n; a++) {
      const sa = idx[a]!;
      for (let b = a + 1; b < n; b++) {
        const sb = idx[b]!;
        const dt = buf[sa]! - buf[sb]!;
        if (dt > 0) SLOPES[m++] = (buf[cap + sa]! - buf[cap + sb]!) / dt;
      }
    }
    if (m === 0) return (this.slopePerDay = NaN);
    const s = SLOPES.subarray(0, m).sort();
    const med = m & 1 ? s[m >> 1]! : (s[(m >> 1) - 1]! + s[m >> 1]!) / 2;
    return (this.slopePerDay = med * 86_400_000);
  }

  /** Newest point's mean value (absolute), NaN before any. */
  last(): number {
    return this.size === 0 ? NaN : this.buf[this.cap + this.head]! + this.v0;
  }
}

/** Sub-windows per filter window: the filter is the median (or mean) of the newest SUB means. */
export const SUB = 5;

/**
 * A tilt axis filtered over a window: readings are averaged in sub-windows of windowMs / SUB, and
 * the filtered value is the median (or mean) of the newest SUB sub-window means. Vibration of a
 * high-rate inclinometer averages out inside a sub-window; a sparse sensor's single bad reading
 * is one of five and the median ignores it. A sustained change shows within one window.
 */
export class WindowFilter {
  private readonly sums = new Float64Array(SUB * 2); // [sum x, n] per slot
  private head = -1;
  private size = 0;
  private bucket = -Infinity;

  add(ts: number, v: number, subMs: number): boolean {
    const k = Math.floor(ts / subMs);
    if (k < this.bucket) return false;
    let opened = false;
    if (k !== this.bucket) {
      this.bucket = k;
      this.head = (this.head + 1) % SUB;
      this.sums[2 * this.head] = 0;
      this.sums[2 * this.head + 1] = 0;
      if (this.size < SUB) this.size++;
      opened = true;
    }
    this.sums[2 * this.head] = this.sums[2 * this.head]! + v;
    this.sums[2 * this.head + 1] = this.sums[2 * this.head + 1]! + 1;
    return opened;
  }

  get count(): number {
    return this.size;
  }

  value(median: boolean): number {
    const n = this.size;
    if (n === 0) return NaN;
    if (!median) {
      let s = 0;
      for (let i = 0; i < n; i++) s += this.sums[2 * i]! / this.sums[2 * i + 1]!;
      return s / n;
    }
    // insertion sort of at most SUB means
    const m = [0, 0, 0, 0, 0];
    for (let i = 0; i < n; i++) {
      const x = this.sums[2 * i]! / this.sums[2 * i + 1]!;
      let j = i;
      while (j > 0 && m[j - 1]! > x) {
        m[j] = m[j - 1]!;
        j--;
      }
      m[j] = x;
    }
    return n & 1 ? m[n >> 1]! : (m[(n >> 1) - 1]! + m[n >> 1]!) / 2;
  }
}
