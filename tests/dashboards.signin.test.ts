// Issue 16 point 3: sign-in under a flood. The guard's rules with hashes the test holds open (so
// "the queue is full" is a fact, not a race), then the real route: the audit log, 503/429 with
// Retry-After before any hashing, and the user at her usual desk getting in past a flood.
import { describe, it, expect, afterEach, vi } from 'vitest';
import { createLoginGuard, type LoginGuardOptions } from '../dashboards/login-guard.ts';
import { WatchfireError } from '../contracts/errors.ts';
import { makeServer, login, PASSWORD, USERS } from './dashboards.fixture.ts';

const OPTS: LoginGuardOptions = { concurrency: 2, queue: 2, perAddressInFlight: 2, perAddressFailuresPerMinute: 5, perAccountFailuresPerMinute: 3, maxWaitMs: 60_000 };

/** A hash the test finishes when it wants, with the outcome it wants. */
function held() {
  let finish!: (ok: boolean) => void;
  const p = new Promise<{ ok: boolean }>((resolve) => (finish = (ok) => resolve({ ok })));
  let started = false;
  return { verify: () => ((started = true), p), finish, get started() { return started; } };
}

async function refusal(p: Promise<unknown>): Promise<{ code: string; retryAfter: number }> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(WatchfireError);
  return err as WatchfireError & { retryAfter: number };
}

describe('login guard', () => {
  it('hashes at most `concurrency` at once, queues a bounded number and refuses the rest at once with 503', async () => {
    const g = createLoginGuard(OPTS, { now: () => 0 });
    const h = Array.from({ length: 4 }, held);
    const runs = h.map((x, i) => g.run(`10.0.0.${i}`, 'nobody', false, x.verify));
    await Promise.resolve();
    expect(h.map((x) => x.started)).toEqual([true, true, false, false]);
    expect(g.stats()).toEqual({ active: 2, queued: 2 });
    const busy = await refusal(g.run('10.0.0.9', 'nobody', false, held().verify));
    expect(busy).toMatchObject({ code: 'WF_HTTP_BUSY', retryAfter: 2 });
    h[0]!.finish(false);
    await runs[0];
    // The freed slot went to the first waiter; nothing else moved.
    expect(h.map((x) => x.started)).toEqual([true, true, true, false]);
    expect(g.stats()).toEqual({ active: 2, queued: 1 });
    for (const x of h) x.finish(false);
    await Promise.all(runs);
    expect(g.stats()).toEqual({ active: 0, queued: 0 });
  });

  it('serves a trusted address (signed in as that user before) first, even when the others lane is full', async () => {
    const g = createLoginGuard(OPTS, { now: () => 0 });
    const flood = Array.from({ length: 4 }, held);
    const runs = flood.map((x, i) => g.run(`198.51.100.${i}`, `x${i}`, false, x.verify));
    expect((await refusal(g.run('198.51.100.99', 'x', false, held().verify))).code).toBe('WF_HTTP_BUSY');
    const sup = held();
    const supRun = g.run('10.1.1.1', 'sup', true, sup.verify);
    await Promise.resolve();
    expect(sup.started).toBe(false);
    flood[0]!.finish(false);
    await runs[0];
    expect(sup.started).toBe(true);
    expect(flood[2]!.started).toBe(false);
    sup.finish(true);
    expect(await supRun).toEqual({ ok: true });
    for (const x of flood) x.finish(false);
    await Promise.all(runs);
  });

  it('answers 503 to a login still waiting for a slot after maxWaitMs, and leaves the queue to the rest', async () => {
    vi.useFakeTimers();
    try {
      const g = createLoginGuard({ ...OPTS, concurrency: 1, maxWaitMs: 10_000 }, { now: () => 0 });
      const first = held();
      const running = g.run('10.0.0.1', 'a', false, first.verify);
      const waiting = g.run('10.0.0.2', 'b', false, held().verify);
      const refused = refusal(waiting);
      vi.advanceTimersByTime(9_999);
      expect(g.stats()).toEqual({ active: 1, queued: 1 });
      vi.advanceTimersByTime(1);
      expect(await refused).toMatchObject({ code: 'WF_HTTP_BUSY', retryAfter: 2 });
      expect(g.stats()).toEqual({ active: 1, queued: 0 });
      first.finish(false);
      await running;
      expect(g.stats()).toEqual({ active: 0, queued: 0 });
    } finally {
      vi.useRealTimers();
    }
  });

  it('limits logins in flight per address (429), so one address cannot fill the queue', async () => {
    const g = createLoginGuard(OPTS, { now: () => 0 });
    const a = held();
    const b = held();
    const runs = [g.run('10.0.0.1', 'u', false, a.verify), g.run('10.0.0.1', 'v', false, b.verify)];
    expect(await refusal(g.run('10.0.0.1', 'w', false, held().verify))).toMatchObject({ code: 'WF_HTTP_RATE_LIMITED', retryAfter: 1 });
    a.finish(false);
    b.finish(false);
    await Promise.all(runs);
  });

  it('counts failures per address and per address + name in one-minute windows, never locking a user out from elsewhere', async () => {
    let now = 1_000_000;
    const g = createLoginGuard(OPTS, { now: () => now });
    const fail = () => Promise.resolve({ ok: false });
    const ok = () => Promise.resolve({ ok: true });
    for (let i = 0; i < 3; i++) await g.run('10.0.0.1', 'Sup', false, fail);
    now += 15_000;
    expect(await refusal(g.run('10.0.0.1', 'sup', false, ok))).toMatchObject({ code: 'WF_HTTP_RATE_LIMITED', retryAfter: 45 });
    // The same user from her own desk, and another name from the guessing address, still go through.
    expect(await g.run('10.0.0.2', 'sup', false, ok)).toEqual({ ok: true });
    await g.run('10.0.0.1', 'other', false, fail);
    await g.run('10.0.0.1', 'third', false, fail);
    // Five failures from the address: strangers from it are refused, a trusted pair is not.
    expect((await refusal(g.run('10.0.0.1', 'fourth', false, ok))).code).toBe('WF_HTTP_RATE_LIMITED');
    expect(await g.run('10.0.0.1', 'op', true, ok)).toEqual({ ok: true });
    now += 45_000;
    expect(await g.run('10.0.0.1', 'sup', false, ok)).toEqual({ ok: true });
  });
});

describe('sign-in route', () => {
  let ctx: Awaited<ReturnType<typeof makeServer>> | undefined;
  afterEach(async () => {
    await ctx?.close();
    ctx = undefined;
  });

  it('keeps an audit of every checked login, readable by admins only', async () => {
    ctx = await makeServer();
    const attempt = (username: string, password: string, remoteAddress: string) =>
      ctx!.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username, password }, remoteAddress, headers: { 'user-agent': 'test-agent' } });
    expect((await attempt('op', 'wrong one', '192.0.2.7')).statusCode).toBe(401);
    expect((await attempt('ghost', 'whatever', '192.0.2.8')).statusCode).toBe(401);
    expect((await attempt('op', PASSWORD, '192.0.2.7')).statusCode).toBe(200);
    const admin = await login(ctx.app, USERS.admin.username);
    const op = await login(ctx.app, USERS.operator.username);
    const read = (who: { cookie: string }, q = '') => ctx!.app.inject({ method: 'GET', url: `/api/auth/audit${q}`, headers: { cookie: who.cookie } });
    expect((await read(op)).statusCode).toBe(403);
    const res = await read(admin, '?limit=5');
    expect(res.statusCode).toBe(200);
    const entries = (res.json() as { entries: Array<{ username: string; address: string; outcome: string; userAgent: string | null }> }).entries;
    expect(entries.slice(2).map((e) => [e.username, e.address, e.outcome])).toEqual([
      ['op', '192.0.2.7', 'ok'],
      ['ghost', '192.0.2.8', 'unknown_user'],
      ['op', '192.0.2.7', 'wrong_password'],
    ]);
    expect(entries[2]!.userAgent).toBe('test-agent');
    const onlyOp = (await read(admin, '?username=op')).json() as { entries: Array<{ username: string }> };
    expect(onlyOp.entries.every((e) => e.username === 'op')).toBe(true);
  });

  it('answers a flood of unknown names with 401 or a fast 503 + Retry-After, then lets the supervisor in from her desk', async () => {
    // One hashing slot and one waiting place, at a cost that takes a while: the flood overflows.
    ctx = await makeServer({ passwordCost: { N: 2 ** 14, r: 8, p: 1 }, config: { login: { concurrency: 1, queue: 1, perAddressInFlight: 1, perAddressFailuresPerMinute: 30, perAccountFailuresPerMinute: 10, maxWaitMs: 600_000, auditMaxRows: 1000 } } });
    const c = ctx;
    const attempt = (username: string, password: string, remoteAddress: string) =>
      c.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username, password }, remoteAddress });
    // The supervisor signed in from her desk yesterday (fixture users hash at the test cost).
    expect((await attempt('sup', PASSWORD, '10.20.0.5')).statusCode).toBe(200);
    const floodRuns = Array.from({ length: 40 }, (_, i) => attempt(`nobody${i}`, 'guess', `203.0.113.${i}`));
    const supRun = attempt('sup', PASSWORD, '10.20.0.5');
    const flood = await Promise.all(floodRuns);
    expect((await supRun).statusCode).toBe(200);
    const statuses = flood.map((r) => r.statusCode);
    expect(statuses.every((s) => s === 401 || s === 503)).toBe(true);
    const busy = flood.filter((r) => r.statusCode === 503);
    expect(busy.length).toBeGreaterThan(0);
    for (const r of busy) {
      expect(r.json()).toMatchObject({ code: 'WF_HTTP_BUSY' });
      expect(r.headers['retry-after']).toBe('2');
    }
    const m = await c.metrics.getSingleMetricAsString('watchfire_http_logins_total');
    expect(m).toContain(`outcome="busy"} ${busy.length}`);
    // The refused never reached the audit: only checked logins are rows.
    const audit = c.db.prepare('SELECT COUNT(*) AS n FROM login_audit').get() as { n: number };
    expect(audit.n).toBe(2 + statuses.filter((s) => s === 401).length);
  });
});
