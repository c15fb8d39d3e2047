// MQTT over TLS with a certificate from the config (file paths here), beside plain TCP.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { generate } from 'selfsigned';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topics } from '../contracts/protocol.ts';
import { awaitConnect, publish, secretOf, startTestGateway, type TestGateway } from './gateway.fixture.ts';
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
