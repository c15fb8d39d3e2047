// Issue 2, end to end: real MQTT clients over real sockets → gateway → ingest → rules → a real
// influxd. What is stored is counted with InfluxQL, never taken from Watchfire's own counters.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import { startTestSystem, type TestSystem } from './support/system.ts';
import { smallCounty } from './support/registries.ts';
import { topics } from '../contracts/protocol.ts';

let sys: TestSystem;

beforeAll(async () => {
  sys = await startTestSystem({ registry: smallCounty(), smtp: false });
});
afterAll(async () => {
  await sys?.stop();
});

const base = Date.now() - 3_600_000;

describe('a provisioned detector publishing at QoS 1', () => {
  const telemetry = Array.from({ length: 1000 }, (_, i) => ({
    ts: base + i * 1000,
    seq: i + 1,
    smoke: Math.round(((i % 7) * 0.001) * 1e4) / 1e4,
    temp: 20 + (i % 5),
    battery: 90,
  }));
  const events = Array.from({ length: 20 }, (_, i) => ({ type: 'test', ts: base + 2_000_000 + i * 1000, seq: 1001 + i }));
  const send = async (client: mqtt.MqttClient) => {
    // Buffered uploads, as a device does after being offline: arrays of up to 500 (PROTOCOL.md).
    for (let i = 0; i < telemetry.length; i += 100) {
      await client.publishAsync(topics.telemetry('sd-1'), JSON.stringify(telemetry.slice(i, i + 100)), { qos: 1 });
    }
    for (let i = 0; i < events.length; i += 5) {
      await client.publishAsync(topics.events('sd-1'), JSON.stringify(events.slice(i, i + 5)), { qos: 1 });
    }
  };
  const where = `"device"='sd-1' AND "type"='smoke_detector' AND "site"='h-1' AND "center"='fc-1' AND "grid"='g-1'`;

  it('stores all 1,000 readings and 20 events with their tags and values', async () => {
    const client = await sys.connectDevice('sd-1');
    await send(client);
    await sys.waitFor(async () => (await sys.count('telemetry', where)) === 1000 && (await sys.count('event', where)) === 20, { what: '1000 readings and 20 events in InfluxDB' });
    const [sums] = await sys.influx.query(`SELECT SUM("smoke") AS smoke, SUM("temp") AS temp, MAX("seq") AS seq FROM "telemetry" WHERE ${where}`);
    expect(sums?.smoke).toBeCloseTo(telemetry.reduce((a, r) => a + r.smoke, 0), 6);
    expect(sums?.temp).toBe(telemetry.reduce((a, r) => a + r.temp, 0));
    expect(sums?.seq).toBe(1000);
    const [ev] = await sys.influx.query(`SELECT COUNT("score") AS n FROM "event" WHERE ${where} AND "event"='test' AND "level"='green'`);
    expect(ev?.n).toBe(20);
    await client.endAsync();
  });

  it('stores none of them twice when the device re-sends them all', async () => {
    const client = await sys.connectDevice('sd-1');
    await send(client);
    // A marker after the re-sends: once it is stored, everything sent before it has been handled.
    await client.publishAsync(topics.telemetry('sd-1'), JSON.stringify({ ts: base + 3_000_000, seq: 5000, smoke: 0 }), { qos: 1 });
    await sys.waitFor(async () => (await sys.count('telemetry', `${where} AND "seq"=5000`)) === 1, { what: 'the marker reading' });
    expect(await sys.count('telemetry', where)).toBe(1001);
    expect(await sys.count('event', where)).toBe(20);
    await client.endAsync();
  });
});

describe('authentication and the topic ACL', () => {
  const refused = async (username: string, password: string) => {
    const client = mqtt.connect(sys.mqttUrl, { username, password, reconnectPeriod: 0, connectTimeout: 5000 });
    const code = await new Promise<number | undefined>((res) => {
      client.once('connect', () => res(0));
      client.once('error', (err) => res((err as { code?: number }).code));
    });
    client.end(true);
    return code;
  };

  it('refuses a wrong secret and an unknown device with 4, a disabled one with 5', async () => {
    expect(await refused('sd-1', 'not-the-secret')).toBe(4);
    expect(await refused('no-such-device', 'whatever')).toBe(4);
    expect(await refused('sd-off', sys.secrets['sd-off']!)).toBe(5);
  });

  it('closes a device that publishes under another device\'s topic, and stores nothing of it', async () => {
    const client = await sys.connectDevice('sd-3');
    const closed = new Promise<void>((res) => client.once('close', () => res()));
    client.publish(topics.telemetry('sd-2'), JSON.stringify({ ts: base, seq: 1, smoke: 1.5 }), { qos: 1 });
    await closed;
    // sd-3 may still publish its own data on a new connection; the marker proves the pipeline ran.
    const again = await sys.connectDevice('sd-3');
    await again.publishAsync(topics.telemetry('sd-3'), JSON.stringify({ ts: base, seq: 1, smoke: 0.001 }), { qos: 1 });
    await sys.waitFor(async () => (await sys.count('telemetry', `"device"='sd-3'`)) === 1, { what: 'sd-3 marker' });
    expect(await sys.count('telemetry', `"device"='sd-2'`)).toBe(0);
    await again.endAsync();
  });

  it('refuses a subscription outside the device\'s own commands', async () => {
    const client = await sys.connectDevice('sd-2');
    // MQTT.js turns a 0x80 in SUBACK into an error that carries the SUBACK packet.
    const suback = (topic: string) =>
      client.subscribeAsync(topic, { qos: 1 }).then((g) => g[0]?.qos, (err: { packet?: { granted?: number[] } }) => err.packet?.granted?.[0]);
    expect(await suback(topics.commandsFilter('sd-2'))).toBe(1);
    expect(await suback('v1/devices/sd-1/commands/#')).toBe(0x80);
    expect(await suback('v1/devices/#')).toBe(0x80);
    await client.endAsync();
  });
});

describe('bad input', () => {
  const rejects = (code?: string) => sys.wf.deadLetters.list({ deviceId: 'sd-2', ...(code ? { code: code as never } : {}), limit: 1000 });

  it('rejects each bad element with a precise reason and stores the valid ones of the same batch', async () => {
    const client = await sys.connectDevice('sd-2');
    const t = base + 10_000_000;
    const batch = [
      { ts: t, seq: 1, smoke: 0.01 },
      { ts: t + 1000, seq: 2, smoke: 'high' },
      { ts: t + 2000, seq: 3, temp: 'hot' },
      { ts: t + 3000, seq: 4, smoke: 0.02 },
    ];
    await client.publishAsync(topics.telemetry('sd-2'), JSON.stringify(batch), { qos: 1 });
    await client.publishAsync(topics.events('sd-2'), JSON.stringify({ type: 'explode', seq: 5, ts: t + 4000 }), { qos: 1 });
    await client.publishAsync(topics.telemetry('sd-2'), 'smoke=0.3', { qos: 1 });
    await client.publishAsync(topics.telemetry('sd-2'), JSON.stringify(Array.from({ length: 501 }, (_, i) => ({ seq: 100 + i, smoke: 0 }))), { qos: 1 });
    await client.publishAsync(topics.telemetry('sd-2'), JSON.stringify({ pad: 'x'.repeat(64 * 1024 + 10) }), { qos: 1 });
    await client.publishAsync(topics.telemetry('sd-2'), '42', { qos: 1 });

    await sys.waitFor(async () => (await sys.count('telemetry', `"device"='sd-2'`)) === 2, { what: 'the two valid readings' });
    const reasons = (await rejects()).map((r) => `${r.code} ${r.reason}`);
    expect(reasons).toEqual(expect.arrayContaining([
      'WF_INGEST_SCHEMA smoke: expected number 0..2, got "high"',
      'WF_INGEST_SCHEMA temp: expected number -40..150, got "hot"',
      expect.stringMatching(/^WF_INGEST_SCHEMA type: expected one of alarm, .*got "explode"$/),
      expect.stringMatching(/^WF_INGEST_NOT_JSON /),
      expect.stringMatching(/^WF_INGEST_BATCH_TOO_LARGE .*501/),
      expect.stringMatching(/^WF_INGEST_TOO_LARGE /),
      expect.stringMatching(/^WF_INGEST_NOT_OBJECT /),
    ]));
    const tooLarge = (await rejects('WF_INGEST_TOO_LARGE'))[0]!;
    expect(tooLarge.topic).toBe(topics.telemetry('sd-2'));
    expect(tooLarge.payload.length).toBeLessThanOrEqual(4096);
    expect((await rejects('WF_INGEST_SCHEMA')).find((r) => r.reason.startsWith('smoke'))?.index).toBe(1);
    await client.endAsync();
  });

  it('stores far-future and pre-2020 timestamps at receive time, flagged clock_bad', async () => {
    const client = await sys.connectDevice('sd-3');
    const before = Date.now();
    await client.publishAsync(topics.telemetry('sd-3'), JSON.stringify([
      { ts: Date.now() + 3_600_000, seq: 50, smoke: 0.003 },
      { ts: Date.UTC(2019, 5, 1), seq: 51, smoke: 0.004 },
    ]), { qos: 1 });
    const rows = await sys.waitFor(async () => {
      const r = await sys.influx.query(`SELECT "smoke", "clock_bad" FROM "telemetry" WHERE "device"='sd-3' AND "clock_bad"=true`);
      return r.length === 2 ? r : undefined;
    }, { what: 'two clock_bad readings' });
    for (const r of rows) {
      expect(Number(r.time)).toBeGreaterThanOrEqual(before - 5);
      expect(Number(r.time)).toBeLessThanOrEqual(Date.now());
    }
    await client.endAsync();
  });

  it('keeps every reading of a good device during a flood of garbage from another', async () => {
    const flooder = await sys.connectDevice('sd-2');
    const good = await sys.connectDevice('sd-3');
    const t = base + 20_000_000;
    const garbage = Promise.all(Array.from({ length: 150 }, (_, i) => flooder.publishAsync(topics.telemetry('sd-2'), i % 2 ? '{"smoke":' : '[1,2,3]', { qos: 0 }).catch(() => undefined)));
    await Promise.all(Array.from({ length: 100 }, (_, i) => good.publishAsync(topics.telemetry('sd-3'), JSON.stringify({ ts: t + i * 1000, seq: 1000 + i, smoke: 0.001 }), { qos: 1 })));
    await garbage;
    await sys.waitFor(async () => (await sys.count('telemetry', `"device"='sd-3' AND "seq" >= 1000 AND "seq" < 1100`)) === 100, { what: 'all 100 good readings' });
    await Promise.all([flooder.endAsync(true), good.endAsync()]);
  });
});

describe('rate budgets', () => {
  it('lets a fire panel\'s alarm storm through without cutting the panel off', async () => {
    const panel = await sys.connectDevice('fp-1');
    const before = sys.wf.gateway.stats();
    const t = base + 30_000_000;
    // 600 point events as fast as the socket takes them: ten times a detector's burst budget.
    await Promise.all(Array.from({ length: 600 }, (_, i) => panel.publishAsync(topics.events('fp-1'),
      JSON.stringify({ type: i % 2 ? 'fire' : 'action', loop: 1 + (i % 4), point: i % 50, zone: String(1 + (i % 4)), ts: t + i, seq: 10_000 + i }), { qos: 1 })));
    expect(panel.connected).toBe(true);
    expect(sys.wf.gateway.stats().disconnects.rate).toBe(before.disconnects.rate);
    await sys.waitFor(async () => (await sys.count('event', `"device"='fp-1' AND "seq" >= 10000`)) === 600, { what: '600 panel events stored' });
    await panel.endAsync();
  });
});

describe('presence', () => {
  it('marks a panel that drops its connection without DISCONNECT offline through its will', async () => {
    const panel = await sys.connectDevice('fp-1');
    await sys.waitFor(() => sys.wf.gateway.isOnline('fp-1'), { what: 'fp-1 online' });
    const offline = new Promise((res) => sys.wf.bus.on('device.presence', 'test', (p) => { if (p.deviceId === 'fp-1' && !p.online) res(p); }));
    // Destroying the socket is what a power cut does: no DISCONNECT, so the broker publishes the will.
    panel.stream.destroy();
    expect(await offline).toMatchObject({ deviceId: 'fp-1', online: false, reason: 'will' });
    expect(sys.wf.gateway.isOnline('fp-1')).toBe(false);
    // DESIGN.md: a panel's will makes it offline at once, as a yellow maintenance incident.
    const incident = await sys.waitFor(async () => (await sys.wf.alerts.service.list({ siteId: 'b-1' })).find((i) => i.condition === 'offline'), { what: 'offline incident' });
    expect(incident.level).toBe('yellow');
    panel.end(true);
  });
});
