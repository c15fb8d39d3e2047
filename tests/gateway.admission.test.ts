// Issue 16 point 2: admission control for connections. Real gateway, real sockets; limits made
// small through the config so that a handful of sockets reach them.
import { Writable } from 'node:stream';
import net from 'node:net';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { secretOf, startTestGateway, type TestGateway } from './gateway.fixture.ts';
import { connectPacket, rawPeer } from './support/mqtt-raw.ts';
import { waitFor } from './support/wait.ts';

let t: TestGateway | undefined;
afterEach(async () => {
  await t?.stop();
  t = undefined;
});

/** A pino logger whose lines land in an array. */
function capturingLogger(): { logger: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({ write(chunk: Buffer, _enc, cb) { lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>); cb(); } });
  return { logger: pino({ level: 'info' }, sink), lines };
}

async function wrongConnect(port: number, user: string): Promise<number> {
  const p = await rawPeer(port);
  p.send(connectPacket(user, 'not-the-secret'));
  const ack = await p.next('connack');
  await p.closed;
  return ack.returnCode!;
}

describe('admission control (issue 16 point 2)', () => {
  it('closes a socket that sends no CONNECT within connectTimeoutMs, and counts it', async () => {
    t = await startTestGateway({ config: { connectTimeoutMs: 500 } });
    const s = net.connect({ port: t.gateway.addresses().mqtt!, host: '127.0.0.1' });
    s.on('error', () => {});
    await new Promise<void>((resolve) => s.once('close', () => resolve()));
    expect(t.gateway.stats().violations.connect_timeout).toBe(1);
  });

  it('caps open sockets per source address; another address is not affected', async () => {
    t = await startTestGateway({ config: { admission: { maxConnectionsPerAddress: 3 } } });
    const port = t.gateway.addresses().mqtt!;
    const held = await Promise.all([1, 2, 3].map(() => rawPeer(port)));
    const fourth = await rawPeer(port);
    await fourth.closed;
    expect(t.gateway.stats().violations.address_connections).toBe(1);
    // Linux routes all of 127/8 to loopback: a second source address, its own budget.
    const other = await rawPeer(port, { localAddress: '127.0.0.2' });
    other.send(connectPacket('sd-1', secretOf('sd-1')));
    expect((await other.next('connack')).returnCode).toBe(0);
    // A closed socket gives its place back.
    held[0]!.socket.destroy();
    await waitFor(() => t!.gateway.stats().socketsOpen === 3, { what: 'the gateway to see the socket close' });
    const again = await rawPeer(port);
    again.send(connectPacket('sd-2', secretOf('sd-2')));
    expect((await again.next('connack')).returnCode).toBe(0);
    for (const p of [...held, other, again]) p.socket.destroy();
  });

  it('limits new connections per address to its burst, then its rate; exempt addresses pass', async () => {
    t = await startTestGateway({ config: { admission: { attemptsPerSecond: 0.001, attemptsBurst: 2, exemptAddresses: ['127.0.0.3'] } } });
    const port = t.gateway.addresses().mqtt!;
    const a = await rawPeer(port);
    const b = await rawPeer(port);
    const c = await rawPeer(port);
    await c.closed;
    expect(t.gateway.stats().violations.address_rate).toBe(1);
    const exempt = await Promise.all([1, 2, 3, 4].map(() => rawPeer(port, { localAddress: '127.0.0.3' })));
    exempt[3]!.send(connectPacket('sd-3', secretOf('sd-3')));
    expect((await exempt[3]!.next('connack')).returnCode).toBe(0);
    expect(t.gateway.stats().violations.address_rate).toBe(1);
    for (const p of [a, b, ...exempt]) p.socket.destroy();
  });

  it('answers wrong CONNECTs late under backoff, yet never delays or refuses the right secret', async () => {
    t = await startTestGateway({ config: { admission: { authFailuresFree: 2, authBackoffMs: 50, authMaxBackoffMs: 200 } } });
    const port = t.gateway.addresses().mqtt!;
    for (let i = 0; i < 3; i++) expect(await wrongConnect(port, 'sd-4')).toBe(4);
    expect(t.gateway.stats().authDelayed).toBe(0);
    // Past the free failures: refused as before, only late, and counted.
    expect(await wrongConnect(port, 'sd-4')).toBe(4);
    expect(await wrongConnect(port, 'nobody')).toBe(4);
    expect(t.gateway.stats().authDelayed).toBe(2);
    expect(t.gateway.stats().refusals.bad_secret + t.gateway.stats().refusals.unknown).toBe(5);
    // The device itself, from the same address and for the same id: accepted, not held.
    const ok = await rawPeer(port);
    ok.send(connectPacket('sd-4', secretOf('sd-4')));
    expect((await ok.next('connack')).returnCode).toBe(0);
    expect(t.gateway.stats().authDelayed).toBe(2);
    ok.socket.destroy();
  });

  it('logs the first refusals of a window one by one and the rest as one summary line', async () => {
    const { logger, lines } = capturingLogger();
    t = await startTestGateway({ logger, config: { admission: { logFirstPerWindow: 3, logWindowMs: 60_000, authFailuresFree: 1_000 } } });
    const port = t.gateway.addresses().mqtt!;
    for (let i = 0; i < 40; i++) await wrongConnect(port, 'sd-5');
    expect(t.gateway.stats().refusals.bad_secret).toBe(40);
    expect(lines.filter((l) => l.code === 'WF_AUTH_BAD_SECRET')).toHaveLength(3);
    await t.stop();
    t = undefined;
    const summary = lines.filter((l) => l.code === 'WF_GATEWAY_REFUSALS');
    expect(summary).toHaveLength(1);
    expect(summary[0]!.suppressed).toEqual({ WF_AUTH_BAD_SECRET: 37 });
    expect(summary[0]!.topAddresses).toEqual([{ address: '127.0.0.1', n: 37 }]);
    // Never the secret.
    expect(JSON.stringify(lines)).not.toContain('not-the-secret');
  });
});
