// Issue 21 point 6, "no PUBACKed reading lost" when the dead node was the one shipping: two
// Watchfire processes (app/main.ts start) with the partitioned log on, one real redis-server, one
// influxd. Node A owns the only partition and handles every reading: it scores it, keeps it in its
// own journal and acknowledges it in the log. But A cannot reach InfluxDB (its influx.url is a port
// nobody listens on), so every reading is in A's journal only when A is killed with SIGKILL. The
// survivor, taking the partition, stores again what A acknowledged after A's stored mark (none:
// A never shipped), scored as A scored it; each reading lands once, and the survivor's own mark
// follows once its journal has shipped them. The readings are three hours old (A was down that
// long, say): their 5-minute aggregates in long_term are made too.
import { Redis } from 'ioredis';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareOffsets, decodeFrame } from '../contracts/cluster.ts';
import { topics } from '../contracts/protocol.ts';
import { freePort } from '../ingest/influxd.ts';
import { startClusterNode, stopClusterNodes, type ClusterNode } from './support/cluster-node.ts';
import { startTestInfluxd, type TestInfluxd } from './support/influxd.ts';
import { startTestRedis, type TestRedis } from './support/redis.ts';
import { smallCounty } from './support/registries.ts';
import { waitFor } from './support/wait.ts';

const READINGS = 40;
/** Three hours ago, 5-minute aligned: older than the continuous query recomputes (15 min), so only Watchfire's late aggregation puts them in long_term. */
const T0 = Math.floor((Date.now() - 3 * 3_600_000) / 300_000) * 300_000;

let redis: TestRedis;
let db: Redis;
let influx: TestInfluxd;
const nodes: ClusterNode[] = [];
const clients: MqttClient[] = [];

const node = (name: string, influxUrl: string): Promise<ClusterNode> =>
  startClusterNode({ name, registry: smallCounty(), influx, influxUrl, redis, partitions: 1, leaseMs: 1_000 });

/** One counter from a node's /metrics (loopback needs no token). */
async function metric(n: ClusterNode, name: string): Promise<number> {
  const text = await (await fetch(`${n.httpUrl}/metrics`)).text();
  const m = new RegExp(`^${name} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

const pending = async (): Promise<number> => ((await db.xpending('wf:log:{0}', 'rules')) as [number])[0];
const storedSeqs = async (): Promise<number[]> =>
  (await influx.query(`SELECT "seq" FROM "telemetry" WHERE "device"='sd-1'`)).map((r) => Number(r.seq)).sort((x, y) => x - y);

beforeAll(async () => {
  [redis, influx] = await Promise.all([startTestRedis({ durable: true }), startTestInfluxd()]);
  db = new Redis(redis.url);
  // A first: it takes the only partition. Its InfluxDB is a closed port.
  nodes.push(await node('node-a', `http://127.0.0.1:${await freePort()}`));
  await waitFor(async () => (await db.get('wf:lease:{0}')) === 'node-a', { what: 'node A to own the partition', timeoutMs: 20_000 });
  nodes.push(await node('node-b', influx.url));
}, 120_000);

afterAll(async () => {
  await stopClusterNodes(nodes, clients);
  db?.disconnect();
  await Promise.all([influx?.stop(), redis?.stop()]);
}, 60_000);

describe('kill -9 of a partition owner whose journal had not shipped', () => {
  it('the survivor stores every reading the dead owner acknowledged, each once, with its long_term aggregates', async () => {
    const [a, b] = nodes as [ClusterNode, ClusterNode];
    // The device on B's gateway: it outlives A. Every reading goes through the log to A.
    const sd1 = await mqtt.connectAsync(b.mqttUrl, { clientId: 'sd-1', username: 'sd-1', password: b.secrets['sd-1']!, reconnectPeriod: 0 });
    clients.push(sd1);
    for (let seq = 1; seq <= READINGS; seq++) {
      await sd1.publishAsync(topics.telemetry('sd-1'), JSON.stringify({ seq, ts: T0 + seq * 1000, smoke: 0.01 * (seq % 5), temp: 21, battery: 90 }), { qos: 1 });
    }
    // A handled and acknowledged all of them (nothing pending: a new owner will not handle them
    // again), and shipped none: nothing in InfluxDB, and its stored mark (if any: the device's
    // connect record, which has no reading, is "shipped" at once) before the first reading.
    await waitFor(async () => (await pending()) === 0, { what: 'node A to acknowledge every reading in the log' });
    expect(await metric(a, 'watchfire_cluster_records_handled_total')).toBeGreaterThanOrEqual(READINGS);
    const records = (await db.xrangeBuffer('wf:log:{0}', '-', '+')) as Array<[Buffer, Buffer[]]>;
    const firstReading = records.find(([, f]) => decodeFrame(f[f.findIndex((x) => x.toString() === 'f') + 1]!).topic === topics.telemetry('sd-1'))![0].toString();
    const markOfA = await db.get('wf:stored:{0}');
    if (markOfA !== null) expect(compareOffsets(markOfA, firstReading)).toBeLessThan(0);
    expect(await storedSeqs()).toEqual([]);

    expect(await a.proc.kill('SIGKILL')).toBe('SIGKILL');
    await waitFor(async () => (await db.get('wf:lease:{0}')) === 'node-b', { what: 'node B to take the partition', timeoutMs: 15_000 });

    // Every reading once, with the score A gave it (the rebuilt state is A's).
    const want = Array.from({ length: READINGS }, (_, i) => i + 1);
    await waitFor(async () => (await storedSeqs()).length >= READINGS, { what: `${READINGS} readings in InfluxDB`, timeoutMs: 20_000 });
    expect(await storedSeqs()).toEqual(want);
    const scores = await influx.query(`SELECT "score", "level" FROM "telemetry" WHERE "device"='sd-1'`);
    expect(scores.every((r) => typeof r.score === 'number' && r.level === 'green')).toBe(true);
    expect(await metric(b, 'watchfire_cluster_records_restored_total')).toBeGreaterThanOrEqual(READINGS);
    expect(await metric(b, 'watchfire_cluster_records_handled_total')).toBe(0);

    // B's journal shipped them: its stored mark reaches the log's last record, so a later move
    // stores nothing again.
    const last = ((await db.xrevrange('wf:log:{0}', '+', '-', 'COUNT', 1)) as Array<[string, string[]]>)[0]![0];
    await waitFor(async () => (await db.get('wf:stored:{0}')) === last, { what: 'node B to save its stored mark', timeoutMs: 15_000 });

    // A reading after the move: handled by B, stored once.
    await sd1.publishAsync(topics.telemetry('sd-1'), JSON.stringify({ seq: READINGS + 1, ts: Date.now(), smoke: 0.01, temp: 21, battery: 90 }), { qos: 1 });
    await waitFor(async () => (await storedSeqs()).length > READINGS, { what: 'the next reading in InfluxDB' });
    expect(await storedSeqs()).toEqual([...want, READINGS + 1]);

    // The device re-sends one of the readings A took (its PUBACK lost, say): B rebuilt the re-send
    // memory with the readings it stored again, so it is a counted duplicate, stored no second time.
    const seq = 5;
    const before = await metric(b, 'watchfire_ingest_duplicates_total');
    await sd1.publishAsync(topics.telemetry('sd-1'), JSON.stringify({ seq, ts: T0 + seq * 1000, smoke: 0.01 * (seq % 5), temp: 21, battery: 90 }), { qos: 1 });
    await waitFor(async () => (await metric(b, 'watchfire_ingest_duplicates_total')) === before + 1, { what: 'the re-send counted as a duplicate on B' });
    expect(await storedSeqs()).toEqual([...want, READINGS + 1]);

    // long_term has the restored readings' 5-minute aggregates (all 40 in one bucket, three hours
    // ago): B made them again (at the latest when it stops), as it does for what it ships late
    // itself. The live reading of now is the continuous query's, every 5 minutes in production.
    sd1.end(true);
    expect(await b.proc.kill('SIGTERM')).toBe(0);
    const buckets = await influx.query(`SELECT "min_smoke", "max_smoke", "mean_smoke" FROM "long_term"."telemetry_5m" WHERE "device" = 'sd-1' AND time < ${T0 + 300_000}ms`);
    expect(buckets).toHaveLength(1);
    expect(buckets[0]).toMatchObject({ min_smoke: 0, max_smoke: 0.04 });
    expect(buckets[0]!.mean_smoke as number).toBeCloseTo(0.02, 10);
  }, 90_000);
});
