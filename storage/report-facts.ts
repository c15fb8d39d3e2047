// What the handover, daily and monthly reports are written from (contracts/storage.ts ReportFacts),
// one set of kysely queries for SQLite and PostgreSQL. Each report's reads run on one snapshot
// (runner.snapshot: REPEATABLE READ on PostgreSQL, one read transaction on SQLite), so a handover
// never counts an incident as resolved in the shift and still open because another node resolved
// it between two SELECTs.
import { sql, type Selectable } from 'kysely';
import type { ReportFacts } from '../contracts/storage.ts';
import { idByteOrder, openedInQuery, resolvedInQuery, toIncident } from './incidents.ts';
import type { SqlRunner } from './sql.ts';
import type { IncidentsTable } from './tables.ts';

export interface ReportFactsDeps {
  sql: SqlRunner;
}

/** Moves a person takes when they set off for or reach the site: the first of them is when a dispatched task was taken up. */
const TAKE_UP_ACTIONS = ['en_route', 'on_site'];

export function createReportFacts(deps: ReportFactsDeps): ReportFacts {
  const runner = deps.sql;
  const { q, dialect } = runner;

  const active = (centerId: string) => q.selectFrom('alert_incidents').selectAll().where('center_id', '=', centerId).where('active', '=', 1)
    .orderBy(sql`CASE level WHEN 'red' THEN 0 ELSE 1 END`).orderBy('opened_at').orderBy(idByteOrder(dialect));

  // EXISTS rather than a join with DISTINCT: PostgreSQL's DISTINCT refuses an ORDER BY on an
  // expression it does not select (the id's COLLATE "C").
  const enforcement = (centerId: string) => q.selectFrom('alert_incidents').selectAll().where('center_id', '=', centerId).where('active', '=', 1)
    .where((eb) => eb.exists(eb.selectFrom('alert_escalations as e').select(sql<number>`1`.as('hit'))
      .whereRef('e.incident_id', '=', 'alert_incidents.id').where('e.done', '=', 1).where('e.step', '=', 'enforcement')))
    .orderBy('opened_at').orderBy(idByteOrder(dialect));

  const pendingSteps = (centerId: string) => q.selectFrom('alert_escalations as e').innerJoin('alert_incidents as i', 'i.id', 'e.incident_id')
    .select((eb) => eb.fn.countAll<number>().as('n')).where('i.center_id', '=', centerId).where('e.done', '=', 0);

  // One query for the month, not one per incident: on a network database a month of tasks would be
  // as many round trips.
  const takeUps = (centerId: string, from: number, to: number) => q.selectFrom('alert_audit as a').innerJoin('alert_incidents as i', 'i.id', 'a.incident_id')
    .select((eb) => ['a.incident_id', eb.fn.min<number>('a.at').as('at')])
    .where('i.center_id', '=', centerId).where('i.opened_at', '>=', from).where('i.opened_at', '<', to).where('i.dispatched_at', 'is not', null)
    .where('a.action', 'in', TAKE_UP_ACTIONS).whereRef('a.at', '>=', 'i.dispatched_at')
    .groupBy('a.incident_id');

  const incidents = (rows: unknown[] | undefined) => (rows as Selectable<IncidentsTable>[]).map(toIncident);
  const count = (rows: unknown[] | undefined) => Number((rows as Array<{ n: number }>)[0]?.n ?? 0);

  return {
    async handover(centerId, from, to) {
      const [a, o, r, p] = await runner.snapshot([
        active(centerId), openedInQuery(runner, centerId, from, to), resolvedInQuery(runner, centerId, from, to), pendingSteps(centerId),
      ]);
      return { active: incidents(a), opened: incidents(o), resolved: incidents(r), pendingSteps: count(p) };
    },

    async daily(centerId, from, to) {
      const [o, r, a, e] = await runner.snapshot([
        openedInQuery(runner, centerId, from, to), resolvedInQuery(runner, centerId, from, to), active(centerId), enforcement(centerId),
      ]);
      return { opened: incidents(o), resolved: incidents(r), active: incidents(a), enforcement: incidents(e) };
    },

    async month(centerId, from, to) {
      const [o, t] = await runner.snapshot([openedInQuery(runner, centerId, from, to), takeUps(centerId, from, to)]);
      const firsts = new Map<string, number>();
      for (const row of t as Array<{ incident_id: string; at: number }>) firsts.set(row.incident_id, Number(row.at));
      return { opened: incidents(o), takeUps: firsts };
    },
  };
}

