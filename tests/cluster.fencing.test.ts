// Fencing a rule worker that lost its lease without knowing it yet (issue 21 point 4;
// contracts/cluster.ts "FENCING"), on a real redis-server: every new holder of a partition gets a
// new lease term; acknowledgements and snapshots under an old term are refused by Redis, and a
// worker whose partition moved to a new term handles none of the records it reads afterwards —
// they stay pending and its successor handles them, once.
import pino from 'pino';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeFrame, LOG_START, type PartitionedLog } from '../contracts/cluster.ts';
import { createRedisLog } from '../journal/redis-log.ts';
import { createRuleWorker, type RuleWorker } from '../worker/index.ts';
import { startTestRedis, type TestRedis } from './support/redis.ts';
import { recordingLanes } from './support/lanes.ts';
import { waitFor } from './support/wait.ts';

let redis: TestRedis;
let db: Redis;
const open: Array<PartitionedLog | RuleWorker> = [];
beforeAll(async () => {
  redis = await startTestRedis({ durable: true });
  db = new Redis(redis.url);
}, 30_000);
afterAll(async () => {
  for (const x of open.reverse()) await x.stop();
  db?.disconnect();
  await redis?.stop();
});

const frame = (n: number): Buffer => encodeFrame({ deviceId: 'sd-1', topic: 'v1/devices/sd-1/telemetry', payload: Buffer.from(`r${n}`), qos: 1, retain: false, receivedAt: 1_700_000_000_000 + n });

async function logOf(prefix: string): Promise<PartitionedLog> {
  const log = createRedisLog({ redisUrl: redis.url, partitions: 1, prefix });
  await log.start();
  open.push(log);
  return log;
}

function recorder(log: PartitionedLog, name: string, leaseMs: number) {
  const seen: string[] = [];
  const warnings: Array<{ msg: string; partition?: number }> = [];
  const lanes = recordingLanes(seen);
  const logger = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(JSON.parse(line) as { msg: string }) });
  const worker = createRuleWorker({ log, lanes, worker: name, durable: (done) => done(), shipped: (done) => done(), logger, metrics: new Registry(), leaseMs, blockMs: 50 });
  open.push(worker);
  return { worker, seen, warnings };
}

describe('lease terms', () => {
  it('a new term for every new holder; the same for a renewal, and for a holder back after a lapse nobody used', async () => {
    const log = await logOf('f1:');
    expect(await log.terms([0])).toEqual([0]);
    expect(await log.claimTerm(0, 'a', 60_000)).toBe(1);
    expect(await log.claimTerm(0, 'a', 60_000, 1)).toBe(1);
    expect(await log.claimTerm(0, 'b', 60_000)).toBe(0);
    // a's lease runs out (deleted here) and nobody takes it: a keeps its term and its state.
    await db.del('f1:lease:{0}');
    expect(await log.claimTerm(0, 'a', 60_000, 1)).toBe(1);
    // It runs out again and b takes it: a new term; a, back later, gets another (its state is behind).
    await db.del('f1:lease:{0}');
    expect(await log.claimTerm(0, 'b', 60_000)).toBe(2);
    await log.release(0, 'b');
    expect(await log.claimTerm(0, 'a', 60_000, 1)).toBe(3);
    expect(await log.terms([0])).toEqual([3]);
    expect(await log.claim(0, 'a', 60_000)).toBe(true);
  });

  it('refuses an acknowledgement or a snapshot under a term that is over, and changes nothing', async () => {
    const log = await logOf('f2:');
    expect(await log.claimTerm(0, 'a', 60_000)).toBe(1);
    for (let i = 0; i < 3; i++) await log.append('site-1', frame(i));
    const read = await log.readNew(0, 'a', { count: 10, blockMs: 50 });
    expect(await log.ack(0, [read[0]!.offset], 1)).toBe(true);
    // b takes the partition over (a's lease ran out): a's late acknowledgement would otherwise
    // acknowledge records b now holds pending, and which b has not handled yet.
    await db.del('f2:lease:{0}');
    expect(await log.claimTerm(0, 'b', 60_000)).toBe(2);
    expect(await log.ack(0, read.slice(1).map((r) => r.offset), 1)).toBe(false);
    expect(((await db.xpending('f2:log:{0}', 'rules')) as [number])[0]).toBe(2);
    expect(await log.saveSnapshot(0, 1, Buffer.from('old state'))).toBe(false);
    expect(await log.loadSnapshot(0)).toBeUndefined();
    expect(await log.ack(0, read.slice(1).map((r) => r.offset), 2)).toBe(true);
    expect(((await db.xpending('f2:log:{0}', 'rules')) as [number])[0]).toBe(0);
    expect(await log.saveSnapshot(0, 2, Buffer.from('new state'))).toBe(true);
  });
});

describe('a worker that lost its lease without knowing it', () => {
  it('handles nothing under the old term: its records stay pending and the next owner handles each once', async () => {
    const log = await logOf('f3:');
    // A long lease: a would not renew (and so learn of the loss) for 20 s.
    const a = recorder(log, 'a', 60_000);
    await a.worker.start();
    expect(a.worker.owned().get(0)).toBe(true);
    await log.append('site-1', frame(0));
    await waitFor(() => a.seen.includes('handle r0'), { what: 'a to handle r0' });
    await waitFor(async () => ((await db.xpending('f3:log:{0}', 'rules')) as [number])[0] === 0, { what: 'r0 acknowledged' });

    // a stalls; its lease lapses and another worker takes the partition (a new term).
    await db.del('f3:lease:{0}');
    expect(await log.claimTerm(0, 'thief', 60_000)).toBe(2);
    await log.append('site-1', frame(1));
    // a reads r1 (it still thinks the partition is its own) and finds the term moved on.
    await waitFor(() => a.warnings.find((w) => /new lease term/.test(w.msg)), { what: 'a to find the term moved on' });
    expect(a.worker.owned().has(0)).toBe(false);
    expect(a.seen).toEqual(['handle r0']);
    const pending = (await db.xpending('f3:log:{0}', 'rules', '-', '+', 10)) as Array<[string, string]>;
    expect(pending.map(([, consumer]) => consumer)).toEqual(['a']);

    // The next owner takes r1 over and handles it; r0 it replays, storing its reading again: a
    // never saved a stored mark (its renewals are 20 s apart), so r0 may be in its journal only.
    await log.release(0, 'thief');
    const b = recorder(log, 'b', 300);
    await b.worker.start();
    await waitFor(() => b.seen.includes('handle r1'), { what: 'b to handle r1' });
    expect(b.seen).toEqual(['restore r0', 'handle r1']);
    await waitFor(async () => ((await db.xpending('f3:log:{0}', 'rules')) as [number])[0] === 0, { what: 'r1 acknowledged under b\'s term' });
    expect(await log.terms([0])).toEqual([3]);
    expect((await log.read(0, LOG_START, 10)).length).toBe(2);
  });
});
