// Topic ACL (PROTOCOL.md "Transport"), commands to devices and observer accounts.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt, { type MqttClient } from 'mqtt';
import { topics } from '../contracts/protocol.ts';
import { closed, publish, startTestGateway, type TestGateway, subscribe } from './gateway.fixture.ts';
import { waitFor } from './support/wait.ts';

const OBSERVER = { name: 'recorder', password: 'observer-pass-0123456789' };

let t: TestGateway;
beforeAll(async () => {
  t = await startTestGateway({
    observers: { verify: (u, p) => u === OBSERVER.name && p?.toString() === OBSERVER.password },
  });
});
afterAll(async () => {
  await t?.stop();
});

function nextMessage(c: MqttClient, topic: string): Promise<{ topic: string; payload: Buffer }> {
  return new Promise((resolve) => {
    const on = (tp: string, payload: Buffer): void => {
      if (tp !== topic) return;
      c.off('message', on);
      resolve({ topic: tp, payload });
    };
    c.on('message', on);
  });
}

describe('gateway topic ACL', () => {
  it('closes the connection of a device publishing under another device, and hands nothing', async () => {
    const c = await t.device('sd-1');
    const before = t.gateway.stats();
    const gone = closed(c);
    c.publish(topics.telemetry('sd-2'), JSON.stringify({ smoke: 0.01 }), { qos: 1 });
    await gone;
    const after = t.gateway.stats();
    expect(after.aclDrops.publish).toBe(before.aclDrops.publish + 1);
    expect(after.disconnects.acl).toBe(before.disconnects.acl + 1);
    expect(t.sink.frames.filter((f) => f.topic === topics.telemetry('sd-2'))).toEqual([]);
  });

  it('closes the connection of a device publishing to its own commands (gateway → device only)', async () => {
    const c = await t.device('sd-3');
    const gone = closed(c);
    c.publish(topics.command('sd-3', 'silence'), '{}', { qos: 0 });
    await gone;
    expect(t.sink.frames.filter((f) => f.deviceId === 'sd-3')).toEqual([]);
  });

  it('hands a device its own telemetry, keyed on the user name, whatever the client id', async () => {
    const c = await t.device('sd-2', { clientId: 'firmware-chooses-this' });
    await publish(c, topics.telemetry('sd-2'), JSON.stringify({ smoke: 0.02 }));
    const f = t.sink.frames.find((x) => x.topic === topics.telemetry('sd-2'));
    expect(f?.deviceId).toBe('sd-2');
    expect(JSON.parse(f!.payload.toString())).toEqual({ smoke: 0.02 });
    c.end(true);
  });

  it('answers SUBACK 0x80 outside the own commands and grants them; a command then arrives', async () => {
    const c = await t.device('sd-2', { clientId: 'sd-2-cmd' });
    const before = t.gateway.stats().aclDrops.subscribe;
    expect(await subscribe(c, topics.commandsFilter('sd-1'))).toEqual([128]);
    expect(await subscribe(c, 'v1/devices/+/telemetry')).toEqual([128]);
    expect(await subscribe(c, '#')).toEqual([128]);
    expect(t.gateway.stats().aclDrops.subscribe).toBe(before + 3);
    expect(await subscribe(c, topics.commandsFilter('sd-2'))).toEqual([1]);
    expect(c.connected).toBe(true);

    const id = randomUUID();
    const arrived = nextMessage(c, topics.command('sd-2', 'config'));
    await t.gateway.publishCommand('sd-2', { name: 'config', id, ts: 1_700_000_000_000, reportEverySec: 60 });
    const m = await arrived;
    expect(JSON.parse(m.payload.toString())).toEqual({ id, ts: 1_700_000_000_000, reportEverySec: 60 });
    expect(t.gateway.stats().commands).toBeGreaterThanOrEqual(1);
    c.end(true);
  });

  it('refuses a command to a device that is not in the registry', async () => {
    await expect(t.gateway.publishCommand('nobody', { name: 'locate', id: randomUUID(), ts: 1 })).rejects.toMatchObject({ code: 'WF_REGISTRY_NOT_FOUND' });
  });

  it('lets an observer record device traffic but not publish', async () => {
    const o = await t.connect(OBSERVER.name, OBSERVER.password, { clientId: 'recorder-1' });
    expect(await subscribe(o, 'v1/devices/+/telemetry')).toEqual([1]);
    expect(await subscribe(o, '$SYS/#')).toEqual([128]);
    const d = await t.device('sd-1', { clientId: 'sd-1-obs' });
    const seen = nextMessage(o, topics.telemetry('sd-1'));
    await publish(d, topics.telemetry('sd-1'), JSON.stringify({ temp: 21 }));
    expect(JSON.parse((await seen).payload.toString())).toEqual({ temp: 21 });
    // The device's frame was handed to ingest as well as delivered to the observer.
    expect(t.sink.frames.some((f) => f.deviceId === 'sd-1' && f.payload.toString() === JSON.stringify({ temp: 21 }))).toBe(true);

    const gone = closed(o);
    o.publish(topics.telemetry('sd-1'), '{"temp":99}', { qos: 0 });
    await gone;
    await waitFor(() => t.gateway.stats().aclDrops.publish >= 3, { what: 'observer publish counted' });
    expect(t.sink.frames.some((f) => f.payload.toString() === '{"temp":99}')).toBe(false);
    d.end(true);
  });

  it('gives an observer a clean session even when it asks for a persistent one', async () => {
    const opts = { clientId: 'recorder-persistent', clean: false };
    const o = await t.connect(OBSERVER.name, OBSERVER.password, opts);
    expect(await subscribe(o, 'v1/devices/+/telemetry')).toEqual([1]);
    await new Promise<void>((resolve) => o.end(false, {}, () => resolve()));
    const d = await t.device('sd-3', { clientId: 'sd-3-obs' });
    await publish(d, topics.telemetry('sd-3'), '{"temp":22}');
    const again = mqtt.connect(t.url, { username: OBSERVER.name, password: OBSERVER.password, reconnectPeriod: 0, ...opts });
    const connack = await new Promise<{ sessionPresent: boolean }>((resolve, reject) => {
      again.once('connect', resolve);
      again.once('error', reject);
    });
    // Nothing was kept for it: no session, no queued message.
    expect(connack.sessionPresent).toBe(false);
    again.end(true);
    d.end(true);
  });

  it('skips delivery while no observer is connected, yet keeps retained statuses for one who comes later', async () => {
    await waitFor(() => t.gateway.stats().observersCurrent === 0, { what: 'no observer connected' });
    const d = await t.device('sd-4', { clientId: 'sd-4-obs' });
    // With nobody to deliver to: telemetry is handed to ingest and acknowledged, the status retained.
    await publish(d, topics.telemetry('sd-4'), '{"temp":23}', { qos: 1 });
    await publish(d, topics.status('sd-4'), '{"online":true,"fw":"2.1"}', { qos: 1, retain: true });
    expect(t.sink.frames.filter((f) => f.deviceId === 'sd-4').map((f) => f.payload.toString())).toEqual(['{"temp":23}', '{"online":true,"fw":"2.1"}']);
    const o = await t.connect(OBSERVER.name, OBSERVER.password, { clientId: 'recorder-late' });
    expect(t.gateway.stats().observersCurrent).toBe(1);
    const retained = nextMessage(o, topics.status('sd-4'));
    expect(await subscribe(o, 'v1/devices/sd-4/#')).toEqual([1]);
    expect((await retained).payload.toString()).toBe('{"online":true,"fw":"2.1"}');
    // With an observer connected, device messages reach it again.
    const live = nextMessage(o, topics.telemetry('sd-4'));
    await publish(d, topics.telemetry('sd-4'), '{"temp":24}', { qos: 1 });
    expect((await live).payload.toString()).toBe('{"temp":24}');
    const gone = closed(o);
    o.end(true);
    await gone;
    await waitFor(() => t.gateway.stats().observersCurrent === 0, { what: 'the observer to be counted off' });
    d.end(true);
  });
});
