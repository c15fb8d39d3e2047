// Does the audit trail still hold? There is no hash chain (alert_audit is protected by the
// database itself: no DELETE, and an UPDATE only to the text its redaction record names; see
// migration 11). What can be checked, is:
// - nothing was deleted: the ids run 1..N without a gap (AUTOINCREMENT never reuses one, and a
//   rolled-back insert gives its id back with the rollback);
// - the triggers that forbid deletes and unrecorded rewrites are in place;
// - every rewritten entry holds exactly the text of its latest redaction record, and every
//   redaction names an erasure that exists (or the nightly retention);
// - every erasure finished (its counts were written in its transaction).
import type { Database } from 'better-sqlite3';
import type { AuditVerification } from '../contracts/privacy.ts';

const TRIGGERS = ['alert_audit_no_update', 'alert_audit_no_delete', 'privacy_redactions_no_update', 'privacy_redactions_no_delete', 'privacy_erasures_no_update', 'privacy_erasures_no_delete'];

export function verifyAuditTrail(db: Database): AuditVerification {
  const problems: string[] = [];
  const { n, max } = db.prepare('SELECT COUNT(*) AS n, COALESCE(MAX(id), 0) AS max FROM alert_audit').get() as { n: number; max: number };
  const seq = (db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'alert_audit'").pluck().get() as number | undefined) ?? 0;
  if (n !== max) problems.push(`alert_audit holds ${n} entries but ids run to ${max}: ${max - n} entries are missing`);
  if (seq > max) problems.push(`alert_audit's last id was ${seq} but the highest left is ${max}: the newest entries are missing`);
  const present = new Set(db.prepare("SELECT name FROM sqlite_master WHERE type = 'trigger'").pluck().all() as string[]);
  for (const t of TRIGGERS) if (!present.has(t)) problems.push(`trigger ${t} is missing: the trail is not protected`);
  const mismatched = db.prepare(`SELECT a.id FROM alert_audit a JOIN privacy_redactions r ON r.id = (SELECT MAX(id) FROM privacy_redactions WHERE audit_id = a.id)
    WHERE a.note IS NOT r.note OR a.note_zh IS NOT r.note_zh LIMIT 20`).pluck().all() as number[];
  for (const id of mismatched) problems.push(`alert_audit #${id} differs from its redaction record`);
  const orphans = db.prepare(`SELECT r.id, r.cause FROM privacy_redactions r WHERE r.cause != 'retention'
    AND NOT EXISTS (SELECT 1 FROM privacy_erasures e WHERE 'erasure:' || e.id = r.cause) LIMIT 20`).all() as Array<{ id: number; cause: string }>;
  for (const o of orphans) problems.push(`redaction #${o.id} names ${o.cause}, which is not recorded`);
  const unfinished = db.prepare("SELECT id FROM privacy_erasures WHERE counts = 'pending'").pluck().all() as number[];
  for (const id of unfinished) problems.push(`erasure #${id} has no counts: it did not finish`);
  const redacted = db.prepare('SELECT COUNT(DISTINCT audit_id) FROM privacy_redactions').pluck().get() as number;
  const erasures = db.prepare('SELECT COUNT(*) FROM privacy_erasures').pluck().get() as number;
  return { ok: problems.length === 0, entries: n, redacted, erasures, problems };
}
