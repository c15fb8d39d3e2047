// Little-endian binary writing and reading for state snapshots (cluster mode's partition
// snapshots, contracts/cluster.ts): rules/ and ingest/ each lay out their own state with these, in
// a format they version themselves. Little-endian throughout, as rules/trend.ts's windows: the
// bytes mean the same on every node. A reader never reads past its bytes: a short or damaged
// input throws (a RangeError), it is never read as zeros.

const utf8 = new TextEncoder();
const text = new TextDecoder('utf-8', { fatal: true });

export class ByteWriter {
  private buf: Uint8Array;
  private view: DataView;
  private at = 0;

  constructor(initial = 4096) {
    this.buf = new Uint8Array(initial);
    this.view = new DataView(this.buf.buffer);
  }

  private room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.at + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.at));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u8(v: number): void {
    this.room(1);
    this.view.setUint8(this.at, v);
    this.at += 1;
  }
  u16(v: number): void {
    this.room(2);
    this.view.setUint16(this.at, v, true);
    this.at += 2;
  }
  u32(v: number): void {
    this.room(4);
    this.view.setUint32(this.at, v, true);
    this.at += 4;
  }
  i32(v: number): void {
    this.room(4);
    this.view.setInt32(this.at, v, true);
    this.at += 4;
  }
  /** Any JS number, exactly (NaN and ±Infinity included): most state is doubles. */
  f64(v: number): void {
    this.room(8);
    this.view.setFloat64(this.at, v, true);
    this.at += 8;
  }
  bool(v: boolean): void {
    this.u8(v ? 1 : 0);
  }
  /** UTF-8, at most 65,535 bytes (ids, zones, offsets). */
  str(v: string): void {
    const b = utf8.encode(v);
    if (b.length > 0xffff) throw new RangeError(`string of ${b.length} bytes is too long for a snapshot`);
    this.u16(b.length);
    this.bytes(b);
  }
  /** Raw bytes, without their length (write it first when the reader needs it). */
  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.at);
    this.at += b.length;
  }
  /** Bytes with a u32 length in front. */
  block(b: Uint8Array): void {
    this.u32(b.length);
    this.bytes(b);
  }
  get length(): number {
    return this.at;
  }
  /** What was written (a view of it: the writer is not used afterwards). */
  finish(): Uint8Array {
    return this.buf.subarray(0, this.at);
  }
}

export class ByteReader {
  private readonly buf: Uint8Array;
  private readonly view: DataView;
  private at = 0;

  constructor(buf: Uint8Array) {
    this.buf = buf;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  private need(n: number): number {
    const at = this.at;
    if (at + n > this.buf.length) throw new RangeError(`snapshot ends early: ${n} bytes wanted at ${at} of ${this.buf.length}`);
    this.at += n;
    return at;
  }

  u8(): number {
    return this.view.getUint8(this.need(1));
  }
  u16(): number {
    return this.view.getUint16(this.need(2), true);
  }
  u32(): number {
    return this.view.getUint32(this.need(4), true);
  }
  i32(): number {
    return this.view.getInt32(this.need(4), true);
  }
  f64(): number {
    return this.view.getFloat64(this.need(8), true);
  }
  bool(): boolean {
    const v = this.u8();
    if (v > 1) throw new RangeError(`snapshot has ${v} where a boolean belongs`);
    return v === 1;
  }
  str(): string {
    const n = this.u16();
    const at = this.need(n);
    return text.decode(this.buf.subarray(at, at + n));
  }
  /** `n` raw bytes (a view, not a copy). */
  bytes(n: number): Uint8Array {
    const at = this.need(n);
    return this.buf.subarray(at, at + n);
  }
  block(): Uint8Array {
    return this.bytes(this.u32());
  }
  get remaining(): number {
    return this.buf.length - this.at;
  }
  /** Throws unless every byte was read: a longer input is another format, not this one with extra. */
  end(): void {
    if (this.at !== this.buf.length) throw new RangeError(`snapshot has ${this.buf.length - this.at} bytes more than its format`);
  }
}
