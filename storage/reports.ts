// Reports behind the storage seam (contracts/storage.ts): the rows of alerts/reports.ts, stored
// once per (kind, center, period) with their deliveries queued in the same transaction. In
// cluster mode two nodes may build the same daily report; the unique key decides which one is
// kept, and only that one is mailed.
import type { Kysely, Selectable } from 'kysely';
import type { ReportStorage, StoredReport } from '../contracts/storage.ts';
import { insertOutboxRows } from './outbox.ts';
import { tx, type SqlRunner, type TxBody } from './sql.ts';
import type { ReportsTable, Tables } from './tables.ts';
import { text } from './text.ts';

export interface ReportStorageDeps {
  sql: SqlRunner;
}

function toReport(r: Selectable<ReportsTable>): StoredReport {
  return { id: r.id, kind: r.kind, centerId: r.center_id, period: r.period, createdAt: r.created_at, body: r.body };
}

const byKey = (q: Kysely<Tables>, kind: string, centerId: string, period: string) =>
  q.selectFrom('alert_reports').selectAll().where('kind', '=', kind).where('center_id', '=', centerId).where('period', '=', period);

/**
 * Inside a runner transaction: stores the report unless its (kind, center, period) is stored
 * already, and returns the stored one and whether this call made it. The unique key decides on
 * both databases (ON CONFLICT DO NOTHING): on PostgreSQL a concurrent insert of the same key waits
 * for the first to commit, then does nothing, and the SELECT after it (a statement of its own under
 * READ COMMITTED) sees the winner's row. Only a caller told `created` queues the report's
 * deliveries, in the same transaction: a report is mailed once however many nodes make it.
 */
export function* insertReport(q: Kysely<Tables>, report: Omit<StoredReport, 'id'>): TxBody<{ report: StoredReport; created: boolean }> {
  const [made] = yield* tx.all(q.insertInto('alert_reports')
    .values({ kind: report.kind, center_id: report.centerId, period: report.period, created_at: report.createdAt, body: text(report.body) })
    .onConflict((oc) => oc.columns(['kind', 'center_id', 'period']).doNothing())
    .returningAll());
  if (made) return { report: toReport(made), created: true };
  const [existing] = yield* tx.all(byKey(q, report.kind, report.centerId, report.period));
  if (!existing) throw new Error(`report ${report.kind} ${report.centerId} ${report.period} is neither new nor stored`);
  return { report: toReport(existing), created: false };
}

export function createReportStorage(deps: ReportStorageDeps): ReportStorage {
  const { q } = deps.sql;

  return {
    put(report, deliveries) {
      return deps.sql.transaction(function* () {
        const put = yield* insertReport(q, report);
        if (put.created && deliveries.length) {
          yield* tx.run(insertOutboxRows(q, deliveries.map((d) => ({ ...d, reportId: put.report.id })), report.createdAt));
        }
        return put;
      });
    },

    async get(kind, centerId, period) {
      const [r] = await deps.sql.all(byKey(q, kind, centerId, period));
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
