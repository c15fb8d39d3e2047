// Fixed-size windows on typed arrays: the hot path keeps O(1) work and a bounded footprint per
// device whatever a device sends (issue 3: "windows are fixed-size rings").

/** The last `cap` (time, value) samples; a least-squares slope over the newest window. */
export class SampleRing {
  private readonly buf: Float64Array; // [t0..t(cap-1), v0..v(cap-1)]
  private readonly cap: number;
  private next = 0;
  private size = 0;
  private lastT = -Infinity;

  constructor(cap: number) {
    this.cap = cap;
    this.buf = new Float64Array(cap * 2);
  }

  /** Samples that are not newer than the newest are ignored (buffered uploads, re-sends). */
  push(t: number, v: number): void {
    if (!(t > this.lastT)) return;
    this.lastT = t;
    this.buf[this.next] = t;
    this.buf[this.cap + this.next] = v;
    this.next = (this.next + 1) % this.cap;
    if (this.size < this.cap) this.size++;
  }

  /** Slope (value per ms) over samples within `windowMs` of the newest, NaN when they span less than `minSpanMs`. */
  slope(windowMs: number, minSpanMs: number): number {
    const { buf, cap } = this;
    const from = this.lastT - windowMs;
    let n = 0, st = 0, sv = 0, stt = 0, stv = 0, oldest = Infinity;
    for (let i = 0; i < this.size; i++) {
      const t0 = buf[i]!;
      if (t0 < from) continue;
      const t = t0 - this.lastT; // relative, for precision
      const v = buf[cap + i]!;
      n++; st += t; sv += v; stt += t * t; stv += t * v;
      if (t0 < oldest) oldest = t0;
    }
    if (n < 2 || this.lastT - oldest < minSpanMs) return NaN;
    const den = n * stt - st * st;
    return den > 0 ? (n * stv - st * sv) / den : NaN;
  }
}

export interface WindowFit {
  /** Value per day. */
  slopePerDay: number;
  points: number;
  /** Fraction of the window between its oldest data and now. */
  coverage: number;
}

/**
 * Least-squares slope over a long window (days) in O(1) per sample: samples go into time buckets
 * (a Float32 sum and a count each), and the regression sums of two trailing windows (the whole
 * ring, and its newest `fastBuckets`) are kept running; a bucket leaving a window is subtracted.
 * Time is quantised to the bucket, which for hourly buckets over days costs nothing in slope.
 * Sums are rebuilt from the buckets once per ring turn, so float drift never accumulates.
 */
export class BucketRegression {
  readonly size: number;
  readonly fastSize: number;
  readonly bucketMs: number;
  private readonly sums: Float32Array;
  private readonly counts: Uint16Array;
  /** [n, Σk, Σk², Σv, Σkv] of the whole ring, then of the fast window. */
  private readonly s = new Float64Array(10);
  private head = -1;
  private base = 0;
  private first = 0;
  private v0 = 0;

  constructor(size: number, fastSize: number, bucketMs: number) {
    this.size = size;
    this.fastSize = fastSize;
    this.bucketMs = bucketMs;
    this.sums = new Float32Array(size);
    this.counts = new Uint16Array(size);
  }

  add(ts: number, v: number): void {
    const k = Math.floor(ts / this.bucketMs);
    if (this.head < 0) {
      this.head = this.base = this.first = k;
      this.v0 = v; // values kept relative to the first one: small numbers, exact enough in Float32
    } else if (k > this.head) {
      this.advance(k);
    } else if (k <= this.head - this.size) {
      return; // older than the window
    }
    const slot = k % this.size;
    if (this.counts[slot] === 0xffff) return;
    const old = this.sums[slot]!;
    const now = Math.fround(old + (v - this.v0));
    const d = now - old; // exactly what the bucket gained, so evicting it later subtracts the same
    this.sums[slot] = now;
    this.counts[slot]!++;
    if (k < this.first) this.first = k;
    this.accumulate(0, 1, k - this.base, d);
    if (this.head - k < this.fastSize) this.accumulate(5, 1, k - this.base, d);
  }

  private accumulate(o: number, c: number, kr: number, d: number): void {
    const s = this.s;
    s[o]! += c;
    s[o + 1]! += c * kr;
    s[o + 2]! += c * kr * kr;
    s[o + 3]! += d;
    s[o + 4]! += kr * d;
  }

  private advance(k: number): void {
    if (k - this.head >= this.size) {
      this.sums.fill(0);
      this.counts.fill(0);
      this.s.fill(0);
      this.head = this.base = this.first = k;
      return;
    }
    for (let j = this.head + 1; j <= k; j++) {
      // Bucket j - fastSize leaves the fast window (its data stays in the slow one).
      const jf = j - this.fastSize;
      if (jf > j - this.size) {
        const fs = jf % this.size;
        const c = this.counts[fs]!;
        if (c) this.accumulate(5, -c, jf - this.base, -this.sums[fs]!);
      }
      // Bucket j takes the slot of bucket j - size, which leaves the slow window.
      const slot = j % this.size;
      const c = this.counts[slot]!;
      if (c) {
        this.accumulate(0, -c, j - this.size - this.base, -this.sums[slot]!);
        if (this.fastSize >= this.size) this.accumulate(5, -c, j - this.size - this.base, -this.sums[slot]!);
        this.counts[slot] = 0;
        this.sums[slot] = 0;
      }
    }
    this.head = k;
    if (k - this.base >= this.size) this.rebuild();
  }

  /** Recomputes the running sums from the buckets with a fresh time base. */
  private rebuild(): void {
    this.s.fill(0);
    this.base = this.head;
    for (let idx = this.head - this.size + 1; idx <= this.head; idx++) {
      if (idx < 0) continue;
      const slot = idx % this.size;
      const c = this.counts[slot]!;
      if (!c) continue;
      const kr = idx - this.base;
      const sum = this.sums[slot]!;
      this.accumulate(0, c, kr, sum);
      if (this.head - idx < this.fastSize) this.accumulate(5, c, kr, sum);
    }
  }

  /** Fit over the whole ring (slow) or the newest fastSize buckets (fast). */
  fit(fast: boolean, out: WindowFit): WindowFit {
    const o = fast ? 5 : 0;
    const s = this.s;
    const n = s[o]!, sk = s[o + 1]!, skk = s[o + 2]!, sv = s[o + 3]!, skv = s[o + 4]!;
    const span = fast ? this.fastSize : this.size;
    const oldest = Math.max(this.first, this.head - span + 1);
    out.points = n;
    out.coverage = this.head < 0 ? 0 : (this.head - oldest + 1) / span;
    const den = n * skk - sk * sk;
    out.slopePerDay = n >= 2 && den > 0 ? ((n * skv - sk * sv) / den) * (86_400_000 / this.bucketMs) : NaN;
    return out;
  }
}
