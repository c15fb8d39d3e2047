// Issue 21 point 4 across kill -9: two Watchfire processes (app/main.ts start) with the
// partitioned log on, one real redis-server (appendfsync always), one influxd. The node owning a
// home's partition scores its first detector's alarm and is killed with SIGKILL; readings PUBACKed
// by the surviving node's gateway meanwhile wait in the log. The survivor takes the partition once
// the dead node's lease runs out, rebuilds its state from the log, scores what was waiting, and
// confirms the fire when the second detector alarms — by the first one's alarm, which it replayed
// and did not handle again (its incident counts one finding, not two).
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Redis } from 'ioredis';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { partitionOf } from '../contracts/cluster.ts';
import { topics } from '../contracts/protocol.ts';
import { startClusterNode, stopClusterNodes, type ClusterNode } from './support/cluster-node.ts';
import { startTestInfluxd, type TestInfluxd } from './support/influxd.ts';
import { startTestRedis, type TestRedis } from './support/redis.ts';
import { smallCounty } from './support/registries.ts';
import { waitFor } from './support/wait.ts';

const PARTITIONS = 4;
const LEASE_MS = 1_000;
const SITE = 'h-3';
const P = partitionOf(SITE, PARTITIONS);

const registry = smallCounty({
  sites: [...smallCounty().sites!, { id: SITE, kind: 'home', centerId: 'fc-1', gridId: 'g-1', name: '陈家', address: '幸福小区7栋301' }],
  devices: [
    ...smallCounty().devices!,
    { id: 'sd-4', type: 'smoke_detector', siteId: SITE, location: '厨房' },
    { id: 'sd-5', type: 'smoke_detector', siteId: SITE, location: '卧室' },
  ],
});

let redis: TestRedis;
let db: Redis;
let influx: TestInfluxd;
const nodes: ClusterNode[] = [];
const clients: MqttClient[] = [];

const node = (name: string): Promise<ClusterNode> => startClusterNode({ name, registry, influx, redis, partitions: PARTITIONS, leaseMs: LEASE_MS });

async function device(n: ClusterNode, id: string): Promise<MqttClient> {
  const c = await mqtt.connectAsync(n.mqttUrl, { clientId: id, username: id, password: n.secrets[id]!, reconnectPeriod: 0, connectTimeout: 5_000 });
  clients.push(c);
  return c;
}

/** The node's open incidents at the site, read from its SQLite file (read-only, beside the process). */
function incidents(n: ClusterNode): Array<{ level: string; confirmed: number; finding_count: number; device_id: string }> {
  const sql = new Database(join(n.dataDir, 'watchfire.db'), { readonly: true, fileMustExist: true });
  try {
    return sql.prepare('SELECT level, confirmed, finding_count, device_id FROM alert_incidents WHERE site_id = ? AND active = 1').all(SITE) as never;
  } finally {
    sql.close();
  }
}

const pending = async (): Promise<number> => ((await db.xpending(`wf:log:{${P}}`, 'rules')) as [number])[0];
const T0 = Date.now() - 60_000;

beforeAll(async () => {
  [redis, influx] = await Promise.all([startTestRedis({ durable: true }), startTestInfluxd()]);
  db = new Redis(redis.url);
  nodes.push(await node('node-a'));
  nodes.push(await node('node-b'));
  await waitFor(async () => {
    const owners = await Promise.all(Array.from({ length: PARTITIONS }, (_, p) => db.get(`wf:lease:{${p}}`)));
    return owners.filter((o) => o === 'node-a').length === PARTITIONS / 2 && owners.filter((o) => o === 'node-b').length === PARTITIONS / 2;
  }, { what: 'the partitions shared 2 and 2', timeoutMs: 20_000 });
}, 120_000);

afterAll(async () => {
  await stopClusterNodes(nodes, clients);
  db?.disconnect();
  await Promise.all([influx?.stop(), redis?.stop()]);
}, 60_000);

describe('kill -9 of the node owning a partition', () => {
  it('moves the partition to the survivor, which loses no appended reading and handles none twice', async () => {
    const ownerName = await db.get(`wf:lease:{${P}}`);
    const owner = nodes.find((n) => n.name === ownerName)!;
    const survivor = nodes.find((n) => n !== owner)!;
    // Both detectors on the survivor's gateway: they outlive the owner.
    const sd4 = await device(survivor, 'sd-4');
    const sd5 = await device(survivor, 'sd-5');
    await sd4.publishAsync(topics.events('sd-4'), JSON.stringify({ type: 'alarm', seq: 1, ts: T0 }), { qos: 1 });
    await waitFor(() => incidents(owner).length === 1, { what: 'the owner to open the incident' });
    expect(incidents(owner)).toMatchObject([{ level: 'red', confirmed: 0, finding_count: 1, device_id: 'sd-4' }]);
    expect(incidents(survivor)).toEqual([]);
    await waitFor(async () => (await pending()) === 0, { what: 'the owner to acknowledge the alarm' });

    expect(await owner.proc.kill('SIGKILL')).toBe('SIGKILL');
    // PUBACKed while nobody serves the partition: in the log, waiting.
    for (const seq of [2, 3, 4]) await sd4.publishAsync(topics.telemetry('sd-4'), JSON.stringify({ seq, ts: T0 + seq * 1000, smoke: 0.01, temp: 21 }), { qos: 1 });

    await waitFor(async () => (await db.get(`wf:lease:{${P}}`)) === survivor.name, { what: 'the survivor to take the partition', timeoutMs: 15_000 });
    await sd5.publishAsync(topics.events('sd-5'), JSON.stringify({ type: 'alarm', seq: 1, ts: T0 + 5_000 }), { qos: 1 });
    // Confirmed by the second detector: the survivor knows sd-4's alarm only from the rebuild. One
    // finding: sd-4's alarm was replayed there, not handled a second time.
    await waitFor(() => incidents(survivor).some((i) => i.confirmed === 1), { what: 'the survivor to confirm the fire' });
    expect(incidents(survivor)).toMatchObject([{ level: 'red', confirmed: 1, finding_count: 1, device_id: 'sd-5' }]);
    // The readings PUBACKed while the partition had no owner were scored and stored by the survivor.
    await waitFor(async () => (await influx.query(`SELECT COUNT("score") AS n FROM "telemetry" WHERE "device"='sd-4'`))[0]?.n === 3, { what: 'sd-4 seq 2..4 in InfluxDB' });
    await waitFor(async () => (await pending()) === 0, { what: 'the survivor to acknowledge what it handled' });
  }, 60_000);
});
