// Reports behind the storage seam, and the runner's transaction they are written in (issue 21
// points 2 and 5): the same cases on SQLite and a real PostgreSQL. Two nodes building the same
// daily report store it once and mail it once. And the facts the reports are written from
// (storage/report-facts.ts), in byte order whatever the server's collation.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditNew, IncidentNew, OutboxNew } from '../contracts/storage.ts';
import {
  createEscalationStorage, createIncidentStorage, createReportFacts, createReportStorage, insertReport, tx, type SqlIncidentStorage, type TxBody,
} from '../storage/index.ts';
import { insertOutboxRows } from '../storage/outbox.ts';
import { sqlBackends, type TestDatabase } from './support/sql-backends.ts';

const backends = sqlBackends();
beforeAll(() => Promise.all(backends.map((b) => b.setup())));
afterAll(() => Promise.all(backends.map((b) => b.teardown())));

function delivery(i: number): Omit<OutboxNew, 'reportId'> {
  return {
    channel: 'email', incidentId: null, kind: 'report:daily', step: null, recipientKind: 'supervisor', recipientId: `p-${i}`,
    recipientName: `值班长${i}`, address: `sup${i}@example.test`, locale: 'zh-CN',
  };
}

const report = (period: string, createdAt = 1_000, body = `{"period":"${period}"}`) => ({ kind: 'daily', centerId: 'fc-1', period, createdAt, body });

async function outboxOf(db: TestDatabase): Promise<Array<{ report_id: number; n: number; due: number }>> {
  const rows = await db.query<{ report_id: number; n: number; due: number }>('SELECT report_id, COUNT(*) AS n, MIN(next_at) AS due FROM alert_outbox GROUP BY report_id ORDER BY report_id');
  return rows.map((r) => ({ report_id: Number(r.report_id), n: Number(r.n), due: Number(r.due) }));
}

describe.each(backends)('report storage and transactions on $name', (backend) => {
  it('a transaction reads its own writes and commits them all', async () => {
    const db = await backend.open();
    const { q } = db.runner;
    const result = await db.runner.transaction(function* () {
      yield* tx.run(q.insertInto('wf_leases').values({ name: 'a', holder: 'h', term: 1, expires_at: 10 }));
      const changed = yield* tx.run(q.updateTable('wf_leases').set({ term: 2 }).where('name', '=', 'a'));
      const rows = yield* tx.all(q.selectFrom('wf_leases').select(['name', 'term']));
      return { changed, rows };
    });
    expect(result).toEqual({ changed: 1, rows: [{ name: 'a', term: 2 }] });
    expect(await db.runner.all(q.selectFrom('wf_leases').select('term'))).toEqual([{ term: 2 }]);
  });

  it('a throw in the body or a failing statement rolls everything back, and the body\'s finally runs', async () => {
    const db = await backend.open();
    const { q } = db.runner;
    const write = q.insertInto('wf_leases').values({ name: 'a', holder: 'h', term: 1, expires_at: 10 });
    await expect(db.runner.transaction(function* () {
      yield* tx.run(write);
      throw new Error('changed my mind');
    })).rejects.toThrow('changed my mind');
    let cleaned = false;
    await expect(db.runner.transaction(function* () {
      try {
        yield* tx.run(write);
        yield* tx.run(write); // the same primary key again
        return 'unreachable';
      } finally {
        cleaned = true;
      }
    })).rejects.toBeInstanceOf(Error);
    expect(cleaned).toBe(true);
    expect(await db.runner.all(q.selectFrom('wf_leases').selectAll())).toEqual([]);
  });

  it('stores a report once with its deliveries; a second put returns the first and queues nothing', async () => {
    const db = await backend.open();
    const reports = createReportStorage({ sql: db.runner });
    const first = await reports.put(report('2026-12-06', 1_000), [delivery(1), delivery(2)]);
    expect(first).toEqual({ created: true, report: { id: first.report.id, ...report('2026-12-06', 1_000) } });
    const again = await reports.put(report('2026-12-06', 2_000, '{"other":true}'), [delivery(3)]);
    expect(again).toEqual({ created: false, report: first.report });
    expect(await outboxOf(db)).toEqual([{ report_id: first.report.id, n: 2, due: 1_000 }]);
    const none = await reports.put(report('2026-12-07', 3_000), []);
    expect(none.created).toBe(true);
    expect(await outboxOf(db)).toHaveLength(1);
  });

  it('two nodes putting the same reports at once: each stored and queued once, by one of them', async () => {
    const db = await backend.open();
    const a = createReportStorage({ sql: db.runner });
    const b = createReportStorage({ sql: db.another() });
    const periods = Array.from({ length: 10 }, (_, i) => `2026-11-${String(i + 1).padStart(2, '0')}`);
    const results = await Promise.all(periods.flatMap((p) => [a.put(report(p), [delivery(1), delivery(2)]), b.put(report(p), [delivery(1), delivery(2)])]));
    for (let i = 0; i < periods.length; i++) {
      const [x, y] = [results[2 * i]!, results[2 * i + 1]!];
      expect([x.created, y.created].filter(Boolean), periods[i]).toHaveLength(1);
      expect(x.report).toEqual(y.report);
    }
    const queued = await outboxOf(db);
    expect(queued).toHaveLength(10);
    expect(queued.every((r) => r.n === 2)).toBe(true);
  });

  it('finds a report by key and id, and the newest of a kind', async () => {
    const reports = createReportStorage({ sql: (await backend.open()).runner });
    const older = await reports.put(report('2026-12-05', 5_000), []);
    const newer = await reports.put(report('2026-12-06', 6_000), []);
    const sameTime = await reports.put(report('2026-12-04', 6_000), []);
    await reports.put({ ...report('2026-12-09', 9_000), kind: 'weekly' }, []);
    expect(await reports.get('daily', 'fc-1', '2026-12-05')).toEqual(older.report);
    expect(await reports.get('daily', 'fc-2', '2026-12-05')).toBeUndefined();
    expect(await reports.byId(newer.report.id)).toEqual(newer.report);
    expect(await reports.byId(newer.report.id + 100)).toBeUndefined();
    // Ties on created_at go to the later id.
    expect(await reports.last('daily', 'fc-1')).toEqual(sameTime.report);
    expect(await reports.last('daily', 'fc-9')).toBeUndefined();
  });
});

function incident(id: string, over: Partial<IncidentNew> = {}): IncidentNew {
  return {
    id, key: `site:${id}:fire`, level: 'red', score: 0.9, category: 'fire', condition: 'smoke', centerId: 'fc-1', siteId: `s-${id}`, gridId: 'g-1',
    deviceId: `d-${id}`, zone: null, title: { en: 'Smoke', zh: '烟雾' }, confirmed: false, lastReading: null, recurrenceOf: null, ...over,
  };
}

const by = (action: string, actor = 'op-1'): AuditNew => ({ actor, action, note: null, noteZh: null });
const ids = (xs: ReadonlyArray<{ id: string }>) => xs.map((x) => x.id);

function* done<R>(value?: R): TxBody<{ outcome: 'done'; value?: R }> {
  yield* [];
  return { outcome: 'done', value };
}

/**
 * Center fc-1: three open incidents opened at the same instant whose ids sort differently in byte
 * order (Z < a < b) and in a locale's (a < b < Z), one resolved, one opened after the period; and
 * one of center fc-2 that no report of fc-1 may count.
 */
async function plant(store: SqlIncidentStorage) {
  await store.open(incident('inc-a'), 1_000, by('opened'));
  await store.open(incident('inc-Z'), 1_000, by('opened'));
  await store.open(incident('inc-b', { level: 'yellow', category: 'maintenance' }), 1_000, by('opened'));
  await store.open(incident('inc-r'), 500, by('opened'));
  await store.transition('inc-r', { from: 'open', to: 'resolved', at: 1_500, stamp: 'resolvedAt', disposition: 'nuisance' }, by('resolve'));
  await store.open(incident('inc-late'), 5_000, by('opened'));
  await store.open(incident('inc-other', { centerId: 'fc-2' }), 1_000, by('opened'));
}

describe.each(backends)('report facts on $name', (backend) => {
  it('the handover: open red first then oldest, opened and resolved in the shift, pending escalation steps of the center', async () => {
    const db = await backend.open();
    await plant(createIncidentStorage({ sql: db.runner }));
    const steps = createEscalationStorage({ sql: db.runner });
    const step = (incidentId: string, dueAt: number) => ({ incidentId, policy: 'p', step: 'reminder', untilState: 'acknowledged', dueAt, stage: null });
    await steps.schedule([step('inc-a', 0), step('inc-a', 9_000), step('inc-b', 9_000), step('inc-other', 9_000)], 0);
    await steps.runDue(10, 10, () => done());
    const facts = await createReportFacts({ sql: db.runner }).handover('fc-1', 800, 2_000);
    expect(ids(facts.active)).toEqual(['inc-Z', 'inc-a', 'inc-late', 'inc-b']);
    expect(ids(facts.opened)).toEqual(['inc-Z', 'inc-a', 'inc-b']);
    expect(ids(facts.resolved)).toEqual(['inc-r']);
    expect(facts.resolved[0]).toMatchObject({ state: 'resolved', resolvedAt: 1_500, disposition: 'nuisance', openedAt: 500 });
    expect(facts.pendingSteps).toBe(2);
    expect(await createReportFacts({ sql: db.runner }).handover('fc-9', 0, 9_000)).toEqual({ active: [], opened: [], resolved: [], pendingSteps: 0 });
  });

  it('the daily report: the enforcement list holds each open incident whose enforcement step ran, once, in byte order of id', async () => {
    const db = await backend.open();
    await plant(createIncidentStorage({ sql: db.runner }));
    const steps = createEscalationStorage({ sql: db.runner });
    const enforcement = (incidentId: string, dueAt: number) => ({ incidentId, policy: 'p', step: 'enforcement', untilState: 'resolved', dueAt, stage: null });
    // inc-a's ran twice (a repeat), inc-Z's ran, inc-b's is still pending, inc-r's ran but it is resolved, inc-other is fc-2's.
    await steps.schedule([enforcement('inc-a', 0), enforcement('inc-a', 1), enforcement('inc-Z', 0), enforcement('inc-b', 9_000), enforcement('inc-r', 0), enforcement('inc-other', 0)], 0);
    await steps.runDue(10, 10, () => done());
    const facts = await createReportFacts({ sql: db.runner }).daily('fc-1', 0, 2_000);
    expect(ids(facts.enforcement)).toEqual(['inc-Z', 'inc-a']);
    expect(ids(facts.opened)).toEqual(['inc-r', 'inc-Z', 'inc-a', 'inc-b']);
    expect(ids(facts.resolved)).toEqual(['inc-r']);
    expect(ids(facts.active)).toEqual(['inc-Z', 'inc-a', 'inc-late', 'inc-b']);
  });

  it('the month: for each dispatched incident opened in it, the first en route or on site at or after the dispatch', async () => {
    const db = await backend.open();
    const store = createIncidentStorage({ sql: db.runner });
    await plant(store);
    // inc-a: dispatched at 1 100, en route at 1 200, on site at 1 300: taken up at 1 200.
    await store.transition('inc-a', { from: 'open', to: 'dispatched', at: 1_100, stamp: 'dispatchedAt', assignee: 'gw-1' }, by('dispatch'));
    await store.remark('inc-a', 1_200, by('en_route', 'gw-1'));
    await store.transition('inc-a', { from: 'dispatched', to: 'on_site', at: 1_300, stamp: 'onSiteAt' }, by('on_site', 'gw-1'));
    // inc-b: an en route before its dispatch does not count; on site at 1 400 does.
    await store.remark('inc-b', 1_050, by('en_route', 'gw-1'));
    await store.transition('inc-b', { from: 'open', to: 'dispatched', at: 1_100, stamp: 'dispatchedAt', assignee: 'gw-1' }, by('dispatch'));
    await store.transition('inc-b', { from: 'dispatched', to: 'on_site', at: 1_400, stamp: 'onSiteAt' }, by('on_site', 'gw-1'));
    // inc-Z: en route but never dispatched; inc-late and inc-other: taken up, but outside the month or the center.
    await store.remark('inc-Z', 1_200, by('en_route', 'gw-1'));
    for (const id of ['inc-late', 'inc-other']) {
      await store.transition(id, { from: 'open', to: 'dispatched', at: 6_000, stamp: 'dispatchedAt', assignee: 'gw-1' }, by('dispatch'));
      await store.remark(id, 6_100, by('en_route', 'gw-1'));
    }
    const facts = await createReportFacts({ sql: db.runner }).month('fc-1', 0, 2_000);
    expect(ids(facts.opened)).toEqual(['inc-r', 'inc-Z', 'inc-a', 'inc-b']);
    expect(facts.opened.find((i) => i.id === 'inc-a')).toMatchObject({ assignee: 'gw-1', dispatchedAt: 1_100, onSiteAt: 1_300, gridId: 'g-1' });
    expect(new Map(facts.takeUps)).toEqual(new Map([['inc-a', 1_200], ['inc-b', 1_400]]));
  });

  it('insertReport in the caller\'s transaction: the caller queues deliveries only for the report it made, and a rollback leaves nothing', async () => {
    const db = await backend.open();
    const { q } = db.runner;
    const make = (createdAt: number) => db.runner.transaction(function* () {
      const put = yield* insertReport(q, report('2026-12-06', createdAt));
      if (put.created) yield* tx.run(insertOutboxRows(q, [{ ...delivery(1), reportId: put.report.id }], createdAt));
      return put;
    });
    await expect(db.runner.transaction(function* () {
      yield* insertReport(q, report('2026-12-06', 500));
      throw new Error('the deliveries could not be queued');
    })).rejects.toThrow('could not be queued');
    const [first, second] = await Promise.all([make(1_000), db.another().transaction(function* () {
      return yield* insertReport(q, report('2026-12-06', 2_000));
    })]);
    expect([first!.created, second!.created].filter(Boolean)).toHaveLength(1);
    expect(second!.report).toEqual(first!.report);
    const stored = await createReportStorage({ sql: db.runner }).get('daily', 'fc-1', '2026-12-06');
    expect(stored).toEqual(first!.report);
    expect(await outboxOf(db)).toEqual(first!.created ? [{ report_id: stored!.id, n: 1, due: 1_000 }] : []);
  });
});
