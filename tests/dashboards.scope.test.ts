// Issue 16 point 5, the cases the matrix cannot phrase generically: whom an incident may be
// dispatched to, whose people a center's staff see, and that a grid worker's homes follow his tasks.
import { describe, it, expect, afterEach } from 'vitest';
import { makeServer, login, USERS, type Session } from './dashboards.fixture.ts';

type Ctx = Awaited<ReturnType<typeof makeServer>>;
let ctx: Ctx | undefined;
afterEach(async () => {
  await ctx?.close();
  ctx = undefined;
});

const post = (c: Ctx, url: string, who: Session, payload: unknown) =>
  c.app.inject({ method: 'POST', url, headers: { cookie: who.cookie, 'x-csrf-token': who.csrf }, payload: payload as Record<string, unknown> });
const get = (c: Ctx, url: string, who: Session) => c.app.inject({ method: 'GET', url, headers: { cookie: who.cookie } });

describe('dispatch targets', () => {
  it("dispatches only to a grid worker of the incident's center, and says why not", async () => {
    ctx = await makeServer();
    const op = await login(ctx.app, USERS.operator.username);
    const inc = await ctx.raise('sd-1');
    await ctx.incidents.acknowledge(inc.id, 'op1');
    const url = `/api/incidents/${inc.id}/dispatch`;
    for (const [assignee, reason] of [['op9', /not of the incident's center c1/], ['w9', /not of the incident's center/], ['op1', /a operator cannot be dispatched to; allowed: grid_worker/], ['ghost', /no person ghost/]] as const) {
      const res = await post(ctx, url, op, { assignee });
      expect(res.statusCode, assignee).toBe(400);
      expect(res.json()).toMatchObject({ code: 'WF_HTTP_VALIDATION', errors: [{ field: 'assignee', in: 'body', reason: expect.stringMatching(reason) as string }] });
    }
    expect((await ctx.incidents.get(inc.id))!.state).toBe('acknowledged');
    const ok = await post(ctx, url, op, { assignee: 'w2' });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toMatchObject({ state: 'dispatched', assignee: 'w2' });
  });

  it('follows http.dispatchRoles when a deployment lets operators take tasks', async () => {
    ctx = await makeServer({ config: { dispatchRoles: ['grid_worker', 'operator'] } });
    const op = await login(ctx.app, USERS.operator.username);
    const inc = await ctx.raise('sd-1');
    await ctx.incidents.acknowledge(inc.id, 'op1');
    expect((await post(ctx, `/api/incidents/${inc.id}/dispatch`, op, { assignee: 'op9' })).statusCode).toBe(400);
    expect((await post(ctx, `/api/incidents/${inc.id}/dispatch`, op, { assignee: 'op1' })).json()).toMatchObject({ assignee: 'op1' });
  });
});

describe('people and homes in scope', () => {
  it("lists a center's own people to its staff whatever the query asks, and everyone's to an admin", async () => {
    ctx = await makeServer();
    const op = await login(ctx.app, USERS.operator.username);
    const admin = await login(ctx.app, USERS.admin.username);
    const ids = async (who: Session, q = '') => ((await get(ctx!, `/api/people${q}`, who)).json() as { people: Array<{ id: string }> }).people.map((p) => p.id).sort();
    expect(await ids(op, '?centerId=c2')).toEqual(['op1', 'sup1', 'w1', 'w2']);
    expect(await ids(admin, '?centerId=c2')).toEqual(['op9', 'w9']);
    expect(await ids(admin)).toHaveLength(6);
  });

  it("opens a home to a grid worker once it is his task's, and only then", async () => {
    ctx = await makeServer();
    const w = await login(ctx.app, USERS.grid_worker.username);
    const op = await login(ctx.app, USERS.operator.username);
    // s2 is in g2, not his grid: its resident's phone is not his to read...
    expect((await get(ctx, '/api/sites/s2', w)).statusCode).toBe(404);
    expect((await get(ctx, '/api/sites/s2/readings', w)).statusCode).toBe(404);
    // ...until an incident there is dispatched to him.
    const inc = await ctx.raise('sd-3');
    await ctx.incidents.acknowledge(inc.id, 'op1');
    expect((await post(ctx, `/api/incidents/${inc.id}/dispatch`, op, { assignee: 'w1' })).statusCode).toBe(200);
    const site = await get(ctx, '/api/sites/s2', w);
    expect(site.statusCode).toBe(200);
    expect(site.json()).toMatchObject({ site: { resident: { phone: 'G2-RESIDENT-PHONE' } } });
    // His own grid's homes are always his.
    expect((await get(ctx, '/api/sites/s1', w)).statusCode).toBe(200);
  });
});
