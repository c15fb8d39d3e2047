// Issue 17 point 6 through the HTTP API: operator notes and the call log land in the timeline
// (state unchanged, names not ids), refused input is coded, and the incident history filters and
// exports to CSV (times in the center's zone, Chinese words, scoped to the user's center).
import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { makeServer, login, LOW_BATTERY, USERS, type Session } from './dashboards.fixture.ts';

type Ctx = Awaited<ReturnType<typeof makeServer>>;
let ctx: Ctx;
let op: Session;
let worker: Session;
beforeEach(async () => {
  ctx = await makeServer();
  await ctx.server.start();
  op = await login(ctx.app, USERS.operator.username);
  worker = await login(ctx.app, USERS.grid_worker.username);
});
afterEach(async () => {
  await ctx.close();
});

const post = (s: Session, url: string, payload: unknown) => ctx.app.inject({ method: 'POST', url, headers: { cookie: s.cookie, 'x-csrf-token': s.csrf }, payload: payload as object });
const get = (s: Session, url: string) => ctx.app.inject({ method: 'GET', url, headers: { cookie: s.cookie } });

describe('notes and the call log', () => {
  it('records a note and a call with its outcome in the timeline, state unchanged', async () => {
    const inc = await ctx.raise('sd-1');
    expect((await post(op, `/api/incidents/${inc.id}/note`, { note: '电话未接通，已通知网格员' })).statusCode).toBe(200);
    const call = await post(op, `/api/incidents/${inc.id}/call`, { contact: '王强', phone: '13900000002', outcome: 'no_answer', note: '响铃无人接' });
    expect(call.statusCode).toBe(200);
    expect(call.json()).toMatchObject({ id: inc.id, state: 'open' });
    const d = get(op, `/api/incidents/${inc.id}`);
    const timeline = (await d).json().timeline as Array<{ action: string; actorName: string; text: { zh: string } | null }>;
    expect(timeline.slice(-2).map((e) => [e.action, e.actorName, e.text?.zh])).toEqual([
      ['note', '陈值班', '电话未接通，已通知网格员'],
      ['call:no_answer', '陈值班', '王强 13900000002: 响铃无人接'],
    ]);
  });

  it('refuses an unknown outcome and an empty note with field errors, and hides other people\'s incidents', async () => {
    const inc = await ctx.raise('sd-1');
    const bad = await post(op, `/api/incidents/${inc.id}/call`, { contact: '王强', outcome: 'maybe' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ code: 'WF_HTTP_VALIDATION', errors: [expect.objectContaining({ field: 'outcome' })] });
    expect((await post(op, `/api/incidents/${inc.id}/note`, { note: '  ' })).json()).toMatchObject({ code: 'WF_HTTP_VALIDATION' });
    // Not dispatched to this grid worker: not theirs to write on.
    expect((await post(worker, `/api/incidents/${inc.id}/note`, { note: 'x' })).statusCode).toBe(404);
    expect((await ctx.incidents.timeline(inc.id)).map((e) => e.action)).toEqual(['opened']);
  });
});

describe('incident history', () => {
  it('filters by disposition, text and time and exports CSV in the center\'s words and time zone', async () => {
    const a = await ctx.raise('sd-1');
    const b = await ctx.raise('sd-3');
    await ctx.raise('sd-9'); // the other center's: never in this operator's history
    for (const [i, d] of [[a, 'test'], [b, 'nuisance']] as const) {
      await ctx.incidents.acknowledge(i.id, 'op1');
      await ctx.incidents.resolve(i.id, 'op1', { disposition: d, feedback: d === 'test' ? '月度测试, "正常"' : '=HYPERLINK("x")' });
    }
    const all = (await get(op, '/api/history')).json().incidents as Array<{ id: string }>;
    expect(all.map((i) => i.id).sort()).toEqual([a.id, b.id].sort());
    expect((await get(op, '/api/history?disposition=test')).json().incidents.map((i: { id: string }) => i.id)).toEqual([a.id]);
    expect((await get(op, `/api/history?q=${encodeURIComponent('5-1-102')}`)).json().incidents.map((i: { id: string }) => i.id)).toEqual([b.id]);
    expect((await get(op, `/api/history?from=${Date.now() + 60_000}`)).json().incidents).toEqual([]);

    const csv = await get(op, '/api/history?format=csv');
    expect(csv.statusCode).toBe(200);
    expect(csv.headers['content-type']).toMatch(/^text\/csv/);
    const lines = csv.body.replace(/^\uFEFF/, '').trim().split('\r\n');
    expect(csv.body.startsWith('\uFEFF')).toBe(true);
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^编号 id,等级 level/);
    const rowA = lines.find((l) => l.startsWith(a.id))!;
    expect(rowA).toContain('梅园新村 3-2-401');
    expect(rowA).toContain('测试');
    expect(rowA).toContain('"月度测试, ""正常"""');
    const opened = new Intl.DateTimeFormat('sv-SE', { timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' }).format(a.openedAt);
    expect(rowA).toContain(opened);
    // A formula in the feedback is written as text, never run by a spreadsheet.
    expect(lines.find((l) => l.startsWith(b.id))).toContain(`"'=HYPERLINK(""x"")"`);
    // Grid workers have no history.
    expect((await get(worker, '/api/history')).statusCode).toBe(403);
  });

  it('finds an incident of the asked time range behind more than 20,000 newer ones (the range is applied in SQL, before the page limit)', async () => {
    const old = await ctx.raise('sd-1');
    // Resolved, so that it sorts among the others (open ones come first).
    ctx.db.prepare("UPDATE alert_incidents SET active = 0, state = 'resolved', resolved_at = opened_at WHERE id = ?").run(old.id);
    // 20,500 newer incidents of the same center, copied from the first row with later times.
    const cols = (ctx.db.prepare('PRAGMA table_info(alert_incidents)').all() as Array<{ name: string }>).map((c) => c.name);
    const pick = cols.map((c) => (c === 'id' ? "'x' || n" : c === 'key' ? "'k' || n" : c === 'opened_at' ? 'opened_at + 60000 + n' : c === 'active' ? '0' : c)).join(', ');
    ctx.db.prepare(`WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < 20500)
      INSERT INTO alert_incidents (${cols.join(', ')}) SELECT ${pick} FROM alert_incidents, seq WHERE id = ?`).run(old.id);
    const found = (await get(op, `/api/history?from=${old.openedAt}&to=${old.openedAt + 1}`)).json().incidents as Array<{ id: string }>;
    expect(found.map((i) => i.id)).toEqual([old.id]);
  });

  it('filters by center, grid, level and category, and an operator never leaves their own center', async () => {
    const fire = await ctx.raise('sd-1'); // s1, grid g1: red fire
    const battery = await ctx.raise('sd-3', LOW_BATTERY); // s2, grid g2: yellow maintenance
    const west = await ctx.raise('sd-9'); // center c2
    const ids = async (s: Session, query: string) => ((await get(s, `/api/history${query}`)).json().incidents as Array<{ id: string }>).map((i) => i.id).sort();
    expect(await ids(op, '?gridId=g1')).toEqual([fire.id]);
    expect(await ids(op, '?gridId=g2')).toEqual([battery.id]);
    expect(await ids(op, '?level=yellow')).toEqual([battery.id]);
    expect(await ids(op, '?level=red')).toEqual([fire.id]);
    expect(await ids(op, '?category=maintenance')).toEqual([battery.id]);
    expect(await ids(op, '?category=fire&gridId=g2')).toEqual([]);
    // Another center's filter does not widen an operator's view; an admin picks the center.
    expect(await ids(op, '?centerId=c2')).toEqual([fire.id, battery.id].sort());
    const admin = await login(ctx.app, USERS.admin.username);
    expect(await ids(admin, '?centerId=c2')).toEqual([west.id]);
    expect(await ids(admin, '?centerId=c1&category=fire')).toEqual([fire.id]);
  });
});
