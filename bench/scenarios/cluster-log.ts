// Issue 21 point 4: what the partitioned log (journal/redis-log.ts, Redis Streams) costs a PUBACK
// in cluster mode, on this machine's disk, beside the local journal's figures (scenario journal).
// A real redis-server on loopback, with `appendfsync always` (durable: what the log requires) and
// with the append-only file off (the floor: network round trip and XADD alone). For each: one
// append at a time (the price of one fsync'd write with nobody to share it), then steady streams
// at each rate over 1 ms ticks, as a gateway's sockets deliver readings: the wait from append() to
// its acknowledgement p50/p99/max. Frames ≈ 200 bytes (a smoke detector's telemetry JSON) of
// 5,000 sites over 64 partitions.
import { createRedisLog } from '../../journal/redis-log.ts';
import type { PartitionedLog } from '../../contracts/cluster.ts';
import { startTestRedis } from '../../tests/support/redis.ts';
import type { ScenarioResult } from '../lib/report.ts';
import { percentiles } from '../lib/stats.ts';

export interface ClusterLogOptions {
  rates: number[];
  seconds: number;
}

interface Run {
  fsync: boolean;
  rate: number | 'one at a time';
  appends: number;
  waitMs: { n: number; p50: number | null; p99: number | null; max: number | null };
  achievedPerSec: number;
}

const frame = (i: number): Buffer => Buffer.from(JSON.stringify({ seq: i, ts: 1_796_600_000_000 + i, smoke: 0.01, temp: 21, humidity: 41.5, battery: 90, rssi: -71, v: '1.4.2', pad: 'x'.repeat(60) }));

async function withLog<T>(fsync: boolean, fn: (log: PartitionedLog) => Promise<T>): Promise<T> {
  const redis = await startTestRedis({ durable: fsync });
  const log = createRedisLog({ redisUrl: redis.url, partitions: 64, requireFsync: fsync });
  await log.start();
  try {
    return await fn(log);
  } finally {
    await log.stop();
    await redis.stop();
  }
}

async function oneAtATime(fsync: boolean, n: number): Promise<Run> {
  return withLog(fsync, async (log) => {
    const waits: number[] = [];
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      await log.append(`site-${i % 5000}`, frame(i));
      waits.push(performance.now() - t);
    }
    return { fsync, rate: 'one at a time', appends: n, waitMs: percentiles(waits), achievedPerSec: Math.round(n / ((performance.now() - t0) / 1000)) };
  });
}

async function stream(fsync: boolean, rate: number, seconds: number): Promise<Run> {
  return withLog(fsync, async (log) => {
    const waits: number[] = [];
    const pending: Array<Promise<void>> = [];
    let sent = 0;
    let owed = 0;
    const t0 = performance.now();
    let last = t0;
    await new Promise<void>((done) => {
      const tick = setInterval(() => {
        const now = performance.now();
        owed += ((now - last) / 1000) * rate;
        last = now;
        for (; owed >= 1; owed--) {
          const t = performance.now();
          const i = sent++;
          pending.push(log.append(`site-${i % 5000}`, frame(i)).then(() => {
            waits.push(performance.now() - t);
          }));
        }
        if (now - t0 >= seconds * 1000) {
          clearInterval(tick);
          done();
        }
      }, 1);
    });
    await Promise.all(pending);
    return { fsync, rate, appends: sent, waitMs: percentiles(waits), achievedPerSec: Math.round(sent / ((performance.now() - t0) / 1000)) };
  });
}

export async function clusterLog(o: ClusterLogOptions, log: (s: string) => void): Promise<ScenarioResult> {
  const runs: Run[] = [];
  for (const fsync of [true, false]) {
    const r = await oneAtATime(fsync, 300);
    runs.push(r);
    log(`cluster-log fsync ${fsync ? 'always' : 'off'}, one at a time: wait p50 ${r.waitMs.p50} p99 ${r.waitMs.p99} max ${r.waitMs.max} ms`);
    for (const rate of o.rates) {
      const s = await stream(fsync, rate, o.seconds);
      runs.push(s);
      log(`cluster-log fsync ${fsync ? 'always' : 'off'} @ ${rate}/s: wait p50 ${s.waitMs.p50} p99 ${s.waitMs.p99} max ${s.waitMs.max} ms (${s.achievedPerSec}/s achieved)`);
    }
  }
  const fmt = (x: number | null | undefined): string => (x === null || x === undefined ? 'n/a' : String(x));
  const top = runs.filter((r) => r.fsync).at(-1);
  return {
    scenario: 'cluster-log',
    targets: [{ what: 'PUBACK wait for the partitioned log (appendfsync always) at the highest rate, p99', target: 'reported (issue 21 point 4: a PUBACK means the reading is in the log)', measured: `${fmt(top?.waitMs.p99)} ms at ${top?.rate}/s`, met: null }],
    summary: [
      '| Redis AOF | offered | append → ack p50 / p99 / max (ms) | achieved/s |',
      '|---|---|---|---|',
      ...runs.map((r) => `| ${r.fsync ? 'appendfsync always' : 'off'} | ${r.rate === 'one at a time' ? 'one at a time' : `${r.rate}/s`} | ${fmt(r.waitMs.p50)} / ${fmt(r.waitMs.p99)} / ${fmt(r.waitMs.max)} | ${r.achievedPerSec} |`),
      '',
      'Redis fsyncs the append-only file once per event-loop turn, before it answers that turn\'s writes, and ioredis pipelines the appends of one JavaScript turn: a group commit, as the local journal does. One Redis, one process on this machine, loopback: no replica, no network between gateway and Redis.',
    ],
    data: { options: o, runs },
  };
}
