// Issue 21 point 4: a partition's new owner replays its log to rebuild the state (worker/), and
// those records are not input this node took: ingest's counters (watchfire_ingest_*) count only
// what a node handles live, once, and the replays count in watchfire_cluster_records_replayed_total.
// Otherwise every failover, and every restart of a node, adds the partition's retained history
// to the accepted, duplicate and reject counts again.
//
// Each "node" is app/partitions.ts wired as app/watchfire.ts wires it (as in cluster.snapshot),
// on a real redis-server, with a metrics registry of its own.
import { Redis } from 'ioredis';
import pino from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEventBus } from '../contracts/bus.ts';
import { Config } from '../contracts/config.ts';
import { encodeFrame, type PartitionedLog } from '../contracts/cluster.ts';
import type { Frame, RejectRecord } from '../contracts/ports.ts';
import { topics } from '../contracts/protocol.ts';
import { createPartitioning, type Partitioning } from '../app/partitions.ts';
import { createIngest } from '../ingest/index.ts';
import { createRedisLog } from '../journal/index.ts';
import { createPipeline } from '../pipeline/index.ts';
import { createRuleEngine, DEFAULT_RULE_SET } from '../rules/index.ts';
import { device, directory } from '../rules/test-support.ts';
import { startTestRedis, type TestRedis } from './support/redis.ts';
import { waitFor } from './support/wait.ts';

const sd = device('sd-1', 'smoke_detector', { siteId: 'h-1' });
const devices = directory([sd]);
const T0 = Date.now() - 60_000;

const frame = (payload: string): Frame => ({ deviceId: sd.id, topic: topics.telemetry(sd.id), payload: Buffer.from(payload), qos: 1, retain: false, receivedAt: T0 });
const reading = (seq: number): Frame => frame(JSON.stringify({ seq, ts: T0 + seq * 1000, smoke: 0.01, temp: 21 }));

interface Node {
  part: Partitioning;
  metrics: Registry;
  /** seq of every reading scored live. */
  handled: number[];
  deadLetters: RejectRecord[];
}

let redis: TestRedis;
let db: Redis;
let gateway: PartitionedLog;
const nodes: Node[] = [];

async function node(name: string): Promise<Node> {
  const cluster = Config.parse({ cluster: { enabled: true, redisUrl: redis.url, nodeId: name, partitions: 1, log: { leaseMs: 300 } } }).cluster;
  const logger = pino({ level: 'silent' });
  const metrics = new Registry();
  const bus = createEventBus();
  const handled: number[] = [];
  const deadLetters: RejectRecord[] = [];
  const rules = createRuleEngine({ ruleSet: DEFAULT_RULE_SET, devices });
  const part = createPartitioning({
    cluster, directory: devices, engine: (d, ruleSet) => createRuleEngine({ ruleSet, devices: d }), rules,
    presence: (p) => pipeline.presence(p), bus, durable: (done) => done(), shipped: (done) => done(), logger, metrics,
  });
  const pipeline = createPipeline({ scorer: part.scorer, store: { write: () => undefined }, findings: { handleFinding: () => undefined }, bus, busPresence: false, metrics, logger });
  bus.on('reading.scored', 'test', (s) => handled.push(s.reading.seq!));
  const ingest = createIngest({
    directory: devices, deadLetters: part.quiet.deadLetters({ add: (r) => void deadLetters.push(r), list: async () => deadLetters, count: async () => deadLetters.length }),
    sink: part.quiet.sink(pipeline.onReading, { write: () => undefined }), bus: part.quiet.bus(bus), metrics, logger,
  });
  part.attach(ingest, (done) => done());
  const made: Node = { part, metrics, handled, deadLetters };
  nodes.push(made);
  await part.start();
  return made;
}

/** One counter's value (its series with these labels; 0 when it has none). */
async function counter(n: Node, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = (await n.metrics.getMetricsAsJSON()).find((m) => m.name === name);
  const v = metric?.values.find((x) => Object.entries(labels).every(([k, val]) => x.labels[k] === val));
  return v?.value ?? 0;
}
/** What /metrics says a node's ingest took, and what its worker replayed. */
async function counts(n: Node): Promise<Record<string, number>> {
  return {
    messages: await counter(n, 'watchfire_ingest_messages_total', { kind: 'telemetry' }),
    readings: await counter(n, 'watchfire_ingest_readings_total', { kind: 'telemetry' }),
    duplicates: await counter(n, 'watchfire_ingest_duplicates_total'),
    rejects: await counter(n, 'watchfire_ingest_rejects_total', { code: 'WF_INGEST_NOT_JSON' }),
    gaps: await counter(n, 'watchfire_ingest_seq_gaps_total'),
    handled: await counter(n, 'watchfire_cluster_records_handled_total'),
    replayed: await counter(n, 'watchfire_cluster_records_replayed_total'),
  };
}

const append = async (list: readonly Frame[]): Promise<void> => {
  for (const f of list) await gateway.append(sd.siteId, encodeFrame(f));
};

beforeAll(async () => {
  redis = await startTestRedis({ durable: true });
  db = new Redis(redis.url);
  gateway = createRedisLog({ redisUrl: redis.url, partitions: 1 });
  await gateway.start();
}, 30_000);
afterAll(async () => {
  for (const x of nodes) await x.part.stop();
  await gateway?.stop();
  db?.disconnect();
  await redis?.stop();
});

describe('ingest counters in cluster mode', () => {
  it('count what a node handles live, not what a new owner replays to rebuild the partition', async () => {
    const a = await node('a');
    expect(a.part.worker.owned().get(0)).toBe(true);
    // Seq 1, 2, a bad frame, a re-send of 2, a gap (4 never comes), 5.
    await append([reading(1), reading(2), frame('{"seq": 3, "smoke": '), reading(2), reading(5)]);
    await waitFor(() => a.handled.includes(5), { what: 'a to handle seq 5' });
    expect(await counts(a)).toEqual({ messages: 5, readings: 3, duplicates: 1, rejects: 1, gaps: 2, handled: 5, replayed: 0 });
    await waitFor(async () => ((await db.xpending('wf:log:{0}', 'rules')) as [number])[0] === 0, { what: 'a to acknowledge them' });

    // a's worker dies; b takes the partition and replays all five to rebuild it.
    await a.part.worker.halt();
    const b = await node('b');
    await waitFor(() => b.part.worker.owned().get(0) === true, { what: 'b to take the partition once the lease runs out' });
    expect(await counts(b)).toEqual({ messages: 0, readings: 0, duplicates: 0, rejects: 0, gaps: 0, handled: 0, replayed: 5 });
    expect(b.deadLetters).toEqual([]);

    // Live again: a new reading counts once, and a re-send is known as one (the memory was rebuilt).
    await append([reading(6), reading(5)]);
    await waitFor(async () => (await counter(b, 'watchfire_cluster_records_handled_total')) === 2, { what: 'b to handle both' });
    expect(b.handled).toEqual([6]);
    expect(await counts(b)).toEqual({ messages: 2, readings: 1, duplicates: 1, rejects: 0, gaps: 0, handled: 2, replayed: 5 });
  }, 30_000);
});
