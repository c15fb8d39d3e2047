// Every bad input is rejected with a reason, never acknowledged and lost (issue 15 point 4):
// nesting too deep, non-finite numbers, telemetry with nothing in it, an exception anywhere in
// ingest, and a PUBLISH over gateway.maxPacketBytes. First ingest alone, then through the real
// gateway with real mqtt.js clients over real sockets.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type Db } from '../app/db.ts';
import pino from 'pino';
import { Registry } from 'prom-client';
import { createEventBus } from '../contracts/bus.ts';
import type { DeadLetterStore, DeviceDirectory, Frame, RejectRecord } from '../contracts/ports.ts';
import type { DeviceInfo } from '../contracts/registry.ts';
import type { Reading } from '../contracts/reading.ts';
import { MAX_JSON_DEPTH, topics } from '../contracts/protocol.ts';
import { createIngest } from '../ingest/ingest.ts';
import { createDeadLetterStore, type DeadLetters } from '../ingest/dead-letters.ts';
import { createDeadLetterStorage, sqliteRunner } from '../storage/index.ts';
import { nestsDeeperThan } from '../ingest/json-depth.ts';
import { publish, startTestGateway, type TestGateway } from './gateway.fixture.ts';

const NOW = Date.UTC(2026, 11, 7, 6, 0, 0);
const sd1: DeviceInfo = { id: 'sd-1', type: 'smoke_detector', siteId: 's1', centerId: 'c1', gridId: undefined, location: '', intervalSec: 300, enabled: true, rules: undefined, meta: undefined };
const directory: DeviceDirectory = { get: (id) => (id === 'sd-1' ? sd1 : undefined), verifySecret: () => 'ok', all: () => [sd1] };
const nested = (depth: number): string => '['.repeat(depth) + ']'.repeat(depth);

function frame(payload: string | Buffer, kind = 'telemetry'): Frame {
  return { deviceId: 'sd-1', topic: `v1/devices/sd-1/${kind}`, payload: Buffer.isBuffer(payload) ? payload : Buffer.from(payload), qos: 1, retain: false, receivedAt: NOW };
}

describe('ingest alone', () => {
  let db: Db;
  let deadLetters: DeadLetters;
  let readings: Reading[];
  let emitted: RejectRecord[];
  let ingest: ReturnType<typeof createIngest>;
  const build = (over: Partial<Parameters<typeof createIngest>[0]> = {}) => {
    const bus = createEventBus();
    bus.on('reject', 'test', (r) => emitted.push(r));
    return createIngest({ directory, deadLetters, sink: (r) => readings.push(r), bus, metrics: new Registry(), logger: pino({ level: 'silent' }), clock: { now: () => NOW }, ...over });
  };
  beforeEach(async () => {
    db = openDatabase(':memory:');
    deadLetters = createDeadLetterStore({ storage: createDeadLetterStorage({ sql: sqliteRunner(db) }), logger: pino({ level: 'silent' }) });
    await deadLetters.start();
    readings = [];
    emitted = [];
    ingest = build();
  });
  afterEach(async () => {
    await deadLetters.stop();
    db.close();
  });

  it('rejects JSON nested 20,000 deep whole, with its first 4 KiB, before anything recursive sees it', async () => {
    expect(ingest.accept(frame(nested(20_000)))).toEqual({ accepted: 0, rejected: 1, duplicates: 0 });
    const [rec] = (await deadLetters.list());
    expect(rec).toMatchObject({ code: 'WF_INGEST_TOO_DEEP', deviceId: 'sd-1', reason: `arrays/objects nested more than ${MAX_JSON_DEPTH} deep` });
    expect(rec!.payload).toBe('['.repeat(4096));
    expect(emitted).toHaveLength(1);
  });

  it('takes nesting up to the limit (unknown fields of newer firmware) and counts brackets inside strings as text', () => {
    const deepest = `{"smoke":0.01,"diag":${nested(MAX_JSON_DEPTH - 1)},"label":"${'['.repeat(50)}"}`;
    expect(ingest.accept(frame(deepest))).toEqual({ accepted: 1, rejected: 0, duplicates: 0 });
    expect(ingest.accept(frame(`{"smoke":0.01,"diag":${nested(MAX_JSON_DEPTH)}}`)).rejected).toBe(1);
    expect(nestsDeeperThan(Buffer.from('{"a":"\\"[[[[[[\\\\"}'), 1)).toBe(false);
    expect(nestsDeeperThan(Buffer.from('{"a":"\\\\",[[1]]}'), 2)).toBe(true);
  });

  it('names a non-finite number as such, not "got null"', async () => {
    ingest.accept(frame('[{"smoke":1e999},{"temp":-1e999}]'));
    expect((await deadLetters.list()).map((r) => r.reason).sort()).toEqual([
      'smoke: expected number 0..2, got Infinity (not a finite number)',
      'temp: expected number -40..150, got -Infinity (not a finite number)',
    ]);
  });

  it('rejects telemetry with no value its device type knows (WF_INGEST_EMPTY), and the rest of its batch goes on', async () => {
    const out = ingest.accept(frame(JSON.stringify([{}, { ts: NOW - 1000, seq: 7 }, { note: 5 }, { ts: NOW - 500, seq: 8, smoke: 0.02 }])));
    expect(out).toEqual({ accepted: 1, rejected: 3, duplicates: 0 });
    const recs = (await deadLetters.list()).reverse();
    expect(recs.map((r) => [r.code, r.index])).toEqual([['WF_INGEST_EMPTY', 0], ['WF_INGEST_EMPTY', 1], ['WF_INGEST_EMPTY', 2]]);
    expect(recs[0]!.reason).toBe('(root): expected at least one of smoke, temp, co, battery, rssi, got none');
    expect(readings.map((r) => r.values)).toEqual([{ smoke: 0.02 }]);
    // The empty element's seq was not taken: the real reading with seq 7 is not a "duplicate".
    expect(ingest.accept(frame(JSON.stringify({ ts: NOW - 1000, seq: 7, smoke: 0.01 })))).toEqual({ accepted: 1, rejected: 0, duplicates: 0 });
    // Events always say what happened (their type): none is empty.
    expect(ingest.accept(frame('{"type":"test"}', 'events')).accepted).toBe(1);
  });

  it('dead-letters the frame with WF_INGEST_INTERNAL when ingest throws before it knows the device', async () => {
    const broken = build({ directory: { ...directory, get: () => { throw new Error('registry bug'); } } });
    expect(broken.accept(frame('{"smoke":0.5}'))).toEqual({ accepted: 0, rejected: 1, duplicates: 0 });
    expect((await deadLetters.list())).toMatchObject([{ code: 'WF_INGEST_INTERNAL', deviceId: 'sd-1', payload: '{"smoke":0.5}', reason: 'ingest failed on this input: Error: registry bug' }]);
  });

  it('dead-letters each element ingest throws on, with its index, and goes on with the batch', async () => {
    // A registry row whose type ingest does not know: looking up its schema throws.
    const odd = { ...sd1, type: 'toaster' } as unknown as DeviceInfo;
    const broken = build({ directory: { ...directory, get: () => odd } });
    expect(broken.accept(frame('[{"smoke":0.1},{"smoke":0.2}]'))).toEqual({ accepted: 0, rejected: 2, duplicates: 0 });
    expect((await deadLetters.list()).reverse().map((r) => [r.code, r.index, r.payload])).toEqual([['WF_INGEST_INTERNAL', 0, '{"smoke":0.1}'], ['WF_INGEST_INTERNAL', 1, '{"smoke":0.2}']]);
  });

  it('a dead-letter store that throws does not make the reject path throw: the reject is logged with its payload', async () => {
    const lines: string[] = [];
    const metrics = new Registry();
    const failing: DeadLetterStore = { add: () => { throw new Error('disk gone'); }, list: async () => [], count: async () => 0 };
    const broken = createIngest({ directory, deadLetters: failing, sink: () => undefined, bus: createEventBus(), metrics, logger: pino({ level: 'error' }, { write: (l: string) => void lines.push(l) }), clock: { now: () => NOW } });
    expect(broken.accept(frame('not json'))).toEqual({ accepted: 0, rejected: 1, duplicates: 0 });
    expect(lines.map((l) => JSON.parse(l) as Record<string, unknown>)).toMatchObject([{ code: 'WF_INGEST_NOT_JSON', payload: 'not json', msg: 'reject could not be dead-lettered' }]);
    expect(await metrics.getSingleMetricAsString('watchfire_ingest_reject_failures_total')).toMatch(/ 1$/m);
  });
});

describe('through the gateway, with real MQTT clients', () => {
  let db: Db;
  let deadLetters: DeadLetters;
  let t: TestGateway;
  const dead = (code: string) => deadLetters.list({ code: code as RejectRecord['code'] });
  beforeAll(async () => {
    db = openDatabase(':memory:');
    deadLetters = createDeadLetterStore({ storage: createDeadLetterStorage({ sql: sqliteRunner(db) }), logger: pino({ level: 'silent' }) });
    await deadLetters.start();
    // Default limits: maxPacketBytes 66,048 and maxPacketHardBytes 262,144.
    t = await startTestGateway({
      forward: (dir) => createIngest({
        // sd-6's registry lookup throws: a stand-in for any bug inside ingest.
        directory: { ...dir, get: (id) => { if (id === 'sd-6') throw new Error('lookup bug'); return dir.get(id); } },
        deadLetters, sink: () => undefined, bus: createEventBus(), metrics: new Registry(), logger: pino({ level: 'silent' }),
      }),
    });
  });
  afterAll(async () => {
    await t?.stop();
    await deadLetters?.stop();
    db?.close();
  });

  it('a QoS 1 PUBLISH over maxPacketBytes is read, dead-lettered with its first 4 KiB and acknowledged; the connection stays', async () => {
    const c = await t.device('sd-1');
    const before = t.gateway.stats();
    const big = JSON.stringify({ smoke: 0.01, pad: 'x'.repeat(100_000) });
    await publish(c, topics.telemetry('sd-1'), big, { qos: 1 }); // resolves on its PUBACK
    const [rec] = await dead('WF_INGEST_TOO_LARGE');
    expect(rec).toMatchObject({ deviceId: 'sd-1', topic: topics.telemetry('sd-1') });
    expect(rec!.reason).toMatch(/^MQTT packet of 1000\d\d bytes: at most 66048 \(gateway\.maxPacketBytes\)/);
    expect(rec!.payload).toBe(big.slice(0, 4096));
    // Not a disconnect: the device does not re-send it on a reconnect, forever.
    await publish(c, topics.telemetry('sd-1'), '{"smoke":0.02}', { qos: 1 });
    const after = t.gateway.stats();
    expect(c.connected).toBe(true);
    expect(after.connectionsTotal).toBe(before.connectionsTotal);
    expect(after.disconnects.packet_too_large).toBe(before.disconnects.packet_too_large);
    expect(after.packetTooLarge).toBe(before.packetTooLarge + 1);
    c.end(true);
  });

  it('beyond maxPacketHardBytes the connection is closed and nothing is handed on (documented)', async () => {
    const c = await t.device('sd-2');
    c.on('error', () => undefined);
    const before = t.gateway.stats();
    const gone = new Promise<void>((resolve) => c.once('close', () => resolve()));
    c.publish(topics.telemetry('sd-2'), JSON.stringify({ pad: 'x'.repeat(300_000) }), { qos: 1 });
    await gone;
    const after = t.gateway.stats();
    expect(after.disconnects.packet_too_large).toBe(before.disconnects.packet_too_large + 1);
    expect(t.sink.frames.filter((f) => f.deviceId === 'sd-2')).toHaveLength(0);
  });

  it('JSON nested 20,000 deep is acknowledged only as a dead letter, and the device goes on', async () => {
    const c = await t.device('sd-3');
    await publish(c, topics.telemetry('sd-3'), nested(20_000), { qos: 1 });
    expect((await dead('WF_INGEST_TOO_DEEP')).map((r) => r.deviceId)).toEqual(['sd-3']);
    await publish(c, topics.telemetry('sd-3'), '{"smoke":1e999}', { qos: 1 });
    expect((await dead('WF_INGEST_SCHEMA')).map((r) => r.reason)).toContain('smoke: expected number 0..2, got Infinity (not a finite number)');
    await publish(c, topics.telemetry('sd-3'), '{}', { qos: 1 });
    expect((await dead('WF_INGEST_EMPTY')).map((r) => r.deviceId)).toEqual(['sd-3']);
    expect(c.connected).toBe(true);
    expect(t.gateway.stats().sinkErrors).toBe(0);
    c.end(true);
  });

  it('an exception inside ingest dead-letters the frame (WF_INGEST_INTERNAL) before its PUBACK', async () => {
    const c = await t.device('sd-6');
    await publish(c, topics.events('sd-6'), '{"type":"alarm","seq":1}', { qos: 1 });
    expect(await dead('WF_INGEST_INTERNAL')).toMatchObject([{ deviceId: 'sd-6', topic: topics.events('sd-6'), payload: '{"type":"alarm","seq":1}' }]);
    expect(t.gateway.stats().sinkErrors).toBe(0); // contained in ingest, not escaped to the gateway
    c.end(true);
  });
});
