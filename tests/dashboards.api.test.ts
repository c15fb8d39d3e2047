// The HTTP API through inject(): who may call what, CSRF, the login rate limit, and answers to bad
// input (400 with field and reason, 404, 409) that leave nothing half-written.
import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { USER_ROLES } from '../dashboards/index.ts';
import { makeServer, login, USERS, PASSWORD, LOW_BATTERY, type Session } from './dashboards.fixture.ts';

type Ctx = Awaited<ReturnType<typeof makeServer>>;

const asJson = (r: { body: string }) => JSON.parse(r.body) as Record<string, unknown> & { code?: string; errors?: Array<{ field: string; in: string; reason: string }> };

describe('dashboards API', () => {
  let ctx: Ctx;
  let s: Record<(typeof USER_ROLES)[number], Session>;
  beforeEach(async () => {
    ctx = await makeServer();
    s = {
      operator: await login(ctx.app, USERS.operator.username),
      grid_worker: await login(ctx.app, USERS.grid_worker.username),
      supervisor: await login(ctx.app, USERS.supervisor.username),
      admin: await login(ctx.app, USERS.admin.username),
    };
  });
  afterEach(async () => {
    await ctx.close();
  });

  const call = (method: 'GET' | 'POST' | 'PUT', url: string, who: Session | undefined, payload?: unknown, opts: { csrf?: string | null } = {}) =>
    ctx.app.inject({
      method,
      url,
      headers: {
        ...(who ? { cookie: who.cookie } : {}),
        ...(opts.csrf !== null && who ? { 'x-csrf-token': opts.csrf ?? who.csrf } : {}),
      },
      ...(payload !== undefined ? { payload: payload as Record<string, unknown> } : {}),
    });

  it('every API route declares its roles, and every write route refuses each role it does not list', async () => {
    const routes = ctx.server.routes().filter((r) => r.url.startsWith('/api/'));
    expect(routes.length).toBeGreaterThan(10);
    for (const r of routes) expect(r.roles, `${r.method} ${r.url}`).toBeDefined();
    // Logout last: it ends the session the other calls use.
    const writes = routes.filter((r) => r.method !== 'GET' && r.roles !== 'public').sort((a, b) => Number(a.url === '/api/auth/logout') - Number(b.url === '/api/auth/logout'));
    expect(writes.map((w) => w.url)).toEqual(expect.arrayContaining(['/api/incidents/:id/acknowledge', '/api/incidents/:id/resolve', '/api/incidents/:id/review', '/api/users']));
    const inc = await ctx.raise('sd-1');
    let refusals = 0;
    for (const w of writes) {
      const url = w.url.replace(':id', inc.id);
      for (const role of USER_ROLES) {
        const res = await call(w.method as 'POST', url, s[role], {});
        const allowed = (w.roles as readonly string[]).includes(role);
        if (allowed) {
          expect([401, 403], `${role} ${w.method} ${w.url} → ${res.statusCode} ${res.body}`).not.toContain(res.statusCode);
        } else {
          expect(res.statusCode, `${role} ${w.method} ${w.url}`).toBe(403);
          expect(asJson(res).code).toBe('WF_HTTP_FORBIDDEN');
          refusals++;
        }
      }
    }
    expect(refusals).toBeGreaterThan(10);
    // The refused calls changed nothing: only what allowed roles did is in the trail.
    expect((await ctx.incidents.timeline(inc.id)).every((e) => ['system', 'op1', 'w1', 'sup1'].includes(e.actor))).toBe(true);
  });

  it('refuses writes without a session (401) and without or with a wrong CSRF token (403)', async () => {
    const inc = await ctx.raise('sd-1');
    const url = `/api/incidents/${inc.id}/acknowledge`;
    expect((await call('POST', url, undefined, {})).statusCode).toBe(401);
    const noToken = await call('POST', url, s.operator, {}, { csrf: null });
    expect(noToken.statusCode).toBe(403);
    expect(asJson(noToken).code).toBe('WF_HTTP_CSRF');
    const otherSessions = await call('POST', url, s.operator, {}, { csrf: s.supervisor.csrf });
    expect(asJson(otherSessions).code).toBe('WF_HTTP_CSRF');
    expect((await ctx.incidents.get(inc.id))!.state).toBe('open');
    const ok = await call('POST', url, s.operator, {});
    expect(ok.statusCode).toBe(200);
    expect(asJson(ok).state).toBe('acknowledged');
  });

  it('sets an HttpOnly, SameSite=Strict session cookie and forgets the session on logout', async () => {
    const res = await ctx.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'op', password: PASSWORD } });
    const c = res.cookies.find((x) => x.name === 'wf_session')!;
    expect(c.httpOnly).toBe(true);
    expect(c.sameSite).toBe('Strict');
    const me = await call('GET', '/api/session', s.operator);
    expect(asJson(me)).toMatchObject({ user: { username: 'op', role: 'operator' }, home: '/' });
    expect((await call('POST', '/api/auth/logout', s.operator, {})).statusCode).toBe(204);
    expect(asJson(await call('GET', '/api/session', s.operator)).user).toBeNull();
    expect((await call('GET', '/api/incidents', s.operator)).statusCode).toBe(401);
  });

  it('rate-limits login attempts per address and user name', async () => {
    const fresh = await makeServer();
    const attempt = (username: string, password: string) => fresh.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username, password } });
    for (let i = 0; i < 10; i++) expect((await attempt('op', `guess-${i}`)).statusCode).toBe(401);
    const limited = await attempt('op', PASSWORD);
    expect(limited.statusCode).toBe(429);
    expect(asJson(limited).code).toBe('WF_HTTP_RATE_LIMITED');
    expect(limited.headers['retry-after']).toBeDefined();
    // Another account from the same desk still logs in.
    expect((await attempt('sup', PASSWORD)).statusCode).toBe(200);
    expect(await fresh.metrics.getSingleMetricAsString('watchfire_http_logins_total')).toMatch(/outcome="rate_limited"} 1/);
    await fresh.close();
  });

  it('answers 400 with the field and the reason, and writes nothing', async () => {
    const inc = await ctx.raise('sd-1');
    const before = (await ctx.incidents.timeline(inc.id)).length;
    const bad = await call('POST', `/api/incidents/${inc.id}/resolve`, s.operator, { disposition: 'aliens', feedback: '   ' });
    expect(bad.statusCode).toBe(400);
    const body = asJson(bad);
    expect(body.code).toBe('WF_HTTP_VALIDATION');
    expect(body.errors!.map((e) => e.field).sort()).toEqual(['disposition', 'feedback']);
    for (const e of body.errors!) {
      expect(e.in).toBe('body');
      expect(e.reason.length).toBeGreaterThan(3);
    }
    const missing = await call('POST', `/api/incidents/${inc.id}/resolve`, s.operator, undefined);
    expect(missing.statusCode).toBe(400);
    const malformed = await ctx.app.inject({ method: 'POST', url: `/api/incidents/${inc.id}/resolve`, headers: { cookie: s.operator.cookie, 'x-csrf-token': s.operator.csrf, 'content-type': 'application/json' }, payload: '{"disposition":' });
    expect(malformed.statusCode).toBe(400);
    expect(asJson(malformed).code).toBe('WF_HTTP_VALIDATION');
    const badQuery = await call('GET', '/api/incidents?state=open,burning', s.operator);
    expect(badQuery.statusCode).toBe(400);
    expect(asJson(badQuery).errors![0]).toMatchObject({ field: 'state', in: 'querystring' });
    const nobody = await call('POST', `/api/incidents/${inc.id}/dispatch`, s.operator, { assignee: 'ghost' });
    expect(nobody.statusCode).toBe(400);
    expect(asJson(nobody).errors![0]!.field).toBe('assignee');
    expect(await ctx.incidents.get(inc.id)).toMatchObject({ state: 'open', assignee: null, disposition: null });
    expect(await ctx.incidents.timeline(inc.id)).toHaveLength(before);
  });

  it('answers 404 for an unknown incident or one of another center, 409 for a stale transition', async () => {
    expect(asJson(await call('GET', '/api/incidents/nope', s.operator)).code).toBe('WF_INCIDENT_NOT_FOUND');
    const unknown = await call('POST', '/api/incidents/nope/acknowledge', s.operator, {});
    expect(unknown.statusCode).toBe(404);
    const west = await ctx.raise('sd-9');
    expect((await call('POST', `/api/incidents/${west.id}/acknowledge`, s.operator, {})).statusCode).toBe(404);
    expect((await ctx.incidents.get(west.id))!.state).toBe('open');
    // The admin has no center: sees everything (read-only for incidents).
    expect((await call('GET', `/api/incidents/${west.id}`, s.admin)).statusCode).toBe(200);

    const inc = await ctx.raise('sd-1');
    const resolve = { disposition: 'nuisance', feedback: 'Burnt rice, window opened' };
    // The lifecycle is the alerts module's: an alarm nobody acknowledged cannot be closed.
    expect((await call('POST', `/api/incidents/${inc.id}/resolve`, s.operator, resolve)).statusCode).toBe(409);
    expect((await call('POST', `/api/incidents/${inc.id}/acknowledge`, s.operator, {})).statusCode).toBe(200);
    expect((await call('POST', `/api/incidents/${inc.id}/resolve`, s.operator, resolve)).statusCode).toBe(200);
    const trail = (await ctx.incidents.timeline(inc.id)).length;
    const stale = await call('POST', `/api/incidents/${inc.id}/resolve`, s.operator, { disposition: 'real_fire', feedback: 'again' });
    expect(stale.statusCode).toBe(409);
    expect(asJson(stale).code).toBe('WF_INCIDENT_TRANSITION');
    expect(await ctx.incidents.get(inc.id)).toMatchObject({ state: 'resolved', disposition: 'nuisance' });
    expect(await ctx.incidents.timeline(inc.id)).toHaveLength(trail);
    expect((await call('GET', '/api/no-such-route', s.operator)).statusCode).toBe(404);
  });

  it('runs the whole loop with the actor taken from the logged-in user', async () => {
    const inc = await ctx.raise('sd-1');
    const list = asJson(await call('GET', '/api/incidents?active=true&level=red', s.operator)) as { incidents: Array<{ id: string; context: { siteName: string; resident: { name: string }; gridWorkerId: string } }> };
    expect(list.incidents[0]).toMatchObject({ id: inc.id, context: { siteName: '梅园新村 3-2-401', resident: { name: '王秀英' }, gridWorkerId: 'w1' } });
    // The worker sees nothing before the dispatch.
    expect((asJson(await call('GET', '/api/incidents', s.grid_worker)) as { incidents: unknown[] }).incidents).toHaveLength(0);
    expect((await call('POST', `/api/incidents/${inc.id}/acknowledge`, s.operator, { note: 'calling the resident', actor: 'someone-else' })).statusCode).toBe(200);
    const d = await call('POST', `/api/incidents/${inc.id}/dispatch`, s.operator, {});
    expect(asJson(d)).toMatchObject({ state: 'dispatched', assignee: 'w1', context: { assigneeName: '张网格' } });
    const mine = asJson(await call('GET', '/api/incidents', s.grid_worker)) as { incidents: Array<{ id: string }> };
    expect(mine.incidents.map((i) => i.id)).toEqual([inc.id]);
    expect((await call('POST', `/api/incidents/${inc.id}/en-route`, s.grid_worker, {})).statusCode).toBe(200);
    expect(asJson(await call('POST', `/api/incidents/${inc.id}/on-site`, s.grid_worker, {})).state).toBe('on_site');
    expect(asJson(await call('POST', `/api/incidents/${inc.id}/resolve`, s.grid_worker, { disposition: 'nuisance', feedback: '锅烧干了，已关火通风' })).state).toBe('resolved');
    expect(asJson(await call('POST', `/api/incidents/${inc.id}/review`, s.supervisor, { note: 'ok' })).state).toBe('reviewed');
    const detail = asJson(await call('GET', `/api/incidents/${inc.id}`, s.operator)) as { timeline: Array<{ actor: string; action: string; actorName: string }> };
    expect(detail.timeline[0]).toMatchObject({ action: 'opened', actor: 'system' });
    const people = detail.timeline.filter((e) => e.actor !== 'system');
    expect(people.map((e) => [e.action, e.actor])).toEqual([
      ['acknowledge', 'op1'], ['dispatch', 'op1'], ['en_route', 'w1'], ['on_site', 'w1'], ['resolve', 'w1'], ['review', 'sup1'],
    ]);
    expect(people[0]!.actorName).toBe('陈值班');
  });

  it("does not let a grid worker act on someone else's task", async () => {
    const inc = await ctx.raise('sd-3');
    await call('POST', `/api/incidents/${inc.id}/acknowledge`, s.operator, {});
    expect((await call('POST', `/api/incidents/${inc.id}/dispatch`, s.operator, { assignee: 'w2' })).statusCode).toBe(200);
    const r = await call('POST', `/api/incidents/${inc.id}/on-site`, s.grid_worker, {});
    expect(r.statusCode).toBe(404);
    expect((await ctx.incidents.get(inc.id))!.state).toBe('dispatched');
  });

  it('serves an OpenAPI document built from the same schemas, with the roles of each route', async () => {
    const doc = asJson(await ctx.app.inject({ method: 'GET', url: '/docs/json' })) as { paths: Record<string, Record<string, { description?: string; requestBody?: { content: Record<string, { schema: { properties: Record<string, { enum?: string[] }> } }> } }>> };
    const resolve = doc.paths['/api/incidents/{id}/resolve']!.post!;
    expect(resolve.description).toContain('Roles: grid_worker, operator, supervisor');
    expect(resolve.requestBody!.content['application/json']!.schema.properties.disposition!.enum).toContain('real_fire');
    expect(doc.paths['/api/incidents/{id}/review']!.post!.description).toContain('Roles: supervisor.');
    const ui = await ctx.app.inject({ method: 'GET', url: '/docs/' });
    expect(ui.statusCode).toBe(200);
    expect(ui.body).toContain('swagger');
  });

  it('serves health, readiness and Prometheus metrics with open incidents by level', async () => {
    await ctx.raise('sd-1');
    await ctx.raise('sd-3', LOW_BATTERY);
    expect((await ctx.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    expect(asJson(await ctx.app.inject({ method: 'GET', url: '/readyz' }))).toMatchObject({ ready: true });
    const m = await ctx.app.inject({ method: 'GET', url: '/metrics' });
    expect(m.headers['content-type']).toContain('text/plain');
    expect(m.body).toMatch(/watchfire_incidents_open\{level="red",state="open"\} 1/);
    expect(m.body).toMatch(/watchfire_incidents_open\{level="yellow",state="open"\} 1/);
    expect(m.body).toMatch(/watchfire_http_requests_total\{method="GET",route="\/readyz",status="200"\} 1/);
  });

  it('answers 503 on /readyz while not ready', async () => {
    const c = await makeServer({ health: () => ({ live: true, ready: false, checks: { gateway: false } }) });
    const r = await c.app.inject({ method: 'GET', url: '/readyz' });
    await c.close();
    expect(r.statusCode).toBe(503);
    expect(asJson(r).checks).toEqual({ gateway: false });
  });

  it('lets an admin add users, and refuses a taken name or an unknown person', async () => {
    const add = (body: unknown) => call('POST', '/api/users', s.admin, body);
    const created = await add({ username: 'op2', role: 'operator', password: 'long enough pw', centerId: 'c1' });
    expect(created.statusCode).toBe(201);
    expect(created.body).not.toContain('long enough');
    expect((await add({ username: 'op2', role: 'operator', password: 'long enough pw' })).statusCode).toBe(409);
    const ghost = await add({ username: 'op3', role: 'operator', password: 'long enough pw', personId: 'ghost' });
    expect(asJson(ghost).errors![0]!.field).toBe('personId');
    const short = await add({ username: 'op4', role: 'operator', password: 'short' });
    expect(asJson(short).errors![0]).toMatchObject({ field: 'password', in: 'body' });
    const users = asJson(await call('GET', '/api/users', s.admin)) as { users: Array<{ username: string }> };
    expect(users.users.map((u) => u.username)).toEqual(['admin', 'op', 'op2', 'sup', 'worker']);
    await login(ctx.app, 'op2', 'long enough pw');
  });
});
