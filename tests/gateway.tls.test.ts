// MQTT over TLS with a certificate from the config (file paths here), beside plain TCP.
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import net from 'node:net';
import tls from 'node:tls';
import pino from 'pino';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { generate } from 'selfsigned';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topics } from '../contracts/protocol.ts';
import { awaitConnect, publish, secretOf, startTestGateway, type TestGateway } from './gateway.fixture.ts';

async function selfSigned(cn: string): Promise<{ cert: string; key: string }> {
  const pems = await generate([{ name: 'commonName', value: cn }], {
    keySize: 2048,
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] }],
  });
  return { cert: pems.cert, key: pems.private };
}

/** The certificate a fresh TLS connection to the port is served (its subject CN). */
function servedCn(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false }, () => {
      const cn = s.getPeerCertificate().subject.CN;
      s.destroy();
      resolve(Array.isArray(cn) ? cn.join(',') : (cn ?? ''));
    });
    s.once('error', reject);
  });
}
import { waitFor } from './support/wait.ts';

let dir: string;
let cert: string;
let t: TestGateway;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'wf-gw-tls-'));
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    keySize: 2048,
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] }],
  });
  cert = pems.cert;
  writeFileSync(join(dir, 'cert.pem'), pems.cert);
  writeFileSync(join(dir, 'key.pem'), pems.private);
  t = await startTestGateway({ config: { tls: { port: 0, cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') } } });
});
afterAll(async () => {
  await t?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('gateway over TLS', () => {
  it('accepts a device over mqtts that verifies the certificate, and hands its frames', async () => {
    const { mqtts } = t.gateway.addresses();
    expect(mqtts).toBeGreaterThan(0);
    expect(mqtts).not.toBe(t.gateway.addresses().mqtt);
    const c = await awaitConnect(mqtt.connect(`mqtts://127.0.0.1:${mqtts}`, {
      username: 'sd-1', password: secretOf('sd-1'), ca: cert, rejectUnauthorized: true, reconnectPeriod: 0,
    }));
    await publish(c, topics.telemetry('sd-1'), '{"smoke":0.03}');
    expect(t.sink.frames.map((f) => [f.deviceId, f.payload.toString()])).toEqual([['sd-1', '{"smoke":0.03}']]);
    expect(t.gateway.isOnline('sd-1')).toBe(true);
    c.end(true);
  });

  it('still refuses a wrong secret over TLS', async () => {
    const c = mqtt.connect(`mqtts://127.0.0.1:${t.gateway.addresses().mqtts}`, {
      username: 'sd-2', password: 'wrong', ca: cert, reconnectPeriod: 0,
    });
    await expect(awaitConnect(c)).rejects.toMatchObject({ code: 4 });
  });

  it('does not let a plain MQTT client talk to the TLS port', async () => {
    const before = t.gateway.stats().tlsErrors;
    const c = mqtt.connect(`mqtt://127.0.0.1:${t.gateway.addresses().mqtts}`, {
      username: 'sd-3', password: secretOf('sd-3'), reconnectPeriod: 0, connectTimeout: 5000,
    });
    await expect(awaitConnect(c)).rejects.toThrow();
    await waitFor(() => t.gateway.stats().tlsErrors > before, { what: 'the handshake failure to be counted' });
    expect(t.gateway.isOnline('sd-3')).toBe(false);
  });
});

describe('MQTT over TLS only, certificates reloaded (issue 16 point 4)', () => {
  it('opens no plain listener when gateway.plain is false, and reloads renewed files without a restart', async () => {
    const d = mkdtempSync(join(tmpdir(), 'wf-gw-tls-only-'));
    const first = await selfSigned('first');
    writeFileSync(join(d, 'cert.pem'), first.cert);
    writeFileSync(join(d, 'key.pem'), first.key);
    const lines: Array<Record<string, unknown>> = [];
    const logger = pino({ level: 'info' }, new Writable({ write(c: Buffer, _e, cb) { lines.push(JSON.parse(c.toString()) as Record<string, unknown>); cb(); } }));
    const g = await startTestGateway({ logger, config: { plain: false, tls: { port: 0, cert: join(d, 'cert.pem'), key: join(d, 'key.pem') } } });
    try {
      const a = g.gateway.addresses();
      expect(a.mqtt).toBeUndefined();
      const port = a.mqtts!;
      expect(await servedCn(port)).toBe('first');
      // A device connected before the renewal stays connected through it.
      const before = await awaitConnect(mqtt.connect(`mqtts://127.0.0.1:${port}`, { username: 'sd-4', password: secretOf('sd-4'), ca: first.cert, reconnectPeriod: 0 }));

      // Half-way through a renewal (new certificate, old key): refused, the running one stays.
      const second = await selfSigned('second');
      writeFileSync(join(d, 'cert.pem'), second.cert);
      await waitFor(() => lines.some((l) => l.code === 'WF_GATEWAY_TLS_RELOAD'), { what: 'the mismatched pair to be refused' });
      expect(await servedCn(port)).toBe('first');
      // The key lands by rename, as renewal tools write it.
      writeFileSync(join(d, 'key.pem.tmp'), second.key);
      renameSync(join(d, 'key.pem.tmp'), join(d, 'key.pem'));
      await waitFor(async () => (await servedCn(port)) === 'second', { what: 'the renewed certificate to be served' });

      const after = await awaitConnect(mqtt.connect(`mqtts://127.0.0.1:${port}`, { username: 'sd-5', password: secretOf('sd-5'), ca: second.cert, reconnectPeriod: 0 }));
      await publish(after, topics.telemetry('sd-5'), '{"smoke":0.01}');
      await publish(before, topics.telemetry('sd-4'), '{"smoke":0.02}');
      expect(g.sink.frames.map((f) => f.deviceId).sort()).toEqual(['sd-4', 'sd-5']);
      // Loopback only: no plain-text warning.
      expect(lines.some((l) => l.code === 'WF_GATEWAY_PLAINTEXT')).toBe(false);
      before.end(true);
      after.end(true);
    } finally {
      await g.stop();
      rmSync(d, { recursive: true, force: true });
    }
  });

  it('warns loudly at start when plain MQTT listens on a non-loopback address', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const logger = pino({ level: 'info' }, new Writable({ write(c: Buffer, _e, cb) { lines.push(JSON.parse(c.toString()) as Record<string, unknown>); cb(); } }));
    const g = await startTestGateway({ logger, config: { host: '0.0.0.0' } });
    await g.stop();
    expect(lines.filter((l) => l.code === 'WF_GATEWAY_PLAINTEXT')).toHaveLength(1);
  });

  it('applies admission control and the CONNECT timeout on the TLS port before any handshake', async () => {
    const g = await startTestGateway({ config: { connectTimeoutMs: 500, admission: { maxConnectionsPerAddress: 1 }, tls: { port: 0, cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') } } });
    try {
      const port = g.gateway.addresses().mqtts!;
      // The first socket holds the address's only place and never starts its handshake.
      const idle = net.connect({ port, host: '127.0.0.1' });
      idle.on('error', () => {});
      await new Promise((r) => idle.once('connect', r));
      await waitFor(() => g.gateway.stats().socketsOpen === 1, { what: 'the idle socket to be admitted' });
      const second = tls.connect({ port, host: '127.0.0.1', ca: cert });
      await expect(new Promise((resolve, reject) => { second.once('secureConnect', resolve); second.once('error', reject); })).rejects.toThrow();
      expect(g.gateway.stats().violations.address_connections).toBe(1);
      // The idle one is closed once connectTimeoutMs passed without a handshake.
      await new Promise((r) => idle.once('close', r));
      await waitFor(() => g.gateway.stats().socketsOpen === 0, { what: 'the idle socket to be released' });
      expect(g.gateway.stats().violations.connect_timeout).toBe(1);
      // A device that completes its handshake is not touched by that timeout.
      const d = await awaitConnect(mqtt.connect(`mqtts://127.0.0.1:${port}`, { username: 'sd-6', password: secretOf('sd-6'), ca: cert, reconnectPeriod: 0, keepalive: 0 }));
      const ping = (): Promise<void> => publish(d, topics.telemetry('sd-6'), '{"smoke":0.01}');
      await ping();
      await waitFor(async () => { await ping(); return g.sink.frames.length >= 5; }, { what: 'the device to keep publishing past the timeout', intervalMs: 300 });
      expect(d.connected).toBe(true);
      expect(g.gateway.stats().violations.connect_timeout).toBe(1);
      d.end(true);
    } finally {
      await g.stop();
    }
  });

  it('refuses to start with plain MQTT off and no TLS', async () => {
    await expect(startTestGateway({ config: { plain: false } })).rejects.toMatchObject({ code: 'WF_CONFIG_INVALID' });
  });
});
