// Incidents and their audit trail behind the storage seam (issue 21 points 2 and 5): the same
// cases on SQLite and a real PostgreSQL. Two nodes opening one key open one incident; two nodes
// acknowledging or resolving one incident at once: one wins, the other is told what it found, and
// the trail holds one entry. Each case opens a database of its own.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditNew, IncidentNew } from '../contracts/storage.ts';
import { cancelSteps, createEscalationStorage, createIncidentStorage, scheduleSteps, tx, type SqlIncidentStorage, type TxBody } from '../storage/index.ts';
import { sqlBackends, rejection, type TestDatabase } from './support/sql-backends.ts';

const backends = sqlBackends();
beforeAll(() => Promise.all(backends.map((b) => b.setup())));
afterAll(() => Promise.all(backends.map((b) => b.teardown())));

function incident(i: number, over: Partial<IncidentNew> = {}): IncidentNew {
  return {
    id: `inc-${String(i).padStart(3, '0')}`, key: `site:s${i}:fire`, level: 'red', score: 0.9, category: 'fire', condition: 'smoke',
    centerId: 'fc-1', siteId: `s${i}`, gridId: 'g-1', deviceId: `d${i}`, zone: null, title: { en: 'Smoke', zh: '烟雾' }, confirmed: false,
    lastReading: '{"score":0.9}', recurrenceOf: null, ...over,
  };
}

const system = (action: string, note: string | null = null): AuditNew => ({ actor: 'system', action, note, noteZh: note === null ? null : `中文 ${note}` });
const person = (action: string, note: string | null = null, actor = 'op-1'): AuditNew => ({ actor, action, note, noteZh: null });

async function opened(store: SqlIncidentStorage, i: number, at = 1_000, over: Partial<IncidentNew> = {}) {
  return (await store.open(incident(i, over), at, system('opened', 'Smoke'))).incident;
}

const auditCount = async (db: TestDatabase, action: string) =>
  Number((await db.query<{ n: number }>(`SELECT COUNT(*) AS n FROM alert_audit WHERE action = '${action}'`))[0]!.n);

describe.each(backends)('incident storage on $name', (backend) => {
  it('opens an incident with its opened entry; the key\'s open incident is returned, not a second one', async () => {
    const db = await backend.open();
    const store = createIncidentStorage({ sql: db.runner });
    const first = await store.open(incident(1, { zone: '3', confirmed: true }), 1_000, system('opened', 'Smoke'));
    expect(first.created).toBe(true);
    expect(first.incident).toEqual({
      id: 'inc-001', key: 'site:s1:fire', level: 'red', score: 0.9, category: 'fire', condition: 'smoke', state: 'open', centerId: 'fc-1',
      siteId: 's1', gridId: 'g-1', deviceId: 'd1', zone: '3', title: { en: 'Smoke', zh: '烟雾' }, confirmed: true, findingCount: 1,
      openedAt: 1_000, updatedAt: 1_000, lastFindingAt: 1_000, acknowledgedAt: null, dispatchedAt: null, onSiteAt: null, resolvedAt: null,
      reviewedAt: null, assignee: null, disposition: null, feedback: null, recurrenceOf: null,
    });
    const again = await store.open(incident(1, { id: 'inc-other', level: 'yellow' }), 2_000, system('opened'));
    expect(again).toEqual({ incident: first.incident, created: false });
    expect(await store.get('inc-other')).toBeUndefined();
    expect(await store.findOpen('site:s1:fire')).toEqual({ ...first.incident, leadDevice: 'd1' });
    expect(await store.findOpen('site:s2:fire')).toBeUndefined();
    const [entry, ...rest] = await store.timeline('inc-001');
    expect(rest).toEqual([]);
    expect(entry).toEqual({ id: entry!.id, incidentId: 'inc-001', at: 1_000, actor: 'system', action: 'opened', fromState: null, toState: 'open', note: 'Smoke', noteZh: '中文 Smoke' });
  });

  it('two nodes opening one key at once open one incident, with one opened entry', async () => {
    const db = await backend.open();
    const a = createIncidentStorage({ sql: db.runner });
    const b = createIncidentStorage({ sql: db.another() });
    const results = await Promise.all(Array.from({ length: 20 }, (_, k) => (k % 2 ? a : b).open(incident(7, { id: `inc-${k}` }), 1_000 + k, system('opened'))));
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(new Set(results.map((r) => r.incident.id)).size).toBe(1);
    expect(await db.query('SELECT id FROM alert_incidents')).toHaveLength(1);
    expect(await auditCount(db, 'opened')).toBe(1);
  });

  it('findings count, raise the level and score only upwards, move the title with the lead, and stop once resolved', async () => {
    const db = await backend.open();
    const store = createIncidentStorage({ sql: db.runner });
    await opened(store, 1, 1_000, { level: 'yellow', score: 0.5 });
    const up = await store.addFindings('inc-001', {
      n: 1, at: 2_000, lastReading: '{"score":0.95}', confirmed: false, score: 0.95, level: 'red',
      lead: { deviceId: 'd9', condition: 'smoke_rising', title: { en: 'Smoke rising', zh: '烟雾上升' } },
    }, [system('raised', 'yellow → red')]);
    expect(up).toMatchObject({ level: 'red', score: 0.95, findingCount: 2, lastFindingAt: 2_000, updatedAt: 2_000, condition: 'smoke_rising', title: { en: 'Smoke rising' } });
    expect((await store.findOpen('site:s1:fire'))!.leadDevice).toBe('d9');
    // A flood of lesser repeats written as one: counted, nothing lowered, the title kept.
    const held = await store.addFindings('inc-001', { n: 40, at: 3_000, lastReading: '{"score":0.2}', confirmed: true, score: 0.2, level: 'yellow' }, []);
    expect(held).toMatchObject({ level: 'red', score: 0.95, confirmed: true, findingCount: 42, lastFindingAt: 3_000, title: { en: 'Smoke rising' } });
    expect(await store.addFindings('inc-001', { n: 1, at: 3_500, lastReading: '{}', confirmed: false, score: 0.1, level: 'green' }, [])).toMatchObject({ confirmed: true, level: 'red' });
    expect((await store.timeline('inc-001')).map((e) => [e.action, e.fromState, e.toState, e.at])).toEqual([['opened', null, 'open', 1_000], ['raised', 'open', 'open', 2_000]]);
    await store.transition('inc-001', { from: 'open', to: 'acknowledged', at: 4_000, stamp: 'acknowledgedAt' }, person('acknowledge'));
    await store.transition('inc-001', { from: 'acknowledged', to: 'resolved', at: 5_000, stamp: 'resolvedAt', disposition: 'real_fire', feedback: 'put out' }, person('resolve'));
    expect(await store.addFindings('inc-001', { n: 1, at: 6_000, lastReading: '{}', confirmed: true, score: 1, level: 'red' }, [system('raised')])).toBeUndefined();
    expect((await store.get('inc-001'))!.findingCount).toBe(43);
    expect(await auditCount(db, 'raised')).toBe(1);
    expect((await rejection(store.addFindings('inc-001', { n: 0, at: 0, lastReading: '', confirmed: false, score: 0, level: 'red' }, [])))).toBeInstanceOf(RangeError);
  });

  it('walks the lifecycle: each transition stamps its time, records its entry, and closing frees the key', async () => {
    const db = await backend.open();
    const store = createIncidentStorage({ sql: db.runner });
    await opened(store, 1);
    const ack = await store.transition('inc-001', { from: 'open', to: 'acknowledged', at: 2_000, stamp: 'acknowledgedAt' }, person('acknowledge', 'on it'));
    expect(ack).toEqual({ ok: true, incident: expect.objectContaining({ state: 'acknowledged', acknowledgedAt: 2_000, updatedAt: 2_000 }) });
    await store.transition('inc-001', { from: 'acknowledged', to: 'dispatched', at: 3_000, stamp: 'dispatchedAt', assignee: 'w-1' }, person('dispatch', 'to w-1'));
    await store.transition('inc-001', { from: 'dispatched', to: 'on_site', at: 4_000, stamp: 'onSiteAt' }, person('on_site', null, 'w-1'));
    const done = await store.transition('inc-001', { from: 'on_site', to: 'resolved', at: 5_000, stamp: 'resolvedAt', disposition: 'nuisance', feedback: 'cooking' }, person('resolve', 'nuisance: cooking'));
    expect(done.ok && done.incident).toMatchObject({
      state: 'resolved', acknowledgedAt: 2_000, dispatchedAt: 3_000, onSiteAt: 4_000, resolvedAt: 5_000, assignee: 'w-1', disposition: 'nuisance', feedback: 'cooking',
    });
    expect(await store.findOpen('site:s1:fire')).toBeUndefined();
    expect(await store.lastResolved('site:s1:fire', 5_000)).toEqual({ id: 'inc-001', resolvedAt: 5_000 });
    expect(await store.lastResolved('site:s1:fire', 5_001)).toBeUndefined();
    const next = await store.open(incident(1, { id: 'inc-002', recurrenceOf: 'inc-001' }), 6_000, system('opened'));
    expect(next).toMatchObject({ created: true, incident: { id: 'inc-002', recurrenceOf: 'inc-001', state: 'open' } });
    await store.transition('inc-001', { from: 'resolved', to: 'reviewed', at: 7_000, stamp: 'reviewedAt' }, person('review'));
    expect((await store.timeline('inc-001')).map((e) => `${e.action}:${e.fromState}>${e.toState}@${e.at}`)).toEqual([
      'opened:null>open@1000', 'acknowledge:open>acknowledged@2000', 'dispatch:acknowledged>dispatched@3000', 'on_site:dispatched>on_site@4000',
      'resolve:on_site>resolved@5000', 'review:resolved>reviewed@7000',
    ]);
  });

  it('a transition decided on a state that has since changed is refused, with what was found, and writes nothing', async () => {
    const db = await backend.open();
    const store = createIncidentStorage({ sql: db.runner });
    await opened(store, 1);
    await store.transition('inc-001', { from: 'open', to: 'acknowledged', at: 2_000, stamp: 'acknowledgedAt' }, person('acknowledge', null, 'op-a'));
    let ran = false;
    const stale = await store.transition('inc-001', { from: 'open', to: 'acknowledged', at: 3_000, stamp: 'acknowledgedAt' }, person('acknowledge', null, 'op-b'),
      function* () {
        ran = true;
        yield* [];
      });
    expect(stale).toEqual({ ok: false, current: expect.objectContaining({ state: 'acknowledged', acknowledgedAt: 2_000, updatedAt: 2_000 }) });
    expect(ran).toBe(false);
    expect(await store.transition('nope', { from: 'open', to: 'acknowledged', at: 3_000 }, person('acknowledge'))).toEqual({ ok: false, current: undefined });
    expect((await store.timeline('inc-001')).map((e) => e.actor)).toEqual(['system', 'op-a']);
  });

  it('two nodes acknowledging, then resolving, the same incidents at once: one of each wins, one entry each', async () => {
    const db = await backend.open();
    const a = createIncidentStorage({ sql: db.runner });
    const b = createIncidentStorage({ sql: db.another() });
    const ids: string[] = [];
    for (let i = 0; i < 15; i++) ids.push((await opened(a, i)).id);
    const race = async (change: (node: string) => Promise<{ ok: boolean }>) => {
      const [x, y] = await Promise.all([change('node-a'), change('node-b')]);
      return Number(x.ok) + Number(y.ok);
    };
    const acks = await Promise.all(ids.map((id) => race((node) => (node === 'node-a' ? a : b).transition(id,
      { from: 'open', to: 'acknowledged', at: 2_000, stamp: 'acknowledgedAt' }, person('acknowledge', null, node)))));
    expect(acks).toEqual(ids.map(() => 1));
    expect(await auditCount(db, 'acknowledge')).toBe(15);
    const resolves = await Promise.all(ids.map((id) => race((node) => (node === 'node-a' ? a : b).transition(id,
      { from: 'acknowledged', to: 'resolved', at: 3_000, stamp: 'resolvedAt', disposition: 'test', feedback: `by ${node}` }, person('resolve', null, node)))));
    expect(resolves).toEqual(ids.map(() => 1));
    // The row's feedback and its entry name the same winner.
    for (const id of ids) {
      const [last] = (await a.timeline(id)).slice(-1);
      expect((await a.get(id))!.feedback).toBe(`by ${last!.actor}`);
    }
    expect(await auditCount(db, 'resolve')).toBe(15);
  });

  it('a transition\'s body runs in its transaction: steps cancelled and scheduled with it, or nothing when the body fails', async () => {
    const db = await backend.open();
    const { q } = db.runner;
    const store = createIncidentStorage({ sql: db.runner });
    const steps = createEscalationStorage({ sql: db.runner });
    await store.open(incident(1), 1_000, system('opened'), function* (i) {
      yield* tx.run(scheduleSteps(q, [{ incidentId: i.id, policy: 'red', step: 'supervisor', untilState: 'acknowledged', dueAt: 61_000, stage: null }], 1_000));
    });
    const acknowledge = (at: number, fail: boolean) => store.transition('inc-001', { from: 'open', to: 'acknowledged', at, stamp: 'acknowledgedAt' }, person('acknowledge'),
      function* (i) {
        yield* tx.run(cancelSteps(q, i.id, at, ['open', 'acknowledged']));
        yield* tx.run(scheduleSteps(q, [{ incidentId: i.id, policy: 'red', step: 'dispatch_reminder', untilState: 'dispatched', dueAt: at + 300_000, stage: null }], at));
        if (fail) throw new Error('policy vanished');
        return 'scheduled';
      });
    expect(await rejection(acknowledge(2_000, true))).toEqual(new Error('policy vanished'));
    expect((await store.get('inc-001'))!.state).toBe('open');
    expect(await auditCount(db, 'acknowledge')).toBe(0);
    expect((await steps.of('inc-001')).map((s) => [s.step, s.done])).toEqual([['supervisor', 0]]);
    expect(await acknowledge(3_000, false)).toMatchObject({ ok: true, value: 'scheduled' });
    expect((await steps.of('inc-001')).map((s) => [s.step, s.done])).toEqual([['supervisor', 2], ['dispatch_reminder', 0]]);
    // A finding and a remark carry bodies too, run only when they applied: not on a closed incident.
    const raised = await store.addFindings('inc-001', { n: 1, at: 4_000, lastReading: '{}', confirmed: true, score: 1, level: 'red' }, [system('raised')],
      function* (i) {
        return yield* tx.run(cancelSteps(q, i.id, 4_000));
      });
    expect(raised).toMatchObject({ findingCount: 2, value: 1 });
    await store.transition('inc-001', { from: 'acknowledged', to: 'resolved', at: 5_000, stamp: 'resolvedAt', disposition: 'test', feedback: 'drill' }, person('resolve'));
    const never = function* (): TxBody<number> {
      yield* tx.run(scheduleSteps(q, [{ incidentId: 'inc-001', policy: 'red', step: 'late', untilState: 'resolved', dueAt: 9_000, stage: null }], 6_000));
      return 1;
    };
    expect(await store.addFindings('inc-001', { n: 1, at: 6_000, lastReading: '{}', confirmed: true, score: 1, level: 'red' }, [], never)).toBeUndefined();
    expect(await store.remark('inc-001', 6_000, person('en_route'), 'dispatched', never)).toMatchObject({ ok: false });
    expect((await steps.of('inc-001')).map((s) => s.step)).toEqual(['supervisor', 'dispatch_reminder']);
  });

  it('remarks change no state; one bound to a state is refused outside it; a center\'s notes and calls by time', async () => {
    const db = await backend.open();
    const store = createIncidentStorage({ sql: db.runner });
    await opened(store, 1);
    await opened(store, 2, 1_000, { centerId: 'fc-2' });
    expect(await store.remark('inc-001', 2_000, person('en_route'), 'dispatched')).toEqual({ ok: false, current: expect.objectContaining({ state: 'open', updatedAt: 1_000 }) });
    const noted = await store.remark('inc-001', 2_500, person('note', '电话未接通 \u0000'));
    expect(noted).toEqual({ ok: true, incident: expect.objectContaining({ state: 'open', updatedAt: 2_500 }) });
    await store.remark('inc-001', 3_000, person('call:no_answer', 'resident 138…'));
    await store.remark('inc-001', 3_100, person('CALL:odd', 'not a call entry'));
    await store.remark('inc-001', 3_200, system('condition_cleared', 'cleared'));
    await store.remark('inc-002', 3_300, person('note', 'other center'));
    await store.transition('inc-001', { from: 'open', to: 'acknowledged', at: 3_400 }, person('acknowledge'));
    await store.transition('inc-001', { from: 'acknowledged', to: 'dispatched', at: 3_500, assignee: 'w-1' }, person('dispatch'));
    expect((await store.remark('inc-001', 4_000, person('en_route', null, 'w-1'), 'dispatched')).ok).toBe(true);
    expect(await store.remark('nope', 4_000, person('note', 'x'))).toEqual({ ok: false, current: undefined });
    const log = await store.remarks('fc-1', 2_500, 4_000);
    expect(log.map((e) => [e.action, e.note, e.fromState, e.toState])).toEqual([
      ['note', '电话未接通 \uFFFD', 'open', 'open'], ['call:no_answer', 'resident 138…', 'open', 'open'],
    ]);
    expect(await store.remarks('fc-1', 2_600, 4_000)).toHaveLength(1);
    expect((await store.timeline('inc-001')).at(-1)).toMatchObject({ action: 'en_route', fromState: 'dispatched', toState: 'dispatched', actor: 'w-1' });
  });

  it('lists with the console\'s filters and order, and answers the gauges\', digests\' and reports\' queries', async () => {
    const db = await backend.open();
    const store = createIncidentStorage({ sql: db.runner });
    // Opened in this order: a closed red, a yellow, two reds opened at the same instant, one of another center.
    await opened(store, 1, 1_000, { siteId: 'site-a' });
    await opened(store, 2, 2_000, { level: 'yellow', siteId: 'site-a', gridId: 'g-2' });
    await opened(store, 4, 3_000, { siteId: 'site-a' });
    await opened(store, 3, 3_000);
    await opened(store, 5, 4_000, { centerId: 'fc-2', level: 'yellow' });
    await store.transition('inc-001', { from: 'open', to: 'acknowledged', at: 5_000 }, person('acknowledge'));
    await store.transition('inc-001', { from: 'acknowledged', to: 'dispatched', at: 5_500, assignee: 'w-9' }, person('dispatch'));
    await store.transition('inc-001', { from: 'dispatched', to: 'resolved', at: 6_000, stamp: 'resolvedAt', disposition: 'test', feedback: 'drill' }, person('resolve'));
    const ids = async (f: Parameters<typeof store.list>[0]) => (await store.list(f)).map((i) => i.id);
    expect(await ids({})).toEqual(['inc-004', 'inc-003', 'inc-005', 'inc-002', 'inc-001']);
    expect(await ids({ limit: 2, offset: 1 })).toEqual(['inc-003', 'inc-005']);
    expect(await ids({ active: true, centerId: 'fc-1' })).toEqual(['inc-004', 'inc-003', 'inc-002']);
    expect(await ids({ active: false })).toEqual(['inc-001']);
    expect(await ids({ level: ['yellow'] })).toEqual(['inc-005', 'inc-002']);
    expect(await ids({ state: ['resolved', 'acknowledged'] })).toEqual(['inc-001']);
    expect(await ids({ gridId: 'g-2' })).toEqual(['inc-002']);
    expect(await ids({ siteId: 'site-a', level: ['red'] })).toEqual(['inc-004', 'inc-001']);
    expect(await ids({ assignee: 'w-9' })).toEqual(['inc-001']);
    expect(await ids({ state: [], level: [] })).toHaveLength(5);
    expect(await ids({ openedFrom: 2_000, openedBefore: 3_001 })).toEqual(['inc-004', 'inc-003', 'inc-002']);
    expect(await ids({ openedFrom: 4_000 })).toEqual(['inc-005']);
    expect(await ids({ openedBefore: 2_000 })).toEqual(['inc-001']);
    expect(await store.activeByLevel()).toEqual({ red: 2, yellow: 2 });
    expect((await store.openAtSite('site-a', 'inc-004')).map((i) => i.id)).toEqual(['inc-002']);
    expect((await store.openAtSite('site-a', 'none')).map((i) => i.id)).toEqual(['inc-002', 'inc-004']);
    expect((await store.openedIn('fc-1', 2_000, 3_001)).map((i) => i.id)).toEqual(['inc-002', 'inc-003', 'inc-004']);
    expect((await store.openedIn('fc-1', 2_000, 3_000)).map((i) => i.id)).toEqual(['inc-002']);
    expect((await store.resolvedIn('fc-1', 6_000, 6_001)).map((i) => i.id)).toEqual(['inc-001']);
    expect(await store.resolvedIn('fc-2', 0, 10_000)).toEqual([]);
  });

  it('the database itself keeps the audit trail append-only', async () => {
    const db = await backend.open();
    const store = createIncidentStorage({ sql: db.runner });
    await opened(store, 1);
    expect(String(await rejection(db.exec("UPDATE alert_audit SET note = 'rewritten'")))).toMatch(/append-only/);
    expect(String(await rejection(db.exec('DELETE FROM alert_audit')))).toMatch(/append-only/);
    expect((await store.timeline('inc-001')).map((e) => e.note)).toEqual(['Smoke']);
  });
});

describe('incident storage on SQLite reads the rows of older versions', () => {
  it('an incident stored before SQLite migration 9 (no lead device) is led by the device that opened it', async () => {
    const db = await backends[0]!.open();
    const seam = createIncidentStorage({ sql: db.runner });
    db.sqlite!.prepare(`INSERT INTO alert_incidents (id, key, level, score, category, condition, state, active, center_id, site_id, grid_id,
      device_id, zone, title_en, title_zh, confirmed, finding_count, last_reading, opened_at, updated_at, last_finding_at, recurrence_of, lead_device)
      VALUES ('inc-old', 'site:e:fire', 'yellow', 0.4, 'fire', 'smoke', 'open', 1, 'fc-1', 'e', NULL, 'de', NULL, 'Smoke', '烟雾', 0, 1, NULL, 3000, 3000, 3000, NULL, NULL)`).run();
    expect((await seam.findOpen('site:e:fire'))?.leadDevice).toBe('de');
    const [made] = await seam.list({ siteId: 'e' } as never);
    expect(made).toMatchObject({ id: 'inc-old', deviceId: 'de', state: 'open', findingCount: 1 });
  });
});
