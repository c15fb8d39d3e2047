// Issue 21 point 3: a TCP load balancer in front sends the PROXY protocol (v1 or v2); the gateway
// reads the header off a trusted balancer's socket, then the MQTT CONNECT after it, and admission
// control and the refusal log see the device's address, not the balancer's. Raw sockets on
// loopback: 127.0.0.1 plays the balancer, 127.0.0.2 a peer connecting directly.
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseProxyHeader } from '../gateway/proxy-protocol.ts';
import { startTestGateway, secretOf, type TestGateway } from './gateway.fixture.ts';
import { connectPacket, mqttPacket, rawPeer, type RawPeer } from './support/mqtt-raw.ts';

const SIG = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

const v1 = (src: string, port: number): Buffer => Buffer.from(`PROXY ${src.includes(':') ? 'TCP6' : 'TCP4'} ${src} ${src.includes(':') ? '::1' : '127.0.0.1'} ${port} 1883\r\n`);

/** A v2 PROXY header for a TCP client (IPv4 as 4 bytes, IPv6 as 8 groups), with one TLV after the addresses. */
function v2(src: number[], port: number, opts: { command?: number } = {}): Buffer {
  const six = src.length === 8;
  const addr = six
    ? Buffer.concat([Buffer.from(src.flatMap((g) => [g >> 8, g & 0xff])), Buffer.alloc(16)])
    : Buffer.concat([Buffer.from(src), Buffer.from([127, 0, 0, 1])]);
  const ports = Buffer.alloc(4);
  ports.writeUInt16BE(port, 0);
  ports.writeUInt16BE(1883, 2);
  // PP2_TYPE_AUTHORITY (0x02), as HAProxy adds with SNI: skipped by its length.
  const tlv = Buffer.from([0x02, 0x00, 0x03, 0x61, 0x62, 0x63]);
  const body = Buffer.concat([addr, ports, tlv]);
  const head = Buffer.from([0x20 | (opts.command ?? 1), six ? 0x21 : 0x11, 0, 0]);
  head.writeUInt16BE(body.length, 2);
  return Buffer.concat([SIG, head, body]);
}

const lines: Array<Record<string, unknown>> = [];
const logger = pino({ level: 'info' }, new Writable({ write(chunk, _enc, cb) { lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>); cb(); } }));

let t: TestGateway;
beforeAll(async () => {
  t = await startTestGateway({
    logger,
    config: {
      proxyProtocol: { enabled: true, trustedAddresses: ['127.0.0.1'] },
      // One socket per address: what a per-address limit sees shows which address it counted.
      admission: { maxConnectionsPerAddress: 1, authFailuresFree: 100 },
    },
  });
});
afterAll(async () => {
  await t?.stop();
});

async function viaBalancer(header: Buffer, deviceId: string, secret = secretOf(deviceId)): Promise<RawPeer> {
  const p = await rawPeer(t.gateway.addresses().mqtt!);
  // One write, as a balancer forwards: the header and the CONNECT in the same segment.
  p.socket.write(Buffer.concat([header, mqttPacket.generate(connectPacket(deviceId, secret))]));
  return p;
}

describe('PROXY protocol on the MQTT listener', () => {
  it('parses v1 and v2 headers and says when it needs more bytes or sees none', () => {
    expect(parseProxyHeader(v1('203.0.113.7', 40001))).toMatchObject({ kind: 'done', peer: { address: '203.0.113.7', port: 40001 } });
    expect(parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\n'))).toEqual({ kind: 'done', length: 15, peer: undefined });
    expect(parseProxyHeader(v2([0x2001, 0xdb8, 0, 0, 0, 0, 0, 7], 5))).toMatchObject({ kind: 'done', peer: { address: '2001:db8::7', port: 5 } });
    expect(parseProxyHeader(v2([198, 51, 100, 9], 6, { command: 0 }))).toMatchObject({ kind: 'done', peer: undefined });
    const whole = v2([198, 51, 100, 9], 6);
    expect(parseProxyHeader(whole)).toEqual({ kind: 'done', length: whole.length, peer: { address: '198.51.100.9', port: 6 } });
    expect(parseProxyHeader(whole.subarray(0, 20))).toEqual({ kind: 'more' });
    expect(parseProxyHeader(Buffer.from('PROXY TCP4 1.2.3'))).toEqual({ kind: 'more' });
    expect(parseProxyHeader(mqttPacket.generate(connectPacket('sd-1', 'x'))).kind).toBe('error');
    expect(parseProxyHeader(Buffer.from('PROXY TCP4 1.2.3.999 127.0.0.1 1 2\r\n')).kind).toBe('error');
    expect(parseProxyHeader(Buffer.from(`PROXY TCP4 ${'1'.repeat(120)}`)).kind).toBe('error');
  });

  it('admits by the address in a v1 header: two devices behind the balancer, a second socket of one address refused', async () => {
    const a = await viaBalancer(v1('203.0.113.7', 40001), 'sd-1');
    expect((await a.next('connack')).returnCode).toBe(0);
    // Same balancer address, another device address: admitted although the limit is 1.
    const b = await viaBalancer(v1('203.0.113.8', 40002), 'sd-2');
    expect((await b.next('connack')).returnCode).toBe(0);
    // The first device's address again: over its limit of 1, closed before any CONNACK.
    const c = await viaBalancer(v1('203.0.113.7', 40003), 'sd-3');
    await c.closed;
    expect(c.packets).toEqual([]);
    expect(t.gateway.stats().violations.address_connections).toBe(1);
    expect(lines.some((l) => l.code === 'WF_ADMISSION_CONNECTIONS' && l.address === '203.0.113.7')).toBe(true);
    a.socket.destroy();
    b.socket.destroy();
    await Promise.all([a.closed, b.closed]);
  });

  it('takes a v2 header (IPv4 and IPv6, with a TLV) and logs a refusal under the device address', async () => {
    const a = await viaBalancer(v2([198, 51, 100, 9], 40010), 'sd-4');
    expect((await a.next('connack')).returnCode).toBe(0);
    const b = await viaBalancer(v2([0x2001, 0xdb8, 0, 0, 0, 0, 0, 7], 40011), 'sd-5', 'wrong-secret-0123456789abcdef');
    expect((await b.next('connack')).returnCode).toBe(4);
    expect(lines.find((l) => l.code === 'WF_AUTH_BAD_SECRET')).toMatchObject({ address: '2001:db8::7', port: '2001:db8::7:40011' });
    a.socket.destroy();
    b.socket.destroy();
    await Promise.all([a.closed, b.closed]);
  });

  it('closes a trusted socket without a valid header, and takes plain MQTT from an untrusted one', async () => {
    const before = t.gateway.stats().violations.proxy_header;
    const bare = await rawPeer(t.gateway.addresses().mqtt!);
    bare.send(connectPacket('sd-6', secretOf('sd-6')));
    await bare.closed;
    expect(bare.packets).toEqual([]);
    expect(t.gateway.stats().violations.proxy_header).toBe(before + 1);
    expect(lines.some((l) => l.code === 'WF_PROXY_HEADER' && l.address === '127.0.0.1')).toBe(true);
    // 127.0.0.2 is no balancer: its bytes are MQTT from its own address.
    const direct = await rawPeer(t.gateway.addresses().mqtt!, { localAddress: '127.0.0.2' });
    direct.send(connectPacket('sd-6', secretOf('sd-6')));
    expect((await direct.next('connack')).returnCode).toBe(0);
    direct.socket.destroy();
    await direct.closed;
  });
});
