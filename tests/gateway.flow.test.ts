// The hot path's hand-off and flow control: the frame reaches ingest before the PUBACK, a
// flooding device is throttled then disconnected without hurting others, admission control
// holds PUBACKs while storage is behind, oversize packets are acked as dead letters up to a hard
// cap and close the connection beyond it.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { topics } from '../contracts/protocol.ts';
import { closed, publish, startTestGateway, type TestGateway } from './gateway.fixture.ts';
import { waitFor } from './support/wait.ts';

let backlog = 0;
let backlogReads = 0;
let t: TestGateway;
beforeAll(async () => {
  t = await startTestGateway({
    config: {
      maxPacketBytes: 2048,
      maxPacketHardBytes: 8192,
      rate: { perSecond: 50, burst: 20, disconnectAfterMs: 400 },
      highWaterReadings: 100,
    },
    backlog: () => { backlogReads++; return backlog; },
  });
});
afterAll(async () => {
  await t?.stop();
});

describe('gateway hand-off and flow control', () => {
  it('hands each QoS 1 frame to the sink before its PUBACK is written', async () => {
    const c = await t.device('sd-3');
    const order: string[] = [];
    t.sink.onAccept = (f) => order.push(`sink ${f.payload.toString()}`);
    // Spy on the server's socket writes: a PUBACK's first chunk is its header byte 0x40
    // (mqtt-packet writeToStream); the device never sends one here (it receives no QoS 1).
    const original = net.Socket.prototype.write;
    const write = vi.spyOn(net.Socket.prototype, 'write').mockImplementation(function (this: net.Socket, ...args: unknown[]) {
      const chunk = args[0];
      if (Buffer.isBuffer(chunk) && chunk.length === 1 && chunk[0] === 0x40) order.push('puback');
      return Reflect.apply(original, this, args) as boolean;
    });
    try {
      for (let i = 0; i < 3; i++) {
        await publish(c, topics.events('sd-3'), `{"type":"test","seq":${i}}`, { qos: 1 });
        // When the device's publish callback (its PUBACK) fires, ingest has the frame.
        expect(t.sink.frames.at(-1)?.payload.toString()).toBe(`{"type":"test","seq":${i}}`);
      }
    } finally {
      write.mockRestore();
      t.sink.onAccept = undefined;
    }
    expect(order).toEqual([0, 1, 2].flatMap((i) => [`sink {"type":"test","seq":${i}}`, 'puback']));
    c.end(true);
  });

  it('throttles a device bursting far over its budget, then disconnects it, while another device gets through', async () => {
    const flooder = await t.device('sd-1');
    flooder.on('error', () => undefined); // writes after the gateway hung up
    const calm = await t.device('sd-2');
    const before = t.gateway.stats();
    const gone = closed(flooder);
    const FLOOD = 3000;
    for (let i = 0; i < FLOOD; i++) flooder.publish(topics.telemetry('sd-1'), `{"seq":${i}}`, { qos: 0 });
    // The calm device's messages are sent while the flood is being throttled.
    await waitFor(() => t.gateway.stats().rateLimited > before.rateLimited, { what: 'throttling to start' });
    const CALM = 15;
    await Promise.all(Array.from({ length: CALM }, (_, i) => publish(calm, topics.telemetry('sd-2'), `{"seq":${i}}`, { qos: 1 })));
    await gone;
    const after = t.gateway.stats();
    expect(after.disconnects.rate).toBe(before.disconnects.rate + 1);
    const flooded = t.sink.frames.filter((f) => f.deviceId === 'sd-1').length;
    // The burst went through, and much less than the flood.
    expect(flooded).toBeGreaterThanOrEqual(20);
    expect(flooded).toBeLessThan(FLOOD / 2);
    expect(t.sink.frames.filter((f) => f.deviceId === 'sd-2').map((f) => f.payload.toString()))
      .toEqual(Array.from({ length: CALM }, (_, i) => `{"seq":${i}}`));
    expect(calm.connected).toBe(true);
    expect(await t.metrics.getSingleMetricAsString('watchfire_gateway_disconnects_total')).toMatch(/reason="rate"\} [1-9]/);
    // Nothing of the closed connection is left waiting.
    await waitFor(() => t.gateway.stats().pausedSockets === 0, { what: 'no paused sockets' });
    calm.end(true);
  });

  it('holds PUBACKs while the storage backlog is above the high-water mark, and resumes below it', async () => {
    const c = await t.device('sd-4');
    backlog = 1000;
    let acked = false;
    const done = publish(c, topics.telemetry('sd-4'), '{"smoke":0.01}', { qos: 1 }).then(() => { acked = true; });
    await waitFor(() => t.gateway.stats().pausedSockets === 1, { what: 'the socket to be paused' });
    const paused = t.gateway.stats();
    expect(paused.admissionPaused).toBe(true);
    expect(paused.admissionPauses).toBe(1);
    expect(acked).toBe(false);
    expect(t.sink.frames.some((f) => f.deviceId === 'sd-4')).toBe(false);
    // Still above the reopen level (half the high-water mark): still held.
    backlog = 80;
    const reads = backlogReads;
    await waitFor(() => backlogReads >= reads + 2, { what: 'admission control to look at the backlog again' });
    expect(t.gateway.stats().admissionPaused).toBe(true);
    expect(acked).toBe(false);
    backlog = 10;
    await done;
    expect(t.sink.frames.filter((f) => f.deviceId === 'sd-4')).toHaveLength(1);
    const resumed = t.gateway.stats();
    expect(resumed.admissionPaused).toBe(false);
    expect(resumed.pausedSockets).toBe(0);
    backlog = 0;
    c.end(true);
  });

  it('lets an alarm through while admission control holds telemetry', async () => {
    const quiet = await t.device('sd-6');
    const alarming = await t.device('sd-7');
    backlog = 1000;
    let telemetryAcked = false;
    const held = publish(quiet, topics.telemetry('sd-6'), '{"smoke":0.01}', { qos: 1 }).then(() => { telemetryAcked = true; });
    await waitFor(() => t.gateway.stats().admissionPaused, { what: 'admission control to close' });
    // The alarm of another device is handed to ingest and acknowledged with the gate closed.
    await publish(alarming, topics.events('sd-7'), '{"type":"alarm","seq":1}', { qos: 1 });
    expect(t.sink.frames.filter((f) => f.deviceId === 'sd-7').map((f) => f.topic)).toEqual([topics.events('sd-7')]);
    expect(telemetryAcked).toBe(false);
    expect(t.sink.frames.some((f) => f.deviceId === 'sd-6')).toBe(false);
    backlog = 0;
    await held;
    expect(t.sink.frames.filter((f) => f.deviceId === 'sd-6')).toHaveLength(1);
    quiet.end(true);
    alarming.end(true);
  });

  it('hands an alarm behind its own device\'s held telemetry, carrying that telemetry with it in order', async () => {
    const c = await t.device('sd-6');
    backlog = 1000;
    const acked: string[] = [];
    const send = (topic: string, payload: string): Promise<void> => publish(c, topic, payload, { qos: 1 }).then(() => { acked.push(payload); });
    const first = send(topics.telemetry('sd-6'), '{"smoke":0.01,"seq":1}');
    // The telemetry is parsed and held before the alarm is even sent.
    await waitFor(() => t.gateway.stats().heldPublishes === 1, { what: 'the telemetry to be held' });
    const alarm = send(topics.events('sd-6'), '{"type":"alarm","seq":2}');
    await Promise.all([first, alarm]);
    expect(t.gateway.stats().admissionPaused).toBe(true);
    // Handed and acknowledged in the order sent (MQTT 3.1.1 4.6), the telemetry first.
    expect(t.sink.frames.filter((f) => f.deviceId === 'sd-6').slice(-2).map((f) => f.payload.toString()))
      .toEqual(['{"smoke":0.01,"seq":1}', '{"type":"alarm","seq":2}']);
    expect(acked).toEqual(['{"smoke":0.01,"seq":1}', '{"type":"alarm","seq":2}']);
    // Telemetry after the alarm is held again until storage catches up.
    const handed = t.sink.frames.length;
    const later = send(topics.telemetry('sd-6'), '{"smoke":0.01,"seq":3}');
    await waitFor(() => t.gateway.stats().heldPublishes === 1, { what: 'the later telemetry to be held' });
    expect(t.sink.frames.length).toBe(handed);
    backlog = 0;
    await later;
    expect(t.sink.frames.at(-1)?.payload.toString()).toBe('{"smoke":0.01,"seq":3}');
    expect(t.gateway.stats().heldPublishes).toBe(0);
    c.end(true);
  });

  it('hands alarms that had to wait for their budget while storage is behind', async () => {
    const c = await t.device('sd-7');
    backlog = 1000;
    const before = t.sink.frames.filter((f) => f.deviceId === 'sd-7').length;
    const limited = t.gateway.stats().rateLimited;
    // Twice the burst (20): the later ones wait for tokens (50/s) — and only for tokens.
    await Promise.all(Array.from({ length: 40 }, (_, i) => publish(c, topics.events('sd-7'), `{"type":"alarm","seq":${100 + i}}`, { qos: 1 })));
    expect(t.sink.frames.filter((f) => f.deviceId === 'sd-7')).toHaveLength(before + 40);
    expect(t.gateway.stats().rateLimited).toBeGreaterThan(limited);
    backlog = 0;
    c.end(true);
  });

  it('acks a packet above maxPacketBytes as an oversize frame; closes the connection above maxPacketHardBytes and hands nothing of it', async () => {
    const c = await t.device('sd-5');
    await publish(c, topics.telemetry('sd-5'), JSON.stringify({ note: 'x'.repeat(1500) }));
    expect(t.sink.frames.filter((f) => f.deviceId === 'sd-5')).toHaveLength(1);
    // Issue 15: read, handed on as its first 4 KiB marked oversize (ingest dead-letters it), acked.
    await publish(c, topics.telemetry('sd-5'), JSON.stringify({ note: 'x'.repeat(6000) }));
    const oversize = t.sink.frames.filter((f) => f.deviceId === 'sd-5')[1]!;
    expect(oversize.oversize).toEqual({ bytes: 6011 + topics.telemetry('sd-5').length, limit: 2048 });
    expect(oversize.payload.length).toBe(4096);
    const before = t.gateway.stats();
    const gone = closed(c);
    c.on('error', () => undefined);
    c.publish(topics.telemetry('sd-5'), JSON.stringify({ note: 'x'.repeat(9000) }), { qos: 1 });
    await gone;
    const after = t.gateway.stats();
    expect(after.packetTooLarge).toBe(before.packetTooLarge + 1);
    expect(after.disconnects.packet_too_large).toBe(before.disconnects.packet_too_large + 1);
    expect(t.sink.frames.filter((f) => f.deviceId === 'sd-5')).toHaveLength(2);
  });

  it('closes the connection as soon as a packet header announces too many bytes, without waiting for them', async () => {
    const c = await t.device('sd-5', { clientId: 'sd-5-raw' });
    c.on('error', () => undefined);
    const before = t.gateway.stats().packetTooLarge;
    const gone = closed(c);
    // A PUBLISH fixed header claiming 268 MB (the 4-byte maximum remaining length), and no body.
    c.stream.write(Buffer.from([0x30, 0xff, 0xff, 0xff, 0x7f]));
    await gone;
    expect(t.gateway.stats().packetTooLarge).toBe(before + 1);
  });
});
