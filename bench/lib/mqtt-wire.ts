// The few MQTT 3.1.1 packets a device needs, encoded and parsed by hand. The load generator holds
// up to ~5,000 connections per worker process on a 2-core machine that also runs the broker under
// test; a full client library per connection (timers, stores, streams) would make the generator,
// not the broker, the limit. These are real MQTT connections on real sockets all the same.
// Packet layouts: MQTT 3.1.1 (OASIS 2014) §3.1 CONNECT … §3.14 DISCONNECT.

export const CONNACK = 2;
export const PUBLISH = 3;
export const PUBACK = 4;
export const SUBACK = 9;
export const PINGRESP = 13;

function remainingLength(n: number): number[] {
  // §2.2.3: 7 bits per byte, continuation bit 0x80.
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
}

function packet(first: number, body: Buffer): Buffer {
  const rl = remainingLength(body.length);
  const out = Buffer.allocUnsafe(1 + rl.length + body.length);
  out[0] = first;
  for (let i = 0; i < rl.length; i++) out[1 + i] = rl[i]!;
  body.copy(out, 1 + rl.length);
  return out;
}

function str(s: string | Buffer): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
  const out = Buffer.allocUnsafe(2 + b.length);
  out.writeUInt16BE(b.length, 0);
  b.copy(out, 2);
  return out;
}

export interface ConnectOptions {
  clientId: string;
  username?: string;
  password?: string;
  keepaliveSec: number;
  will?: { topic: string; payload: Buffer; qos: 0 | 1; retain: boolean };
}

export function encodeConnect(o: ConnectOptions): Buffer {
  let flags = 0x02; // clean session: devices here keep no session state
  const parts: Buffer[] = [Buffer.from([0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 0, o.keepaliveSec >> 8, o.keepaliveSec & 0xff]), str(o.clientId)];
  if (o.will) {
    flags |= 0x04 | (o.will.qos << 3) | (o.will.retain ? 0x20 : 0);
    parts.push(str(o.will.topic), str(o.will.payload));
  }
  if (o.username !== undefined) {
    flags |= 0x80;
    parts.push(str(o.username));
  }
  if (o.password !== undefined) {
    flags |= 0x40;
    parts.push(str(o.password));
  }
  parts[0]![7] = flags;
  return packet(0x10, Buffer.concat(parts));
}

export function encodePublish(topic: string, payload: Buffer, qos: 0 | 1, packetId: number, retain = false): Buffer {
  const t = str(topic);
  const idLen = qos > 0 ? 2 : 0;
  const body = Buffer.allocUnsafe(t.length + idLen + payload.length);
  t.copy(body, 0);
  if (qos > 0) body.writeUInt16BE(packetId, t.length);
  payload.copy(body, t.length + idLen);
  return packet(0x30 | (qos << 1) | (retain ? 1 : 0), body);
}

export function encodePuback(packetId: number): Buffer {
  return Buffer.from([0x40, 2, packetId >> 8, packetId & 0xff]);
}

export function encodeSubscribe(packetId: number, filter: string, qos: 0 | 1): Buffer {
  // §3.8.1: SUBSCRIBE's fixed-header flags are 0b0010.
  return packet(0x82, Buffer.concat([Buffer.from([packetId >> 8, packetId & 0xff]), str(filter), Buffer.from([qos])]));
}

export const PINGREQ_BYTES = Buffer.from([0xc0, 0]);
export const DISCONNECT_BYTES = Buffer.from([0xe0, 0]);

export interface Packet {
  type: number;
  flags: number;
  body: Buffer;
}

/** Incremental parser: feed socket chunks, get whole packets. */
export function createParser(onPacket: (p: Packet) => void): (chunk: Buffer) => void {
  let buf: Buffer | undefined;
  return (chunk) => {
    buf = buf && buf.length ? Buffer.concat([buf, chunk]) : chunk;
    let off = 0;
    for (;;) {
      if (buf.length - off < 2) break;
      let mul = 1;
      let len = 0;
      let i = off + 1;
      let complete = false;
      for (; i < buf.length && i < off + 5; i++) {
        const b = buf[i]!;
        len += (b & 0x7f) * mul;
        mul *= 128;
        if ((b & 0x80) === 0) {
          complete = true;
          i++;
          break;
        }
      }
      if (!complete || buf.length - i < len) break;
      const first = buf[off]!;
      onPacket({ type: first >> 4, flags: first & 0x0f, body: buf.subarray(i, i + len) });
      off = i + len;
    }
    buf = off >= buf.length ? undefined : buf.subarray(off);
  };
}

/** Topic and payload of a PUBLISH body, with its packet id when QoS > 0. */
export function parsePublish(p: Packet): { topic: string; packetId: number; payload: Buffer } {
  const tl = p.body.readUInt16BE(0);
  const topic = p.body.toString('utf8', 2, 2 + tl);
  const qos = (p.flags >> 1) & 3;
  const packetId = qos > 0 ? p.body.readUInt16BE(2 + tl) : 0;
  return { topic, packetId, payload: p.body.subarray(2 + tl + (qos > 0 ? 2 : 0)) };
}
