// Partition snapshots (issue 21 point 4, "state rebuilt from the log or a snapshot"; worker/
// snapshots.ts) on a real redis-server: a settlement point's slow trend spans three weeks, far
// more than the log retains. Its partition's owner snapshots it, the log is trimmed as retention
// would, the owner dies, and the new owner — which loads the snapshot and reads only the log after
// it — finds the trend exactly as one node that never moved does, and still knows the readings
// before the cut as re-sends. A damaged snapshot, or one of another version, is said with
// WF_CLUSTER_SNAPSHOT and the partition is rebuilt from the whole retained log instead.
//
// Each "node" is app/partitions.ts wired as app/watchfire.ts wires it (partitioned log, rule
// worker, ingest, pipeline, a rule engine per partition), without the SQLite and InfluxDB stores,
// which this is not about. Device time is in the frames (receive time = device time): three weeks
// pass without a sleep.
import { promisify } from 'node:util';
import { deflateRaw, inflateRaw } from 'node:zlib';
import { Redis } from 'ioredis';
import pino from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEventBus } from '../contracts/bus.ts';
import { decodeSnapshot, encodeFrame, encodeSnapshot, LOG_START, type PartitionedLog } from '../contracts/cluster.ts';
import { Config } from '../contracts/config.ts';
import type { Finding } from '../contracts/findings.ts';
import type { Frame, RejectRecord } from '../contracts/ports.ts';
import { topics } from '../contracts/protocol.ts';
import { createPartitioning, type Partitioning } from '../app/partitions.ts';
import { createIngest, type Ingest } from '../ingest/index.ts';
import { createRedisLog } from '../journal/index.ts';
import { createPipeline } from '../pipeline/index.ts';
import { createRuleEngine, DEFAULT_RULE_SET } from '../rules/index.ts';
import { createRuleWorker } from '../worker/index.ts';
import { device, directory, prng } from '../rules/test-support.ts';
import { startTestRedis, type TestRedis } from './support/redis.ts';
import { recordingLanes } from './support/lanes.ts';
import { waitFor } from './support/wait.ts';

const T0 = Date.UTC(2026, 9, 1);
const HOUR = 3_600_000;
const point = device('st-1', 'settlement_sensor', { siteId: 'bldg-7', location: 'NE corner column' });
const devices = directory([point]);

/** Every 6 h for 21 days: settling 0.2 mm/day (GB 50007's slow rate is 0.13) with ±0.3 mm of noise. */
function frames(): Frame[] {
  const rnd = prng(7);
  const out: Frame[] = [];
  for (let h = 0, seq = 1; h <= 21 * 24; h += 6, seq++) {
    const ts = T0 + h * HOUR;
    const payload = JSON.stringify({ seq, ts, settlement: 3 + (0.2 * h) / 24 + (rnd() * 2 - 1) * 0.3 });
    out.push({ deviceId: point.id, topic: topics.telemetry(point.id), payload: Buffer.from(payload), qos: 1, retain: false, receivedAt: ts });
  }
  return out;
}
const ALL = frames();
/** The owner dies after 12 days: no rate can be known yet (14 days at least), only after. */
const CUT = 48;

const said = (f: Finding): string => `${f.ruleId} ${f.level} ${new Date(f.ts).toISOString()} ${f.message.en}`;

/** One node that never moves: ingest → pipeline → one rule engine. */
function reference(list: readonly Frame[]): string[] {
  const found: string[] = [];
  const bus = createEventBus();
  const engine = createRuleEngine({ ruleSet: DEFAULT_RULE_SET, devices });
  const pipeline = createPipeline({ scorer: engine, store: { write: () => undefined }, findings: { handleFinding: (f) => { found.push(said(f)); } }, bus, metrics: new Registry(), logger: pino({ level: 'silent' }) });
  const ingest = createIngest({ directory: devices, deadLetters: { add: () => undefined, list: async () => [], count: async () => 0 }, sink: pipeline.onReading, bus, metrics: new Registry(), logger: pino({ level: 'silent' }) });
  for (const f of list) ingest.accept(f);
  return found;
}

interface Node {
  part: Partitioning;
  ingest: Ingest;
  /** Findings raised live (a replay raises none). */
  found: string[];
  /** seq of every reading scored live. */
  handled: number[];
  /** Log lines at warn and above. */
  warnings: Array<{ code?: string; msg: string; err?: string; offset?: string; oldestKept?: string }>;
  deadLetters: RejectRecord[];
}

let redis: TestRedis;
let db: Redis;
let gateway: PartitionedLog;
const nodes: Node[] = [];

function node(name: string, snapshotMs = 50): Promise<Node> {
  const cluster = Config.parse({
    cluster: { enabled: true, redisUrl: redis.url, nodeId: name, partitions: 1, log: { leaseMs: 300, snapshotMs } },
  }).cluster;
  const found: string[] = [];
  const handled: number[] = [];
  const warnings: Node['warnings'] = [];
  const deadLetters: RejectRecord[] = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(JSON.parse(line) as Node['warnings'][number]) });
  const metrics = new Registry();
  const bus = createEventBus();
  const rules = createRuleEngine({ ruleSet: DEFAULT_RULE_SET, devices });
  const part = createPartitioning({
    cluster: { ...cluster, log: { ...cluster.log } }, directory: devices, engine: (d, ruleSet) => createRuleEngine({ ruleSet, devices: d }), rules,
    presence: (p) => pipeline.presence(p), bus, durable: (done) => done(), shipped: (done) => done(), logger, metrics,
  });
  const pipeline = createPipeline({ scorer: part.scorer, store: { write: () => undefined }, findings: { handleFinding: (f) => { found.push(said(f)); } }, bus, busPresence: false, metrics, logger });
  bus.on('reading.scored', 'test', (s) => handled.push(s.reading.seq!));
  const ingest = createIngest({
    directory: devices, deadLetters: part.quiet.deadLetters({ add: (r) => void deadLetters.push(r), list: async () => deadLetters, count: async () => deadLetters.length }),
    sink: part.quiet.sink(pipeline.onReading, { write: () => undefined }), bus: part.quiet.bus(bus), metrics, logger,
  });
  part.attach(ingest, (done) => done());
  const made: Node = { part, ingest, found, handled, warnings, deadLetters };
  nodes.push(made);
  return part.start().then(() => made);
}

beforeAll(async () => {
  redis = await startTestRedis({ durable: true });
  db = new Redis(redis.url);
}, 30_000);
afterAll(async () => {
  for (const x of nodes) await x.part.stop();
  await gateway?.stop();
  db?.disconnect();
  await redis?.stop();
});

async function fresh(): Promise<void> {
  for (const x of nodes.splice(0)) await x.part.stop();
  await gateway?.stop();
  await db.flushall();
  gateway = createRedisLog({ redisUrl: redis.url, partitions: 1 });
  await gateway.start();
}

const append = async (list: readonly Frame[]): Promise<string[]> => {
  const offsets: string[] = [];
  for (const f of list) offsets.push((await gateway.append(point.siteId, encodeFrame(f))).offset);
  return offsets;
};
const snapshotOffset = async (): Promise<string | undefined> => {
  const raw = await db.getBuffer('wf:snap:{0}');
  return raw ? decodeSnapshot(raw).offset : undefined;
};
const seqsOf = (list: readonly Frame[]): number[] => list.map((f) => (JSON.parse(f.payload.toString()) as { seq: number }).seq);

/** Node a owns the partition, handles the first CUT frames and snapshots them. */
async function firstOwner(): Promise<{ a: Node; offsets: string[] }> {
  await fresh();
  const a = await node('a');
  expect(a.part.worker.owned().get(0)).toBe(true);
  const offsets = await append(ALL.slice(0, CUT));
  await waitFor(() => a.handled.length === CUT, { what: 'a to handle the first 12 days' });
  await waitFor(async () => (await snapshotOffset()) === offsets.at(-1), { what: 'a snapshot holding them' });
  return { a, offsets };
}

describe('partition snapshots', () => {
  it('moves a trend longer than the log retains: the new owner finds it as a node that never moved', async () => {
    const { a, offsets } = await firstOwner();
    // Retention has passed over all of it (exactly, where the worker's own trim is approximate and
    // never goes past the newest snapshot): only the snapshot holds the first 12 days now.
    await db.xtrim('wf:log:{0}', 'MINID', offsets.at(-1)!);
    expect(await db.xlen('wf:log:{0}')).toBe(1);
    await a.part.worker.halt();
    await append(ALL.slice(CUT));

    const b = await node('b');
    await waitFor(() => b.part.worker.owned().get(0) === true, { what: 'b to take the partition once the lease runs out' });
    await waitFor(() => b.handled.length === ALL.length - CUT, { what: 'b to handle the last 9 days' });
    expect(b.handled).toEqual(seqsOf(ALL.slice(CUT)));
    const never = reference(ALL);
    expect(never.filter((f) => f.startsWith('settlement.rate_slow')).length).toBeGreaterThan(5);
    expect([...a.found, ...b.found]).toEqual(never);
    // The re-send memory moved too: a re-send of day 1's reading is dropped, not scored again.
    await append([ALL[3]!]);
    await waitFor(() => b.ingest.deviceStats(point.id)?.duplicates === 1, { what: 'the re-send dropped as a duplicate' });
    expect(b.handled).toHaveLength(ALL.length - CUT);
    expect(b.warnings.filter((w) => w.code === 'WF_CLUSTER_SNAPSHOT')).toEqual([]);
  }, 30_000);

  it('says so when records after the snapshot were trimmed, and goes on from the snapshot and what is left', async () => {
    const { a, offsets } = await firstOwner();
    await a.part.worker.halt();
    const later = await append(ALL.slice(CUT, CUT + 4));
    // Trimmed past the snapshot (a node with snapshots off, say): the first two after it are gone.
    await db.xtrim('wf:log:{0}', 'MINID', later[2]!);
    const b = await node('b');
    await waitFor(() => b.part.worker.owned().get(0) === true, { what: 'b to take the partition' });
    const warned = b.warnings.filter((w) => w.code === 'WF_CLUSTER_SNAPSHOT');
    expect(warned).toMatchObject([{ msg: 'the log was trimmed past the partition snapshot: rule state rebuilt from the snapshot and what is left, records between may be missing', offset: offsets.at(-1), oldestKept: later[2] }]);
    await waitFor(() => b.handled.length === 2, { what: 'b to handle what is left after the snapshot' });
    expect(b.handled).toEqual(seqsOf(ALL.slice(CUT + 2, CUT + 4)));
  }, 30_000);

  it('without the snapshot, the same move loses the trend (what the snapshot is for)', async () => {
    const { a, offsets } = await firstOwner();
    await db.xtrim('wf:log:{0}', 'MINID', offsets.at(-1)!);
    await a.part.worker.halt();
    await db.del('wf:snap:{0}');
    await append(ALL.slice(CUT));
    const b = await node('b');
    await waitFor(() => b.handled.length === ALL.length - CUT, { what: 'b to handle the last 9 days' });
    expect(b.found.filter((f) => f.startsWith('settlement.rate_slow'))).toEqual([]);
  }, 30_000);

  const inflate = promisify(inflateRaw);
  const deflate = promisify(deflateRaw);
  it.each([
    ['damaged', async (raw: Buffer) => {
      const bad = Buffer.from(raw);
      bad[bad.length - 3] = bad[bad.length - 3]! ^ 0xff;
      return bad;
    }, /CRC-32 does not match/],
    ['of another rule state version', async (raw: Buffer) => {
      // A well-formed snapshot whose rule state a newer node wrote: the envelope is fine, the lane refuses it.
      const snap = decodeSnapshot(raw);
      const state = Buffer.from(await inflate(snap.state));
      state.writeUInt16LE(99, 4); // the rule state's version, after its u32 length
      return encodeSnapshot({ ...snap, state: await deflate(state) });
    }, /rule state version 99; this node reads version 1/],
    ['of another envelope version', async (raw: Buffer) => {
      const bad = Buffer.from(raw);
      bad.writeUInt16LE(2, 4);
      return bad;
    }, /partition snapshot version 2; this node reads version 1/],
  ])('a snapshot %s is said and the whole retained log replayed instead', async (_what, spoil, reason) => {
    const { a } = await firstOwner();
    await a.part.worker.halt();
    const raw = (await db.getBuffer('wf:snap:{0}'))!;
    await db.set('wf:snap:{0}', await spoil(raw));
    await append(ALL.slice(CUT));
    const b = await node('b');
    await waitFor(() => b.handled.length === ALL.length - CUT, { what: 'b to handle the last 9 days' });
    const warned = b.warnings.filter((w) => w.code === 'WF_CLUSTER_SNAPSHOT');
    expect(warned).toHaveLength(1);
    expect(warned[0]!.err).toMatch(reason);
    expect(warned[0]!.msg).toBe('partition snapshot unusable: rule state rebuilt from the whole retained log instead');
    // The log is whole here: the replay rebuilt what the snapshot would have held.
    expect([...a.found, ...b.found]).toEqual(reference(ALL));
  }, 30_000);

  it('snapshots only under the current lease term, and the log is never trimmed past the newest snapshot', async () => {
    // Stream nodes of 4 records, so that an approximate trim (whole nodes only) shows where it cut.
    await db.config('SET', 'stream-node-max-entries', '4');
    try {
      const { offsets } = await firstOwner();
      // A worker whose term is over (the owner's is 1: it took the partition first).
      expect((await gateway.terms([0]))[0]).toBe(1);
      expect(await gateway.saveSnapshot(0, 0, Buffer.from('x'))).toBe(false);
      expect(await gateway.saveSnapshot(0, 2, Buffer.from('x'))).toBe(false);
      expect(await snapshotOffset()).toBe(offsets.at(-1));
      // Everything is older than "now", but nothing is after a snapshot at the start (none yet)…
      await gateway.trim(0, 0, LOG_START);
      expect(await db.xlen('wf:log:{0}')).toBe(CUT);
      // …and the records after a snapshot are kept, its own one included.
      await gateway.trim(0, 0, offsets[40]);
      const left = (await gateway.read(0, LOG_START, 1000)).map((r) => r.offset);
      expect(left).toEqual(offsets.slice(40));
    } finally {
      await db.config('SET', 'stream-node-max-entries', '100');
    }
  }, 30_000);
});

describe('a new owner with a snapshot and records left pending', () => {
  it('loads the snapshot, handles the pending records at or before it first, then replays and handles the rest in order', async () => {
    await fresh();
    const log = createRedisLog({ redisUrl: redis.url, partitions: 1, prefix: 'w:' });
    await log.start();
    const frame = (i: number): Buffer => encodeFrame({ deviceId: 'sd-1', topic: 'v1/devices/sd-1/telemetry', payload: Buffer.from(`r${i}`), qos: 1, retain: false, receivedAt: 1_700_000_000_000 + i });
    try {
      // A previous owner (by hand): read r0..r5, acknowledged r0..r2 and r5, snapshotted a state
      // holding r0..r4 (r3 and r4 handled, their acknowledgement failed), and died.
      const term = await log.claimTerm(0, 'dead', 200);
      for (let i = 0; i < 8; i++) await log.append('site-1', frame(i));
      const read = await log.readNew(0, 'dead', { count: 6, blockMs: 50 });
      expect(read).toHaveLength(6);
      await log.ack(0, [...read.slice(0, 3), read[5]!].map((r) => r.offset), term);
      const state = await promisify(deflateRaw)(Buffer.from('r0 r1 r2 r3 r4'));
      expect(await log.saveSnapshot(0, term, encodeSnapshot({ partitions: 1, partition: 0, offset: read[4]!.offset, takenAt: Date.now(), state }))).toBe(true);

      const seen: string[] = [];
      const lanes = recordingLanes(seen, () => ({ save: () => Buffer.from(seen.join()), load: (s) => void seen.push(`load ${Buffer.from(s).toString()}`) }));
      const worker = createRuleWorker({ log, lanes, worker: 'next', durable: (done) => done(), shipped: (done) => done(), logger: pino({ level: 'silent' }), metrics: new Registry(), leaseMs: 300, blockMs: 50, snapshotMs: 60_000 });
      await worker.start();
      try {
        await waitFor(() => worker.owned().get(0) === true, { what: 'the lease to run out and the partition to move' });
        await waitFor(() => seen.length === 6, { what: 'r6 and r7 handled' });
        // r3, r4: pending at or before the snapshot (in its state or not: unknown), handled first.
        // r5: acknowledged after it, replayed with its reading stored again (the dead owner saved no
        // stored mark: as a version before them, it counts as stored up to its snapshot).
        // r6, r7: never read, handled.
        expect(seen).toEqual(['load r0 r1 r2 r3 r4', 'handle r3', 'handle r4', 'restore r5', 'handle r6', 'handle r7']);
        await waitFor(async () => ((await db.xpending('w:log:{0}', 'rules')) as [number])[0] === 0, { what: 'everything acknowledged' });
      } finally {
        await worker.stop();
      }
    } finally {
      await log.stop();
    }
  }, 30_000);
});

describe('a snapshot and the stored mark', () => {
  it('is saved only once its readings are in InfluxDB, after the stored mark that covers it', async () => {
    await fresh();
    const log = createRedisLog({ redisUrl: redis.url, partitions: 1, prefix: 's:' });
    await log.start();
    const frame = (i: number): Buffer => encodeFrame({ deviceId: 'sd-1', topic: 'v1/devices/sd-1/telemetry', payload: Buffer.from(`r${i}`), qos: 1, retain: false, receivedAt: 1_700_000_000_000 + i });
    // This node's journal, as far as the worker sees it: InfluxDB confirms only when the test says.
    const held: Array<() => void> = [];
    let away = true;
    const shipped = (done: () => void): void => {
      if (away) held.push(done);
      else done();
    };
    const seen: string[] = [];
    const lanes = recordingLanes(seen, () => ({ save: () => Buffer.from(seen.join()), load: () => undefined }));
    const worker = createRuleWorker({ log, lanes, worker: 'a', durable: (done) => done(), shipped, logger: pino({ level: 'silent' }), metrics: new Registry(), leaseMs: 150, blockMs: 20, snapshotMs: 1 });
    try {
      await worker.start();
      for (let i = 0; i < 5; i++) await log.append('site-1', frame(i));
      await waitFor(() => seen.length === 5, { what: 'r0..r4 handled' });
      const last = (await log.read(0, LOG_START, 10)).at(-1)!.offset;
      await waitFor(async () => ((await db.xpending('s:log:{0}', 'rules')) as [number])[0] === 0, { what: 'r0..r4 acknowledged' });
      // Three renewals go by (each resets the lease's TTL); with InfluxDB away there is no stored
      // mark, so no snapshot, though one is due at every renewal.
      let renewed = 0;
      let prev = Infinity;
      await waitFor(async () => {
        const t = await db.pttl('s:lease:{0}');
        if (t > prev) renewed++;
        prev = t;
        return renewed >= 3;
      }, { what: 'three lease renewals', intervalMs: 10 });
      expect(await log.loadSnapshot(0)).toBeUndefined();
      expect(await log.loadStored(0)).toBeUndefined();
      expect(held.length).toBeGreaterThan(0);
      // InfluxDB confirms: the mark reaches r4, then the snapshot holding r0..r4 is saved.
      away = false;
      for (const done of held.splice(0)) done();
      const snap = await waitFor(async () => {
        const raw = await log.loadSnapshot(0);
        return raw ? decodeSnapshot(raw) : undefined;
      }, { what: 'the snapshot' });
      expect(snap.offset).toBe(last);
      expect(await log.loadStored(0)).toBe(last);
    } finally {
      await worker.stop();
      await log.stop();
    }
  }, 30_000);
});
