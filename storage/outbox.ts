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
//
// The reads are generator bodies (outboxReads): the store runs them on its runner, one statement
// at a time outside any transaction, and a caller that must stay synchronous on the embedded
// file can drive the very same queries on its better-sqlite3 handle.
import { randomUUID } from 'node:crypto';
import { sql, type Kysely, type Selectable } from 'kysely';
import type { InboundMatch, ReceiptStatus } from '../contracts/channels.ts';
import type { Locale } from '../contracts/registry.ts';
import type {
  OutboxClaim, OutboxCounts, OutboxDeliveryRow, OutboxEntry, OutboxEntryAttempt, OutboxNew, OutboxQueue, OutboxStatus, OutboxStorage,
} from '../contracts/storage.ts';
import { tx, type SqlRunner, type TxBody } from './sql.ts';
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
function toAttempt(a: Selectable<OutboxAttemptsTable>): OutboxEntryAttempt {
  return {
    id: a.id, outboxId: a.outbox_id, startedAt: a.started_at, finishedAt: a.finished_at, outcome: a.outcome as OutboxEntryAttempt['outcome'],
    error: a.error, providerId: a.provider_id, receipt: a.receipt as ReceiptStatus | null, receiptAt: a.receipt_at, receiptDetail: a.receipt_detail,
  };
}

export function insertOutboxRows(q: Kysely<Tables>, rows: readonly OutboxNew[], now: number) {
  return q.insertInto('alert_outbox').values(rows.map((r) => ({
    channel: r.channel, incident_id: r.incidentId, report_id: r.reportId, kind: r.kind, step: r.step, recipient_kind: r.recipientKind,
    recipient_id: r.recipientId, recipient_name: text(r.recipientName), address: r.address, locale: r.locale,
    next_at: Math.max(now, r.notBefore ?? now), created_at: now,
  })));
}


/**
 * The outbox's reads as generator bodies: `yield*` them inside a runner's transaction, run them
 * with the store (createOutboxStorage), or drive them synchronously on a better-sqlite3 handle.
 */
export function outboxReads(q: Kysely<Tables>) {
  const matchOf = (r: { outbox: number; incident: string | null; recipient: string }): InboundMatch =>
    ({ outboxId: r.outbox, incidentId: r.incident, recipientId: r.recipient });
  const attemptMatch = () => q.selectFrom('alert_outbox_attempts as a').innerJoin('alert_outbox as o', 'o.id', 'a.outbox_id')
    .select(['a.id as attempt', 'o.id as outbox', 'o.incident_id as incident', 'o.recipient_id as recipient']).orderBy('a.id', 'desc').limit(1);

  /** The attempt a provider's callback is about: the one that got its id, else the named row's last. */
  function* attemptOf(channel: string, providerId: string, outboxId?: number): TxBody<{ attempt: number; outbox: number; incident: string | null; recipient: string } | undefined> {
    const [byProvider] = yield* tx.all(attemptMatch().where('a.provider_id', '=', providerId).where('o.channel', '=', channel));
    if (byProvider || outboxId === undefined) return byProvider;
    const [last] = yield* tx.all(attemptMatch().where('o.id', '=', outboxId).where('o.channel', '=', channel));
    return last;
  }

  return {
    attemptOf,

    *get(id: number): TxBody<OutboxEntry | undefined> {
      const [r] = yield* tx.all(q.selectFrom('alert_outbox').selectAll().where('id', '=', id));
      return r ? toEntry(r) : undefined;
    },

    *attempts(outboxId: number): TxBody<OutboxEntryAttempt[]> {
      return (yield* tx.all(q.selectFrom('alert_outbox_attempts').selectAll().where('outbox_id', '=', outboxId).orderBy('id'))).map(toAttempt);
    },

    *pending(limit: number): TxBody<OutboxEntry[]> {
      return (yield* tx.all(q.selectFrom('alert_outbox').selectAll().where('status', 'in', ['pending', 'sending', 'failed']).orderBy('id').limit(limit))).map(toEntry);
    },

    *ofIncident(incidentId: string): TxBody<OutboxEntry[]> {
      return (yield* tx.all(q.selectFrom('alert_outbox').selectAll().where('incident_id', '=', incidentId).orderBy('id'))).map(toEntry);
    },

    *queue(channel: string): TxBody<OutboxQueue> {
      const [r] = yield* tx.all(q.selectFrom('alert_outbox')
        .select((eb) => [
          eb.fn.min(eb.case().when('status', '=', 'pending').then(eb.ref('next_at')).end()).as('t'),
          eb.fn.countAll<number>().as('n'),
        ])
        .where('channel', '=', channel).where('status', 'in', ['pending', 'sending']));
      return { nextDueAt: r?.t ?? undefined, depth: Number(r?.n ?? 0) };
    },

    *counts(): TxBody<OutboxCounts> {
      const rows = yield* tx.all(q.selectFrom('alert_outbox').select(['channel', 'status', (eb) => eb.fn.countAll<number>().as('n')]).groupBy(['channel', 'status']));
      const attempts = yield* tx.all(q.selectFrom('alert_outbox_attempts as a').innerJoin('alert_outbox as o', 'o.id', 'a.outbox_id')
        .select(['o.channel as channel', 'a.outcome as outcome', (eb) => eb.fn.countAll<number>().as('n')]).groupBy(['o.channel', 'a.outcome']));
      const out: OutboxCounts = { byChannel: {}, attempts: {} };
      for (const r of rows) (out.byChannel[r.channel] ??= { pending: 0, sending: 0, sent: 0, failed: 0 })[r.status as OutboxStatus] = Number(r.n);
      for (const r of attempts) (out.attempts[r.channel] ??= {})[r.outcome] = Number(r.n);
      return out;
    },

    *deliveries(incidentId: string): TxBody<OutboxDeliveryRow[]> {
      // The console is where operators already look; its rows are not messages to anyone.
      const rows = yield* tx.all(q.selectFrom('alert_outbox as o')
        .leftJoin('alert_outbox_attempts as r', (j) => j.on((eb) => eb('r.id', '=', eb.selectFrom('alert_outbox_attempts as a').select('a.id')
          .whereRef('a.outbox_id', '=', 'o.id').where('a.receipt', 'is not', null).orderBy('a.receipt_at', 'desc').orderBy('a.id', 'desc').limit(1))))
        .select((eb) => [
          'o.id', 'o.channel', 'o.kind', 'o.step', 'o.recipient_kind', 'o.recipient_id', 'o.recipient_name', 'o.status', 'o.attempts', 'o.created_at',
          'o.sent_at', 'o.last_error', 'r.receipt', 'r.receipt_at', 'r.receipt_detail',
          eb.selectFrom('alert_outbox_attempts as f').select((e) => e.fn.max('f.finished_at').as('m')).whereRef('f.outbox_id', '=', 'o.id').as('failed_at'),
        ])
        .where('o.incident_id', '=', incidentId).where('o.channel', '!=', 'console')
        .orderBy('o.created_at').orderBy('o.id'));
      return rows.map((r): OutboxDeliveryRow => ({
        id: r.id, channel: r.channel, kind: r.kind, step: r.step, recipientKind: r.recipient_kind, recipientId: r.recipient_id, recipientName: r.recipient_name,
        status: r.status as OutboxStatus, attempts: r.attempts, createdAt: r.created_at, sentAt: r.sent_at, lastError: r.last_error,
        receipt: r.receipt as ReceiptStatus | null, receiptAt: r.receipt_at, receiptDetail: r.receipt_detail, failedAt: r.failed_at ?? null,
      }));
    },

    *byProviderId(channel: string, providerId: string, outboxId?: number): TxBody<InboundMatch | undefined> {
      const a = yield* attemptOf(channel, providerId, outboxId);
      return a ? matchOf(a) : undefined;
    },

    *lastSentTo(channel: string, address: string, since: number): TxBody<InboundMatch | undefined> {
      const [r] = yield* tx.all(q.selectFrom('alert_outbox').select(['id as outbox', 'incident_id as incident', 'recipient_id as recipient'])
        .where('channel', '=', channel).where('address', '=', address).where('status', '=', 'sent').where('sent_at', '>=', since)
        .orderBy('id', 'desc').limit(1));
      return r ? matchOf(r) : undefined;
    },

    *nextDueAt(channel: string): TxBody<number | undefined> {
      const [r] = yield* tx.all(q.selectFrom('alert_outbox').select((eb) => eb.fn.min('next_at').as('t')).where('channel', '=', channel).where('status', '=', 'pending'));
      return r?.t ?? undefined;
    },
  };
}

/** Runs a read body statement by statement on the runner, outside any transaction. */
async function read<T>(runner: SqlRunner, body: TxBody<T>): Promise<T> {
  let next = body.next();
  while (!next.done) next = body.next(await runner.all(next.value.query));
  return next.value;
}

export function createOutboxStorage(deps: OutboxStorageDeps): OutboxStorage {
  const { q, dialect } = deps.sql;
  const reads = outboxReads(q);

  /** Puts 'sending' rows back to pending, due at `now`, their open attempts failed with `error`: all of them, or those whose claim lapsed. */
  async function takeBack(now: number, error: string, lapsedOnly: boolean): Promise<number> {
    const rowsSending = q.selectFrom('alert_outbox').select('id').where('status', '=', 'sending');
    const taken = lapsedOnly ? rowsSending.where((eb) => eb.or([eb('claimed_until', 'is', null), eb('claimed_until', '<=', now)])) : rowsSending;
    const attempts = q.updateTable('alert_outbox_attempts')
      .set({ outcome: 'failed', error, finished_at: now })
      .where('outcome', '=', 'sending').where('outbox_id', 'in', taken);
    const rows = q.updateTable('alert_outbox')
      .set({ status: 'pending', next_at: now, claimed_by: null, claimed_until: null })
      .where('id', 'in', taken);
    const [, r] = await deps.sql.batch([attempts, rows]);
    return r!.changes;
  }

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
      // A 'sending' row without a claim was left by an outbox of before claims (migration 13),
      // which took its own back at start; here it counts as lapsed.
      return takeBack(now, 'interrupted: the claim lapsed (its node stopped or stalled during the attempt)', true);
    },

    async reclaimAll(now) {
      return takeBack(now, 'interrupted: the process stopped during the attempt', false);
    },

    get: (id) => read(deps.sql, reads.get(id)),
    attempts: (outboxId) => read(deps.sql, reads.attempts(outboxId)),
    nextDueAt: (channel) => read(deps.sql, reads.nextDueAt(channel)),
    queue: (channel) => read(deps.sql, reads.queue(channel)),
    pending: (limit) => read(deps.sql, reads.pending(limit)),
    ofIncident: (incidentId) => read(deps.sql, reads.ofIncident(incidentId)),
    deliveries: (incidentId) => read(deps.sql, reads.deliveries(incidentId)),
    counts: () => read(deps.sql, reads.counts()),
    byProviderId: (channel, providerId, outboxId) => read(deps.sql, reads.byProviderId(channel, providerId, outboxId)),
    lastSentTo: (channel, address, since) => read(deps.sql, reads.lastSentTo(channel, address, since)),

    async recordReceipt(r) {
      // Read, then write: a receipt lands on an attempt that exists already and never moves, so
      // nothing between the two can make the match wrong.
      const a = await read(deps.sql, reads.attemptOf(r.channel, r.providerId, r.outboxId));
      if (!a) return false;
      await deps.sql.run(q.updateTable('alert_outbox_attempts')
        .set({ receipt: r.status, receipt_at: r.at, receipt_detail: r.detail === undefined ? null : text(r.detail.slice(0, 500)) })
        .where('id', '=', a.attempt));
      return true;
    },
  };
}
