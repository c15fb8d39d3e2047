// Issue 17 point 6, the shift handover (交接班) through the HTTP API: the summary of the roster's
// shift on duty (opened, acknowledged, dispatched, resolved, still open with age and last note,
// offline devices, maintenance findings, calls, notes), its text and CSV exports in the center's
// words and time zone, handing over with a remark and the incoming operator's receipt (once, not
// by the one who handed over, final), and another center never seeing any of it.
import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { createUser } from '../dashboards/index.ts';
import { makeServer, login, OFFLINE, OTHER_CENTER_MARKERS, PASSWORD, TEST_COST, USERS, type Session } from './dashboards.fixture.ts';

type Ctx = Awaited<ReturnType<typeof makeServer>>;
let ctx: Ctx;
let op: Session;
beforeEach(async () => {
  ctx = await makeServer();
  await ctx.server.start();
  // One shift all day (00:00 Shanghai, 24 h): whatever happens in the test is in the shift on duty.
  await ctx.registry.importFile({ centers: [], grids: [], sites: [], devices: [], people: [], rosters: [{ centerId: 'c1', timezone: 'Asia/Shanghai', shifts: [{ id: 'allday', name: '全天班', start: '0 0 * * *', durationMinutes: 1440, operators: ['op1'], supervisor: 'sup1' }] }] });
  await createUser(ctx.users, { username: 'west', role: 'operator', personId: 'op9', centerId: 'c2', password: PASSWORD }, { cost: TEST_COST });
  op = await login(ctx.app, USERS.operator.username);
});
afterEach(async () => {
  await ctx.close();
});

const post = (s: Session, url: string, payload: unknown) => ctx.app.inject({ method: 'POST', url, headers: { cookie: s.cookie, 'x-csrf-token': s.csrf }, payload: payload as object });
const get = (s: Session, url: string) => ctx.app.inject({ method: 'GET', url, headers: { cookie: s.cookie } });

/** A shift's work: a fire acknowledged, called about, noted and dispatched; one resolved; a detector offline; the other center's fire. */
async function aShift() {
  const fire = await ctx.raise('sd-1');
  await ctx.incidents.note(fire.id, 'op1', '住户耳背，多打几次');
  await ctx.incidents.call(fire.id, 'op1', { contact: '王秀英', phone: '13800000001', outcome: 'no_answer' });
  await ctx.incidents.acknowledge(fire.id, 'op1');
  await ctx.incidents.dispatch(fire.id, 'op1', 'w1');
  const kitchen = await ctx.raise('sd-3');
  await ctx.incidents.acknowledge(kitchen.id, 'op1');
  await ctx.incidents.resolve(kitchen.id, 'op1', { disposition: 'nuisance', feedback: '做饭烟雾，已通风' });
  const offline = await ctx.raise('sd-2', OFFLINE);
  await ctx.raise('sd-9');
  return { fire, kitchen, offline };
}

const shanghai = (ms: number) => new Intl.DateTimeFormat('sv-SE', { timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' }).format(ms);

describe('the shift summary', () => {
  it('summarises the roster\'s shift on duty: what happened, what is still open and why', async () => {
    const { fire, kitchen, offline } = await aShift();
    const res = await get(op, '/api/handover');
    expect(res.statusCode).toBe(200);
    const s = res.json();
    // The shift began at 00:00 in Shanghai today.
    expect(shanghai(s.from).endsWith('00:00')).toBe(true);
    expect(Date.now() - s.from).toBeLessThan(24 * 3_600_000);
    expect(s.shift).toEqual({ names: ['全天班'], operators: ['陈值班'], supervisors: ['赵值班长'] });
    expect(s.counts).toEqual({ opened: 3, acknowledged: 2, dispatched: 1, resolved: 1, stillOpen: 2, offline: 1, maintenance: 1, calls: 1, notes: 1 });
    expect(s.stillOpen.map((i: { id: string }) => i.id)).toEqual([fire.id, offline.id]);
    expect(s.stillOpen[0]).toMatchObject({ siteName: '梅园新村 3-2-401', state: 'dispatched', assigneeName: '张网格', lastNote: { kind: 'no_answer', actorName: '陈值班', text: '王秀英 13800000001' } });
    expect(s.stillOpen[0].ageMs).toBeGreaterThanOrEqual(0);
    expect(s.resolved.map((i: { id: string; disposition: string }) => [i.id, i.disposition])).toEqual([[kitchen.id, 'nuisance']]);
    expect(s.offline).toEqual([expect.objectContaining({ deviceId: 'sd-2', siteName: '梅园新村 3-2-401', location: '卧室' })]);
    expect(s.notes).toEqual([expect.objectContaining({ kind: 'note', text: '住户耳背，多打几次', actorName: '陈值班' })]);
    for (const m of OTHER_CENTER_MARKERS) expect(res.body).not.toContain(m);

    // The last 8 hours instead; a range that ends before it starts is refused by field.
    const eight = (await get(op, '/api/handover?hours=8')).json();
    expect(eight.to - eight.from).toBe(8 * 3_600_000);
    expect(eight.shift).toBeNull();
    const bad = await get(op, `/api/handover?from=${Date.now()}&to=${Date.now() - 1000}`);
    expect(bad.json()).toMatchObject({ code: 'WF_HTTP_VALIDATION', errors: [expect.objectContaining({ field: 'to' })] });
  });

  it('exports text to print and CSV for Excel, in the reader\'s language and the center\'s clock', async () => {
    const { fire } = await aShift();
    const zh = await get(op, '/api/handover?format=text&lang=zh-CN');
    expect(zh.headers['content-type']).toContain('text/plain');
    expect(zh.body).toContain('交接班 · 城东联合消防中心');
    expect(zh.body).toContain('未闭环警情 (2)');
    expect(zh.body).toMatch(/\[红\] 烟感火警 — 梅园新村 3-2-401 \(已派单\), 已持续 \d+分钟; 最近备注: 王秀英 13800000001/);
    expect(zh.body).toContain(`${shanghai((await ctx.incidents.get(fire.id))!.openedAt)} 梅园新村 3-2-401 · 陈值班 · 无人接听: 王秀英 13800000001`);
    expect(zh.body).toContain('离线设备 (1)');
    const en = await get(op, '/api/handover?format=text&lang=en');
    expect(en.body).toContain('Shift handover');
    expect(en.body).toContain('Calls (1)');
    const csv = await get(op, '/api/handover?format=csv&lang=zh-CN');
    expect(csv.headers['content-type']).toContain('text/csv');
    expect(csv.headers['content-disposition']).toMatch(/attachment; filename="watchfire-handover-c1-\d{12}\.csv"/);
    const rows = csv.body.split('\r\n');
    expect(rows[0]).toBe('\uFEFF栏目,时间,等级,内容,地点,状态,人员,说明');
    expect(rows.filter((r) => r.startsWith('未闭环警情,'))).toHaveLength(2);
    expect(rows).toContain(`通话记录,${shanghai((await ctx.incidents.get(fire.id))!.openedAt)},,无人接听,梅园新村 3-2-401,,陈值班,王秀英 13800000001`);
    for (const m of OTHER_CENTER_MARKERS) expect(csv.body + zh.body).not.toContain(m);
  });

  it('refuses a range no date can show with a 400 naming the field, not a 500 (found by the API fuzzer)', async () => {
    await aShift();
    for (const url of ['/api/handover?from=0&to=9007199254740991&format=csv', '/api/handover?from=-1', '/api/history?to=9007199254740991']) {
      const r = await get(op, url);
      expect(r.statusCode, url).toBe(400);
      expect(r.json(), url).toMatchObject({ code: 'WF_HTTP_VALIDATION', errors: [{ in: 'querystring' }] });
    }
  });
});

describe('handing over and receiving', () => {
  it('records the remark and the receipt with names and times, once, by another person, for good', async () => {
    await aShift();
    const s = (await get(op, '/api/handover')).json();
    const handed = await post(op, '/api/handovers', { from: s.from, to: s.to, remark: '3-2-401 王秀英家网格员已在路上，请跟进到场情况' });
    expect(handed.statusCode).toBe(200);
    const h = handed.json();
    expect(h).toMatchObject({ centerId: 'c1', remark: '3-2-401 王秀英家网格员已在路上，请跟进到场情况', outgoing: { user: 'op', name: '陈值班' }, incoming: null });
    expect(h.summary.counts.stillOpen).toBe(2);

    // Not by the one who handed over; not by a grid worker; not seen by another center at all.
    expect((await post(op, `/api/handovers/${h.id}/receive`, {})).json()).toMatchObject({ code: 'WF_HANDOVER_SELF' });
    const worker = await login(ctx.app, USERS.grid_worker.username);
    expect((await post(worker, `/api/handovers/${h.id}/receive`, {})).statusCode).toBe(403);
    const west = await login(ctx.app, 'west');
    expect((await post(west, `/api/handovers/${h.id}/receive`, {})).json()).toMatchObject({ code: 'WF_HANDOVER_NOT_FOUND' });
    expect((await get(west, `/api/handovers/${h.id}`)).statusCode).toBe(404);
    expect((await get(west, '/api/handovers')).json()).toEqual({ handovers: [] });

    const sup = await login(ctx.app, USERS.supervisor.username);
    const received = await post(sup, `/api/handovers/${h.id}/receive`, { note: '已阅，接班' });
    expect(received.statusCode).toBe(200);
    expect(received.json()).toMatchObject({ incoming: { user: 'sup', name: '赵值班长', note: '已阅，接班' } });
    expect(received.json().incoming.at).toBeGreaterThanOrEqual(h.outgoing.at);
    expect((await post(sup, `/api/handovers/${h.id}/receive`, {})).json()).toMatchObject({ code: 'WF_HANDOVER_RECEIVED' });
    expect((await get(op, '/api/handovers')).json().handovers.map((x: { id: number }) => x.id)).toEqual([h.id]);

    const text = (await get(op, `/api/handovers/${h.id}?format=text&lang=zh-CN`)).body;
    expect(text).toContain(`交班人: 陈值班 ${shanghai(h.outgoing.at)}`);
    expect(text).toContain(`接班人: 赵值班长 ${shanghai(received.json().incoming.at)} — 已阅，接班`);
    expect(text).toContain('交班留言: 3-2-401 王秀英家网格员已在路上，请跟进到场情况');

    // The table is the audit trail: a received handover cannot be changed, none deleted.
    expect(() => ctx.db.prepare('UPDATE shift_handovers SET remark = ? WHERE id = ?').run('改过', h.id)).toThrow(/final/);
    expect(() => ctx.db.prepare('DELETE FROM shift_handovers WHERE id = ?').run(h.id)).toThrow(/kept/);
    expect((await post(op, '/api/handovers', { from: s.from, to: s.to, remark: ' ' })).json()).toMatchObject({ code: 'WF_HTTP_VALIDATION', errors: [expect.objectContaining({ field: 'remark' })] });
  });
});
