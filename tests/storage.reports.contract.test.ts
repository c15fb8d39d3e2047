// Reports behind the storage seam, and the runner's transaction they are written in (issue 21
// points 2 and 5): the same cases on SQLite and a real PostgreSQL. Two nodes building the same
// daily report store it once and mail it once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OutboxNew } from '../contracts/storage.ts';
import { createReportStorage, tx } from '../storage/index.ts';
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
