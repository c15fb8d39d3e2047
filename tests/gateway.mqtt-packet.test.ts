// The gateway's MQTT parser is mqtt-packet with three patches (patches/mqtt-packet+9.0.2.patch,
// applied on install by patch-package): debug() is a no-op while its namespace is off, the
// parser makes its next packet only when bytes of it arrive, and it buffers in bl's plain
// BufferList instead of a BufferListStream. The last two touch parsing itself, so
// every way a byte stream can be cut into socket reads must still yield exactly the packets sent —
// and the patch must really be in place (without it the GC figures in README.md "Performance" do not hold).
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';

// mqtt-packet has no types of its own; the shape used here is small.
interface Packet { cmd: string; topic?: string | null; payload?: Buffer | null; messageId?: number; length: number }
interface Parser { packet: Packet; _list: object; parse(b: Buffer): number; on(ev: 'packet', fn: (p: Packet) => void): void; on(ev: 'error', fn: (e: Error) => void): void }
const mp = createRequire(import.meta.url)('mqtt-packet') as {
  parser(opt?: { protocolVersion: number }): Parser;
  generate(p: Record<string, unknown>): Buffer;
};

function frames(): Array<{ cmd: string; buf: Buffer; topic?: string; payload?: string }> {
  const out = [];
  for (let i = 0; i < 6; i++) {
    const topic = `v1/devices/sd-${i}/telemetry`;
    const payload = JSON.stringify({ ts: 1795478215980 + i, seq: i, smoke: 0.01 * i });
    out.push({ cmd: 'publish', topic, payload, buf: mp.generate({ cmd: 'publish', topic, payload: Buffer.from(payload), qos: 1, messageId: i + 1 }) });
    if (i % 2) out.push({ cmd: 'pingreq', buf: mp.generate({ cmd: 'pingreq' }) });
  }
  return out;
}

function parseInChunks(stream: Buffer, cuts: number[]): { packets: Packet[]; errors: Error[]; parser: Parser } {
  const parser = mp.parser({ protocolVersion: 4 });
  const packets: Packet[] = [];
  const errors: Error[] = [];
  parser.on('packet', (p) => packets.push(p));
  parser.on('error', (e) => errors.push(e));
  let at = 0;
  for (const c of [...new Set(cuts)].sort((a, b) => a - b)) {
    if (c <= at || c >= stream.length) continue;
    parser.parse(stream.subarray(at, c));
    at = c;
  }
  parser.parse(stream.subarray(at));
  return { packets, errors, parser };
}

describe('mqtt-packet as patched for the gateway', () => {
  const sent = frames();
  const stream = Buffer.concat(sent.map((f) => f.buf));

  it('yields exactly the packets sent, however the stream is cut into reads', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: stream.length - 1 }), { maxLength: 40 }), (cuts) => {
        const { packets, errors } = parseInChunks(stream, cuts);
        expect(errors).toEqual([]);
        expect(packets.map((p) => p.cmd)).toEqual(sent.map((f) => f.cmd));
        packets.forEach((p, i) => {
          if (sent[i]!.cmd !== 'publish') return;
          expect(p.topic).toBe(sent[i]!.topic);
          expect(p.payload?.toString()).toBe(sent[i]!.payload);
        });
        // Each packet is its own object, none of them the parser's frozen stand-in.
        expect(new Set(packets).size).toBe(packets.length);
        expect(packets.some((p) => Object.isFrozen(p))).toBe(false);
      }),
      { numRuns: 300 },
    );
  });

  it('also byte by byte', () => {
    const cuts = Array.from({ length: stream.length - 1 }, (_, i) => i + 1);
    const { packets, errors } = parseInChunks(stream, cuts);
    expect(errors).toEqual([]);
    expect(packets).toHaveLength(sent.length);
  });

  it('holds no packet object between messages (the patch is applied)', () => {
    const { parser } = parseInChunks(sent[0]!.buf, []);
    // Unpatched, a fresh mutable Packet waits here for the next message.
    expect(Object.isFrozen(parser.packet)).toBe(true);
    const next = parseInChunks(Buffer.concat([sent[0]!.buf, sent[1]!.buf.subarray(0, 3)]), []);
    // Part of the next packet arrived: it has its own object.
    expect(Object.isFrozen(next.parser.packet)).toBe(false);
  });

  it('buffers in a plain BufferList, not a stream (the patch is applied)', () => {
    const { parser } = parseInChunks(sent[0]!.buf, []);
    // Unpatched, bl() is a BufferListStream: a Duplex with stream states, ≈ 0.7 KiB per connection.
    expect(parser._list.constructor.name).toBe('BufferList');
    expect('pipe' in parser._list).toBe(false);
  });
});
