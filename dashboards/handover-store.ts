// Issue 17 point 6: stored shift handovers (table shift_handovers, migration 10). The outgoing
// operator hands over with a remark and the summary as it stood; the incoming operator signs for
// it once (received). A received row is final and no row is ever deleted (triggers), so the table
// is the handover's audit trail: who, when (ms, shown in the center's zone), what was said.
import { z } from 'zod';
import type { Database } from 'better-sqlite3';
import { WatchfireError } from '../contracts/errors.ts';
import { HandoverSummary } from './handover.ts';

export const Handover = z.object({
  id: z.number().int(),
  centerId: z.string(),
  from: z.number(),
  to: z.number(),
  summary: HandoverSummary,
  remark: z.string(),
  outgoing: z.object({ user: z.string(), name: z.string(), at: z.number() }),
  incoming: z.object({ user: z.string(), name: z.string(), at: z.number(), note: z.string().nullable() }).nullable(),
});
export type Handover = z.infer<typeof Handover>;

interface Row {
  id: number; center_id: string; from_at: number; to_at: number; summary: string; remark: string;
  outgoing_user: string; outgoing_name: string; handed_at: number;
  incoming_user: string | null; incoming_name: string | null; received_at: number | null; receipt_note: string | null;
}

function toHandover(r: Row): Handover {
  return {
    id: r.id, centerId: r.center_id, from: r.from_at, to: r.to_at, summary: JSON.parse(r.summary) as HandoverSummary, remark: r.remark,
    outgoing: { user: r.outgoing_user, name: r.outgoing_name, at: r.handed_at },
    incoming: r.received_at !== null ? { user: r.incoming_user!, name: r.incoming_name!, at: r.received_at, note: r.receipt_note } : null,
  };
}

export function createHandoverStore(db: Database) {
  const s = {
    insert: db.prepare(`INSERT INTO shift_handovers (center_id, from_at, to_at, summary, remark, outgoing_user, outgoing_name, handed_at)
      VALUES (@centerId, @from, @to, @summary, @remark, @user, @name, @at)`),
    byId: db.prepare('SELECT * FROM shift_handovers WHERE id = ?'),
    recent: db.prepare('SELECT * FROM shift_handovers WHERE center_id = ? ORDER BY handed_at DESC, id DESC LIMIT ?'),
    receive: db.prepare(`UPDATE shift_handovers SET incoming_user = @user, incoming_name = @name, received_at = @at, receipt_note = @note
      WHERE id = @id AND received_at IS NULL`),
  };

  function get(id: number): Handover | undefined {
    const r = s.byId.get(id) as Row | undefined;
    return r ? toHandover(r) : undefined;
  }

  return {
    get,
    recent: (centerId: string, limit: number): Handover[] => (s.recent.all(centerId, limit) as Row[]).map(toHandover),
    handOver(h: { centerId: string; from: number; to: number; summary: HandoverSummary; remark: string; user: string; name: string; at: number }): Handover {
      const r = s.insert.run({ ...h, summary: JSON.stringify(h.summary) });
      return get(Number(r.lastInsertRowid))!;
    },
    /** The incoming operator signs for it: once, and never by the one who handed it over. */
    receive: db.transaction((id: number, by: { user: string; name: string; at: number; note: string | null }): Handover => {
      const h = get(id);
      if (!h) throw new WatchfireError('WF_HANDOVER_NOT_FOUND', `No shift handover ${id}`);
      if (h.incoming) throw new WatchfireError('WF_HANDOVER_RECEIVED', `Shift handover ${id} was received by ${h.incoming.name}`);
      if (h.outgoing.user === by.user) throw new WatchfireError('WF_HANDOVER_SELF', 'The incoming operator receives the handover, not the one who handed it over');
      s.receive.run({ id, ...by });
      return get(id)!;
    }),
  };
}

export type HandoverStore = ReturnType<typeof createHandoverStore>;
