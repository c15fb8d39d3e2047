// Issue 20 point 2 against the running product: CTWing and OneNET pushes over real HTTP to
// Watchfire's endpoints, signatures checked, IMEIs mapped to the registry, readings stored in a
// real influxd and alarms raised; every refused push dead-lettered with its reason. Commands go
// back through each platform's API, here a local HTTP server standing in for it.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSystem, type TestSystem } from './support/system.ts';
import { smallCounty } from './support/registries.ts';
import { createNbiotPlatform, type NbDevice } from '../simulator/nbiot-platform.ts';
import { onenetSignature, rawMember } from '../contracts/nbiot.ts';
import { ctwingSignature } from '../adapters/nbiot/commands.ts';
import type { Finding } from '../contracts/findings.ts';
import type { DevicePresence } from '../contracts/bus.ts';
import { WatchfireError } from '../contracts/errors.ts';

const ONENET_TOKEN = 'onenet-push-token';
const CTWING_TOKEN = 'ctwing-secret-path-token-0123';
const SD1: NbDevice = { imei: '869000000000001', platformId: '600000001' };
const SD3: NbDevice = { imei: '869000000000003', platformId: '15000001869000000000003' };
/** CTWing's own example push (a public integration's comments, smart-device WaterController.java). */
const CTWING_PUBLISHED_ID = '44d0b9e48d404094bbbcf889e4e64ece';

interface Captured { path: string; headers: http.IncomingHttpHeaders; body: string }
let api: http.Server;
let apiUrl: string;
const captured: Captured[] = [];
let apiAnswer = (path: string): unknown => (path.startsWith('/aep_device_command') ? { code: 0, msg: 'ok', result: { commandId: 'c-1' } } : { errno: 0, error: 'succ' });

let sys: TestSystem;
let onenet: ReturnType<typeof createNbiotPlatform>;
let ctwing: ReturnType<typeof createNbiotPlatform>;

beforeAll(async () => {
  api = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      captured.push({ path: req.url ?? '', headers: req.headers, body });
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(apiAnswer(req.url ?? '')));
    });
  });
  await new Promise<void>((r) => api.listen(0, '127.0.0.1', () => r()));
  apiUrl = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;

  const county = smallCounty();
  county.devices = county.devices!.map((d) => {
    if (d.id === 'sd-1') return { ...d, meta: { imei: SD1.imei, nbDeviceId: SD1.platformId, nbPlatform: 'onenet' } };
    if (d.id === 'sd-3') return { ...d, meta: { imei: SD3.imei, nbDeviceId: SD3.platformId, nbPlatform: 'ctwing', nbProductId: 15000001 } };
    if (d.id === 'sd-2') return { ...d, meta: { nbDeviceId: CTWING_PUBLISHED_ID } };
    if (d.id === 'fp-1') return { ...d, meta: { imei: '869000000000009' } };
    return d;
  });
  sys = await startTestSystem({
    registry: county,
    smtp: false,
    config: {
      'ingress.nbiot': {
        onenet: { token: ONENET_TOKEN, api: { url: apiUrl, apiKey: 'onenet-api-key' } },
        ctwing: { token: CTWING_TOKEN, api: { url: apiUrl, appKey: 'app-key', appSecret: 'app-secret', masterKey: 'master-key' } },
      },
    },
  });
  onenet = createNbiotPlatform({ platform: 'onenet', baseUrl: sys.httpUrl, token: ONENET_TOKEN });
  ctwing = createNbiotPlatform({ platform: 'ctwing', baseUrl: sys.httpUrl, token: CTWING_TOKEN });
});
afterAll(async () => {
  await sys?.stop();
  await new Promise<void>((r) => api?.close(() => r()));
});

const deadLetters = (code: string) => sys.wf.deadLetters.list({ code: code as never });

describe('OneNET HTTP push', () => {
  it('answers the URL verification with msg when the signature is right, 403 otherwise', async () => {
    const nonce = 'abc123';
    const msg = 'verify-me';
    const sig = encodeURIComponent(onenetSignature(ONENET_TOKEN, nonce, msg));
    const ok = await fetch(`${sys.httpUrl}/ingress/onenet?msg=${msg}&nonce=${nonce}&signature=${sig}`);
    expect(ok.status).toBe(200);
    expect(await ok.text()).toBe(msg);
    const bad = await fetch(`${sys.httpUrl}/ingress/onenet?msg=${msg}&nonce=${nonce}&signature=AAAA`);
    expect(bad.status).toBe(403);
  });

  it("stores a detector's battery, raises its smoke alarm, and reports it on- and offline", async () => {
    const findings: Finding[] = [];
    const presence: DevicePresence[] = [];
    sys.wf.bus.on('finding', 'test', (f) => findings.push(f));
    sys.wf.bus.on('device.presence', 'test', (p) => presence.push(p));
    expect((await onenet.online(SD1, true)).status).toBe(200);
    expect(presence).toContainEqual(expect.objectContaining({ deviceId: 'sd-1', online: true }));
    expect((await onenet.dataReport(SD1, { battery_value: 87, signal_strength: -95 })).status).toBe(200);
    await sys.waitFor(async () => (await sys.count('telemetry', `"device"='sd-1'`, 'battery')) === 1, { what: 'battery stored' });
    expect((await onenet.dataReport(SD1, { smoke_state: 1 })).status).toBe(200);
    await sys.waitFor(async () => (await sys.count('event', `"device"='sd-1' AND "event"='alarm' AND "level"='red'`)) === 1, { what: 'the alarm stored red' });
    await sys.waitFor(() => findings.some((f) => f.deviceId === 'sd-1' && f.level === 'red'), { what: 'a red finding' });
    expect((await onenet.online(SD1, false)).status).toBe(200);
    expect(presence).toContainEqual(expect.objectContaining({ deviceId: 'sd-1', online: false }));
  });

  it('ingests a message the platform resends once, and answers 200 each time', async () => {
    const body = onenet.onenetBody({ type: 1, dev_id: 600000001, imei: SD1.imei, ds_id: 'event', at: Date.now(), value: { type: 'test' } });
    expect((await onenet.post(body)).status).toBe(200);
    expect((await onenet.post(body)).status).toBe(200);
    await sys.waitFor(async () => (await sys.count('event', `"device"='sd-1' AND "event"='test'`)) >= 1, { what: 'the test event' });
    expect(await sys.count('event', `"device"='sd-1' AND "event"='test'`)).toBe(1);
  });

  it('checks the signature over msg as the platform wrote it (a Java float 25.0, a space), not as re-serialised', async () => {
    const msg = `{"type":1, "dev_id":600000001,"imei":"${SD1.imei}","ds_id":"temp","at":${Date.now()},"value":25.0}`;
    const nonce = 'java0001';
    const body = `{"msg":${msg},"msg_signature":"${onenetSignature(ONENET_TOKEN, nonce, msg)}","nonce":"${nonce}"}`;
    expect((await onenet.post(body)).status).toBe(200);
    await sys.waitFor(async () => (await sys.count('telemetry', `"device"='sd-1' AND "temp"=25`, 'temp')) === 1, { what: 'the temperature stored' });
    // Still: a signature over other text is refused.
    const forged = body.replace('25.0', '26.0');
    expect((await onenet.post(forged)).status).toBe(403);
  });

  it('refuses a wrong signature with 403 and ingests nothing of it', async () => {
    const body = onenet.onenetBody({ type: 1, dev_id: 1, imei: SD1.imei, ds_id: 'event', at: Date.now(), value: { type: 'tamper' } }, 'not-the-token');
    expect((await onenet.post(body)).status).toBe(403);
    await sys.waitFor(async () => (await deadLetters('WF_NBIOT_SIGNATURE')).some((d) => d.topic.startsWith('onenet:POST /ingress/onenet') && d.payload.includes('tamper')), { what: 'signature dead letter' });
    expect(await sys.count('event', `"device"='sd-1' AND "event"='tamper'`)).toBe(0);
  });

  it('answers 200 for an unknown IMEI and a malformed message, dead-lettering each with its reason', async () => {
    expect((await onenet.dataReport({ imei: '869999999999999', platformId: '1' }, { battery: 50 })).status).toBe(200);
    await sys.waitFor(async () => (await deadLetters('WF_NBIOT_UNKNOWN_DEVICE')).some((d) => d.reason.includes('869999999999999')), { what: 'unknown IMEI dead letter' });
    expect((await onenet.post(onenet.onenetBody({ type: 9, dev_id: 1, at: 1 }))).status).toBe(200);
    await sys.waitFor(async () => (await deadLetters('WF_NBIOT_FORMAT')).some((d) => d.reason.includes('expected message type 1, 2 or 7')), { what: 'format dead letter' });
    // A fire panel has no NB-IoT path (contracts/families.ts), even with an IMEI in its meta.
    expect((await onenet.dataReport({ imei: '869000000000009', platformId: '9' }, { battery: 50 })).status).toBe(200);
    await sys.waitFor(async () => (await deadLetters('WF_NBIOT_UNKNOWN_DEVICE')).some((d) => d.deviceId === 'fp-1' && d.reason.includes('fire_panel cannot arrive by onenet')), { what: 'family dead letter' });
  });
});

describe('the raw text of a member (what OneNET signed)', () => {
  it('finds a top-level value as written, past strings with braces, quotes and escapes', () => {
    const body = ' { "nonce" : "a\\"}{,b", "x": {"msg": 1}, "msg" : {"s":"}\\u4e2d\\/","n":[1.0, {"k":"]"}]} , "msg_signature":"z"}';
    expect(rawMember(body, 'msg')).toBe('{"s":"}\\u4e2d\\/","n":[1.0, {"k":"]"}]}');
    expect(rawMember(body, 'nonce')).toBe('"a\\"}{,b"');
    expect(rawMember('{"a":1}', 'msg')).toBeUndefined();
    expect(rawMember('[1]', 'msg')).toBeUndefined();
    expect(rawMember('{"msg":2.50}', 'msg')).toBe('2.50');
  });
});

describe('CTWing subscription push', () => {
  it('maps data reports (thing model and APPdata JSON), event reports and online/offline', async () => {
    const presence: DevicePresence[] = [];
    sys.wf.bus.on('device.presence', 'test-ct', (p) => presence.push(p));
    expect((await ctwing.online(SD3, true)).status).toBe(200);
    expect(presence).toContainEqual(expect.objectContaining({ deviceId: 'sd-3', online: true }));
    expect((await ctwing.dataReport(SD3, { battery_value: 64, temperature: 22.5 })).status).toBe(200);
    await sys.waitFor(async () => (await sys.count('telemetry', `"device"='sd-3' AND "battery"=64`, 'temp')) === 1, { what: 'thing-model telemetry' });
    const appData = Buffer.from(JSON.stringify({ battery: 63 })).toString('base64');
    expect((await ctwing.dataReport(SD3, { APPdata: appData })).status).toBe(200);
    await sys.waitFor(async () => (await sys.count('telemetry', `"device"='sd-3' AND "battery"=63`, 'battery')) === 1, { what: 'APPdata telemetry' });
    expect((await ctwing.event(SD3, 'smoke_alarm')).status).toBe(200);
    await sys.waitFor(async () => (await sys.count('event', `"device"='sd-3' AND "event"='alarm' AND "level"='red'`)) === 1, { what: 'the CTWing alarm stored red' });
  });

  it("reads CTWing's published example pushes: online report by device id, vendor APPdata dead-lettered", async () => {
    const online = '{"timestamp":1589444231825,"tenantId":"10461180","protocol":"lwm2m","productId":"10053421","messageType":"deviceOnlineOfflineReport","iccid":"undefined","eventType":1,"deviceId":"44d0b9e48d404094bbbcf889e4e64ece"}';
    const data = '{"upPacketSN":"","upDataSN":"","topic":"v1/up/ad","timestamp":1589444235861,"tenantId":"10461180","serviceId":"","protocol":"lwm2m","productId":"10053421","payload":{"APPdata":"UFUAPBAAAAYBAAMAJwMnuwpogDAwYGckCQYAAQAADjxkZAJVcVCnAAAAAAAAAEYAAAAAAAAAAAEDJ7sKAAAAAA=="},"messageType":"dataReport","deviceType":"","deviceId":"44d0b9e48d404094bbbcf889e4e64ece","assocAssetId":"","IMSI":"undefined","IMEI":"860803030676429"}';
    const presence: DevicePresence[] = [];
    sys.wf.bus.on('device.presence', 'test-pub', (p) => presence.push(p));
    expect((await ctwing.post(online)).status).toBe(200);
    expect(presence).toContainEqual(expect.objectContaining({ deviceId: 'sd-2', online: true, at: 1589444231825 }));
    expect((await ctwing.post(data)).status).toBe(200);
    await sys.waitFor(async () => (await deadLetters('WF_NBIOT_FORMAT')).some((d) => d.deviceId === 'sd-2' && d.reason.includes('vendor binary')), { what: 'vendor APPdata dead letter' });
  });

  it('refuses a wrong path token with 403, and dead-letters JSON that is no CTWing message', async () => {
    const wrong = await fetch(`${sys.httpUrl}/ingress/ctwing/wrong-token-wrong-token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(wrong.status).toBe(403);
    await sys.waitFor(async () => (await deadLetters('WF_NBIOT_SIGNATURE')).some((d) => d.topic.includes('/ingress/ctwing/…') && !d.topic.includes('wrong-token')), { what: 'token dead letter without the token' });
    expect((await ctwing.post('{"messageType":"somethingElse","deviceId":"x","timestamp":1}')).status).toBe(200);
    expect((await ctwing.post('not json')).status).toBe(200);
    await sys.waitFor(async () => (await deadLetters('WF_NBIOT_FORMAT')).some((d) => d.reason.startsWith('not JSON')), { what: 'not-JSON dead letter' });
    expect((await deadLetters('WF_NBIOT_FORMAT')).some((d) => d.reason.includes('got "somethingElse"'))).toBe(true);
  });
});

describe('pushes the HTTP server itself would refuse', () => {
  // Platforms retry anything but 200: a 415 or 413 from the framework would come back for ever,
  // with no dead letter to say why.
  it('reads another content type as text: dead-lettered for what it is, answered 200', async () => {
    const res = await fetch(`${sys.httpUrl}/ingress/ctwing/${CTWING_TOKEN}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'deviceId=1&battery=50' });
    expect(res.status).toBe(200);
    await sys.waitFor(async () => (await deadLetters('WF_NBIOT_FORMAT')).some((d) => d.topic.startsWith('ctwing:') && d.reason.startsWith('not JSON') && d.payload === 'deviceId=1&battery=50'), { what: 'form body dead letter' });
  });

  it('dead-letters a body over the limit with its size and answers 200; 403 with a wrong CTWing token', async () => {
    const big = JSON.stringify({ messageType: 'dataReport', deviceId: SD3.platformId, timestamp: Date.now(), payload: { pad: 'x'.repeat(300 * 1024) } });
    const post = (path: string) => fetch(`${sys.httpUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: big });
    expect((await post(`/ingress/ctwing/${CTWING_TOKEN}`)).status).toBe(200);
    expect((await post('/ingress/onenet')).status).toBe(200);
    const tooBig = async () => (await deadLetters('WF_NBIOT_FORMAT')).filter((d) => d.reason.includes('over the 262144-byte limit') && d.reason.includes(`(${Buffer.byteLength(big)} bytes)`));
    await sys.waitFor(async () => (await tooBig()).length === 2, { what: 'two size dead letters' });
    expect((await tooBig()).map((d) => d.topic.split(':')[0]).sort()).toEqual(['ctwing', 'onenet']);
    expect((await post('/ingress/ctwing/wrong-token-wrong-token')).status).toBe(403);
  });
});

describe('commands through the platform API', () => {
  it('sends selftest to a CTWing detector with the AEP signature, and silence to a OneNET one', async () => {
    captured.length = 0;
    const id = randomUUID();
    await sys.wf.sendCommand('sd-3', { name: 'selftest', id, ts: Date.now() });
    const ct = captured.find((c) => c.path === '/aep_device_command/command')!;
    expect(JSON.parse(ct.body)).toMatchObject({ content: { serviceIdentifier: 'selftest', params: { id } }, deviceId: SD3.platformId, productId: 15000001 });
    expect(ct.headers.application).toBe('app-key');
    expect(ct.headers.masterkey).toBe('master-key');
    expect(ct.headers.signature).toBe(ctwingSignature('app-key', 'app-secret', String(ct.headers.timestamp), { MasterKey: 'master-key' }, ct.body));

    await sys.wf.sendCommand('sd-1', { name: 'silence', id, ts: Date.now() });
    const on = captured.find((c) => c.path.startsWith('/nbiot/execute'))!;
    expect(new URL(on.path, apiUrl).searchParams.get('imei')).toBe(SD1.imei);
    expect(on.headers['api-key']).toBe('onenet-api-key');
    expect(JSON.parse(JSON.parse(on.body).args)).toMatchObject({ name: 'silence', id });
  });

  it('fails with WF_NBIOT_COMMAND when the platform refuses', async () => {
    apiAnswer = (path) => (path.startsWith('/aep_device_command') ? { code: 8001, msg: 'device not found' } : { errno: 10, error: 'device offline' });
    const err = await sys.wf.sendCommand('sd-3', { name: 'selftest', id: randomUUID(), ts: Date.now() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WatchfireError);
    expect(err).toMatchObject({ code: 'WF_NBIOT_COMMAND' });
    expect(String((err as Error).message)).toContain('8001');
    await expect(sys.wf.sendCommand('sd-1', { name: 'silence', id: randomUUID(), ts: Date.now() })).rejects.toMatchObject({ code: 'WF_NBIOT_COMMAND' });
  });
});
