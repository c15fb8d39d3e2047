// Issue 16 point 5: a GENERATED matrix. Every route the server registered (so a route added later
// is in it without anyone listing it) × every role (and no session) × the caller's own center's
// object / another center's / for grid workers, a neighbour grid's. Each cell is checked against
// what the route declares (its roles) and what scoping promises: another center's object is
// answered 404, as if it did not exist; a list answers without a single string only the other
// center's data holds (phones, notes, dead letters, names: OTHER_CENTER_MARKERS).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type { Incident } from '../contracts/incidents.ts';
import { USER_ROLES } from '../dashboards/index.ts';
import { createHandoverStore } from '../dashboards/handover-store.ts';
import { summarise } from '../dashboards/handover.ts';
import { makeServer, login, OTHER_CENTER_MARKERS, USERS, type Session } from './dashboards.fixture.ts';
import { exampleOf, operationsOf, type Operation } from './support/openapi.ts';

type Ctx = Awaited<ReturnType<typeof makeServer>>;
type Caller = (typeof USER_ROLES)[number] | 'anonymous';
type Variant = 'own' | 'other_center' | 'other_grid';

/** What only a neighbour grid's home holds: a grid worker of g1 must not read it. */
const NEIGHBOUR_GRID_MARKERS = ['G2-RESIDENT-PHONE'];
const CALLERS: readonly Caller[] = ['anonymous', ...USER_ROLES];
const VARIANTS: readonly Variant[] = ['own', 'other_center', 'other_grid'];

/** A path parameter's value per variant, by the collection the route names. A new kind of :param fails the test until it is added here. */
function objectsFor(url: string, ids: { incident: Record<Variant, string>; site: Record<Variant, string>; handover: Record<Variant, string> }): Record<Variant, string> | undefined {
  if (url.startsWith('/api/incidents/:id')) return ids.incident;
  if (url.startsWith('/api/handovers/:id')) return ids.handover;
  if (url.startsWith('/api/sites/:id') || url.startsWith('/api/privacy/export/:id') || url.startsWith('/api/privacy/erase/:id')) return ids.site;
  return undefined;
}

/** Query values that try to escape the caller's scope (other variants), or stay in it (own). */
const SCOPE_QUERY: Record<string, Record<Variant, string>> = {
  centerId: { own: 'c1', other_center: 'c2', other_grid: 'c1' },
  siteId: { own: 's1', other_center: 's9', other_grid: 's2' },
  site: { own: 's1', other_center: 's9', other_grid: 's2' },
  gridId: { own: 'g1', other_center: 'g9', other_grid: 'g2' },
  deviceId: { own: 'sd-1', other_center: 'sd-9', other_grid: 'sd-3' },
  assignee: { own: 'w1', other_center: 'w9', other_grid: 'w2' },
};

describe('scope matrix: every route × every role × own / other center', () => {
  let ctx: Ctx;
  let s: Record<(typeof USER_ROLES)[number], Session>;
  let ops: Map<string, Operation>;
  let base: string;
  const ids = { incident: {} as Record<Variant, string>, site: { own: 's1', other_center: 's9', other_grid: 's2' } as Record<Variant, string>, handover: {} as Record<Variant, string> };
  const cells: string[] = [];

  beforeAll(async () => {
    // A rule reload that refuses everything: the matrix is about who may call it, not rules.
    ctx = await makeServer({ rules: { reload: () => ({ ok: false, errors: ['(root): not a rule set'] }) } });
    await ctx.server.start();
    base = `http://127.0.0.1:${ctx.server.address().port}`;
    s = {
      operator: await login(ctx.app, USERS.operator.username),
      grid_worker: await login(ctx.app, USERS.grid_worker.username),
      supervisor: await login(ctx.app, USERS.supervisor.username),
      admin: await login(ctx.app, USERS.admin.username),
    };
    // A shift handover of each center (issue 17 point 6), with what its center's shift saw.
    await ctx.raise('sd-1');
    await ctx.raise('sd-9');
    const handovers = createHandoverStore(ctx.db);
    const handed = async (centerId: string) => String(handovers.handOver({
      centerId, from: 0, to: Date.now(), remark: `${centerId} remark`, user: 'someone', name: 'Someone', at: Date.now(),
      summary: await summarise({ registry: ctx.registry, incidents: ctx.incidents, centerId, timezone: 'Asia/Shanghai', from: 0, to: Date.now(), now: Date.now() }),
    }).id);
    ids.handover = { own: await handed('c1'), other_center: await handed('c2'), other_grid: await handed('c1') };
    ops = new Map(operationsOf((await ctx.app.inject({ method: 'GET', url: '/docs/json' })).json()).map((o) => [`${o.method} ${o.url}`, o]));
  });
  afterAll(async () => {
    await ctx.close();
  });

  /** Fresh incidents for each write: the own one is the grid worker's task at a home of his grid. */
  async function freshIncidents(): Promise<void> {
    const close = async (i: Incident) => {
      if (i.state === 'open') await ctx.incidents.acknowledge(i.id, 'op1');
      if (!['resolved', 'reviewed'].includes((await ctx.incidents.get(i.id))!.state)) await ctx.incidents.resolve(i.id, 'op1', { disposition: 'test', feedback: 'matrix reset' });
    };
    for (const i of await ctx.incidents.list({ active: true })) await close(i);
    const own = await ctx.raise('sd-1');
    await ctx.incidents.acknowledge(own.id, 'op1');
    await ctx.incidents.dispatch(own.id, 'op1', 'w1');
    ids.incident = { own: own.id, other_center: (await ctx.raise('sd-9')).id, other_grid: (await ctx.raise('sd-3')).id };
  }

  async function call(method: string, url: string, who: Caller, body: unknown): Promise<{ status: number; body: string; code?: string }> {
    const sess = who === 'anonymous' ? undefined : s[who];
    const headers: Record<string, string> = sess ? { cookie: sess.cookie, 'x-csrf-token': sess.csrf } : {};
    if (url.startsWith('/api/stream')) return stream(url, headers);
    const res = await ctx.app.inject({ method: method as 'GET', url, headers, ...(method === 'GET' ? {} : { payload: (body ?? {}) as Record<string, unknown> }) });
    const code = res.headers['content-type']?.toString().includes('json') ? (res.json() as { code?: string }).code : undefined;
    return { status: res.statusCode, body: res.body, ...(code ? { code } : {}) };
  }

  /**
   * The live stream never ends, so it is read over a real socket: events of the other center
   * (an incident, a presence change) are made first, then one of the caller's own; when the own
   * one arrives, everything sent before it has been read, and none may carry another center's data.
   */
  async function stream(url: string, headers: Record<string, string>): Promise<{ status: number; body: string; code?: string }> {
    const ac = new AbortController();
    const res = await fetch(`${base}${url}`, { headers, signal: ac.signal });
    if (res.status !== 200) {
      const body = await res.text();
      return { status: res.status, body, code: (JSON.parse(body) as { code: string }).code };
    }
    const reader = res.body!.getReader();
    const dec = new TextDecoder();
    let text = '';
    const until = async (needle: string) => {
      while (!text.includes(needle)) {
        const { value, done } = await reader.read();
        if (done) throw new Error('stream ended');
        text += dec.decode(value, { stream: true });
      }
    };
    await until('event: hello');
    await ctx.raise('sd-9');
    ctx.bus.emit('device.presence', { deviceId: 'sd-9', online: false, at: Date.now(), reason: 'socket' });
    // Own center: a step on the own incident (the grid worker's task, so he receives it too).
    await ctx.incidents.enRoute(ids.incident.own, 'w1');
    await until('"actor":"w1"');
    ac.abort();
    return { status: 200, body: text };
  }

  function expectCell(r: { method: string; url: string; roles: unknown }, who: Caller, v: Variant, scoped: boolean, res: { status: number; body: string; code?: string }): void {
    const cell = `${who} ${r.method} ${r.url} [${v}] → ${res.status} ${res.body.slice(0, 160)}`;
    cells.push(cell);
    expect(res.status, cell).toBeLessThan(500);
    const roles = r.roles;
    const centered = who !== 'anonymous' && who !== 'admin';
    if (Array.isArray(roles)) {
      if (who === 'anonymous') {
        expect(res.status, cell).toBe(401);
        return;
      }
      if (!roles.includes(who)) {
        expect([res.status, res.code], cell).toEqual([403, 'WF_HTTP_FORBIDDEN']);
        return;
      }
      const outOfScope = centered && (v === 'other_center' || (v === 'other_grid' && who === 'grid_worker'));
      if (scoped && outOfScope) {
        expect(res.status, cell).toBe(404);
        return;
      }
      // A list or stream asked about an object out of scope may answer 404 or a filtered list.
      expect(outOfScope ? [401, 403] : [401, 403, 404], cell).not.toContain(res.status);
    }
    // Whatever the route (lists, public pages, static files): no other center's data in the answer.
    if (centered || who === 'anonymous') for (const m of OTHER_CENTER_MARKERS) expect(res.body, `${cell}: leaks ${m}`).not.toContain(m);
    if (who === 'grid_worker') for (const m of NEIGHBOUR_GRID_MARKERS) expect(res.body, `${cell}: leaks ${m}`).not.toContain(m);
  }

  it('refuses every cell it must, and leaks nothing across centers or to a grid worker outside his homes', async () => {
    const routes = ctx.server.routes();
    expect(routes.length).toBeGreaterThan(20);
    // Every documented API operation is a registered route, so the matrix below covers the doc too.
    for (const key of ops.keys()) if (key.split(' ')[1]!.startsWith('/api/')) expect(routes.some((r) => `${r.method} ${r.url}` === key), key).toBe(true);
    // Reads first, then writes, logout last (it ends the session the other cells use).
    const order = (r: { method: string; url: string }) => (r.url === '/api/auth/logout' ? 2 : r.method === 'GET' ? 0 : 1);
    for (const r of [...routes].sort((a, b) => order(a) - order(b))) {
      if (r.url === '/api/auth/logout') continue;
      const op = ops.get(`${r.method} ${r.url}`);
      for (const v of VARIANTS) {
        for (const who of CALLERS) {
          await freshIncidents();
          const params = r.url.match(/:\w+/g) ?? [];
          const objects = objectsFor(r.url, ids);
          if (params.length) expect(objects, `${r.url}: which objects fill ${params.join(', ')}? Add the collection to objectsFor()`).toBeDefined();
          let url = objects ? r.url.replace(/:\w+/, objects[v]) : r.url;
          url = url.replace('*', r.url.startsWith('/docs') ? 'json' : 'index.html');
          const query = (op?.params ?? []).filter((p) => p.in === 'query' && SCOPE_QUERY[p.name]).map((p) => `${p.name}=${SCOPE_QUERY[p.name]![v]}`);
          if (query.length) url += `?${query.join('&')}`;
          const res = await call(r.method, url, who, exampleOf(op?.body));
          expectCell(r, who, v, objects !== undefined, res);
        }
      }
    }
    // Logout: refused to nobody with a session, asked of each role last.
    for (const who of CALLERS) {
      const res = await call('POST', '/api/auth/logout', who, {});
      expect(res.status, `${who} logout`).toBe(who === 'anonymous' ? 401 : 204);
    }
    // The matrix is as big as routes × callers × variants (a cell each).
    expect(cells.length).toBe((routes.length - 1) * CALLERS.length * VARIANTS.length);
    // ~470 requests over a real socket: a few seconds alone, a minute on a 2-core box that is busy.
  }, 240_000);
});
