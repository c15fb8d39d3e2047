// Issue 19 point 6: every message and call about an incident with what became of it, for the
// timeline: the outbox row's own state, and once sent, the newest receipt a provider reported on
// any of its attempts (a voice call answered or not, an SMS delivered or not). The rows are
// storage/outbox.ts's (OutboxStorage.deliveries); the console's own rows are not among them.
import type { Delivery, DeliveryOutcome } from '../contracts/incidents.ts';
import type { OutboxDeliveryRow } from '../contracts/storage.ts';
import { createOutboxStorage } from '../storage/outbox.ts';
import type { SqlRunner } from '../storage/sql.ts';
import { channelLabel } from './channels/registry.ts';

function outcome(r: OutboxDeliveryRow): DeliveryOutcome {
  if (r.receipt) return r.receipt;
  return r.status === 'pending' ? 'queued' : r.status;
}

/** A stored row as the timeline shows it. */
export function toDelivery(r: OutboxDeliveryRow): Delivery {
  return {
    id: r.id, channel: r.channel, channelName: channelLabel(r.channel), kind: r.kind, step: r.step, recipientKind: r.recipientKind, recipientId: r.recipientId,
    recipientName: r.recipientName, outcome: outcome(r), createdAt: r.createdAt, sentAt: r.sentAt,
    outcomeAt: r.receiptAt ?? (r.status === 'failed' ? r.failedAt : r.sentAt), attempts: r.attempts,
    detail: r.receipt ? r.receiptDetail : r.status === 'sent' ? null : r.lastError,
  };
}

export function createDeliveries(sql: SqlRunner) {
  const store = createOutboxStorage({ sql });
  return {
    async of(incidentId: string): Promise<Delivery[]> {
      return (await store.deliveries(incidentId)).map(toDelivery);
    },
  };
}
