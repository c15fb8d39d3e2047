// The notification outbox behind the storage seam (contracts/storage.ts), with claims for several
// senders (issue 21 point 5): one set of kysely queries for SQLite and PostgreSQL. The embedded
// default keeps alerts/outbox.ts, whose single process claims a row with a plain UPDATE.
//
// A claim is one transaction: mark up to `limit` due rows 'sending' under a fresh token, then start
// an attempt for each row carrying that token. Which rows: on PostgreSQL, the due rows no other
// transaction has locked (FOR UPDATE SKIP LOCKED): concurrent claimers each take different rows
// and never wait on one another. SQLite has a single writer: the claim's transaction begins
// IMMEDIATE (storage/sql.ts), so a second claimer on another connection waits and then sees the
// rows already 'sending'. The token ties the outcome to the claim: a node whose lease lapsed,
// and whose row went to another node, cannot overwrite what that node records.
import { randomUUID } from 'node:crypto';
import { sql, type Kysely, type Selectable } from 'kysely';
import type { Locale } from '../contracts/registry.ts';
import type { OutboxClaim, OutboxEntry, OutboxEntryAttempt, OutboxNew, OutboxStatus, OutboxStorage } from '../contracts/storage.ts';
import type { SqlRunner } from './sql.ts';
import type { OutboxAttemptsTable, OutboxTable, Tables } from './tables.ts';
import { text } from './text.ts';

export interface OutboxStorageDeps {
  sql: SqlRunner;
}

function toEntry(r: Selectable<OutboxTable>): OutboxEntry {
  return {
    id: r.id, channel: r.channel, incidentId: r.incident_id, reportId: r.report_id, kind: r.kind, step: r.step,
    recipientKind: r.recipient_kind, recipientId: r.recipient_id, recipientName: r.recipient_name, address: r.address,
    locale: r.locale as Locale, status: r.status as OutboxStatus, attempts: r.attempts, nextAt: r.next_at, createdAt: r.created_at,
    sentAt: r.sent_at, lastError: r.last_error,
  };
}

/** The INSERT of new pending rows, due at max(now, notBefore); also used by stores that queue deliveries in their own transaction. */
export function insertOutboxRows(q: Kysely<Tables>, rows: readonly OutboxNew[], now: number) {
  return q.insertInto('alert_outbox').values(rows.map((r) => ({
    channel: r.channel, incident_id: r.incidentId, report_id: r.reportId, kind: r.kind, step: r.step, recipient_kind: r.recipientKind,
    recipient_id: r.recipientId, recipient_name: text(r.recipientName), address: r.address, locale: r.locale,
    next_at: Math.max(now, r.notBefore ?? now), created_at: now,
  })));
}

export function createOutboxStorage(deps: OutboxStorageDeps): OutboxStorage {
  const { q, dialect } = deps.sql;

  return {
    async enqueue(rows, now) {
      if (!rows.length) return [];
      const insert = insertOutboxRows(q, rows, now).returning('id');
      // Both number a multi-row VALUES in order; RETURNING's own order is not promised.
      return (await deps.sql.all(insert)).map((r) => r.id).sort((a, b) => a - b);
    },

    async claim({ channel, worker, now, limit, leaseMs }) {
      if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`limit must be a whole number ≥ 1, got ${limit}`);
      if (!(leaseMs > 0)) throw new RangeError(`leaseMs must be > 0, got ${leaseMs}`);
      const token = `${worker}:${randomUUID()}`;
      const until = now + leaseMs;
      const due = q.selectFrom('alert_outbox').select('id')
        .where('channel', '=', channel).where('status', '=', 'pending').where('next_at', '<=', now)
        .orderBy('next_at').orderBy('id').limit(limit);
      // The LIMITed subquery runs once, as a sub-plan: the rows it locked are the rows updated.
      const claimed = q.updateTable('alert_outbox')
        .set((eb) => ({ status: 'sending', attempts: eb('attempts', '+', 1), claimed_by: token, claimed_until: until }))
        .where('id', 'in', dialect === 'postgres' ? due.forUpdate().skipLocked() : due)
        .returningAll();
      const started = q.insertInto('alert_outbox_attempts')
        .columns(['outbox_id', 'started_at', 'outcome'])
        .expression(q.selectFrom('alert_outbox')
          // Typed casts: PostgreSQL cannot infer a bare parameter's type in a SELECT list.
          .select(['id', sql<number>`CAST(${now} AS BIGINT)`.as('started_at'), sql.lit('sending').as('outcome')])
          .where('claimed_by', '=', token))
        .returning(['id', 'outbox_id']);
      const [rows, attempts] = await deps.sql.batch([claimed, started]);
      const attemptOf = new Map((attempts!.rows as Array<{ id: number; outbox_id: number }>).map((a) => [a.outbox_id, a.id]));
      return (rows!.rows as Array<Selectable<OutboxTable>>)
        .map((r): OutboxClaim => ({ row: toEntry(r), attemptId: attemptOf.get(r.id)!, claim: token, until }))
        .sort((a, b) => a.row.nextAt - b.row.nextAt || a.row.id - b.row.id);
    },

    async finish(claim, outcome) {
      const release = { claimed_by: null, claimed_until: null };
      const row = (outcome.sent
        ? q.updateTable('alert_outbox').set({ status: 'sent', sent_at: outcome.at, last_error: null, ...release })
        : q.updateTable('alert_outbox').set({ status: outcome.giveUp ? 'failed' : 'pending', next_at: outcome.retryAt, last_error: text(outcome.error), ...release }))
        .where('id', '=', claim.row.id).where('claimed_by', '=', claim.claim).where('status', '=', 'sending');
      const attempt = q.updateTable('alert_outbox_attempts')
        .set(outcome.sent
          ? { finished_at: outcome.at, outcome: 'sent', error: null, provider_id: outcome.providerId }
          : { finished_at: outcome.at, outcome: 'failed', error: text(outcome.error) })
        .where('id', '=', claim.attemptId).where('outcome', '=', 'sending');
      const [r] = await deps.sql.batch([row, attempt]);
      return r!.changes === 1;
    },

    async reclaimExpired(now) {
      // A 'sending' row without a claim was left by the embedded outbox, which takes its own
      // back at start; here it counts as lapsed.
      const lapsed = q.selectFrom('alert_outbox').select('id')
        .where('status', '=', 'sending').where((eb) => eb.or([eb('claimed_until', 'is', null), eb('claimed_until', '<=', now)]));
      const attempts = q.updateTable('alert_outbox_attempts')
        .set({ outcome: 'failed', error: 'interrupted: the claim lapsed (its node stopped or stalled during the attempt)', finished_at: now })
        .where('outcome', '=', 'sending').where('outbox_id', 'in', lapsed);
      const rows = q.updateTable('alert_outbox')
        .set({ status: 'pending', next_at: now, claimed_by: null, claimed_until: null })
        .where('id', 'in', lapsed);
      const [, r] = await deps.sql.batch([attempts, rows]);
      return r!.changes;
    },

    async get(id) {
      const [r] = await deps.sql.all(q.selectFrom('alert_outbox').selectAll().where('id', '=', id));
      return r ? toEntry(r) : undefined;
    },

    async attempts(outboxId) {
      const rows: Array<Selectable<OutboxAttemptsTable>> = await deps.sql.all(q.selectFrom('alert_outbox_attempts').selectAll().where('outbox_id', '=', outboxId).orderBy('id'));
      return rows.map((a): OutboxEntryAttempt => ({
        id: a.id, outboxId: a.outbox_id, startedAt: a.started_at, finishedAt: a.finished_at, outcome: a.outcome as OutboxEntryAttempt['outcome'],
        error: a.error, providerId: a.provider_id,
      }));
    },

    async nextDueAt(channel) {
      const [r] = await deps.sql.all(q.selectFrom('alert_outbox').select((eb) => eb.fn.min('next_at').as('t')).where('channel', '=', channel).where('status', '=', 'pending'));
      return r?.t ?? undefined;
    },
  };
}
