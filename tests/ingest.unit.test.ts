// Ingest without any server: what a device sends becomes readings or precise dead letters.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type Db } from '../app/db.ts';
import pino from 'pino';
import { Registry } from 'prom-client';
import { createEventBus } from '../contracts/bus.ts';
import type { DeviceDirectory, Frame, RejectRecord } from '../contracts/ports.ts';
import type { DeviceInfo } from '../contracts/registry.ts';
import type { Reading } from '../contracts/reading.ts';
import { EARLIEST_TS_MS } from '../contracts/protocol.ts';
import { createIngest } from '../ingest/ingest.ts';
import { createDeadLetterStore } from '../ingest/dead-letters.ts';
import { createDeadLetterStorage, sqliteRunner } from '../storage/index.ts';
import type { DeadLetters } from '../ingest/dead-letters.ts';

const NOW = Date.UTC(2026, 10, 23, 12, 0, 0);

function device(id: string, type: DeviceInfo['type'], gridId?: string): DeviceInfo {
  return { id, type, siteId: `site-${id}`, centerId: 'c1', gridId, location: '', intervalSec: 300, enabled: true, rules: undefined, meta: undefined };
}
const DEVICES = new Map([
  ['sd-1', device('sd-1', 'smoke_detector', 'g1')],
  ['fp-1', device('fp-1', 'fire_panel')],
  ['ss-1', device('ss-1', 'settlement_sensor', 'g2')],
]);
const directory: DeviceDirectory = {
  get: (id) => DEVICES.get(id),
  verifySecret: () => 'ok',
  all: () => DEVICES.values(),
};

let db: Db;
let deadLetters: DeadLetters;
let readings: Reading[];
let emitted: RejectRecord[];
let metrics: Registry;
let ingest: ReturnType<typeof createIngest>;

function frame(deviceId: string, kind: string, payload: unknown, receivedAt = NOW): Frame {
  const buf = Buffer.isBuffer(payload) ? payload : Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload));
  return { deviceId, topic: `v1/devices/${deviceId}/${kind}`, payload: buf, qos: 1, retain: false, receivedAt };
}

beforeEach(async () => {
  db = openDatabase(':memory:');
  deadLetters = createDeadLetterStore({ storage: createDeadLetterStorage({ sql: sqliteRunner(db) }), logger: pino({ level: 'silent' }) });
  await deadLetters.start();
  readings = [];
  emitted = [];
  metrics = new Registry();
  const bus = createEventBus();
  bus.on('reject', 'test', (r) => emitted.push(r));
  ingest = createIngest({ directory, deadLetters, sink: (r) => readings.push(r), bus, metrics, logger: pino({ level: 'silent' }), clock: { now: () => NOW } });
});
afterEach(async () => {
  await deadLetters.stop();
  db.close();
});

async function counter(name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = (await metrics.getMetricsAsJSON()).find((m) => m.name === name);
  const v = metric?.values.find((x) => Object.entries(labels).every(([k, val]) => x.labels[k] === val));
  return v?.value ?? 0;
}

describe('whole-message rejects', () => {
  it('rejects a payload that is not JSON, with the reason, topic and payload kept', async () => {
    const out = ingest.accept(frame('sd-1', 'telemetry', '{"smoke": 0.1,'));
    expect(out).toEqual({ accepted: 0, rejected: 1, duplicates: 0 });
    const [rec] = (await deadLetters.list());
    expect(rec).toMatchObject({ code: 'WF_INGEST_NOT_JSON', deviceId: 'sd-1', topic: 'v1/devices/sd-1/telemetry', payload: '{"smoke": 0.1,', index: undefined });
    expect(rec!.reason).toMatch(/^not UTF-8 JSON: /);
    expect(emitted).toHaveLength(1);
    expect(readings).toHaveLength(0);
  });

  it('rejects bytes that are not UTF-8 as not JSON', async () => {
    ingest.accept(frame('sd-1', 'telemetry', Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d])));
    expect((await deadLetters.list())[0]!.code).toBe('WF_INGEST_NOT_JSON');
  });

  it('rejects a payload over 64 KiB whole and keeps only its first 4 KiB', async () => {
    const big = JSON.stringify({ smoke: 0.01, pad: 'x'.repeat(70 * 1024) });
    const out = ingest.accept(frame('sd-1', 'telemetry', big));
    expect(out.rejected).toBe(1);
    const [rec] = (await deadLetters.list());
    expect(rec!.code).toBe('WF_INGEST_TOO_LARGE');
    expect(rec!.reason).toBe(`payload of ${Buffer.byteLength(big)} bytes: at most 65536`);
    expect(rec!.payload).toHaveLength(4096);
    expect(readings).toHaveLength(0);
  });

  it('rejects an array of 501 elements whole, and takes one of 500', async () => {
    const el = (i: number) => ({ smoke: 0.01, seq: i, ts: NOW - 1000 + i });
    expect(ingest.accept(frame('sd-1', 'telemetry', Array.from({ length: 501 }, (_, i) => el(i))))).toEqual({ accepted: 0, rejected: 1, duplicates: 0 });
    expect((await deadLetters.list())[0]).toMatchObject({ code: 'WF_INGEST_BATCH_TOO_LARGE', reason: 'array of 501 elements: at most 500' });
    expect(readings).toHaveLength(0);
    expect(ingest.accept(frame('sd-1', 'telemetry', Array.from({ length: 500 }, (_, i) => el(i))))).toEqual({ accepted: 500, rejected: 0, duplicates: 0 });
    expect(readings).toHaveLength(500);
  });

  it('rejects JSON that is neither an object nor an array', async () => {
    for (const p of ['42', '"alarm"', 'null', 'true']) ingest.accept(frame('sd-1', 'events', p));
    const recs = (await deadLetters.list({ code: 'WF_INGEST_NOT_OBJECT' }));
    expect(recs).toHaveLength(4);
    expect(recs.map((r) => r.reason).sort()).toEqual([
      '(root): expected an object or an array of objects, got boolean',
      '(root): expected an object or an array of objects, got null',
      '(root): expected an object or an array of objects, got number',
      '(root): expected an object or an array of objects, got string',
    ]);
  });

  it('rejects unknown devices and foreign topics', async () => {
    ingest.accept(frame('ghost', 'telemetry', { smoke: 0 }));
    ingest.accept({ ...frame('sd-1', 'telemetry', { smoke: 0 }), topic: 'v1/devices/sd-1/other' });
    ingest.accept({ ...frame('sd-1', 'telemetry', { smoke: 0 }), topic: 'v1/devices/fp-1/telemetry' });
    expect((await deadLetters.count({ code: 'WF_INGEST_UNKNOWN_DEVICE' }))).toBe(1);
    expect((await deadLetters.count({ code: 'WF_INGEST_TOPIC' }))).toBe(2);
    expect(readings).toHaveLength(0);
  });
});

describe('element rejects keep the rest of the batch', () => {
  it('wrong type and unknown event type each get a precise reason; valid elements are delivered', async () => {
    const batch = [
      { smoke: 0.02, seq: 1 },
      { smoke: 'high', seq: 2 },
      { temp: 'x', seq: 3 },
      { battery: 55, seq: 4 },
      7,
    ];
    const out = ingest.accept(frame('sd-1', 'telemetry', batch));
    expect(out).toEqual({ accepted: 2, rejected: 3, duplicates: 0 });
    expect(readings.map((r) => r.values)).toEqual([{ smoke: 0.02 }, { battery: 55 }]);
    const recs = (await deadLetters.list({ deviceId: 'sd-1' })).sort((a, b) => a.index! - b.index!);
    expect(recs.map((r) => [r.index, r.code, r.reason])).toEqual([
      [1, 'WF_INGEST_SCHEMA', 'smoke: expected number 0..2, got "high"'],
      [2, 'WF_INGEST_SCHEMA', 'temp: expected number -40..150, got "x"'],
      [4, 'WF_INGEST_NOT_OBJECT', '(root): expected object, got number 7'],
    ]);
    expect(recs[0]!.payload).toBe('{"smoke":"high","seq":2}');

    const ev = ingest.accept(frame('sd-1', 'events', [{ type: 'alarm', seq: 10 }, { type: 'explode', seq: 11 }]));
    expect(ev).toEqual({ accepted: 1, rejected: 1, duplicates: 0 });
    expect((await deadLetters.list({ code: 'WF_INGEST_SCHEMA', limit: 1 }))[0]!.reason).toBe(
      'type: expected one of alarm, alarm_clear, hush, test, fault, fault_clear, low_battery, tamper, tamper_clear, command_ack, got "explode"',
    );
    expect(await counter('watchfire_ingest_rejects_total', { code: 'WF_INGEST_SCHEMA' })).toBe(3);
    expect(ingest.deviceStats('sd-1')!.rejects).toEqual({ WF_INGEST_SCHEMA: 3, WF_INGEST_NOT_OBJECT: 1 });
  });

  it('validates panel events by the panel schema: point events need loop and point', async () => {
    const out = ingest.accept(frame('fp-1', 'events', [
      { type: 'fire', loop: 1, point: 12, zone: 3, label: '3F corridor', seq: 1 },
      { type: 'fire', loop: 1, seq: 2 },
      { type: 'main_power_fail', seq: 3 },
    ]));
    expect(out).toEqual({ accepted: 2, rejected: 1, duplicates: 0 });
    expect((await deadLetters.list())[0]!.reason).toBe('point: expected integer ≥ 0, got nothing');
    const fire = readings[0]!;
    expect(fire.kind).toBe('event');
    expect(fire.kind === 'event' && fire.event.type).toBe('fire');
    expect(fire.values).toEqual({ loop: 1, point: 12, zone: '3', label: '3F corridor' });
    expect(fire).toMatchObject({ deviceId: 'fp-1', deviceType: 'fire_panel', siteId: 'site-fp-1', centerId: 'c1', gridId: undefined, seq: 1 });
  });

  it('validates status payloads and dead-letters bad ones', async () => {
    expect(ingest.accept(frame('fp-1', 'status', { online: true }))).toEqual({ accepted: 1, rejected: 0, duplicates: 0 });
    expect(ingest.accept(frame('fp-1', 'status', { online: 'yes' })).rejected).toBe(1);
    expect((await deadLetters.list())[0]).toMatchObject({ code: 'WF_INGEST_SCHEMA', reason: 'online: Invalid input: expected boolean, received string, got "yes"' });
    expect(readings).toHaveLength(0);
  });
});

describe('readings', () => {
  it('takes type, site, center and grid from the registry, keeps unknown numeric fields and panel power strings', () => {
    ingest.accept(frame('sd-1', 'telemetry', { smoke: 0.03, temp: 21.5, humidity: 40, fw: 'v2', nested: { a: 1 }, type: 'fire_panel', seq: 5, ts: NOW - 2000 }));
    ingest.accept(frame('fp-1', 'telemetry', { mainPower: 'ok', backupPower: 'fail', pointsInAlarm: 0 }));
    expect(readings[0]).toEqual({
      kind: 'telemetry', deviceId: 'sd-1', deviceType: 'smoke_detector', siteId: 'site-sd-1', centerId: 'c1', gridId: 'g1',
      ts: NOW - 2000, receivedAt: NOW, seq: 5, flags: [], values: { smoke: 0.03, temp: 21.5, humidity: 40 },
    });
    expect(readings[1]!.values).toEqual({ mainPower: 'ok', backupPower: 'fail', pointsInAlarm: 0 });
    expect(readings[1]!.ts).toBe(NOW);
  });

  it('reads ISO 8601 timestamps with an offset', async () => {
    ingest.accept(frame('ss-1', 'telemetry', { settlement: 3.2, ts: '2026-11-23T19:59:30+08:00' }));
    expect(readings[0]!.ts).toBe(Date.UTC(2026, 10, 23, 11, 59, 30));
    expect(readings[0]!.flags).toEqual([]);
    ingest.accept(frame('ss-1', 'telemetry', { settlement: 3.2, ts: '2026-11-23T11:59:30' }));
    // Without an offset the time is ambiguous (PROTOCOL.md): rejected, with the field named.
    expect((await deadLetters.list())[0]!.reason).toBe('ts: Invalid ISO datetime, got "2026-11-23T11:59:30"');
    expect(readings).toHaveLength(1);
  });

  it('uses the receive time and flags clock_bad for a far-future or pre-2020 timestamp', async () => {
    ingest.accept(frame('sd-1', 'telemetry', [
      { smoke: 0, ts: NOW + 5 * 60_000 + 1 },
      { smoke: 0, ts: NOW + 5 * 60_000 },
      { smoke: 0, ts: EARLIEST_TS_MS - 1 },
      { smoke: 0, ts: '2019-12-31T23:59:59Z' },
      { smoke: 0, ts: 1_700_000_000 },
    ]));
    expect(readings.map((r) => [r.ts, r.flags])).toEqual([
      [NOW, ['clock_bad']],
      [NOW + 5 * 60_000, []],
      [NOW, ['clock_bad']],
      [NOW, ['clock_bad']],
      [NOW, ['clock_bad']],
    ]);
    expect(await counter('watchfire_ingest_clock_bad_total')).toBe(4);
    expect(ingest.deviceStats('sd-1')!.clockBad).toBe(4);
  });

  it('keeps a value outside its plausible range, flagged out_of_range, with the rest of its reading (issue 14)', async () => {
    ingest.accept(frame('sd-1', 'telemetry', [
      { smoke: 0.4, temp: 200, co: 300 },
      { smoke: 0.01, temp: 21 },
      { temp: 200, ts: NOW + 3_600_000 },
    ]));
    expect(readings.map((r) => [r.values, r.flags])).toEqual([
      [{ smoke: 0.4, temp: 200, co: 300 }, ['out_of_range']],
      [{ smoke: 0.01, temp: 21 }, []],
      [{ temp: 200 }, ['clock_bad', 'out_of_range']],
    ]);
    ingest.accept(frame('ss-1', 'telemetry', [{ settlement: 2400, tiltX: 35 }, { settlement: 12000 }]));
    expect(readings.slice(3).map((r) => r.flags)).toEqual([[], ['out_of_range']]);
    expect((await deadLetters.list({ deviceId: 'sd-1' }))).toEqual([]);
    expect(await counter('watchfire_ingest_out_of_range_total')).toBe(3);
  });

  it('drops exact re-sends (same seq and ts) without dead-lettering them, even a whole re-sent batch of 500', async () => {
    const batch = Array.from({ length: 500 }, (_, i) => ({ smoke: 0.01, seq: 1000 + i, ts: NOW - 600_000 + i * 1000 }));
    expect(ingest.accept(frame('sd-1', 'telemetry', batch))).toEqual({ accepted: 500, rejected: 0, duplicates: 0 });
    expect(ingest.accept(frame('sd-1', 'telemetry', batch))).toEqual({ accepted: 0, rejected: 0, duplicates: 500 });
    // Same seq with another ts is a different message (a device that restarted its counter).
    expect(ingest.accept(frame('sd-1', 'telemetry', { smoke: 0.01, seq: 1000, ts: NOW }))).toEqual({ accepted: 1, rejected: 0, duplicates: 0 });
    // Another device's identical seq/ts is its own.
    expect(ingest.accept(frame('ss-1', 'telemetry', { settlement: 1, seq: 1000, ts: NOW - 600_000 })).accepted).toBe(1);
    expect(readings).toHaveLength(502);
    expect((await deadLetters.count())).toBe(0);
    expect(await counter('watchfire_ingest_duplicates_total')).toBe(500);
    expect(ingest.deviceStats('sd-1')!.duplicates).toBe(500);
  });

  it('does not drop a repeated seq that carries no ts: without it a re-send cannot be told from a reboot', () => {
    ingest.accept(frame('sd-1', 'events', { type: 'alarm', seq: 0 }));
    ingest.accept(frame('sd-1', 'events', { type: 'alarm', seq: 0 }));
    expect(readings).toHaveLength(2);
  });

  it('counts gaps in seq per device', async () => {
    for (const seq of [1, 2, 3, 7, 8, 10]) ingest.accept(frame('sd-1', 'telemetry', { smoke: 0, seq, ts: NOW - 100 + seq }));
    for (const seq of [5, 6]) ingest.accept(frame('ss-1', 'telemetry', { settlement: 0, seq, ts: NOW - 100 + seq }));
    expect(ingest.gaps('sd-1')).toBe(4);
    expect(ingest.gaps('ss-1')).toBe(0);
    expect(ingest.gaps('nobody')).toBe(0);
    expect(await counter('watchfire_ingest_seq_gaps_total')).toBe(4);
  });

  it('keeps going when the reading sink throws, and dead-letters each reading it threw on (issue 15)', async () => {
    const bus = createEventBus();
    let calls = 0;
    const broken = createIngest({ directory, deadLetters, bus, metrics: new Registry(), logger: pino({ level: 'silent' }), sink: () => { calls++; throw new Error('boom'); } });
    expect(broken.accept(frame('sd-1', 'telemetry', [{ smoke: 0 }, { smoke: 0.1 }]))).toEqual({ accepted: 0, rejected: 2, duplicates: 0 });
    expect(calls).toBe(2);
    expect((await deadLetters.list()).map((r) => [r.code, r.index, r.payload])).toEqual([['WF_INGEST_INTERNAL', 1, '{"smoke":0.1}'], ['WF_INGEST_INTERNAL', 0, '{"smoke":0}']]);
  });
});
