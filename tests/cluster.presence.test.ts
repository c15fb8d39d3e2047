// Issue 21 point 4, presence across nodes: what a gateway tells only its own node's bus (a device
// connected, its socket closed without a will) reaches the node owning the device's site partition,
// through the log, in order with the device's frames, and is applied there alone. Two Watchfire
// nodes (in this test process) share one real redis-server and one influxd; the devices are real
// MQTT clients. One node does as a single node would: a fire panel whose socket closes without a
// will is offline at once (rules' atDisconnect), a smoke detector's live state says offline and
// raises nothing (detectors disconnect between reports).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PRESENCE_REASONS } from '../contracts/bus.ts';
import { decodeFrame, encodeFrame, partitionOf, PRESENCE_TOPIC, presenceFrame, presenceOfFrame } from '../contracts/cluster.ts';
import { topics } from '../contracts/protocol.ts';
import { startTestInfluxd, type TestInfluxd } from './support/influxd.ts';
import { startTestRedis, type TestRedis } from './support/redis.ts';
import { smallCounty } from './support/registries.ts';
import { partitionedNode, partitionsShared, startTestSystem, type TestSystem } from './support/system.ts';
import { waitFor } from './support/wait.ts';

const PARTITIONS = 4;
let redis: TestRedis;
let influx: TestInfluxd;
const nodes: Record<'a' | 'b', TestSystem> = {} as never;
/** What each node's bus said, in order: `reading <device>:<seq>` and `finding <device> <rule>`. */
const said: Record<'a' | 'b', string[]> = { a: [], b: [] };

async function node(name: 'a' | 'b'): Promise<TestSystem> {
  const sys = await startTestSystem({
    registry: smallCounty(),
    influx,
    smtp: false,
    // Short leases: a failover waits for one to run out.
    config: partitionedNode({ redisUrl: redis.url, nodeId: `node-${name}`, partitions: PARTITIONS, leaseMs: 600 }),
  });
  sys.wf.bus.on('reading.scored', 'test', (s) => said[name].push(`reading ${s.reading.deviceId}:${s.reading.seq}`));
  sys.wf.bus.on('finding', 'test', (f) => said[name].push(`finding ${f.deviceId} ${f.ruleId}`));
  return sys;
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
const about = (n: 'a' | 'b', deviceId: string): string[] => said[n].filter((s) => s.split(' ')[1]!.startsWith(`${deviceId}:`) || s.split(' ')[1] === deviceId);

beforeAll(async () => {
  redis = await startTestRedis({ durable: true });
  influx = await startTestInfluxd();
  nodes.a = await node('a');
  nodes.b = await node('b');
  await partitionsShared([nodes.a, nodes.b], PARTITIONS);
}, 60_000);
afterAll(async () => {
  await nodes.a?.stop();
  await nodes.b?.stop();
  await influx?.stop();
  await redis?.stop();
}, 30_000);

describe('the presence record', () => {
  it('travels in the log as a frame and reads back as it was told, for every reason', () => {
    for (const reason of PRESENCE_REASONS) {
      for (const online of [true, false]) {
        const p = { deviceId: 'fp-1', online, at: 1_765_000_000_123, reason };
        expect(presenceOfFrame(decodeFrame(encodeFrame(presenceFrame(p))))).toEqual(p);
      }
    }
    // A device's own frame is none; one this version cannot read is said, not guessed.
    expect(presenceOfFrame({ deviceId: 'fp-1', topic: topics.status('fp-1'), payload: Buffer.from('{"online":false}'), qos: 1, retain: true, receivedAt: 1 })).toBeUndefined();
    expect(() => presenceOfFrame({ deviceId: 'fp-1', topic: PRESENCE_TOPIC, payload: Buffer.from([0, 99]), qos: 0, retain: false, receivedAt: 1 })).toThrow(/not readable/);
  });
});

describe('presence across nodes', () => {
  it("takes a panel's socket closed without a will to the owner of its partition, after its readings", async () => {
    const { owner, other } = ownerOf('b-1');
    const panel = await nodes[other].connectDevice('fp-1', noWill);
    await waitFor(() => nodes[owner].wf.deviceState('fp-1')?.online === true, { what: 'the owner to hear the panel online' });
    await panel.publishAsync(topics.telemetry('fp-1'), JSON.stringify({ seq: 1, ts: Date.now(), mainPower: 'ok', pointsInAlarm: 0, pointsInFault: 0 }), { qos: 1 });
    // The socket drops: no DISCONNECT and no will, only the gateway of the other node sees it.
    panel.stream.destroy();
    await waitFor(() => nodes[owner].wf.deviceState('fp-1')?.online === false, { what: 'the owner to hear the panel offline' });
    // As on one node: offline at once, and after the reading sent before it (the log's order).
    await waitFor(() => about(owner, 'fp-1').includes('finding fp-1 any.offline_disconnect'), { what: "the owner's offline finding" });
    expect(about(owner, 'fp-1')).toEqual(['reading fp-1:1', 'finding fp-1 any.offline_disconnect']);
    expect(await nodes[owner].wf.alerts.service.list({ siteId: 'b-1' })).toMatchObject([{ deviceId: 'fp-1', level: 'yellow' }]);
    // The gateway's node applies nothing of it: no finding, no live state of a device it does not own.
    expect(about(other, 'fp-1')).toEqual([]);
    expect(nodes[other].wf.pipeline.deviceState('fp-1')).toBeUndefined();

    // Back on the other node's gateway: the owner hears it online again, once.
    const again = await nodes[other].connectDevice('fp-1', noWill);
    await waitFor(() => nodes[owner].wf.deviceState('fp-1')?.online === true, { what: 'the owner to hear the panel back' });
    await waitFor(() => about(owner, 'fp-1').length === 3, { what: "the owner's back-online finding" });
    expect(about(owner, 'fp-1')[2]).toBe('finding fp-1 any.offline_clear');
    again.end(true);
  });

  it("marks a detector offline on the owner when its socket closes on the gateway's node that owns it, once", async () => {
    const { owner } = ownerOf('h-2');
    const sd = await nodes[owner].connectDevice('sd-3', noWill);
    await sd.publishAsync(topics.telemetry('sd-3'), JSON.stringify({ seq: 1, ts: Date.now(), smoke: 0.01, temp: 21 }), { qos: 1 });
    await waitFor(() => about(owner, 'sd-3').includes('reading sd-3:1'), { what: 'the owner to score sd-3' });
    expect(nodes[owner].wf.deviceState('sd-3')?.online).toBe(true);
    sd.stream.destroy();
    await waitFor(() => nodes[owner].wf.deviceState('sd-3')?.online === false, { what: 'sd-3 offline on its owner' });
    // A detector disconnects between reports (atDisconnect false): nothing raised, as on one node.
    expect(about(owner, 'sd-3')).toEqual(['reading sd-3:1']);
  });

  it("takes an adapter's presence (the ingress seam's, GB/T 26875.3 and NB-IoT) to the owner too", async () => {
    const { owner, other } = ownerOf('b-1');
    nodes[other].wf.ingress.presence('st-1', true, Date.now(), 'gbt26875');
    await waitFor(() => nodes[owner].wf.deviceState('st-1')?.online === true, { what: 'st-1 online on its owner' });
    nodes[other].wf.ingress.presence('st-1', false, Date.now(), 'gbt26875');
    await waitFor(() => nodes[owner].wf.deviceState('st-1')?.online === false, { what: 'st-1 offline on its owner' });
    nodes[other].wf.ingress.heard('st-1', Date.now(), 'gbt26875');
    await waitFor(() => nodes[owner].wf.deviceState('st-1')?.online === true, { what: "st-1's heartbeat on its owner" });
    expect(nodes[other].wf.pipeline.deviceState('st-1')).toBeUndefined();
  });

  it('rebuilds presence on a new owner from the log: it knows the panel went offline, and clears it when it is back', async () => {
    const { owner, other } = ownerOf('b-1');
    // The first test's last connection closed: offline again, on the owner.
    await waitFor(() => about(owner, 'fp-1').filter((s) => s === 'finding fp-1 any.offline_disconnect').length === 2, { what: 'the panel offline again' });
    await nodes[owner].wf.ruleWorker!.halt();
    await waitFor(() => nodes[other].wf.ruleWorker!.owned().get(partitionOf('b-1', PARTITIONS)) === true, { what: `node ${other} to take b-1's partition`, timeoutMs: 10_000 });
    // Replayed, not raised again.
    expect(about(other, 'fp-1')).toEqual([]);
    // Back, on the gateway of the node whose worker died: only the rebuilt state knows it was offline.
    const panel = await nodes[owner].connectDevice('fp-1', noWill);
    await waitFor(() => about(other, 'fp-1').length > 0, { what: "the new owner's back-online finding" });
    expect(about(other, 'fp-1')).toEqual(['finding fp-1 any.offline_clear']);
    expect(nodes[other].wf.deviceState('fp-1')?.online).toBe(true);
    panel.end(true);
  }, 30_000);
});
