// Issue 21 point 4 end to end: two Watchfire nodes (in this test process) sharing one real
// redis-server (appendfsync always) and one influxd, with the partitioned log on
// (cluster.partitions). Frames are appended to their site's partition wherever they arrive, and
// the one node owning the partition scores them: two detectors of one site on different gateways
// confirm a fire there and nowhere else. When the owner stops renewing its leases without giving
// them back (as a dead process would), the other node takes the partition, rebuilds its rule state
// and re-send memory from the log, and handles every appended record exactly once between them; a
// bad frame is dead-lettered, with its reason, once.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { partitionOf } from '../contracts/cluster.ts';
import type { Finding } from '../contracts/findings.ts';
import { topics } from '../contracts/protocol.ts';
import { startTestInfluxd, type TestInfluxd } from './support/influxd.ts';
import { startTestRedis, type TestRedis } from './support/redis.ts';
import { smallCounty } from './support/registries.ts';
import { partitionedNode, partitionsShared, startTestSystem, type TestSystem } from './support/system.ts';
import { waitFor } from './support/wait.ts';

const PARTITIONS = 4;
let redis: TestRedis;
let db: Redis;
let influx: TestInfluxd;
const nodes: Record<'a' | 'b', TestSystem> = {} as never;

interface Seen {
  findings: Finding[];
  /** deviceId:seq of every reading this node handled live (scored, stored, findings raised). */
  handled: string[];
}
const seen: Record<'a' | 'b', Seen> = { a: { findings: [], handled: [] }, b: { findings: [], handled: [] } };

const registry = smallCounty({
  sites: [
    ...smallCounty().sites!,
    { id: 'h-3', kind: 'home', centerId: 'fc-1', gridId: 'g-1', name: '陈家', address: '幸福小区7栋301' },
  ],
  devices: [
    ...smallCounty().devices!,
    { id: 'sd-4', type: 'smoke_detector', siteId: 'h-3', location: '厨房' },
    { id: 'sd-5', type: 'smoke_detector', siteId: 'h-3', location: '卧室' },
  ],
});

async function node(name: 'a' | 'b'): Promise<TestSystem> {
  const sys = await startTestSystem({
    registry,
    influx,
    smtp: false,
    // Short leases: a failover waits for one to run out.
    config: partitionedNode({ redisUrl: redis.url, nodeId: `node-${name}`, partitions: PARTITIONS, leaseMs: 600 }),
  });
  sys.wf.bus.on('finding', 'test', (f) => seen[name].findings.push(f));
  sys.wf.bus.on('reading.scored', 'test', (s) => seen[name].handled.push(`${s.reading.deviceId}:${s.reading.seq}`));
  return sys;
}

const T0 = Date.now() - 60_000;
/** A telemetry reading with its seq and device time: re-sends are recognised by the pair (SEQ_RULE). */
const reading = (seq: number): string => JSON.stringify({ seq, ts: T0 + seq * 1000, smoke: 0.01, temp: 21 });

/** The node whose rule worker serves the partition of `siteId`, and the other one. */
function ownerOf(siteId: string): { owner: 'a' | 'b'; other: 'a' | 'b' } {
  const p = partitionOf(siteId, PARTITIONS);
  const owner = nodes.a.wf.ruleWorker!.owned().get(p) ? 'a' : 'b';
  expect(nodes[owner].wf.ruleWorker!.owned().get(p)).toBe(true);
  return { owner, other: owner === 'a' ? 'b' : 'a' };
}

beforeAll(async () => {
  redis = await startTestRedis({ durable: true });
  db = new Redis(redis.url);
  influx = await startTestInfluxd();
  nodes.a = await node('a');
  nodes.b = await node('b');
  // A took every partition alone; with B alive each takes its fair share (2 of 4).
  await partitionsShared([nodes.a, nodes.b], PARTITIONS);
}, 60_000);
afterAll(async () => {
  await nodes.a?.stop();
  await nodes.b?.stop();
  db?.disconnect();
  await influx?.stop();
  await redis?.stop();
}, 30_000);

describe('readings partitioned by site across two nodes', () => {
  it('confirms a fire from two detectors of one site on different gateways, on the owning node only', async () => {
    const onA = await nodes.a.connectDevice('sd-1');
    const onB = await nodes.b.connectDevice('sd-2');
    // PUBACKed: in the log (Redis fsynced it), whichever node scores it.
    await onA.publishAsync(topics.events('sd-1'), JSON.stringify({ type: 'alarm', seq: 1 }), { qos: 1 });
    await onB.publishAsync(topics.events('sd-2'), JSON.stringify({ type: 'alarm', seq: 1 }), { qos: 1 });
    const { owner, other } = ownerOf('h-1');
    const confirmed = await waitFor(() => seen[owner].findings.find((f) => f.siteId === 'h-1' && f.confirmed), { what: 'a confirmed fire at h-1' });
    expect(confirmed.message.en).toMatch(/second detector sd-[12]/);
    expect(await nodes[owner].wf.alerts.service.list({ siteId: 'h-1' })).toMatchObject([{ level: 'red', category: 'fire' }]);
    // Both readings were scored on the owner, each once; the other node scored neither.
    expect(seen[owner].handled.filter((h) => h.startsWith('sd-1:') || h.startsWith('sd-2:')).sort()).toEqual(['sd-1:1', 'sd-2:1']);
    expect(seen[other].handled.filter((h) => h.startsWith('sd-1:') || h.startsWith('sd-2:'))).toEqual([]);
    expect(seen[other].findings.filter((f) => f.siteId === 'h-1')).toEqual([]);
    expect(await nodes[other].wf.alerts.service.list({ siteId: 'h-1' })).toEqual([]);
  });

  it("takes a panel's last will to the owner of its partition, from whichever gateway published it", async () => {
    const { owner, other } = ownerOf('b-1');
    const panel = await nodes[other].connectDevice('fp-1');
    // The socket drops without DISCONNECT: the gateway publishes the will, into the log.
    panel.stream.destroy();
    const offline = await waitFor(() => seen[owner].findings.find((f) => f.deviceId === 'fp-1' && f.ruleId === 'any.offline_disconnect'), { what: "the owner to take the panel's will" });
    expect(offline.level).toBe('yellow');
    expect(seen[other].findings.filter((f) => f.deviceId === 'fp-1')).toEqual([]);
  });

  it('moves a partition whose owner stops renewing: state rebuilt from the log, no record lost or handled twice', async () => {
    const p = partitionOf('h-3', PARTITIONS);
    const { owner, other } = ownerOf('h-3');
    const sd4 = await nodes[owner].connectDevice('sd-4');
    const sd5 = await nodes[other].connectDevice('sd-5');
    await sd4.publishAsync(topics.events('sd-4'), JSON.stringify({ type: 'alarm', seq: 1 }), { qos: 1 });
    // A bad frame travels in the log too: dead-lettered with its reason by the owner, acknowledged.
    await sd5.publishAsync(topics.telemetry('sd-5'), '{"seq": 1, "smoke": ', { qos: 1 });
    for (let seq = 1; seq <= 5; seq++) await sd5.publishAsync(topics.telemetry('sd-5'), reading(seq), { qos: 1 });
    await waitFor(() => seen[owner].handled.includes('sd-5:5'), { what: 'the owner to score sd-5 seq 5' });
    expect(seen[owner].findings.filter((f) => f.siteId === 'h-3').map((f) => f.confirmed)).toEqual([false]);
    // Everything the owner read it has acknowledged.
    await waitFor(async () => ((await db.xpending(`wf:log:{${p}}`, 'rules')) as [number])[0] === 0, { what: 'nothing pending in the partition' });

    // The owner's worker dies: no release, no renewal. Its gateway goes on taking frames.
    await nodes[owner].wf.ruleWorker!.halt();
    const during = [2, 3, 4];
    for (const seq of during) await sd4.publishAsync(topics.telemetry('sd-4'), reading(seq), { qos: 1 });

    await waitFor(() => nodes[other].wf.ruleWorker!.owned().get(p) === true, { what: `node ${other} to take partition ${p}`, timeoutMs: 10_000 });
    expect(await db.get(`wf:lease:{${p}}`)).toBe(`node-${other}`);
    // A re-send of a reading the dead owner handled: the rebuilt re-send memory drops it.
    await sd5.publishAsync(topics.telemetry('sd-5'), reading(3), { qos: 1 });
    // The second detector alarms: confirmed by sd-4's alarm, which only the rebuilt state knows.
    await sd5.publishAsync(topics.events('sd-5'), JSON.stringify({ type: 'alarm', seq: 6 }), { qos: 1 });
    const confirmed = await waitFor(() => seen[other].findings.find((f) => f.siteId === 'h-3' && f.confirmed), { what: 'the new owner to confirm the fire at h-3' });
    expect(confirmed.message.en).toContain('second detector sd-4');
    // sd-4's alarm was replayed, not handled again: the new owner raised no finding of its own for it.
    expect(seen[other].findings.filter((f) => f.siteId === 'h-3' && f.deviceId === 'sd-4')).toEqual([]);
    // Every record appended to h-3 handled exactly once, by one node or the other.
    const h3 = (n: 'a' | 'b') => seen[n].handled.filter((h) => h.startsWith('sd-4:') || h.startsWith('sd-5:'));
    expect(h3(owner).sort()).toEqual(['sd-4:1', 'sd-5:1', 'sd-5:2', 'sd-5:3', 'sd-5:4', 'sd-5:5']);
    expect(h3(other).sort()).toEqual(['sd-4:2', 'sd-4:3', 'sd-4:4', 'sd-5:6']);
    expect(nodes[other].wf.ingest.deviceStats('sd-5')?.duplicates).toBe(1);
    // The bad frame: one dead letter, on the node that handled it; the rebuild replayed it quietly.
    await waitFor(async () => (await nodes[owner].wf.deadLetters.list({ deviceId: 'sd-5' })).length === 1, { what: "the owner's dead letter" });
    expect(await nodes[owner].wf.deadLetters.list({ deviceId: 'sd-5' })).toMatchObject([{ code: 'WF_INGEST_NOT_JSON', topic: topics.telemetry('sd-5') }]);
    expect(await nodes[other].wf.deadLetters.list({ deviceId: 'sd-5' })).toEqual([]);
    await waitFor(async () => ((await db.xpending(`wf:log:{${p}}`, 'rules')) as [number])[0] === 0, { what: 'the new owner to acknowledge what it handled' });
  }, 30_000);
});
