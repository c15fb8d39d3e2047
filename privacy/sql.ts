// The statements privacy/ runs over other modules' tables (incidents, audit trail, outbox,
// reports): the one place outside alerts/ that rewrites them, and only their personal text.
// Every rewrite of an audit entry goes with its record in privacy_redactions, which the
// database's trigger on alert_audit demands (migration 11).
import type { Database } from 'better-sqlite3';
import { hmac } from './terms.ts';

export interface AuditRow { id: number; incident_id: string; at: number; actor: string; action: string; from_state: string | null; to_state: string | null; note: string | null; note_zh: string | null }
export interface OutboxRaw { id: number; incident_id: string | null; recipient_id: string; recipient_name: string; address: string; last_error: string | null; status: string; site_id?: string | null }
export interface IncidentRaw { id: string; site_id: string; center_id: string; state: string; active: number; title_en: string; title_zh: string; last_reading: string | null; feedback: string | null; resolved_at: number | null; pseudonymised_at: number | null }

export function prepareSql(db: Database) {
  return {
    incidentsOfSite: db.prepare('SELECT * FROM alert_incidents WHERE site_id = ? ORDER BY opened_at'),
    openOfSite: db.prepare('SELECT id FROM alert_incidents WHERE site_id = ? AND active = 1').pluck(),
    oldClosed: db.prepare('SELECT * FROM alert_incidents WHERE active = 0 AND pseudonymised_at IS NULL AND resolved_at < ? ORDER BY resolved_at LIMIT ?'),
    updateIncident: db.prepare('UPDATE alert_incidents SET title_en = ?, title_zh = ?, last_reading = ?, feedback = ?, pseudonymised_at = ? WHERE id = ? AND active = 0'),
    auditOf: db.prepare('SELECT * FROM alert_audit WHERE incident_id = ? ORDER BY id'),
    appendAudit: db.prepare('INSERT INTO alert_audit (incident_id, at, actor, action, from_state, to_state, note, note_zh) VALUES (?, ?, ?, ?, ?, ?, ?, ?)'),
    redaction: db.prepare('INSERT INTO privacy_redactions (at, audit_id, cause, before_hmac, note, note_zh) VALUES (?, ?, ?, ?, ?, ?)'),
    rewriteAudit: db.prepare('UPDATE alert_audit SET note = ?, note_zh = ? WHERE id = ?'),
    outboxOfIncident: db.prepare('SELECT * FROM alert_outbox WHERE incident_id = ? ORDER BY id'),
    // Rows to a site's contacts: recipient ids `<site>#contact<n>` (alerts/recipients.ts).
    outboxToContacts: db.prepare("SELECT * FROM alert_outbox WHERE recipient_id >= ? || '#contact' AND recipient_id < ? || '#contacu' ORDER BY id"),
    oldOutbox: db.prepare(`SELECT o.*, i.site_id AS site_id FROM alert_outbox o LEFT JOIN alert_incidents i ON i.id = o.incident_id
      WHERE o.pseudonymised_at IS NULL AND o.status IN ('sent', 'failed') AND o.created_at < ? AND (o.incident_id IS NULL OR i.active = 0) ORDER BY o.created_at LIMIT ?`),
    updateOutbox: db.prepare('UPDATE alert_outbox SET recipient_name = ?, address = ?, last_error = ?, pseudonymised_at = ? WHERE id = ?'),
    attemptsOf: db.prepare('SELECT * FROM alert_outbox_attempts WHERE outbox_id = ? ORDER BY id'),
    // receipt_detail: the provider's delivery report (issue 19), which may quote the number.
    updateAttempt: db.prepare('UPDATE alert_outbox_attempts SET error = ?, receipt_detail = ? WHERE id = ?'),
    reports: db.prepare('SELECT id, kind, center_id, period, created_at, body FROM alert_reports ORDER BY id'),
    oldReports: db.prepare('SELECT id, center_id, body FROM alert_reports WHERE pseudonymised_at IS NULL AND created_at < ? ORDER BY id LIMIT ?'),
    updateReport: db.prepare('UPDATE alert_reports SET body = ?, pseudonymised_at = ? WHERE id = ?'),
    handoversOfCenter: db.prepare('SELECT id, center_id, summary, remark, receipt_note FROM shift_handovers WHERE center_id = ? ORDER BY id'),
    oldHandovers: db.prepare('SELECT id, center_id, summary, remark, receipt_note FROM shift_handovers WHERE pseudonymised_at IS NULL AND handed_at < ? ORDER BY handed_at LIMIT ?'),
    handoverRedaction: db.prepare('INSERT INTO privacy_handover_redactions (at, handover_id, cause, before_hmac, summary, remark, receipt_note) VALUES (?, ?, ?, ?, ?, ?, ?)'),
    rewriteHandover: db.prepare('UPDATE shift_handovers SET summary = ?, remark = ?, receipt_note = ?, pseudonymised_at = ? WHERE id = ?'),
  };
}
export type Sql = ReturnType<typeof prepareSql>;

export interface HandoverRaw { id: number; center_id: string; summary: string; remark: string; receipt_note: string | null }

/**
 * Rewrites one shift handover's text (issue 17's 交接班 names homes, residents and calls), with its
 * redaction record first: a received handover is final, and its trigger (migration 12) lets only
 * a recorded redaction change its text. Returns whether anything changed.
 */
export function rewriteHandover(sql: Sql, key: string, at: number, cause: string, row: HandoverRaw, scrubText: <T extends string | null>(t: T) => T, force = false): boolean {
  const summary = scrubText(row.summary);
  const remark = scrubText(row.remark);
  const receipt = scrubText(row.receipt_note);
  if (!force && summary === row.summary && remark === row.remark && receipt === row.receipt_note) return false;
  sql.handoverRedaction.run(at, row.id, cause, hmac(key, `${row.summary}\u0000${row.remark}\u0000${row.receipt_note ?? ''}`), summary, remark, receipt);
  sql.rewriteHandover.run(summary, remark, receipt, at, row.id);
  return true;
}

/** The contact index of an outbox row addressed to a site's emergency contact, else undefined. */
export function contactIndex(recipientId: string): { siteId: string; index: number } | undefined {
  const m = /^(.+)#contact(\d+)$/.exec(recipientId);
  return m ? { siteId: m[1]!, index: Number(m[2]) } : undefined;
}

/**
 * Rewrites one audit entry's text, with its redaction record first (the trigger checks the new
 * text against it). Returns whether anything changed.
 */
export function rewriteNote(sql: Sql, key: string, at: number, cause: string, row: AuditRow, note: string | null, noteZh: string | null): boolean {
  if (note === row.note && noteZh === row.note_zh) return false;
  const before = hmac(key, `${row.note ?? ''}\u0000${row.note_zh ?? ''}`);
  sql.redaction.run(at, row.id, cause, before, note, noteZh);
  sql.rewriteAudit.run(note, noteZh, row.id);
  return true;
}

/**
 * Runs `fn` with SQLite's secure_delete on: the bytes of rewritten rows are overwritten with
 * zeros in the file instead of left in free space (https://sqlite.org/pragma.html#pragma_secure_delete).
 */
export function withSecureDelete<T>(db: Database, fn: () => T): T {
  const before = db.pragma('secure_delete', { simple: true }) as number;
  db.pragma('secure_delete = ON');
  try {
    return fn();
  } finally {
    db.pragma(`secure_delete = ${before}`);
  }
}

/**
 * The same around an asynchronous write (the registry's, which may be on PostgreSQL): whatever
 * else writes on this handle meanwhile also overwrites what it deletes, which costs only time.
 */
export async function withSecureDeleteAsync<T>(db: Database, fn: () => Promise<T>): Promise<T> {
  const before = db.pragma('secure_delete', { simple: true }) as number;
  db.pragma('secure_delete = ON');
  try {
    return await fn();
  } finally {
    db.pragma(`secure_delete = ${before}`);
  }
}

/**
 * Copies the WAL into the database and empties it, so that no old page image of a rewritten row
 * stays in the -wal file. Waits at most 200 ms for another connection (the server's background
 * checkpointer): this may run on the server's thread, where the alarm path must not wait. False
 * when it could not finish; the next full checkpoint finishes it.
 */
export function clearWal(db: Database): boolean {
  const before = db.pragma('busy_timeout', { simple: true }) as number;
  db.pragma('busy_timeout = 200');
  try {
    const cp = db.pragma('wal_checkpoint(TRUNCATE)') as Array<{ busy: number; log: number; checkpointed: number }>;
    return cp[0] ? cp[0].busy === 0 && cp[0].log === cp[0].checkpointed : true;
  } catch {
    return false;
  } finally {
    db.pragma(`busy_timeout = ${before}`);
  }
}
