// Record and replay: the plan keeps the timing shape at any speed; a file recorded from the
// simulator's own traffic replays, over real MQTT, to the same messages in the same order.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Aedes } from 'aedes';
import type { TrafficRecord } from '../simulator/device-client.ts';
import { createDeviceClient } from '../simulator/device-client.ts';
import { createJsonlWriter, readJsonl, recordLive } from '../simulator/record.ts';
import { planReplay, replay, runPlan, shiftTs, type Timer } from '../simulator/replay.ts';

const rec = (t: number, deviceId = 'sd-1', payload = `{"smoke":0.01,"ts":${t}}`): TrafficRecord => ({ t, topic: `v1/devices/${deviceId}/telemetry`, payload, qos: 1, retain: false, deviceId });

/** A virtual clock: sleep() advances time instantly, so timing is checked without waiting. */
function virtualTimer(): Timer & { sends: number[] } {
  let now = 0;
  return { sends: [], now: () => now, sleep: async (ms) => { now += ms; } };
}

describe('replay timing', () => {
  // An irregular shape: a burst, a pause, a slow trickle.
  const records = [0, 10, 20, 30, 1_000, 1_005, 5_000, 9_000, 9_001].map((dt, i) => rec(1_700_000_000_000 + dt, `d${i % 3}`));

  it('keeps the shape: spacing at N× is the spacing at 1× divided by N', async () => {
    const at = async (speed: number) => {
      const timer = virtualTimer();
      await runPlan(planReplay(records, speed), timer, () => timer.sends.push(timer.now()));
      return timer.sends;
    };
    const one = await at(1);
    const four = await at(4);
    expect(one).toEqual(records.map((r) => r.t - records[0]!.t));
    for (let i = 1; i < one.length; i++) expect(four[i]! - four[i - 1]!).toBeCloseTo((one[i]! - one[i - 1]!) / 4, 6);
  });

  it('at max speed sends everything at once, in recorded order (stable for equal times)', async () => {
    const shuffled = [records[3]!, records[0]!, records[2]!, records[1]!, { ...records[1]!, payload: 'second at the same t' }];
    const plan = planReplay(shuffled, 'max');
    expect(plan.every((p) => p.atMs === 0)).toBe(true);
    expect(plan.map((p) => p.rec.t)).toEqual([...shuffled.map((r) => r.t)].sort((a, b) => a - b));
    const same = plan.filter((p) => p.rec.t === records[1]!.t).map((p) => p.rec.payload);
    expect(same[1]).toBe('second at the same t');
  });

  it('does not let slow sends accumulate into drift', async () => {
    const timer = virtualTimer();
    // Each send costs 7 ms of wall time; the schedule must absorb it, not add it up.
    const slow: Timer = { now: timer.now, sleep: timer.sleep };
    const plan = planReplay(records, 1);
    await runPlan(plan, slow, () => {
      timer.sends.push(timer.now());
      void timer.sleep(7);
    });
    // Chained sleeps would end at 9_001 + 9 × 7; scheduling against the start costs one send at most.
    expect(timer.sends.at(-1)).toBeLessThanOrEqual(9_001 + 7);
    expect(timer.sends.at(-1)).toBeGreaterThanOrEqual(9_001);
  });

  it('refuses a nonsense speed, and retiming moves ts only', () => {
    expect(() => planReplay(records, 0)).toThrow(RangeError);
    expect(JSON.parse(shiftTs('[{"ts":1000,"seq":3},{"smoke":1}]', 500))).toEqual([{ ts: 1500, seq: 3 }, { smoke: 1 }]);
    expect(shiftTs('not json', 5)).toBe('not json');
  });
});

describe('record and replay over MQTT', () => {
  let broker: Aedes;
  let server: Server;
  let url: string;
  let dir: string;

  beforeAll(async () => {
    // Refuses the password "bad" with CONNACK 4, as the gateway refuses a wrong device secret.
    broker = await Aedes.createBroker({
      authenticate: (_client, _user, password, done) => {
        if (password?.toString() === 'bad') done(Object.assign(new Error('bad secret'), { returnCode: 4 as const }), false);
        else done(null, true);
      },
    });
    server = createServer(broker.handle);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`;
    dir = mkdtempSync(join(tmpdir(), 'wf-replay-'));
  });
  afterAll(async () => {
    await new Promise<void>((r) => broker.close(() => r()));
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('a file recorded from device traffic replays to the same messages, bytes included', async () => {
    const file = join(dir, 'run.jsonl');
    const writer = createJsonlWriter(file);
    const devs = ['sd-a', 'sd-b'].map((id) => createDeviceClient({ url, deviceId: id, secret: 's', tap: (r) => writer.write(r), reconnectMs: 0 }));
    await Promise.all(devs.map((d) => d.start()));
    for (let i = 0; i < 5; i++) {
      await devs[0]!.publish('telemetry', { smoke: 0.01 * i, temp: 21 + i, ts: Date.now() });
      await devs[1]!.publish('events', { type: 'test', ts: Date.now() });
    }
    await devs[1]!.publishRaw('v1/devices/sd-b/telemetry', Buffer.from([0x7b, 0xff, 0xfe]));
    await Promise.all(devs.map((d) => d.stop()));
    await writer.close();
    const recorded = await readJsonl(file);
    // Online status (retained) on connect, 10 readings/events, the raw bytes, offline status on stop.
    expect(recorded.filter((r) => r.topic.endsWith('/status'))).toHaveLength(4);
    expect(recorded.find((r) => r.enc === 'base64')).toBeDefined();
    const seqs = recorded.filter((r) => r.deviceId === 'sd-a' && r.topic.endsWith('/telemetry')).map((r) => (JSON.parse(r.payload) as { seq: number }).seq);
    expect(seqs).toEqual([0, 1, 2, 3, 4]);

    // Replay while a second recorder observes the broker: what it sees must equal the file.
    const seenFile = join(dir, 'seen.jsonl');
    const live = await recordLive({ url, username: 'observer', password: 'x', out: seenFile });
    const summary = await replay({ records: recorded, url, credentials: { 'sd-a': 's', 'sd-b': 's' }, speed: 'max' });
    expect(summary).toMatchObject({ published: recorded.length, skipped: 0, devices: 2 });
    expect(summary.acked).toBe(recorded.length);
    await waitUntil(() => live.count >= recorded.length);
    await live.stop();
    const seen = await readJsonl(seenFile);
    const key = (r: TrafficRecord) => `${r.topic} ${r.enc ?? ''} ${r.payload} ${r.retain}`;
    // Order holds per device (one connection each); across connections, max speed may interleave.
    for (const id of ['sd-a', 'sd-b']) {
      expect(seen.filter((r) => r.deviceId === id).map(key)).toEqual(recorded.filter((r) => r.deviceId === id).map(key));
    }
    expect(seen).toHaveLength(recorded.length);
  });

  it('skips the records of a device the broker refuses, and sends the rest', async () => {
    const records = [rec(1, 'sd-a'), rec(2, 'sd-x'), rec(3, 'sd-a'), rec(4, 'sd-y')];
    const s = await replay({ records, url, credentials: { 'sd-a': 's', 'sd-x': 'bad' }, speed: 'max' });
    expect(s).toMatchObject({ published: 2, acked: 2, skipped: 2, devices: 1 });
  });
});

async function waitUntil(pred: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}
