// Issue 21, "Beyond one machine": with the partitioned log a device's live state is kept by the
// node owning its site's partition, yet every node's console shows it (app/live-mirror.ts). Two
// Watchfire nodes (in this test process) share one real redis-server and one influxd; the detector
// is a real MQTT client connected to the node that does not own its site; each node's HTTP API is
// asked as an operator's browser would.
import { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLiveMirror } from '../app/live-mirror.ts';
import { createEventBus } from '../contracts/bus.ts';
import { partitionOf } from '../contracts/cluster.ts';
import { encodeLiveBatch, encodeLiveState } from '../contracts/live-state.ts';
import { topics } from '../contracts/protocol.ts';
import { createUser } from '../dashboards/users.ts';
import { device, directory } from '../rules/test-support.ts';
import { TEST_COST } from './dashboards.fixture.ts';
import { startTestInfluxd, type TestInfluxd } from './support/influxd.ts';
import { startTestRedis, type TestRedis } from './support/redis.ts';
import { smallCounty } from './support/registries.ts';
import { partitionedNode, partitionsShared, startTestSystem, type TestSystem } from './support/system.ts';
import { waitFor } from './support/wait.ts';

const PARTITIONS = 4;
const PASSWORD = 'op-pass-123';
let redis: TestRedis;
let influx: TestInfluxd;
const nodes: Record<'a' | 'b' | 'c', TestSystem> = {} as never;
const cookies: Partial<Record<'a' | 'b' | 'c', string>> = {};

async function node(name: 'a' | 'b' | 'c'): Promise<TestSystem> {
  const sys = await startTestSystem({
    registry: smallCounty(),
    influx,
    smtp: false,
    config: partitionedNode({ redisUrl: redis.url, nodeId: `node-${name}`, partitions: PARTITIONS, leaseMs: 600 }),
  });
  // Each node has its own SQLite (no storage.postgresUrl here): an operator on each.
  await createUser(sys.wf.users, { username: 'op', role: 'operator', password: PASSWORD, centerId: 'fc-1' }, { cost: TEST_COST });
  const res = await fetch(`${sys.httpUrl}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'op', password: PASSWORD }) });
  expect(res.status).toBe(200);
  cookies[name] = res.headers.getSetCookie().find((c) => c.startsWith('wf_session='))!.split(';')[0]!;
  return sys;
}

interface SiteDevice { id: string; online: boolean | null; lastSeen: number | null; last: Record<string, number | string> }

/** The device as node `n`'s site view shows it (GET /api/sites/<site>). */
async function shown(n: 'a' | 'b' | 'c', siteId: string, deviceId: string): Promise<SiteDevice> {
  const res = await fetch(`${nodes[n].httpUrl}/api/sites/${siteId}`, { headers: { cookie: cookies[n]! } });
  expect(res.status).toBe(200);
  const view = (await res.json()) as { devices: SiteDevice[] };
  return view.devices.find((d) => d.id === deviceId)!;
}

/** The node whose rule worker serves the partition of `siteId`, and the other one. */
function ownerOf(siteId: string): { owner: 'a' | 'b'; other: 'a' | 'b' } {
  const p = partitionOf(siteId, PARTITIONS);
  const owner = nodes.a.wf.ruleWorker!.owned().get(p) ? 'a' : 'b';
  expect(nodes[owner].wf.ruleWorker!.owned().get(p)).toBe(true);
  return { owner, other: owner === 'a' ? 'b' : 'a' };
}

/** A device connection without a last will: its socket closing is all the gateway sees. */
const noWill = { will: undefined };

beforeAll(async () => {
  redis = await startTestRedis({ durable: true });
  influx = await startTestInfluxd();
  nodes.a = await node('a');
  nodes.b = await node('b');
  await partitionsShared([nodes.a, nodes.b], PARTITIONS);
}, 60_000);
afterAll(async () => {
  await nodes.c?.stop();
  await nodes.a?.stop();
  await nodes.b?.stop();
  await influx?.stop();
  await redis?.stop();
}, 30_000);

describe("a device's live state on every node", () => {
  it("shows a detector online with its last smoke value on both nodes, then offline once its socket closes without a will", async () => {
    const { owner, other } = ownerOf('h-1');
    // Connected to the node that does not own its site: its readings are scored on the owner.
    const sd = await nodes[other].connectDevice('sd-1', noWill);
    const ts = Date.now();
    await sd.publishAsync(topics.telemetry('sd-1'), JSON.stringify({ seq: 1, ts, smoke: 0.013, temp: 21 }), { qos: 1 });
    for (const n of [owner, other]) {
      const d = await waitFor(async () => {
        const s = await shown(n, 'h-1', 'sd-1');
        return s.online === true && s.last.smoke === 0.013 ? s : undefined;
      }, { what: `sd-1 online with its reading on node ${n}` });
      expect(d).toMatchObject({ online: true, lastSeen: ts, last: { smoke: 0.013, temp: 21 } });
    }
    // Only the owner's pipeline holds it; the other node shows the owner's.
    expect(nodes[owner].wf.pipeline.deviceState('sd-1')).toMatchObject({ online: true, lastSeen: ts });
    expect(nodes[other].wf.pipeline.deviceState('sd-1')).toBeUndefined();
    // The map too (it reads the same state): sd-1's site lists it online on the other node.
    const map = await fetch(`${nodes[other].httpUrl}/api/map`, { headers: { cookie: cookies[other]! } });
    expect(map.status).toBe(200);
    const sites = ((await map.json()) as { sites: Array<{ id: string; devices: Array<{ id: string; online: boolean | null }> }> }).sites;
    expect(sites.find((s) => s.id === 'h-1')?.devices.find((d) => d.id === 'sd-1')?.online).toBe(true);

    // The socket drops: no DISCONNECT, no will; the gateway's presence record reaches the owner.
    sd.stream.destroy();
    for (const n of [owner, other]) {
      const d = await waitFor(async () => {
        const s = await shown(n, 'h-1', 'sd-1');
        return s.online === false ? s : undefined;
      }, { what: `sd-1 offline on node ${n}` });
      // Offline, and still its last reading.
      expect(d).toMatchObject({ lastSeen: ts, last: { smoke: 0.013 } });
    }
  });

  it('shows a node that starts later the state at once, from the partition hashes in Redis', async () => {
    nodes.c = await node('c');
    // No wait: start() loaded the hashes before it returned (c may own nothing yet).
    expect(nodes.c.wf.deviceState('sd-1')).toMatchObject({ online: false, last: { smoke: 0.013 } });
    expect(await shown('c', 'h-1', 'sd-1')).toMatchObject({ online: false, last: { smoke: 0.013 } });
    await nodes.c.stop();
    delete (nodes as Partial<typeof nodes>).c;
  }, 30_000);

  it("after a failover shows the new owner's state, and an entry of the old term never overrides it", async () => {
    const { owner, other } = ownerOf('h-2');
    const p = partitionOf('h-2', PARTITIONS);
    const oldTerm = nodes[owner].wf.ruleWorker!.term(p)!;
    await nodes[owner].wf.ruleWorker!.halt();
    await waitFor(() => nodes[other].wf.ruleWorker!.owned().get(p) === true, { what: `node ${other} to take h-2's partition`, timeoutMs: 10_000 });
    const newTerm = nodes[other].wf.ruleWorker!.term(p)!;
    expect(newTerm).toBeGreaterThan(oldTerm);

    const sd = await nodes[owner].connectDevice('sd-3', noWill);
    const ts = Date.now();
    await sd.publishAsync(topics.telemetry('sd-3'), JSON.stringify({ seq: 1, ts, smoke: 0.021, temp: 22 }), { qos: 1 });
    for (const n of [owner, other]) {
      await waitFor(async () => (await shown(n, 'h-2', 'sd-3')).last.smoke === 0.021, { what: `sd-3's reading on node ${n}` });
    }
    // A node that lost the partition without knowing it publishes under its old term, later on its
    // clock: neither node takes it over the new owner's.
    const zombie = encodeLiveState({ d: 'sd-3', p, t: oldTerm, n: `node-${owner}`, at: Date.now() + 60_000, s: { online: false, lastSeen: ts + 1, last: { smoke: 0.5 } } });
    const raw = new Redis(redis.url);
    try {
      await raw.publish('watchfire:live', encodeLiveBatch('node-zombie', [zombie]));
      // Then a current one behind it, to know the stale one was handled first (one channel, in order).
      const current = encodeLiveState({ d: 'sd-2', p: partitionOf('h-1', PARTITIONS), t: 1_000_000, n: 'node-zombie', at: Date.now(), s: { online: true, last: { smoke: 0.001 } } });
      await raw.publish('watchfire:live', encodeLiveBatch('node-zombie', [current]));
    } finally {
      raw.disconnect();
    }
    await waitFor(() => nodes[owner].wf.deviceState('sd-2')?.last?.smoke === 0.001, { what: 'the later entry on the old owner' });
    for (const n of [owner, other]) expect(await shown(n, 'h-2', 'sd-3')).toMatchObject({ online: true, lastSeen: ts, last: { smoke: 0.021 } });
    sd.end(true);
  }, 30_000);
});

describe("the mirror's upkeep", () => {
  it('takes a device moved to a site of another partition out of its old hash, and the hash has a TTL', async () => {
    // One mirror on its own, owning every partition, over the real Redis.
    const dir = directory([device('sd-m', 'smoke_detector', { siteId: 'h-1' })]);
    const from = partitionOf('h-1', PARTITIONS);
    const to = ['h-2', 'b-1', 'x-1', 'x-2', 'x-3'].find((s) => partitionOf(s, PARTITIONS) !== from)!;
    const local = new Map([['sd-m', { online: false, lastSeen: 1, last: { smoke: 0.002 } }]]);
    const mirror = createLiveMirror({
      redisUrl: redis.url, nodeId: 'node-m', partitions: PARTITIONS, directory: dir, local: (id) => local.get(id), term: () => 7,
      bus: createEventBus(), logger: pino({ level: 'silent' }), pruneMs: 50,
    });
    const raw = new Redis(redis.url);
    try {
      await mirror.start();
      // Offline goes at once, without waiting for the second's flush.
      mirror.presence({ deviceId: 'sd-m', online: false, at: 1, reason: 'socket' });
      const stored = await waitFor(() => raw.hget(`watchfire:live:${from}`, 'sd-m'), { what: "sd-m in its partition's hash" });
      expect(JSON.parse(stored)).toMatchObject({ d: 'sd-m', p: from, t: 7, n: 'node-m', s: { online: false, last: { smoke: 0.002 } } });
      expect(await raw.pttl(`watchfire:live:${from}`)).toBeGreaterThan(0);
      dir.set(device('sd-m', 'smoke_detector', { siteId: to }));
      await waitFor(async () => (await raw.hexists(`watchfire:live:${from}`, 'sd-m')) === 0, { what: 'sd-m out of its old partition\'s hash' });
      expect(mirror.deviceState('sd-m')).toBeUndefined();
    } finally {
      await mirror.stop();
      raw.disconnect();
    }
  });
});
