// The PROXY protocol (HAProxy's "proxy-protocol.txt", versions 1 and 2): a TCP load balancer in
// front of the gateway starts each connection with a header naming the client's own address, so
// admission control and the refusal log see the device, not the balancer (issue 21 point 3).
// Only the header is read here; what follows it is the device's MQTT, handed on untouched.
import { isIP, type Socket } from 'node:net';

export interface Peer {
  readonly address: string;
  readonly port: number;
}

/** The 12 bytes a v2 header begins with (proxy-protocol.txt §2.2). */
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
/** §2.1: a v1 line is at most 107 bytes with its CRLF. */
const V1_MAX = 107;
/** v2 addresses and TLVs: HAProxy sends a few hundred bytes at most; more is not a balancer. */
const V2_MAX_BODY = 2048;

export type ProxyHeader =
  | { readonly kind: 'more' }
  | { readonly kind: 'error'; readonly why: string }
  /** `peer` is undefined for v1 UNKNOWN and v2 LOCAL (the balancer's own health check): the socket's address stands. */
  | { readonly kind: 'done'; readonly length: number; readonly peer: Peer | undefined };

function v1(buf: Buffer): ProxyHeader {
  const end = buf.indexOf('\r\n');
  if (end < 0) return buf.length >= V1_MAX ? { kind: 'error', why: 'PROXY v1 line longer than 107 bytes' } : { kind: 'more' };
  if (end + 2 > V1_MAX) return { kind: 'error', why: 'PROXY v1 line longer than 107 bytes' };
  const parts = buf.subarray(0, end).toString('latin1').split(' ');
  if (parts[0] !== 'PROXY') return { kind: 'error', why: 'not a PROXY header' };
  if (parts[1] === 'UNKNOWN') return { kind: 'done', length: end + 2, peer: undefined };
  const [, family, src, , sport] = parts;
  if (parts.length !== 6 || (family !== 'TCP4' && family !== 'TCP6')) return { kind: 'error', why: 'PROXY v1 line malformed' };
  const port = Number(sport);
  if (isIP(src!) !== (family === 'TCP4' ? 4 : 6) || !/^\d{1,5}$/.test(sport!) || port > 65_535) return { kind: 'error', why: 'PROXY v1 address malformed' };
  return { kind: 'done', length: end + 2, peer: { address: src!, port } };
}

function v2(buf: Buffer): ProxyHeader {
  if (buf.length < 16) return { kind: 'more' };
  const verCmd = buf[12]!;
  if (verCmd >> 4 !== 2) return { kind: 'error', why: 'PROXY v2 version is not 2' };
  const len = buf.readUInt16BE(14);
  if (len > V2_MAX_BODY) return { kind: 'error', why: 'PROXY v2 header too long' };
  if (buf.length < 16 + len) return { kind: 'more' };
  const length = 16 + len;
  const command = verCmd & 0x0f;
  // §2.2: LOCAL (0) is the balancer speaking for itself; PROXY (1) relays a client.
  if (command === 0) return { kind: 'done', length, peer: undefined };
  if (command !== 1) return { kind: 'error', why: 'PROXY v2 command unknown' };
  const family = buf[13]!;
  if (family === 0x11 && len >= 12) {
    return { kind: 'done', length, peer: { address: [...buf.subarray(16, 20)].join('.'), port: buf.readUInt16BE(24) } };
  }
  if (family === 0x21 && len >= 36) {
    const groups: string[] = [];
    for (let i = 0; i < 8; i++) groups.push(buf.readUInt16BE(16 + 2 * i).toString(16));
    // The URL parser writes it the short way (2001:db8::7), as Node reports a socket's address.
    const address = new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
    return { kind: 'done', length, peer: { address, port: buf.readUInt16BE(48) } };
  }
  // UNSPEC or a UNIX socket: nothing to learn; the socket's address stands.
  if (family === 0x00 || family >> 4 === 3) return { kind: 'done', length, peer: undefined };
  return { kind: 'error', why: 'PROXY v2 address family malformed' };
}

/** Parses the header at the start of `buf`: done (with its length), needs more bytes, or not a header. */
export function parseProxyHeader(buf: Buffer): ProxyHeader {
  if (buf.length === 0) return { kind: 'more' };
  if (buf[0] === 0x0d) {
    const n = Math.min(buf.length, V2_SIGNATURE.length);
    if (!buf.subarray(0, n).equals(V2_SIGNATURE.subarray(0, n))) return { kind: 'error', why: 'not a PROXY header' };
    return n < V2_SIGNATURE.length ? { kind: 'more' } : v2(buf);
  }
  const n = Math.min(buf.length, 6);
  if (buf.subarray(0, n).toString('latin1') !== 'PROXY '.slice(0, n)) return { kind: 'error', why: 'not a PROXY header' };
  return v1(buf);
}

/**
 * Reads the header off a new socket, then puts back what followed it (the start of the MQTT
 * CONNECT, often in the same segment) and leaves the socket paused for the broker to read.
 * Calls back once: with the peer (undefined: keep the socket's address), or with why not.
 */
export function readProxyHeader(socket: Socket, timeoutMs: number, done: (err: Error | undefined, peer?: Peer) => void): void {
  let buf: Buffer = Buffer.alloc(0);
  const finish = (err: Error | undefined, peer?: Peer): void => {
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('close', onClose);
    socket.off('error', onError);
    done(err, peer);
  };
  const onData = (chunk: Buffer): void => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    const h = parseProxyHeader(buf);
    if (h.kind === 'more') return;
    if (h.kind === 'error') {
      finish(new Error(h.why));
      return;
    }
    socket.pause();
    if (buf.length > h.length) socket.unshift(buf.subarray(h.length));
    finish(undefined, h.peer);
  };
  const onClose = (): void => finish(new Error('closed before its PROXY header'));
  const onError = (err: Error): void => finish(err);
  const timer = setTimeout(() => finish(new Error('no PROXY header in time')), timeoutMs);
  socket.on('data', onData);
  socket.on('close', onClose);
  socket.on('error', onError);
}
