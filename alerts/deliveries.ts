// Issue 19 point 6: every message and call about an incident with what became of it, for the
// timeline: the outbox row's own state, and once sent, the newest receipt a provider reported on
// any of its attempts (a voice call answered or not, an SMS delivered or not).
import type { Database } from 'better-sqlite3';
import type { Delivery, DeliveryOutcome } from '../contracts/incidents.ts';
import { channelLabel } from './channels/registry.ts';

interface Row {
  id: number; channel: string; kind: string; step: string | null; recipient_kind: string; recipient_id: string; recipient_name: string;
  status: 'pending' | 'sending' | 'sent' | 'failed'; attempts: number; created_at: number; sent_at: number | null; last_error: string | null;
  receipt: Exclude<DeliveryOutcome, 'queued' | 'sending' | 'sent'> | null; receipt_at: number | null; receipt_detail: string | null; failed_at: number | null;
}

export function createDeliveries(db: Database) {
  // The console is where operators already look; its rows are not messages to anyone.
  const of = db.prepare(`SELECT o.id, o.channel, o.kind, o.step, o.recipient_kind, o.recipient_id, o.recipient_name, o.status, o.attempts,
      o.created_at, o.sent_at, o.last_error, r.receipt, r.receipt_at, r.receipt_detail,
      (SELECT MAX(f.finished_at) FROM alert_outbox_attempts f WHERE f.outbox_id = o.id) AS failed_at
    FROM alert_outbox o
    LEFT JOIN alert_outbox_attempts r ON r.id = (SELECT a.id FROM alert_outbox_attempts a WHERE a.outbox_id = o.id AND a.receipt IS NOT NULL ORDER BY a.receipt_at DESC, a.id DESC LIMIT 1)
    WHERE o.incident_id = ? AND o.channel != 'console'
    ORDER BY o.created_at, o.id`);

  function outcome(r: Row): DeliveryOutcome {
    if (r.receipt) return r.receipt;
    return r.status === 'pending' ? 'queued' : r.status;
  }

  return {
    of(incidentId: string): Delivery[] {
      return (of.all(incidentId) as Row[]).map((r) => ({
        id: r.id, channel: r.channel, channelName: channelLabel(r.channel), kind: r.kind, step: r.step, recipientKind: r.recipient_kind, recipientId: r.recipient_id,
        recipientName: r.recipient_name, outcome: outcome(r), createdAt: r.created_at, sentAt: r.sent_at,
        outcomeAt: r.receipt_at ?? (r.status === 'failed' ? r.failed_at : r.sent_at), attempts: r.attempts,
        detail: r.receipt ? r.receipt_detail : r.status === 'sent' ? null : r.last_error,
      }));
    },
  };
}
