// Issue 21 point 4, the rule worker (worker/rule-worker.ts) on a real redis-server, with lanes that
// record what they are given: a new owner replays what the dead one acknowledged (side effects
// off), handles what it had read and never acknowledged in its place in the order (at least once),
// then what was never read, then what comes; a clean stop gives the partitions back at once.
import pino from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeFrame, type PartitionedLog, type PartitionLanes } from '../contracts/cluster.ts';
import { createRedisLog } from '../journal/redis-log.ts';
import { createRuleWorker, type RuleWorker } from '../worker/index.ts';
import { startTestRedis, type TestRedis } from './support/redis.ts';
import { waitFor } from './support/wait.ts';

let redis: TestRedis;
const open: Array<PartitionedLog | RuleWorker> = [];
beforeAll(async () => {
  redis = await startTestRedis({ durable: true });
}, 30_000);
afterAll(async () => {
  for (const x of open.reverse()) await x.stop();
  await redis?.stop();
});

const frame = (n: number): Buffer => encodeFrame({ deviceId: 'sd-1', topic: 'v1/devices/sd-1/telemetry', payload: Buffer.from(`r${n}`), qos: 1, retain: false, receivedAt: 1_700_000_000_000 + n });

async function logOf(prefix: string, partitions = 1): Promise<PartitionedLog> {
  const log = createRedisLog({ redisUrl: redis.url, partitions, prefix });
  await log.start();
  open.push(log);
  return log;
}

/** A worker whose lanes write down what they were given, as `replay r3` / `handle r3`. */
function recorder(log: PartitionedLog, name: string, leaseMs = 300): { worker: RuleWorker; seen: string[]; closed: number[] } {
  const seen: string[] = [];
  const closed: number[] = [];
  const lanes: PartitionLanes = (p) => ({
    replay: (f) => seen.push(`replay ${f.payload.toString()}`),
    handle: (f) => seen.push(`handle ${f.payload.toString()}`),
    close: () => closed.push(p),
  });
  const worker = createRuleWorker({ log, lanes, worker: name, durable: (done) => done(), logger: pino({ level: 'silent' }), metrics: new Registry(), leaseMs, blockMs: 50 });
  open.push(worker);
  return { worker, seen, closed };
}

describe('the rule worker', () => {
  it("takes a dead owner's partition: replays what it acknowledged, handles what it left pending, then the rest", async () => {
    const log = await logOf('w1:');
    // A previous owner (by hand): read r0..r5, handled and acknowledged r0..r2, died.
    expect(await log.claim(0, 'dead', 200)).toBe(true);
    for (let i = 0; i < 6; i++) await log.append('site-1', frame(i));
    const read = await log.readNew(0, 'dead', { count: 100, blockMs: 50 });
    expect(read).toHaveLength(6);
    await log.ack(0, read.slice(0, 3).map((r) => r.offset));
    // Appended after it died, never read by anyone.
    for (let i = 6; i < 8; i++) await log.append('site-1', frame(i));

    const next = recorder(log, 'next');
    await next.worker.start();
    await waitFor(() => next.worker.owned().get(0) === true, { what: 'the lease to run out and the partition to move' });
    await log.append('site-1', frame(8));
    await waitFor(() => next.seen.length === 9, { what: 'r8 handled' });
    expect(next.seen).toEqual([
      'replay r0', 'replay r1', 'replay r2',
      'handle r3', 'handle r4', 'handle r5',
      'handle r6', 'handle r7', 'handle r8',
    ]);
    await waitFor(async () => (await log.takeOver(0, 'probe', 100)).length === 0, { what: 'nothing left pending' });

    // A clean stop releases at once: the next worker need not wait for the lease, and replays all.
    await next.worker.stop();
    expect(next.closed).toEqual([0]);
    expect(await log.owner(0)).toBeUndefined();
    const third = recorder(log, 'third', 60_000);
    await third.worker.start();
    expect(third.worker.owned().get(0)).toBe(true);
    expect(third.seen).toEqual(Array.from({ length: 9 }, (_, i) => `replay r${i}`));
  });

  it('shares the partitions fairly and hands one over without handling any record twice', async () => {
    const log = await logOf('w2:', 4);
    const a = recorder(log, 'a');
    await a.worker.start();
    expect([...a.worker.owned().keys()].sort()).toEqual([0, 1, 2, 3]);
    const sites = Array.from({ length: 40 }, (_, i) => `site-${i}`);
    for (let i = 0; i < 40; i++) await log.append(sites[i]!, frame(i));
    await waitFor(() => a.seen.length === 40, { what: 'a to handle the first 40' });
    const b = recorder(log, 'b');
    await b.worker.start();
    await waitFor(() => a.worker.owned().size === 2 && [...b.worker.owned().values()].filter(Boolean).length === 2, { what: 'two partitions each' });
    for (let i = 40; i < 80; i++) await log.append(sites[i % 40]!, frame(i));
    await waitFor(() => a.seen.filter((s) => s.startsWith('handle')).length + b.seen.filter((s) => s.startsWith('handle')).length === 80, { what: 'all 80 handled' });
    const handled = [...a.seen, ...b.seen].filter((s) => s.startsWith('handle')).map((s) => s.slice(7)).sort();
    expect(handled).toEqual(Array.from({ length: 80 }, (_, i) => `r${i}`).sort());
    // b rebuilt its two partitions from what a had handled there, without handling it again.
    expect(b.seen.filter((s) => s.startsWith('replay')).length).toBeGreaterThan(0);
  });
});
