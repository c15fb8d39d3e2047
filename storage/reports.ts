// Reports behind the storage seam (contracts/storage.ts): the rows of alerts/reports.ts, stored
// once per (kind, center, period) with their deliveries queued in the same transaction. In
// cluster mode two nodes may build the same daily report; the unique key decides which one is
// kept, and only that one is mailed.
import type { Selectable } from 'kysely';
import type { ReportStorage, StoredReport } from '../contracts/storage.ts';
import { insertOutboxRows } from './outbox.ts';
import { tx, type SqlRunner } from './sql.ts';
import type { ReportsTable } from './tables.ts';
import { text } from './text.ts';

export interface ReportStorageDeps {
  sql: SqlRunner;
}

function toReport(r: Selectable<ReportsTable>): StoredReport {
  return { id: r.id, kind: r.kind, centerId: r.center_id, period: r.period, createdAt: r.created_at, body: r.body };
}

export function createReportStorage(deps: ReportStorageDeps): ReportStorage {
  const { q } = deps.sql;
  const byKey = (kind: string, centerId: string, period: string) =>
    q.selectFrom('alert_reports').selectAll().where('kind', '=', kind).where('center_id', '=', centerId).where('period', '=', period);

  return {
    put(report, deliveries) {
      return deps.sql.transaction(function* () {
        const [made] = yield* tx.all(q.insertInto('alert_reports')
          .values({ kind: report.kind, center_id: report.centerId, period: report.period, created_at: report.createdAt, body: text(report.body) })
          // On PostgreSQL a concurrent insert of the same key waits for the first to commit, then does nothing.
          .onConflict((oc) => oc.columns(['kind', 'center_id', 'period']).doNothing())
          .returning('id'));
        if (!made) {
          const [existing] = yield* tx.all(byKey(report.kind, report.centerId, report.period));
          return { report: toReport(existing!), created: false };
        }
        if (deliveries.length) yield* tx.run(insertOutboxRows(q, deliveries.map((d) => ({ ...d, reportId: made.id })), report.createdAt));
        const [row] = yield* tx.all(q.selectFrom('alert_reports').selectAll().where('id', '=', made.id));
        return { report: toReport(row!), created: true };
      });
    },

    async get(kind, centerId, period) {
      const [r] = await deps.sql.all(byKey(kind, centerId, period));
      return r ? toReport(r) : undefined;
    },

    async byId(id) {
      const [r] = await deps.sql.all(q.selectFrom('alert_reports').selectAll().where('id', '=', id));
      return r ? toReport(r) : undefined;
    },

    async last(kind, centerId) {
      const [r] = await deps.sql.all(q.selectFrom('alert_reports').selectAll().where('kind', '=', kind).where('center_id', '=', centerId)
        .orderBy('created_at', 'desc').orderBy('id', 'desc').limit(1));
      return r ? toReport(r) : undefined;
    },
  };
}
