// Escalation steps behind the storage seam (issue 21 point 5): the rows of alerts/escalation.ts,
// and runDue(), which runs each due step on exactly one node. The embedded scheduler keeps
// alerts/escalation.ts.
//
// runDue is one transaction per call: it locks up to `limit` due steps, runs the caller's body for
// each (a generator, so it can write the step's outbox rows, audit entry and repetition in the
// same transaction through tx.*), and marks each step done or cancelled as its body says. On
// PostgreSQL the lock is FOR UPDATE SKIP LOCKED: a second node's runDue at the same moment takes
// other steps and never waits; on SQLite the IMMEDIATE transaction makes it the only writer. A
// body that throws rolls the whole call back: every step of it is still due.
import { sql, type Kysely, type Selectable, type SqlBool } from 'kysely';
import type { EscalationStep, EscalationStepNew } from '../contracts/storage.ts';
import { tx, type SqlRunner, type TxBody } from './sql.ts';
import type { EscalationsTable, Tables } from './tables.ts';

export interface EscalationStorageDeps {
  sql: SqlRunner;
}

/** What a due step's body decided: it ran (done), or no longer applies (cancelled). */
export type StepOutcome<R> = { readonly outcome: 'done' | 'cancelled'; readonly value?: R };

function toStep(r: Selectable<EscalationsTable>): EscalationStep {
  return {
    id: r.id, incidentId: r.incident_id, policy: r.policy, step: r.step, untilState: r.until_state, dueAt: r.due_at,
    done: r.done as EscalationStep['done'], doneAt: r.done_at, createdAt: r.created_at, stage: r.stage,
  };
}

/** The INSERT of steps (non-empty); also used in another store's transaction (an incident opened, raised, acknowledged). */
export function scheduleSteps(q: Kysely<Tables>, steps: readonly EscalationStepNew[], now: number) {
  return q.insertInto('alert_escalations').values(steps.map((s) => ({
    incident_id: s.incidentId, policy: s.policy, step: s.step, until_state: s.untilState, due_at: s.dueAt, created_at: now, stage: s.stage,
  })));
}

/**
 * The UPDATE that cancels an incident's pending steps (only those ending at one of `untilStates`,
 * when given: an empty list matches none); also used in an incident's transition.
 */
export function cancelSteps(q: Kysely<Tables>, incidentId: string, now: number, untilStates?: readonly string[]) {
  const update = q.updateTable('alert_escalations').set({ done: 2, done_at: now }).where('incident_id', '=', incidentId).where('done', '=', 0);
  if (!untilStates) return update;
  // `IN ()` is not SQL: an empty list is a condition nothing meets.
  return untilStates.length ? update.where('until_state', 'in', untilStates) : update.where(sql<SqlBool>`1 = 0`);
}

/** The UPDATE that cancels an incident's pending call-tree stages (someone answered: nobody else is called). */
export function cancelTreeSteps(q: Kysely<Tables>, incidentId: string, now: number) {
  return q.updateTable('alert_escalations').set({ done: 2, done_at: now }).where('incident_id', '=', incidentId).where('done', '=', 0)
    .where('stage', 'is not', null);
}

/**
 * The storm digest's question (issue 17 point 3), for a step's transaction, about all of a step's
 * candidate rows at once: which of these people had this step since `since`, on which channel,
 * for another incident of the same site? Their (recipient, channel) pairs. One query, not one per
 * row: on PostgreSQL every statement is a round trip the alarm waits for.
 */
export function digestedOf(q: Kysely<Tables>, d: { step: string; recipientIds: readonly string[]; since: number; siteId: string; incidentId: string }) {
  // From the site's incidents (index alert_incidents_site) to their rows (alert_outbox_incident):
  // a busy operator has a row for every incident of the center, a site has a few incidents. The
  // CROSS JOIN fixes that order on SQLite, whose planner has no statistics; PostgreSQL plans it.
  return q.selectFrom('alert_incidents as i').crossJoin('alert_outbox as o').select(['o.recipient_id', 'o.channel']).distinct()
    .whereRef('o.incident_id', '=', 'i.id').where('i.site_id', '=', d.siteId).where('i.id', '!=', d.incidentId)
    .where('o.step', '=', d.step).where('o.recipient_id', 'in', d.recipientIds).where('o.created_at', '>', d.since);
}

export function createEscalationStorage(deps: EscalationStorageDeps) {
  const { q, dialect } = deps.sql;

  return {
    /** Stores steps to run at their dueAt; their ids, in the order given. */
    async schedule(steps: readonly EscalationStepNew[], now: number): Promise<number[]> {
      if (!steps.length) return [];
      const rows = await deps.sql.all(scheduleSteps(q, steps, now).returning('id'));
      return rows.map((r) => r.id).sort((a, b) => a - b);
    },

    /**
     * Runs up to `limit` (≥ 1) steps due at `now`, oldest due first, each through `body` inside
     * this call's transaction; the bodies' values, in that order. On PostgreSQL a step whose
     * incident another transaction holds (a transition in progress) is not among them: still due.
     */
    async runDue<R>(now: number, limit: number, body: (step: EscalationStep) => TxBody<StepOutcome<R>>): Promise<Array<{ step: EscalationStep } & StepOutcome<R>>> {
      if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`limit must be a whole number ≥ 1, got ${limit}`);
      const due = q.selectFrom('alert_escalations').selectAll().where('done', '=', 0).where('due_at', '<=', now)
        .orderBy('due_at').orderBy('id').limit(limit);
      return deps.sql.transaction(function* () {
        let rows = yield* tx.all(dialect === 'postgres' ? due.forUpdate().skipLocked() : due);
        if (dialect === 'postgres' && rows.length) {
          // The steps' incidents too, before any body runs, and only those no one holds. A body
          // writes its incident (touchIncident), while a transition (an acknowledgement) writes the
          // incident first and then cancels its pending steps: waiting here for an incident whose
          // transition waits for one of our steps is a deadlock, and PostgreSQL would abort one
          // side (the operator's acknowledgement, seen: 40P01). So a step whose incident is
          // locked is left due for a later pass, once the transition committed (and cancelled it,
          // or not). Two passes likewise never wait on each other's incidents. A step whose
          // incident is gone still runs: its body cancels it.
          const ids = [...new Set(rows.map((r) => r.incident_id))];
          const held = new Set((yield* tx.all(q.selectFrom('alert_incidents').select('id').where('id', 'in', ids).forNoKeyUpdate().skipLocked())).map((r) => r.id));
          const busy = ids.filter((id) => !held.has(id));
          if (busy.length) {
            const locked = new Set((yield* tx.all(q.selectFrom('alert_incidents').select('id').where('id', 'in', busy))).map((r) => r.id));
            rows = rows.filter((r) => !locked.has(r.incident_id));
          }
        }
        const out: Array<{ step: EscalationStep } & StepOutcome<R>> = [];
        for (const row of rows) {
          const step = toStep(row);
          const result = yield* body(step);
          yield* tx.run(q.updateTable('alert_escalations').set({ done: result.outcome === 'done' ? 1 : 2, done_at: now }).where('id', '=', step.id).where('done', '=', 0));
          out.push({ step, ...result });
        }
        return out;
      });
    },

    /** Cancels an incident's pending steps (only those ending at one of `untilStates`, when given): how many. */
    async cancel(incidentId: string, now: number, untilStates?: readonly string[]): Promise<number> {
      if (untilStates && !untilStates.length) return 0;
      return deps.sql.run(cancelSteps(q, incidentId, now, untilStates));
    },

    /** Cancels the incident's pending call-tree stages: how many. */
    async cancelTree(incidentId: string, now: number): Promise<number> {
      return deps.sql.run(cancelTreeSteps(q, incidentId, now));
    },

    /**
     * A call of a tree's stage came back unanswered. When every voice call that stage queued has
     * (failed, or a receipt of no answer, busy or failed), the stage's successor is made due at
     * `now` instead of the end of its wait: true when it moved. Texts do not count: delivered is not read.
     */
    async hurryNextStage(outboxId: number, now: number): Promise<boolean> {
      return deps.sql.transaction(function* () {
        const [row] = yield* tx.all(q.selectFrom('alert_outbox').select(['incident_id', 'step', 'created_at']).where('id', '=', outboxId));
        if (!row?.incident_id || !row.step) return false;
        // A stage's rows and its successor share the instant the stage ran (created_at).
        const [next] = yield* tx.all(q.selectFrom('alert_escalations').select('id').where('incident_id', '=', row.incident_id)
          .where('step', '=', row.step).where('created_at', '=', row.created_at).where('stage', 'is not', null).where('done', '=', 0));
        if (!next) return false;
        const calls = yield* tx.all(q.selectFrom('alert_outbox as o').select((eb) => ['o.status', eb.selectFrom('alert_outbox_attempts as a')
          .select('a.receipt').whereRef('a.outbox_id', '=', 'o.id').where('a.receipt', 'is not', null).orderBy('a.id', 'desc').limit(1).as('receipt')])
          .where('o.incident_id', '=', row.incident_id).where('o.step', '=', row.step).where('o.created_at', '=', row.created_at).where('o.channel', '=', 'voice'));
        const dead = (c: { status: string; receipt: string | null }) => c.status === 'failed' || c.receipt === 'no_answer' || c.receipt === 'busy' || c.receipt === 'failed';
        if (calls.length === 0 || !calls.every(dead)) return false;
        return (yield* tx.run(q.updateTable('alert_escalations').set({ due_at: now }).where('id', '=', next.id).where('done', '=', 0).where('due_at', '>', now))) === 1;
      });
    },

    /** Every pending step, soonest first. */
    async pending(): Promise<EscalationStep[]> {
      return (await deps.sql.all(q.selectFrom('alert_escalations').selectAll().where('done', '=', 0).orderBy('due_at').orderBy('id'))).map(toStep);
    },

    /** An incident's steps, pending or not, in the order scheduled. */
    async of(incidentId: string): Promise<EscalationStep[]> {
      return (await deps.sql.all(q.selectFrom('alert_escalations').selectAll().where('incident_id', '=', incidentId).orderBy('id'))).map(toStep);
    },

    /** When the earliest pending step is due; undefined when none is pending. */
    async nextDueAt(): Promise<number | undefined> {
      const [r] = await deps.sql.all(q.selectFrom('alert_escalations').select((eb) => eb.fn.min('due_at').as('t')).where('done', '=', 0));
      return r?.t ?? undefined;
    },
  };
}

export type EscalationStorage = ReturnType<typeof createEscalationStorage>;
