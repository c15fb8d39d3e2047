// TEMPORARY (outbox-seam branch, issue 21): the outbox's synchronous face for the consumers that
// are still synchronous on this branch (escalation.ts and reports.ts enqueue inside their
// better-sqlite3 transactions; acknowledge.ts, the ChannelLedger, alerts.outbox.pending/ofIncident/attempts and
// the timeline's deliveries read synchronously). It drives storage/outbox.ts's own queries (the
// generator bodies of outboxReads, the enqueue body) on the embedded file's better-sqlite3
// handle, so no SQL is written twice. It goes once those consumers await the outbox itself (the
// lead's alarm-seam and the async-surface branches).
import type { Database } from 'better-sqlite3';
import type { InboundMatch } from '../contracts/channels.ts';
import type { Delivery } from '../contracts/incidents.ts';
import { outboxReads } from '../storage/outbox.ts';
import type { TxBody } from '../storage/sql.ts';
import type { ChannelName } from './channels/registry.ts';
import { toDelivery } from './deliveries.ts';
import type { NewOutboxRow, Outbox, OutboxAttempt, OutboxRow } from './outbox.ts';

/** Runs a body's statements on the handle, synchronously (inside a caller's transaction, or alone). */
function runSync<T>(db: Database, body: TxBody<T>): T {
  let next = body.next();
  while (!next.done) {
    const s = db.prepare<unknown[]>(next.value.query.sql);
    const args = next.value.query.parameters as unknown[];
    const rows = s.reader ? s.all(...args) : [];
    const changes = s.reader ? rows.length : s.run(...args).changes;
    next = body.next(next.value.want === 'rows' ? rows : changes);
  }
  return next.value;
}

export function createOutboxBridge(db: Database, outbox: Outbox, sql: { q: Parameters<typeof outboxReads>[0] }, now: () => number) {
  const reads = outboxReads(sql.q);
  return {
    has: (c: ChannelName) => outbox.has(c),
    kick: (c?: ChannelName) => outbox.kick(c),
    enqueue: (row: NewOutboxRow, at: number): number => runSync(db, outbox.enqueue(row, at)),
    get: (id: number) => runSync(db, reads.get(id)) as OutboxRow | undefined,
    pending: (limit = 1000) => runSync(db, reads.pending(limit)) as OutboxRow[],
    ofIncident: (incidentId: string) => runSync(db, reads.ofIncident(incidentId)) as OutboxRow[],
    attempts: (outboxId: number): OutboxAttempt[] => runSync(db, reads.attempts(outboxId)),
    byProviderId: (channel: string, providerId: string, outboxId?: number): InboundMatch | undefined => runSync(db, reads.byProviderId(channel, providerId, outboxId)),
    lastTo: (channel: string, address: string, withinMs: number): InboundMatch | undefined => runSync(db, reads.lastSentTo(channel, address, now() - withinMs)),
    deliveries: { of: (incidentId: string): Delivery[] => runSync(db, reads.deliveries(incidentId)).map(toDelivery) },
  };
}

export type LegacyOutbox = ReturnType<typeof createOutboxBridge>;
