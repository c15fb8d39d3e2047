// Issue 15: a QoS 1 PUBACK waits for the journal's group commit. The frame reaches ingest (rules,
// incidents) at once; the PUBACK is written only when the journal says the message is on disk,
// and never when the journal failed. Real broker, real mqtt.js clients; the journal's durable()
// port is held by the test.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { topics } from '../contracts/protocol.ts';
import { closed, publish, startTestGateway, type TestGateway } from './gateway.fixture.ts';
import { waitFor } from './support/wait.ts';

let held: Array<(err?: Error) => void> = [];
let calls = 0;
let t: TestGateway;
beforeAll(async () => {
  t = await startTestGateway({ durable: (done) => { calls++; held.push(done); } });
});
afterAll(async () => {
  await t?.stop();
});

/** Counts PUBACKs the server writes: a PUBACK's first chunk is its header byte 0x40 (mqtt-packet). */
function spyPubacks(): { count(): number; restore(): void } {
  let n = 0;
  const original = net.Socket.prototype.write;
  const spy = vi.spyOn(net.Socket.prototype, 'write').mockImplementation(function (this: net.Socket, ...args: unknown[]) {
    const chunk = args[0];
    if (Buffer.isBuffer(chunk) && chunk.length === 1 && chunk[0] === 0x40) n++;
    return Reflect.apply(original, this, args) as boolean;
  });
  return { count: () => n, restore: () => spy.mockRestore() };
}

describe('PUBACK after the journal', () => {
  it('hands a QoS 1 frame on at once but writes its PUBACK only when the journal has flushed it', async () => {
    const c = await t.device('sd-1');
    const pubacks = spyPubacks();
    try {
      held = [];
      let afterHandOff = -1;
      // Whatever the gateway writes in the hand-off's own tick (aedes writes a PUBACK
      // synchronously in authorizePublish's callback) is written by the next setImmediate.
      const handed = new Promise<void>((r) => {
        t.sink.onAccept = () => setImmediate(() => { afterHandOff = pubacks.count(); r(); });
      });
      const acked = publish(c, topics.telemetry('sd-1'), '{"seq":1,"ts":1,"smoke":0.01}');
      await handed;
      expect(t.sink.frames.at(-1)?.payload.toString()).toContain('"seq":1');
      expect(afterHandOff).toBe(0);
      expect(held).toHaveLength(1);
      held.shift()!();
      await acked;
      expect(pubacks.count()).toBe(1);
    } finally {
      pubacks.restore();
      t.sink.onAccept = undefined;
    }
  });

  it('releases PUBACKs in the order of the PUBLISHes, and does not ask the journal about QoS 0', async () => {
    const c = await t.device('sd-2');
    held = [];
    const before = calls;
    await publish(c, topics.telemetry('sd-2'), '{"seq":1,"ts":1,"smoke":0.01}', { qos: 0 });
    const order: number[] = [];
    const acks = [2, 3, 4].map((i) => publish(c, topics.telemetry('sd-2'), `{"seq":${i},"ts":${i},"smoke":0.01}`).then(() => order.push(i)));
    await waitFor(() => held.length === 3 || undefined, { what: 'three durable() calls' });
    expect(calls - before).toBe(3);
    for (const done of held.splice(0)) done();
    await Promise.all(acks);
    expect(order).toEqual([2, 3, 4]);
  });

  it('acknowledges nothing when the journal failed, and closes the connection so the device re-sends', async () => {
    const c = await t.device('sd-3');
    held = [];
    const pubacks = spyPubacks();
    try {
      const gone = closed(c);
      c.publish(topics.telemetry('sd-3'), '{"seq":1,"ts":1,"smoke":0.01}', { qos: 1 }, () => undefined);
      await waitFor(() => held.length === 1 || undefined, { what: 'the durable() call' });
      held.shift()!(new Error('EIO'));
      await gone;
      expect(pubacks.count()).toBe(0);
    } finally {
      pubacks.restore();
    }
  });

  it('times each QoS 1 PUBACK from its arrival to its release (watchfire_gateway_puback_hold_seconds), QoS 0 not at all', async () => {
    const c = await t.device('sd-4');
    held = [];
    const hold = async () => {
      const text = await t.metrics.getSingleMetricAsString('watchfire_gateway_puback_hold_seconds');
      const num = (re: RegExp): number => Number(re.exec(text)?.[1] ?? NaN);
      return { count: num(/_count (\S+)/), sum: num(/_sum (\S+)/), all: num(/_bucket\{le="\+Inf"\} (\S+)/) };
    };
    const before = await hold();
    await publish(c, topics.telemetry('sd-4'), '{"seq":1,"ts":1,"smoke":0.01}', { qos: 0 });
    const acked = publish(c, topics.telemetry('sd-4'), '{"seq":2,"ts":2,"smoke":0.01}');
    await waitFor(() => held.length === 1 || undefined, { what: 'the durable() call' });
    const asked = performance.now();
    // Held by the journal until the next published message is handed off: a wait the histogram must see.
    const c2 = await t.device('sd-5');
    await publish(c2, topics.telemetry('sd-5'), '{"seq":1,"ts":1,"smoke":0.01}', { qos: 0 });
    const heldFor = (performance.now() - asked) / 1000;
    held.shift()!();
    await acked;
    const after = await hold();
    expect(after.count - before.count).toBe(1);
    expect(after.all - before.all).toBe(1);
    expect(after.sum - before.sum).toBeGreaterThanOrEqual(heldFor);
  });
});
