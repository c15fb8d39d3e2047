// Issue 21 point 5, the scheduler: every node of a cluster runs node-cron with the same plan, and
// each firing — a job at its scheduled second, or a report's catch-up for its period — is run by
// exactly one node, claimed in the real Redis the nodes share (app/claims.ts). Without Redis the
// job runs anyway (a report made twice rather than a duty skipped).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { createRedisFiringClaims } from '../app/claims.ts';
import { createSchedules } from '../alerts/cron.ts';
import type { Reports } from '../alerts/reports.ts';
import type { Rosters } from '../alerts/roster.ts';
import type { RegistryReader } from '../contracts/ports.ts';
import { freePort } from '../ingest/influxd.ts';
import { startTestRedis, type TestRedis } from './support/redis.ts';
import { waitFor } from './support/wait.ts';

const TZ = 'Asia/Shanghai';
// 2026-12-01 09:00 in Shanghai: the daily (08:00) and monthly (08:05) reports are due.
const NOW = Date.parse('2026-12-01T09:00:00+08:00');
const silent = pino({ level: 'silent' });
const registry = { centers: () => [{ id: 'fc-1', name: 'x', timezone: TZ }], roster: () => undefined } as unknown as RegistryReader;
const rosters = { timezoneOf: () => TZ } as unknown as Rosters;

let redis: TestRedis;
const closers: Array<() => Promise<void>> = [];
beforeAll(async () => {
  redis = await startTestRedis();
});
afterAll(async () => {
  for (const c of closers) await c();
  await redis?.stop();
});

function node(name: string, redisUrl: string, made: string[], job?: { pattern: string; ran: Array<[string, number]> }) {
  const claims = createRedisFiringClaims({ redisUrl, nodeId: name, logger: silent });
  closers.push(() => claims.close());
  const reports = {
    exists: async () => false,
    daily: (c: string, day: string) => { made.push(`${name} daily ${c} ${day}`); },
    monthlyRatings: (c: string, month: string) => { made.push(`${name} monthly ${c} ${month}`); },
    handover: () => undefined,
  } as unknown as Reports;
  const jobs = job ? [{ name: 'tick', pattern: job.pattern, timezone: TZ, run: () => { job.ran.push([name, Math.floor(Date.now() / 1000)]); } }] : [];
  return createSchedules({ registry, rosters, reports, clock: { now: () => NOW }, logger: silent, jobs, claims });
}

describe('scheduled jobs in a cluster', () => {
  it('runs each firing of a job on one node only, however many nodes schedule it', async () => {
    const ran: Array<[string, number]> = [];
    const made: string[] = [];
    // Three nodes, a job every second (node-cron's seconds field).
    const nodes = ['node-a', 'node-b', 'node-c'].map((n) => node(n, redis.url, made, { pattern: '* * * * * *', ran }));
    await Promise.all(nodes.map((n) => n.start()));
    try {
      await waitFor(() => new Set(ran.map(([, s]) => s)).size >= 4, { what: 'four firings', timeoutMs: 20_000 });
    } finally {
      await Promise.all(nodes.map((n) => n.stop()));
    }
    const perSecond = new Map<number, string[]>();
    for (const [who, s] of ran) perSecond.set(s, [...(perSecond.get(s) ?? []), who]);
    for (const [s, who] of perSecond) expect(who, `second ${s}`).toHaveLength(1);
    // And the catch-up at start: the due daily and monthly reports, each made by one node.
    expect(made.map((m) => m.split(' ').slice(1).join(' ')).sort()).toEqual(['daily fc-1 2026-11-30', 'monthly fc-1 2026-11']);
  }, 30_000);

  it('runs the job when Redis cannot be asked: a report made twice rather than a duty skipped', async () => {
    const made: string[] = [];
    // Nothing listens on this port.
    const s = node('node-x', `redis://127.0.0.1:${await freePort()}`, made);
    await s.start();
    await s.stop();
    await waitFor(() => made.length === 2, { what: 'the catch-up run without Redis' });
    expect(made.sort()).toEqual(['node-x daily fc-1 2026-11-30', 'node-x monthly fc-1 2026-11']);
  });
});
