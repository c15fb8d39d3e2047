// Issue 21 point 4: the partitioned log (contracts/cluster.ts) on a real redis-server with
// appendonly yes and appendfsync always. What it must keep: every record of a site in one
// partition and in order; an acknowledged append survives Redis being killed (-9) and restarted;
// one owner per partition under a lease; a new owner takes over what the dead one read but never
// acknowledged, and can rebuild state by reading from an offset.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOG_START, partitionOf, type PartitionedLog } from '../contracts/cluster.ts';
import { createRedisLog } from '../journal/redis-log.ts';
import { startTestRedis, type TestRedis } from './support/redis.ts';
import { waitFor } from './support/wait.ts';

const PARTITIONS = 8;
let redis: TestRedis;
let n = 0;
const logs: PartitionedLog[] = [];

/** A log with a prefix of its own: each case starts empty on the shared server. */
async function open(prefix = `t${n++}:`): Promise<PartitionedLog> {
  const log = createRedisLog({ redisUrl: redis.url, partitions: PARTITIONS, prefix });
  await log.start();
  logs.push(log);
  return log;
}

/** A site id whose partition is `p`. */
function siteIn(p: number, from = 0): string {
  for (let i = from; ; i++) if (partitionOf(`site-${i}`, PARTITIONS) === p) return `site-${i}`;
}

beforeAll(async () => {
  redis = await startTestRedis({ durable: true });
}, 30_000);
afterAll(async () => {
  for (const l of logs) await l.stop();
  await redis?.stop();
});

describe('partitioned log on Redis Streams', () => {
  it('puts every record of a site in one partition, in order, and spreads sites over partitions', async () => {
    expect(partitionOf('site-42', PARTITIONS)).toBe(partitionOf('site-42', PARTITIONS));
    const used = new Set(Array.from({ length: 200 }, (_, i) => partitionOf(`site-${i}`, PARTITIONS)));
    expect(used.size).toBe(PARTITIONS);
    const log = await open();
    const sites = ['site-a', 'site-b', 'site-c'];
    const acks = await Promise.all(Array.from({ length: 60 }, (_, i) => log.append(sites[i % 3]!, Buffer.from(`r${i}`))));
    for (const s of sites) {
      const p = partitionOf(s, PARTITIONS);
      const mine = acks.filter((a, i) => sites[i % 3] === s);
      expect(new Set(mine.map((a) => a.partition))).toEqual(new Set([p]));
      const back = (await log.read(p, LOG_START, 1000)).filter((r) => r.siteId === s);
      // Appended in order r0, r3, r6… for site-a: read back in that order, bytes intact.
      expect(back.map((r) => r.frame.toString())).toEqual(Array.from({ length: 60 }, (_, i) => i).filter((i) => sites[i % 3] === s).map((i) => `r${i}`));
    }
    // Reading from an offset returns what came after it only.
    const p = partitionOf('site-a', PARTITIONS);
    const all = await log.read(p, LOG_START, 1000);
    expect(await log.read(p, all[4]!.offset, 1000)).toEqual(all.slice(5));
  });

  it('keeps every acknowledged append when Redis is killed with SIGKILL and restarted', async () => {
    const log = await open('crash:');
    const frames = Array.from({ length: 500 }, (_, i) => Buffer.from(JSON.stringify({ seq: i, smoke: 0.01 })));
    const acked = await Promise.all(frames.map((f, i) => log.append(`site-${i % 7}`, f)));
    await redis.crash();
    const after = await open('crash:');
    let back = 0;
    for (let p = 0; p < PARTITIONS; p++) {
      const want = acked.filter((a) => a.partition === p).map((a) => a.offset);
      const got = (await after.read(p, LOG_START, 10_000)).map((r) => r.offset);
      expect(got).toEqual(want);
      back += got.length;
    }
    expect(back).toBe(500);
  }, 30_000);

  it('refuses a Redis that does not fsync every write', async () => {
    const lax = await startTestRedis({ durable: false });
    try {
      const log = createRedisLog({ redisUrl: lax.url, partitions: 2 });
      await expect(log.start()).rejects.toMatchObject({ code: 'WF_CLUSTER_LOG_NOT_DURABLE' });
      const accepted = createRedisLog({ redisUrl: lax.url, partitions: 2, requireFsync: false });
      await accepted.start();
      await accepted.stop();
    } finally {
      await lax.stop();
    }
  });

  it('gives a partition to one worker at a time; the next takes over what the dead one never acknowledged', async () => {
    const log = await open();
    const p = 3;
    const site = siteIn(p);
    expect(await log.claim(p, 'w1', 60_000)).toBe(true);
    expect(await log.claim(p, 'w2', 60_000)).toBe(false);
    expect(await log.claim(p, 'w1', 60_000)).toBe(true);
    for (let i = 0; i < 5; i++) await log.append(site, Buffer.from(`r${i}`));
    const first = await log.readNew(p, 'w1', { count: 10, blockMs: 100 });
    expect(first.map((r) => r.frame.toString())).toEqual(['r0', 'r1', 'r2', 'r3', 'r4']);
    // w1 handled r0 and r1, then died: r2..r4 are read and unacknowledged.
    await log.ack(p, first.slice(0, 2).map((r) => r.offset));
    // Nothing new for anyone in the group: the group has delivered everything once.
    expect(await log.readNew(p, 'w2', { count: 10, blockMs: 50 })).toEqual([]);
    // w1's lease runs out (a short one here), w2 gets the partition.
    expect(await log.claim(p, 'w1', 50)).toBe(true);
    expect(await log.claim(p, 'w2', 60_000)).toBe(false);
    await waitFor(() => log.claim(p, 'w2', 60_000), { what: "w1's lease to run out" });
    const orphans = await log.takeOver(p, 'w2', 100);
    expect(orphans.map((r) => r.frame.toString())).toEqual(['r2', 'r3', 'r4']);
    await log.ack(p, orphans.map((r) => r.offset));
    expect(await log.takeOver(p, 'w2', 100)).toEqual([]);
    // New records go on to w2; a blocked read wakes for an append.
    const waiting = log.readNew(p, 'w2', { count: 10, blockMs: 5_000 });
    await log.append(site, Buffer.from('r5'));
    expect((await waiting).map((r) => r.frame.toString())).toEqual(['r5']);
    // Rebuilding state reads the whole partition regardless of the group.
    expect((await log.read(p, LOG_START, 100)).map((r) => r.frame.toString())).toEqual(['r0', 'r1', 'r2', 'r3', 'r4', 'r5']);
    await log.release(p, 'w1');
    expect(await log.claim(p, 'w3', 60_000)).toBe(false);
    await log.release(p, 'w2');
    expect(await log.claim(p, 'w3', 60_000)).toBe(true);
  });
});
