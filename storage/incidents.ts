// Incidents and their audit trail behind the storage seam (contracts/storage.ts IncidentStorage):
// the rows of alerts/incidents.ts, one set of kysely queries for SQLite and PostgreSQL. The
// embedded default keeps alerts/store.ts on the alarm path (synchronous, microseconds).
//
// Concurrency, as the contract states it: a transition's UPDATE carries `state = from` in its
// WHERE. On PostgreSQL (READ COMMITTED) a second UPDATE of the same row waits for the first to
// commit, then evaluates its WHERE again on the row as committed, finds another state and changes
// nothing; on SQLite the IMMEDIATE transaction makes it the only writer and it reads the committed
// row. Either way the loser's audit entry and its body are never written. No version column: a
// finding (count, level) racing an acknowledgement must not make the acknowledgement fail, and
// the state is the only thing a transition is decided on.
//
// Each write takes an optional body (`then`) run in the same transaction once the write applied,
// through tx.* and other stores' statement builders (scheduleSteps/cancelSteps, insertOutboxRows):
// an acknowledgement and the cancelling of its escalation steps commit together or not at all.
import { sql, type Kysely, type Selectable, type SqlBool } from 'kysely';
import type { Level } from '../contracts/findings.ts';
import { IncidentFilter, type AuditEntry, type Incident, type IncidentState } from '../contracts/incidents.ts';
import type { AuditNew, IncidentStamp, IncidentStorage, IncidentWrite } from '../contracts/storage.ts';
import { tx, type SqlRunner, type TxBody } from './sql.ts';
import type { AuditTable, IncidentsTable, Tables } from './tables.ts';
import { text } from './text.ts';

export interface IncidentStorageDeps {
  sql: SqlRunner;
}

/** Work done in the write's transaction once it applied, with the incident as written. */
export type IncidentThen<R> = (incident: Incident) => TxBody<R>;

/** An incident row as the contract's Incident. */
export function toIncident(r: Selectable<IncidentsTable>): Incident {
  return {
    id: r.id, key: r.key, level: r.level as Incident['level'], score: r.score, category: r.category as Incident['category'],
    condition: r.condition, state: r.state as IncidentState, centerId: r.center_id, siteId: r.site_id, gridId: r.grid_id,
    deviceId: r.device_id, zone: r.zone, title: { en: r.title_en, zh: r.title_zh }, confirmed: r.confirmed === 1,
    findingCount: r.finding_count, openedAt: r.opened_at, updatedAt: r.updated_at, lastFindingAt: r.last_finding_at,
    acknowledgedAt: r.acknowledged_at, dispatchedAt: r.dispatched_at, onSiteAt: r.on_site_at, resolvedAt: r.resolved_at,
    reviewedAt: r.reviewed_at, assignee: r.assignee, disposition: r.disposition as Incident['disposition'], feedback: r.feedback,
    recurrenceOf: r.recurrence_of,
  };
}

function toEntry(a: Selectable<AuditTable>): AuditEntry {
  return {
    id: a.id, incidentId: a.incident_id, at: a.at, actor: a.actor, action: a.action, fromState: a.from_state as IncidentState | null,
    toState: a.to_state as IncidentState | null, note: a.note, noteZh: a.note_zh,
  };
}

const STAMP_COLUMN = {
  acknowledgedAt: 'acknowledged_at', dispatchedAt: 'dispatched_at', onSiteAt: 'on_site_at', resolvedAt: 'resolved_at', reviewedAt: 'reviewed_at',
} as const satisfies Record<IncidentStamp, keyof IncidentsTable>;

/** Resolved and reviewed incidents are closed: the one-open-incident-per-key index no longer holds them. */
const CLOSED: readonly IncidentState[] = ['resolved', 'reviewed'];

const LEVEL_RANK: Record<Level, number> = { green: 0, yellow: 1, red: 2 };
const levelRank = sql<number>`CASE level WHEN 'red' THEN 2 WHEN 'yellow' THEN 1 ELSE 0 END`;

/** The SELECT of one incident by id, for another store's transaction (an escalation step reads its incident). */
export function incidentById(q: Kysely<Tables>, id: string) {
  return q.selectFrom('alert_incidents').selectAll().where('id', '=', id);
}

/** The INSERT of a timeline entry with its states; also used in another store's transaction (an escalation step's entry). */
export function insertAudit(q: Kysely<Tables>, incidentId: string, at: number, from: IncidentState | null, to: IncidentState | null, a: AuditNew) {
  return q.insertInto('alert_audit').values({
    incident_id: incidentId, at, actor: a.actor, action: a.action, from_state: from, to_state: to,
    note: a.note === null ? null : text(a.note), note_zh: a.noteZh === null ? null : text(a.noteZh),
  });
}

/** The UPDATE of an incident's updatedAt (something happened to it that changes no column of its own). */
export function touchIncident(q: Kysely<Tables>, id: string, at: number) {
  return q.updateTable('alert_incidents').set({ updated_at: at }).where('id', '=', id);
}

export function createIncidentStorage(deps: IncidentStorageDeps) {
  const runner = deps.sql;
  const { q, dialect } = runner;
  // A text id as a tie-break in byte order on both (PostgreSQL's default collation is the server's locale).
  const idOrder = dialect === 'postgres' ? sql`id COLLATE "C"` : sql`id`;
  // SQLite's two-argument MAX is PostgreSQL's GREATEST.
  const greatest = (column: 'confirmed' | 'score', value: number) =>
    dialect === 'postgres' ? sql<number>`GREATEST(${sql.ref(column)}, ${value})` : sql<number>`MAX(${sql.ref(column)}, ${value})`;

  const byId = (id: string) => incidentById(q, id);

  /** After an UPDATE … RETURNING that may have matched nothing: the write, or what was found instead. */
  function* applied<R>(row: Selectable<IncidentsTable> | undefined, id: string, at: number, from: IncidentState | null, audit: AuditNew, then?: IncidentThen<R>): TxBody<IncidentWrite & { value?: R }> {
    if (!row) {
      const [cur] = yield* tx.all(byId(id));
      return { ok: false, current: cur ? toIncident(cur) : undefined };
    }
    const incident = toIncident(row);
    yield* tx.run(insertAudit(q, id, at, from ?? incident.state, incident.state, audit));
    return then ? { ok: true, incident, value: yield* then(incident) } : { ok: true, incident };
  }

  const sorted = (rows: Selectable<IncidentsTable>[]) => rows.map(toIncident);

  return {
    open<R = never>(incident: Parameters<IncidentStorage['open']>[0], at: number, audit: AuditNew, then?: IncidentThen<R>) {
      const i = incident;
      return runner.transaction(function* (): TxBody<{ incident: Incident; created: boolean; value?: R }> {
        const [made] = yield* tx.all(q.insertInto('alert_incidents').values({
          id: i.id, key: i.key, level: i.level, score: i.score, category: i.category, condition: i.condition, state: 'open', active: 1,
          center_id: i.centerId, site_id: i.siteId, grid_id: i.gridId, device_id: i.deviceId, zone: i.zone, title_en: text(i.title.en),
          title_zh: text(i.title.zh), confirmed: i.confirmed ? 1 : 0, finding_count: 1, last_reading: i.lastReading === null ? null : text(i.lastReading),
          opened_at: at, updated_at: at, last_finding_at: at, recurrence_of: i.recurrenceOf, lead_device: i.deviceId,
        })
          // The partial index's predicate, spelled out so both databases infer that index: a
          // concurrent open of the key waits for the first to commit, then does nothing.
          .onConflict((oc) => oc.column('key').where(sql<SqlBool>`active = 1`).doNothing())
          .returningAll());
        if (!made) {
          const [open] = yield* tx.all(q.selectFrom('alert_incidents').selectAll().where('key', '=', i.key).where('active', '=', 1));
          if (!open) throw new Error(`incident key ${i.key} is neither open nor free`);
          return { incident: toIncident(open), created: false };
        }
        const created = toIncident(made);
        yield* tx.run(insertAudit(q, i.id, at, null, 'open', audit));
        return then ? { incident: created, created: true, value: yield* then(created) } : { incident: created, created: true };
      });
    },

    async findOpen(key: string) {
      const [r] = await runner.all(q.selectFrom('alert_incidents').selectAll().where('key', '=', key).where('active', '=', 1));
      // Rows from before SQLite's migration 9 have no lead device: the opening device led.
      return r ? { ...toIncident(r), leadDevice: r.lead_device ?? r.device_id } : undefined;
    },

    async lastResolved(key: string, since: number) {
      const [r] = await runner.all(q.selectFrom('alert_incidents').select(['id', 'resolved_at'])
        .where('key', '=', key).where('active', '=', 0).where('resolved_at', '>=', since)
        .orderBy('resolved_at', 'desc').orderBy(idOrder, 'desc').limit(1));
      return r ? { id: r.id, resolvedAt: r.resolved_at! } : undefined;
    },

    async addFindings<R = never>(id: string, f: Parameters<IncidentStorage['addFindings']>[1], audit: readonly AuditNew[], then?: IncidentThen<R>) {
      if (!Number.isInteger(f.n) || f.n < 1) throw new RangeError(`n must be a whole number ≥ 1, got ${f.n}`);
      return runner.transaction(function* (): TxBody<(Incident & { value?: R }) | undefined> {
        const [row] = yield* tx.all(q.updateTable('alert_incidents').set((eb) => ({
          finding_count: eb('finding_count', '+', f.n), last_reading: text(f.lastReading), last_finding_at: f.at, updated_at: f.at,
          confirmed: greatest('confirmed', f.confirmed ? 1 : 0), score: greatest('score', f.score),
          // Only ever up: a lesser level leaves it.
          level: sql<string>`CASE WHEN ${levelRank} < ${LEVEL_RANK[f.level]} THEN ${f.level} ELSE level END`,
          ...(f.lead ? { condition: f.lead.condition, title_en: text(f.lead.title.en), title_zh: text(f.lead.title.zh), lead_device: f.lead.deviceId } : {}),
        })).where('id', '=', id).where('active', '=', 1).returningAll());
        if (!row) return undefined;
        const incident = toIncident(row);
        for (const a of audit) yield* tx.run(insertAudit(q, id, f.at, incident.state, incident.state, a));
        return then ? { ...incident, value: yield* then(incident) } : incident;
      });
    },

    transition<R = never>(id: string, change: Parameters<IncidentStorage['transition']>[1], audit: AuditNew, then?: IncidentThen<R>) {
      const c = change;
      return runner.transaction(function* () {
        const [row] = yield* tx.all(q.updateTable('alert_incidents').set({
          state: c.to, active: CLOSED.includes(c.to) ? 0 : 1, updated_at: c.at,
          ...(c.stamp ? { [STAMP_COLUMN[c.stamp]]: c.at } : {}),
          ...(c.assignee !== undefined ? { assignee: c.assignee } : {}),
          ...(c.disposition !== undefined ? { disposition: c.disposition } : {}),
          ...(c.feedback !== undefined ? { feedback: text(c.feedback) } : {}),
        }).where('id', '=', id).where('state', '=', c.from).returningAll());
        return yield* applied(row, id, c.at, c.from, audit, then);
      });
    },

    remark<R = never>(id: string, at: number, audit: AuditNew, inState?: IncidentState, then?: IncidentThen<R>) {
      return runner.transaction(function* () {
        let touch = q.updateTable('alert_incidents').set({ updated_at: at }).where('id', '=', id);
        if (inState) touch = touch.where('state', '=', inState);
        const [row] = yield* tx.all(touch.returningAll());
        return yield* applied(row, id, at, null, audit, then);
      });
    },

    async get(id: string) {
      const [r] = await runner.all(byId(id));
      return r ? toIncident(r) : undefined;
    },

    async list(filter: IncidentFilter) {
      const f = IncidentFilter.parse(filter);
      let s = q.selectFrom('alert_incidents').selectAll();
      if (f.state?.length) s = s.where('state', 'in', f.state);
      if (f.level?.length) s = s.where('level', 'in', f.level);
      if (f.centerId !== undefined) s = s.where('center_id', '=', f.centerId);
      if (f.gridId !== undefined) s = s.where('grid_id', '=', f.gridId);
      if (f.siteId !== undefined) s = s.where('site_id', '=', f.siteId);
      if (f.assignee !== undefined) s = s.where('assignee', '=', f.assignee);
      if (f.active !== undefined) s = s.where('active', '=', f.active ? 1 : 0);
      if (f.openedFrom !== undefined) s = s.where('opened_at', '>=', f.openedFrom);
      if (f.openedBefore !== undefined) s = s.where('opened_at', '<', f.openedBefore);
      // Red on top, then the newest: the order the console shows.
      return sorted(await runner.all(s.orderBy('active', 'desc').orderBy(sql`CASE level WHEN 'red' THEN 0 WHEN 'yellow' THEN 1 ELSE 2 END`)
        .orderBy('opened_at', 'desc').orderBy(idOrder, 'desc').limit(f.limit).offset(f.offset)));
    },

    async timeline(id: string) {
      return (await runner.all(q.selectFrom('alert_audit').selectAll().where('incident_id', '=', id).orderBy('id'))).map(toEntry);
    },

    async remarks(centerId: string, from: number, to: number) {
      const rows = await runner.all(q.selectFrom('alert_audit as a').innerJoin('alert_incidents as i', 'i.id', 'a.incident_id').selectAll('a')
        .where('a.at', '>=', from).where('a.at', '<', to).where('i.center_id', '=', centerId)
        // Not LIKE 'call:%': SQLite's LIKE ignores ASCII case, PostgreSQL's does not.
        .where((eb) => eb.or([eb('a.action', '=', 'note'), eb(eb.fn('substr', ['a.action', eb.lit(1), eb.lit(5)]), '=', 'call:')]))
        .orderBy('a.at').orderBy('a.id').limit(5000));
      return rows.map(toEntry);
    },

    async activeByLevel() {
      const rows = await runner.all(q.selectFrom('alert_incidents').select((eb) => ['level', eb.fn.countAll<number>().as('n')])
        .where('active', '=', 1).groupBy('level'));
      return Object.fromEntries(rows.map((r) => [r.level, Number(r.n)])) as Partial<Record<Level, number>>;
    },

    async openAtSite(siteId: string, exceptId: string) {
      return sorted(await runner.all(q.selectFrom('alert_incidents').selectAll().where('site_id', '=', siteId).where('active', '=', 1)
        .where('id', '!=', exceptId).orderBy('opened_at').orderBy(idOrder).limit(50)));
    },

    async openedIn(centerId: string, from: number, to: number) {
      return sorted(await runner.all(openedInQuery(runner, centerId, from, to)));
    },

    async resolvedIn(centerId: string, from: number, to: number) {
      return sorted(await runner.all(resolvedInQuery(runner, centerId, from, to)));
    },
  } satisfies IncidentStorage;
}

/** The SQL implementation: IncidentStorage, each write with its optional same-transaction body. */
export type SqlIncidentStorage = ReturnType<typeof createIncidentStorage>;

/** A text id in byte order on both: PostgreSQL's default collation is the server's locale, SQLite sorts bytes. */
export const idByteOrder = (dialect: SqlRunner['dialect']) => (dialect === 'postgres' ? sql`id COLLATE "C"` : sql`id`);

/** A center's incidents opened in [from, to), oldest first: openedIn(), and a report's facts read on one snapshot (report-facts.ts). */
export function openedInQuery(runner: Pick<SqlRunner, 'q' | 'dialect'>, centerId: string, from: number, to: number) {
  return runner.q.selectFrom('alert_incidents').selectAll().where('center_id', '=', centerId)
    .where('opened_at', '>=', from).where('opened_at', '<', to).orderBy('opened_at').orderBy(idByteOrder(runner.dialect));
}

/** A center's incidents resolved in [from, to), by resolution time: resolvedIn(), and a report's facts (report-facts.ts). */
export function resolvedInQuery(runner: Pick<SqlRunner, 'q' | 'dialect'>, centerId: string, from: number, to: number) {
  return runner.q.selectFrom('alert_incidents').selectAll().where('center_id', '=', centerId)
    .where('resolved_at', '>=', from).where('resolved_at', '<', to).orderBy('resolved_at').orderBy(idByteOrder(runner.dialect));
}
