// Issue 16 points 1 and 6: what one connection may hold is bounded by construction, and the
// protocol is as strict as PROTOCOL.md says. Real broker, real sockets (mqtt.js where it can
// send what is tested, a raw mqtt-packet peer where it will not).
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { topics } from '../contracts/protocol.ts';
import { DEVICE_FILTERS_PER_DEVICE } from '../gateway/acl.ts';
import { closed, publish, secretOf, startTestGateway, type TestGateway } from './gateway.fixture.ts';
import { connectPacket, rawPeer } from './support/mqtt-raw.ts';
import { waitFor } from './support/wait.ts';

const OBSERVER = { name: 'recorder', password: 'observer-pass-0123456789' };

let t: TestGateway;
beforeAll(async () => {
  t = await startTestGateway({
    config: { limits: { maxSubscriptionsPerConnection: 4, maxQueuedCommands: 3, maxClientIdLength: 40 } },
    observers: { verify: (u, p) => u === OBSERVER.name && p?.toString() === OBSERVER.password },
  });
});
afterAll(async () => {
  await t?.stop();
});

function subscribe(c: MqttClient, topic: string): Promise<number> {
  return new Promise((resolve, reject) => {
    c.subscribe(topic, { qos: 1 }, (err, granted) => {
      const refused = (err as { packet?: { granted?: number[] } } | null)?.packet?.granted;
      if (refused) resolve(refused[0]!);
      else if (err) reject(err);
      else resolve(granted![0]!.qos);
    });
  });
}

async function metric(name: string): Promise<number> {
  const m = await t.metrics.getSingleMetric(name)!.get();
  return m.values.reduce((a, v) => a + v.value, 0);
}

async function rawDevice(id: string, extra: Record<string, unknown> = {}) {
  const p = await rawPeer(t.gateway.addresses().mqtt!);
  p.send(connectPacket(id, secretOf(id), extra));
  expect((await p.next('connack')).returnCode).toBe(0);
  return p;
}

describe('strict protocol (issue 16 point 6)', () => {
  it('closes the connection on a QoS 2 PUBLISH, hands nothing, counts it', async () => {
    const before = t.gateway.stats();
    const p = await rawDevice('sd-1');
    p.send({ cmd: 'publish', topic: topics.telemetry('sd-1'), payload: Buffer.from('{"smoke":0.5}'), qos: 2, messageId: 7 });
    await p.closed;
    expect(p.packets.map((x) => x.cmd)).toEqual(['connack']);
    const after = t.gateway.stats();
    expect(after.violations.qos2).toBe(before.violations.qos2 + 1);
    expect(after.disconnects.protocol).toBe(before.disconnects.protocol + 1);
    expect(t.sink.frames.some((f) => f.payload.toString() === '{"smoke":0.5}')).toBe(false);
  });

  it('closes the connection on a topic with U+0000 [MQTT-4.7.3-2], in PUBLISH and in SUBSCRIBE', async () => {
    const before = t.gateway.stats().violations.topic_nul;
    const p = await rawDevice('sd-1');
    p.send({ cmd: 'publish', topic: `${topics.telemetry('sd-1')}\u0000x`, payload: Buffer.from('{"smoke":0.6}'), qos: 1, messageId: 1 });
    await p.closed;
    expect(p.packets.map((x) => x.cmd)).toEqual(['connack']);
    const s = await rawDevice('sd-1');
    s.send({ cmd: 'subscribe', messageId: 2, subscriptions: [{ topic: `v1/devices/sd-1/commands/\u0000`, qos: 1 }] });
    await s.closed;
    expect(s.packets.map((x) => x.cmd)).toEqual(['connack']);
    expect(t.gateway.stats().violations.topic_nul).toBe(before + 2);
    expect(t.sink.frames.some((f) => f.payload.toString() === '{"smoke":0.6}')).toBe(false);
  });

  it('answers CONNACK 2 to a client id over the cap, before looking at the secret', async () => {
    const before = t.gateway.stats();
    const p = await rawPeer(t.gateway.addresses().mqtt!);
    p.send(connectPacket('sd-2', secretOf('sd-2'), { clientId: 'x'.repeat(41) }));
    expect((await p.next('connack')).returnCode).toBe(2);
    await p.closed;
    expect(t.gateway.stats().refusals.client_id).toBe(before.refusals.client_id + 1);
    expect(t.gateway.stats().violations.client_id).toBe(before.violations.client_id + 1);
    // At the cap it is fine.
    const ok = await rawDevice('sd-2', { clientId: 'y'.repeat(40) });
    ok.socket.destroy();
  });
});

describe('bounded by construction (issue 16 point 1)', () => {
  it('grants a device only its fixed set of commands filters, however many it asks for', async () => {
    const c = await t.device('sd-3', { clientId: 'sd-3-subs' });
    const asked = [
      topics.commandsFilter('sd-3'), 'v1/devices/sd-3/commands/+', 'v1/devices/sd-3/commands/silence',
      ...Array.from({ length: 30 }, (_, i) => `v1/devices/sd-3/commands/x${i}`),
      ...Array.from({ length: 30 }, (_, i) => `v1/devices/sd-3/commands/config/${i}`),
    ];
    const granted = await Promise.all(asked.map((f) => subscribe(c, f)));
    expect(granted.slice(0, 3)).toEqual([1, 1, 1]);
    expect(granted.slice(3).every((g) => g === 128)).toBe(true);
    expect(t.gateway.stats().subscriptionsCurrent).toBe(3);
    expect(await metric('watchfire_gateway_subscriptions')).toBe(3);
    const gone = closed(c);
    c.end(true);
    await gone;
    await waitFor(() => t.gateway.stats().subscriptionsCurrent === 0, { what: 'the subscriptions to be counted off' });
  });

  it('caps the subscriptions of one connection (an observer) and counts the refusals', async () => {
    const o = await t.connect(OBSERVER.name, OBSERVER.password, { clientId: 'rec-cap' });
    const before = t.gateway.stats().violations.subscriptions;
    const granted = [];
    for (let i = 1; i <= 7; i++) granted.push(await subscribe(o, `v1/devices/sd-${i}/telemetry`));
    expect(granted).toEqual([1, 1, 1, 1, 128, 128, 128]);
    // Re-subscribing to a held filter is no new subscription.
    expect(await subscribe(o, 'v1/devices/sd-1/telemetry')).toBe(1);
    expect(t.gateway.stats().violations.subscriptions).toBe(before + 3);
    // An unsubscribe frees a place.
    await new Promise<void>((resolve) => o.unsubscribe('v1/devices/sd-1/telemetry', () => resolve()));
    expect(await subscribe(o, 'v1/devices/sd-7/telemetry')).toBe(1);
    o.end(true);
  });

  it('keeps one session per device whatever client ids it invents, and shows sessions in /metrics', async () => {
    const sessionsBefore = await metric('watchfire_gateway_sessions');
    for (let i = 0; i < 5; i++) {
      const c = await t.device('sd-4', { clientId: `sd-4-invented-${i}`, clean: false });
      await subscribe(c, topics.commandsFilter('sd-4'));
      const gone = closed(c);
      c.end(true);
      await gone;
    }
    expect(await metric('watchfire_gateway_sessions')).toBe(sessionsBefore + 1);
    expect(await metric('watchfire_gateway_session_subscriptions')).toBeLessThanOrEqual(DEVICE_FILTERS_PER_DEVICE * (sessionsBefore + 1));
  });

  it('queues commands for an offline device up to the cap, refuses more, and delivers what it queued', async () => {
    const c = await t.device('sd-5', { clientId: 'sd-5-first', clean: false });
    await subscribe(c, topics.commandsFilter('sd-5'));
    const gone = closed(c);
    c.end(true);
    await gone;
    await waitFor(() => !t.gateway.isOnline('sd-5'), { what: 'sd-5 offline' });
    const ids = [randomUUID(), randomUUID(), randomUUID()];
    for (const id of ids) await t.gateway.publishCommand('sd-5', { name: 'locate', id, ts: 1 });
    await expect(t.gateway.publishCommand('sd-5', { name: 'locate', id: randomUUID(), ts: 1 })).rejects.toMatchObject({ code: 'WF_COMMAND_QUEUE_FULL' });
    expect(t.gateway.stats().commandsRefused).toBe(1);
    const back = await t.device('sd-5', { clientId: 'sd-5-back', clean: false });
    const got: string[] = [];
    await new Promise<void>((resolve) => back.on('message', (_tp, payload) => {
      got.push((JSON.parse(payload.toString()) as { id: string }).id);
      if (got.length === ids.length) resolve();
    }));
    // In the order queued: the reconnect's drain (patched in aedes: patches/aedes+1.2.0.patch) sends one at a time.
    expect(got).toEqual(ids);
    back.end(true);
  });

  it('closes a connection that holds more publishes than the cap while over its budget; others go on', async () => {
    const s = await startTestGateway({ config: { rate: { perSecond: 1, burst: 1, disconnectAfterMs: 60_000 }, limits: { maxHeldPublishes: 5 } } });
    try {
      const p = await rawPeer(s.gateway.addresses().mqtt!);
      p.send(connectPacket('sd-6', secretOf('sd-6')));
      expect((await p.next('connack')).returnCode).toBe(0);
      // One packet per write, so aedes reads each one while the earlier ones are held.
      for (let i = 1; i <= 20 && !p.socket.destroyed; i++) {
        p.send({ cmd: 'publish', topic: topics.telemetry('sd-6'), payload: Buffer.from(`{"seq":${i}}`), qos: 1, messageId: i });
        await new Promise((r) => setImmediate(r));
      }
      await p.closed;
      expect(s.gateway.stats().violations.held_publishes).toBe(1);
      expect(s.gateway.stats().disconnects.held).toBe(1);
      expect(s.gateway.stats().heldPublishes).toBe(0);
      const other = await s.device('sd-7');
      await publish(other, topics.telemetry('sd-7'), '{"smoke":0.01}');
      expect(s.sink.frames.some((f) => f.deviceId === 'sd-7')).toBe(true);
    } finally {
      await s.stop();
    }
  });
});
