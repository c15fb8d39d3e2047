// Issue 21 point 4, the rule worker (worker/rule-worker.ts) on a real redis-server, with lanes that
// record what they are given: a new owner replays what the dead one acknowledged (side effects
// off), handles what it had read and never acknowledged in its place in the order (at least once),
// then what was never read, then what comes; a clean stop gives the partitions back at once. And
// the gateway's side (journal/log-appender.ts): a PUBACK's durable wait ends once the log has the
// frame, byte for byte, or with the error when it could not take it.
import { Redis } from 'ioredis';
import pino from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeFrame, encodeFrame, LOG_START, type PartitionedLog } from '../contracts/cluster.ts';
import type { Frame } from '../contracts/ports.ts';
import type { DeviceInfo } from '../contracts/registry.ts';
import { createLogAppender } from '../journal/log-appender.ts';
import { createRedisLog } from '../journal/redis-log.ts';
import { createRuleWorker, type RuleWorker } from '../worker/index.ts';
import { startTestRedis, type TestRedis } from './support/redis.ts';
import { recordingLanes } from './support/lanes.ts';
import { waitFor } from './support/wait.ts';

let redis: TestRedis;
const open: Array<Pick<PartitionedLog | RuleWorker, 'stop'>> = [];
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
  const lanes = recordingLanes(seen, (p) => ({ close: () => void closed.push(p) }));
  const worker = createRuleWorker({ log, lanes, worker: name, durable: (done) => done(), shipped: (done) => done(), logger: pino({ level: 'silent' }), metrics: new Registry(), leaseMs, blockMs: 50 });
  open.push(worker);
  return { worker, seen, closed };
}

describe('the rule worker', () => {
  it("takes a dead owner's partition: replays what it acknowledged, stores again what it had not shipped, handles what it left pending, then the rest", async () => {
    const log = await logOf('w1:');
    // A previous owner (by hand): read r0..r5, handled and acknowledged r0..r2, had r0 and r1 in
    // InfluxDB (its stored mark) and r2 in its journal only, died.
    const term = await log.claimTerm(0, 'dead', 200);
    expect(term).toBeGreaterThan(0);
    for (let i = 0; i < 6; i++) await log.append('site-1', frame(i));
    const read = await log.readNew(0, 'dead', { count: 100, blockMs: 50 });
    expect(read).toHaveLength(6);
    await log.ack(0, read.slice(0, 3).map((r) => r.offset));
    expect(await log.saveStored(0, term, read[1]!.offset)).toBe(true);
    // Appended after it died, never read by anyone.
    for (let i = 6; i < 8; i++) await log.append('site-1', frame(i));

    const next = recorder(log, 'next');
    await next.worker.start();
    await waitFor(() => next.worker.owned().get(0) === true, { what: 'the lease to run out and the partition to move' });
    await log.append('site-1', frame(8));
    await waitFor(() => next.seen.length === 9, { what: 'r8 handled' });
    expect(next.seen).toEqual([
      'replay r0', 'replay r1', 'restore r2',
      'handle r3', 'handle r4', 'handle r5',
      'handle r6', 'handle r7', 'handle r8',
    ]);
    await waitFor(async () => (await log.takeOver(0, 'probe', 100)).length === 0, { what: 'nothing left pending' });

    // A clean stop saves its stored mark (all nine shipped here) and releases at once: the next
    // worker need not wait for the lease, and replays all without storing anything again.
    await next.worker.stop();
    expect(next.closed).toEqual([0]);
    expect(await log.owner(0)).toBeUndefined();
    const third = recorder(log, 'third', 60_000);
    await third.worker.start();
    expect(third.worker.owned().get(0)).toBe(true);
    expect(third.seen).toEqual(Array.from({ length: 9 }, (_, i) => `replay r${i}`));
  });

  it('shares the partitions fairly and hands them over mid-stream without losing or handling any record twice', async () => {
    const log = await logOf('w2:', 4);
    const a = recorder(log, 'a');
    await a.worker.start();
    expect([...a.worker.owned().keys()].sort()).toEqual([0, 1, 2, 3]);
    const sites = Array.from({ length: 40 }, (_, i) => `site-${i}`);
    for (let i = 0; i < 40; i++) await log.append(sites[i]!, frame(i));
    await waitFor(() => a.seen.length === 40, { what: 'a to handle the first 40' });
    // b joins while records keep coming: a gives two partitions back mid-stream.
    let n = 40;
    let appending = true;
    const stream = (async () => {
      while (appending) {
        await log.append(sites[n % 40]!, frame(n));
        n++;
      }
    })();
    const b = recorder(log, 'b');
    await b.worker.start();
    await waitFor(() => a.worker.owned().size === 2 && [...b.worker.owned().values()].filter(Boolean).length === 2, { what: 'two partitions each' });
    appending = false;
    await stream;
    const handledAll = () => [...a.seen, ...b.seen].filter((s) => s.startsWith('handle'));
    await waitFor(() => handledAll().length >= n, { what: `all ${n} handled` });
    expect(handledAll().map((s) => s.slice(7)).sort()).toEqual(Array.from({ length: n }, (_, i) => `r${i}`).sort());
    // b rebuilt its two partitions from what a had handled there, without handling it again.
    expect(b.seen.filter((s) => s.startsWith('replay')).length).toBeGreaterThan(0);
  });
});

describe('acknowledging once what a record raised is recorded', () => {
  it('leaves handled records pending while their findings are not committed, so the next owner handles them again; acknowledges once they are', async () => {
    const log = await logOf('w3:');
    const db = new Redis(redis.url);
    open.push({ stop: async () => void db.disconnect() });
    // a's alerts take their time (a PostgreSQL that is slow, or gone): the barrier opens when the test says.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const seenA: string[] = [];
    const lanes = recordingLanes(seenA);
    const a = createRuleWorker({ log, lanes, worker: 'a', durable: (done) => done(), shipped: (done) => done(), recorded: () => gate, logger: pino({ level: 'silent' }), metrics: new Registry(), leaseMs: 300, blockMs: 50 });
    await a.start();
    for (let i = 0; i < 3; i++) await log.append('site-1', frame(i));
    await waitFor(() => seenA.length === 3, { what: 'a to handle r0..r2' });
    // Scoring goes on meanwhile: the read loop does not wait for the barrier.
    await log.append('site-1', frame(3));
    await waitFor(() => seenA.length === 4, { what: 'a to handle r3 while r0..r2 wait' });
    const pendingNow = async (): Promise<number> => ((await db.xpending('w3:log:{0}', 'rules')) as [number])[0];
    expect(await pendingNow()).toBe(4);
    // a dies before its alerts committed: the next owner handles r0..r3 again, it does not replay them.
    await a.halt();
    const b = recorder(log, 'b');
    await b.worker.start();
    await waitFor(() => b.seen.length === 4, { what: 'b to take the partition and handle what a left' });
    expect(b.seen).toEqual(['handle r0', 'handle r1', 'handle r2', 'handle r3']);
    await waitFor(async () => (await pendingNow()) === 0, { what: 'b to acknowledge them' });
    // a's barrier opening late acknowledges nothing under its old term.
    release();
    expect(await pendingNow()).toBe(0);
  });
});

describe("the gateway's appender", () => {
  const durable = (a: { durable(done: (err?: Error) => void): void }): Promise<Error | undefined> => new Promise((r) => a.durable((err) => r(err)));
  const directory = { get: (id: string) => (id.startsWith('unknown') ? undefined : ({ id, siteId: `site-${id}` } as DeviceInfo)) };

  it('acknowledges once every frame is in its site\'s partition, frames intact; a frame of an unknown device goes to the local ingest', async () => {
    const log = await logOf('ap1:', 4);
    const local: Frame[] = [];
    let localWaits = 0;
    const appender = createLogAppender({
      log, directory, local: { accept: (f) => (local.push(f), { accepted: 0, rejected: 1, duplicates: 0 }) },
      localDurable: (done) => (localWaits++, done()), logger: pino({ level: 'silent' }), metrics: new Registry(),
    });
    const frames: Frame[] = Array.from({ length: 50 }, (_, i) => ({
      deviceId: `d${i % 7}`, topic: `v1/devices/d${i % 7}/telemetry`, payload: Buffer.from(JSON.stringify({ seq: i })), qos: 1, retain: false, receivedAt: 1_700_000_000_000 + i,
      ...(i === 3 ? { source: 'gbt26875' as const } : {}), ...(i === 4 ? { oversize: { bytes: 300_000, limit: 262_144 } } : {}),
    }));
    for (const f of frames) appender.accept(f);
    expect(await durable(appender)).toBeUndefined();
    expect(localWaits).toBe(0);
    const back: Frame[] = [];
    for (let p = 0; p < 4; p++) for (const r of await log.read(p, LOG_START, 1000)) back.push(decodeFrame(r.frame));
    expect(back.sort((a, b) => a.receivedAt - b.receivedAt)).toEqual(frames);
    appender.accept({ ...frames[0]!, deviceId: 'unknown-1' });
    expect(await durable(appender)).toBeUndefined();
    expect(local.map((f) => f.deviceId)).toEqual(['unknown-1']);
    expect(localWaits).toBe(1);
  });

  it('answers a durable wait with the error when the log could not take a frame', async () => {
    const log = createRedisLog({ redisUrl: redis.url, partitions: 2, prefix: 'ap2:' });
    await log.start();
    const appender = createLogAppender({
      log, directory, local: { accept: () => ({ accepted: 0, rejected: 1, duplicates: 0 }) }, localDurable: (done) => done(), logger: pino({ level: 'silent' }), metrics: new Registry(),
    });
    appender.accept({ deviceId: 'd1', topic: 'v1/devices/d1/telemetry', payload: Buffer.from('{}'), qos: 1, retain: false, receivedAt: 1 });
    expect(await durable(appender)).toBeUndefined();
    await log.stop();
    appender.accept({ deviceId: 'd1', topic: 'v1/devices/d1/telemetry', payload: Buffer.from('{}'), qos: 1, retain: false, receivedAt: 2 });
    expect(await durable(appender)).toBeInstanceOf(Error);
    // A later wait is not failed by an error already reported.
    expect(await durable(appender)).toBeUndefined();
  });
});
