// Fixed-size windows on typed arrays: the hot path keeps O(1) work and a bounded footprint per
// device whatever a device sends (issue 3: "windows are fixed-size rings").
import type { ByteReader, ByteWriter } from '../contracts/bytes.ts';

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

  /** Slope (value per ms) over samples within `windowMs` of the newest, NaN when fewer than 3 or they span less than `minSpanMs`. */
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
    // Three samples at least (issue 14): a jump between two readings is one sample, not a rate.
    if (n < 3 || this.lastT - oldest < minSpanMs) return NaN;
    const den = n * stt - st * st;
    return den > 0 ? (n * stv - st * sv) / den : NaN;
  }

  /** The ring as it is, for a partition snapshot (rules/snapshot.ts). */
  save(w: ByteWriter): void {
    w.u8(this.cap);
    for (let i = 0; i < this.buf.length; i++) w.f64(this.buf[i]!);
    w.u8(this.next);
    w.u8(this.size);
    w.f64(this.lastT);
  }

  /** Takes a save()d ring of the same capacity (another is another layout: refused). */
  load(r: ByteReader): void {
    const cap = r.u8();
    if (cap !== this.cap) throw new RangeError(`sample ring of ${cap} in the snapshot, ${this.cap} here`);
    for (let i = 0; i < this.buf.length; i++) this.buf[i] = r.f64();
    this.next = r.u8() % cap;
    this.size = Math.min(r.u8(), cap);
    this.lastT = r.f64();
  }
}
