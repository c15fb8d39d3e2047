// Online/offline from connect, the retained status, the will and the socket; keyed on the device
// id; a registry write that disables a device disconnects it; shutdown says 'shutdown'.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IClientOptions } from 'mqtt';
import type { DevicePresence } from '../contracts/bus.ts';
import type { RegistryChange } from '../contracts/ports.ts';
import { topics } from '../contracts/protocol.ts';
import { closed, publish, startTestGateway, type TestGateway } from './gateway.fixture.ts';
import { waitFor } from './support/wait.ts';

const listeners: Array<(c: readonly RegistryChange[]) => void> = [];
let t: TestGateway;
beforeAll(async () => {
  t = await startTestGateway({
    changes: { onChange: (l) => { listeners.push(l); return () => listeners.splice(listeners.indexOf(l), 1); } },
  });
});
afterAll(async () => {
  await t?.stop();
});

const withWill = (id: string): IClientOptions => ({
  will: { topic: topics.status(id), payload: Buffer.from('{"online":false}'), qos: 1, retain: true },
});
const eventsOf = (id: string): DevicePresence[] => t.presence.filter((p) => p.deviceId === id);

describe('gateway presence', () => {
  it('marks a device online on connect and offline through its will when the connection drops', async () => {
    const c = await t.device('sd-1', withWill('sd-1'));
    expect(t.gateway.isOnline('sd-1')).toBe(true);
    expect(t.gateway.onlineCount()).toBe(1);
    expect(eventsOf('sd-1')).toMatchObject([{ online: true, reason: 'connect' }]);
    await publish(c, topics.status('sd-1'), '{"online":true}', { retain: true });

    // The connection drops without DISCONNECT: the broker publishes the will.
    c.stream.destroy();
    await waitFor(() => !t.gateway.isOnline('sd-1'), { what: 'sd-1 offline' });
    expect(eventsOf('sd-1')).toMatchObject([{ online: true, reason: 'connect' }, { online: false, reason: 'will' }]);
    const frames = t.sink.frames.filter((f) => f.deviceId === 'sd-1').map((f) => [f.topic, f.payload.toString(), f.retain]);
    expect(frames).toEqual([
      [topics.status('sd-1'), '{"online":true}', true],
      [topics.status('sd-1'), '{"online":false}', true],
    ]);
    expect(t.gateway.stats().messages.will).toBe(1);
    expect(t.gateway.onlineCount()).toBe(0);
  });

  it('marks a device offline from its status, and from a clean DISCONNECT (socket, no will)', async () => {
    const c = await t.device('sd-2', withWill('sd-2'));
    await publish(c, topics.status('sd-2'), '{"online":false}', { retain: true });
    expect(t.gateway.isOnline('sd-2')).toBe(false);
    await publish(c, topics.status('sd-2'), '{"online":true}', { retain: true });
    expect(t.gateway.isOnline('sd-2')).toBe(true);
    await new Promise<void>((resolve) => c.end(false, {}, () => resolve()));
    await waitFor(() => !t.gateway.isOnline('sd-2'), { what: 'sd-2 offline' });
    expect(eventsOf('sd-2').map((p) => `${p.online} ${p.reason}`)).toEqual(['true connect', 'false status', 'true status', 'false socket']);
    // A clean DISCONNECT discards the will [MQTT-3.14.4-3].
    expect(t.sink.frames.filter((f) => f.deviceId === 'sd-2' && f.payload.toString() === '{"online":false}')).toHaveLength(1);
  });

  it('keys on the device: a second connection of the same device replaces the first without an offline blip', async () => {
    const first = await t.device('sd-3', { ...withWill('sd-3'), clientId: 'sd-3-a' });
    const firstGone = closed(first);
    const second = await t.device('sd-3', { ...withWill('sd-3'), clientId: 'sd-3-b' });
    await firstGone;
    expect(t.gateway.isOnline('sd-3')).toBe(true);
    // The replaced connection's will is not published: the device is connected.
    await publish(second, topics.status('sd-3'), '{"online":true}', { retain: true });
    expect(eventsOf('sd-3').map((p) => `${p.online} ${p.reason}`)).toEqual(['true connect']);
    expect(t.sink.frames.filter((f) => f.deviceId === 'sd-3' && f.payload.toString() === '{"online":false}')).toEqual([]);
    expect(t.gateway.stats().disconnects.takeover).toBeGreaterThanOrEqual(1);
    await waitFor(() => t.gateway.stats().connectionsCurrent === 1, { what: 'one connection left' });
    second.end(true);
    await waitFor(() => !t.gateway.isOnline('sd-3'), { what: 'sd-3 offline' });
  });

  it('disconnects a connected device when the registry disables it', async () => {
    const c = await t.device('sd-4', withWill('sd-4'));
    const gone = closed(c);
    t.directory.setEnabled('sd-4', false);
    for (const l of listeners) l([{ kind: 'device', id: 'sd-4', op: 'upsert' }]);
    await gone;
    expect(t.gateway.isOnline('sd-4')).toBe(false);
    expect(t.gateway.stats().disconnects.disabled).toBe(1);
    t.directory.setEnabled('sd-4', true);
  });

  it('on stop, reports connected devices offline for shutdown and hands no will', async () => {
    await t.device('sd-5', withWill('sd-5'));
    const willsBefore = t.gateway.stats().messages.will;
    await t.stop();
    expect(eventsOf('sd-5').map((p) => `${p.online} ${p.reason}`)).toEqual(['true connect', 'false shutdown']);
    expect(t.gateway.stats().messages.will).toBe(willsBefore);
    expect(t.gateway.onlineCount()).toBe(0);
    expect(t.gateway.stats().connectionsCurrent).toBe(0);
    expect(() => t.gateway.addresses()).toThrow();
  });
});
