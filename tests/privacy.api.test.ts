// Issue 18 point 8 over HTTP (inject, real registry, alerts and SQLite): reads of residents' data
// are recorded once per user and resource per window and shown to supervisors of the same center;
// the export and the erasure are scoped by center, and an erasure through the API makes the
// running server forget the resident at once.
import { afterEach, describe, expect, it } from 'vitest';
import { makeServer, login, USERS, type Session } from './dashboards.fixture.ts';

type Ctx = Awaited<ReturnType<typeof makeServer>>;
let ctx: Ctx | undefined;
afterEach(async () => {
  await ctx?.close();
  ctx = undefined;
});

const get = (c: Ctx, url: string, who: Session) => c.app.inject({ method: 'GET', url, headers: { cookie: who.cookie } });
const post = (c: Ctx, url: string, who: Session, payload: Record<string, unknown>) =>
  c.app.inject({ method: 'POST', url, headers: { cookie: who.cookie, 'x-csrf-token': who.csrf }, payload });

describe('privacy over HTTP', () => {
  it('records reads of a resident\'s data once per user and resource per window, for the center\'s supervisors to see', async () => {
    const c = (ctx = await makeServer());
    const op = await login(c.app, USERS.operator.username);
    const sup = await login(c.app, USERS.supervisor.username);
    const admin = await login(c.app, USERS.admin.username);
    const inc = await c.raise('sd-1');
    for (let i = 0; i < 3; i++) expect((await get(c, '/api/sites/s1', op)).statusCode).toBe(200);
    expect((await get(c, `/api/incidents/${inc.id}`, op)).statusCode).toBe(200);
    for (let i = 0; i < 5; i++) expect((await get(c, '/api/incidents', op)).statusCode).toBe(200);
    // Another center's read: not for c1's supervisor.
    await c.privacy.reads.record({ username: 'op9', role: 'operator', centerId: 'c2' }, 'site', 's9', 's9', 'c2');

    const res = await get(c, '/api/privacy/reads', sup);
    expect(res.statusCode).toBe(200);
    const reads = (res.json() as { reads: Array<{ username: string; resource: string; resourceId: string | null; siteId: string | null }> }).reads;
    expect(reads.map((r) => [r.username, r.resource, r.resourceId, r.siteId]).reverse()).toEqual([
      ['op', 'site', 's1', 's1'],
      ['op', 'incident', inc.id, 's1'],
      ['op', 'incidents', null, null],
    ]);
    expect(((await get(c, '/api/privacy/reads?siteId=s9', admin)).json() as { reads: unknown[] }).reads).toHaveLength(1);
    expect((await get(c, '/api/privacy/reads', op)).statusCode).toBe(403);
  });

  it('exports for a supervisor of the center (recorded), answers 404 for another center, 403 for an operator', async () => {
    const c = (ctx = await makeServer());
    const sup = await login(c.app, USERS.supervisor.username);
    const op = await login(c.app, USERS.operator.username);
    const res = await get(c, '/api/privacy/export/s1', sup);
    expect(res.statusCode).toBe(200);
    const e = res.json() as { subject: { siteId: string }; site: { resident: { name: string } }; reads: Array<{ username: string; resource: string }> };
    expect(e.subject.siteId).toBe('s1');
    expect(e.site.resident.name).toBe('王秀英');
    expect(e.reads.map((r) => [r.username, r.resource])).toEqual([['sup', 'export']]);
    expect((await get(c, '/api/privacy/export/s9', sup)).json()).toMatchObject({ code: 'WF_PRIVACY_NOT_FOUND' });
    expect((await get(c, '/api/privacy/export/s1', op)).statusCode).toBe(403);
  });

  it('erases through the running server: the registry forgets at once; refused while an incident is open', async () => {
    const c = (ctx = await makeServer());
    const admin = await login(c.app, USERS.admin.username);
    const sup = await login(c.app, USERS.supervisor.username);
    await c.raise('sd-1');
    const refused = await post(c, '/api/privacy/erase/s1', admin, { reason: 'request 17' });
    expect([refused.statusCode, (refused.json() as { code: string }).code]).toEqual([409, 'WF_PRIVACY_OPEN_INCIDENT']);
    expect((await post(c, '/api/privacy/erase/s2', sup, { reason: 'request 18' })).statusCode).toBe(403);
    expect((await post(c, '/api/privacy/erase/s2', admin, {})).statusCode).toBe(400);
    const ok = await post(c, '/api/privacy/erase/s2', admin, { reason: 'request 18' });
    expect(ok.statusCode).toBe(200);
    const r = ok.json() as { pseudonym: string; actor: string; leftovers: unknown[] };
    expect(r).toMatchObject({ actor: 'admin', leftovers: [] });
    const site = (await get(c, '/api/sites/s2', admin)).json() as { site: { name: string; address: string; resident: unknown } };
    expect(site.site).toMatchObject({ name: r.pseudonym, address: '', resident: null });
  });
});
