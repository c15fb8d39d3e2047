// Does the audit trail still hold? There is no hash chain (alert_audit is protected by the
// database itself: no DELETE, and an UPDATE only to the text its redaction record names; see
// SQLite's migration 11, PostgreSQL's migration 8). What can be checked, on whichever database
// alerts/ runs:
// - nothing was deleted: on SQLite the ids run 1..N without a gap (AUTOINCREMENT never reuses
//   one, and a rolled-back insert gives its id back with the rollback), and the last id handed
//   out (sqlite_sequence) is still there. PostgreSQL's identity sequence hands ids out outside
//   transactions: every rolled-back insert (a finding whose transaction lost a race, a refused
//   erasure) leaves a gap for ever, so neither gaps nor the sequence's last value say anything
//   there. On both: every incident still has the entry that opened it;
// - the triggers that forbid deletes and unrecorded rewrites are in place (on PostgreSQL also
//   enabled: ALTER TABLE … DISABLE TRIGGER leaves them in the catalogue);
// - every rewritten entry holds exactly the text of its latest redaction record, and every
//   redaction names an erasure that exists (or the nightly retention);
// - every erasure finished (its counts were written in its transaction).
import { sql as raw, type RawBuilder } from 'kysely';
import type { AuditVerification } from '../contracts/privacy.ts';
import type { SqlRunner } from './sql.ts';

const TRIGGERS = ['alert_audit_no_update', 'alert_audit_no_delete', 'privacy_redactions_no_update', 'privacy_redactions_no_delete', 'privacy_erasures_no_update', 'privacy_erasures_no_delete'];
/** PostgreSQL also has TRUNCATE, which row triggers do not see (storage/postgres-migrations.ts). */
const PG_TRIGGERS = [...TRIGGERS, 'alert_audit_no_truncate', 'privacy_redactions_no_truncate', 'privacy_erasures_no_truncate'];

export async function verifyAuditTrail(runner: SqlRunner): Promise<AuditVerification> {
  const { q } = runner;
  const pg = runner.dialect === 'postgres';
  const all = <R>(query: RawBuilder<R>) => runner.all(query.compile(q));
  const problems: string[] = [];
  const [{ n, max } = { n: 0, max: 0 }] = await all(raw<{ n: number; max: number }>`SELECT COUNT(*) AS n, COALESCE(MAX(id), 0) AS max FROM alert_audit`);
  if (!pg) {
    const [row] = await all(raw<{ seq: number }>`SELECT seq FROM sqlite_sequence WHERE name = 'alert_audit'`);
    const seq = row?.seq ?? 0;
    if (n !== max) problems.push(`alert_audit holds ${n} entries but ids run to ${max}: ${max - n} entries are missing`);
    if (seq > max) problems.push(`alert_audit's last id was ${seq} but the highest left is ${max}: the newest entries are missing`);
  }
  const unopened = await all(raw<{ id: string }>`SELECT i.id FROM alert_incidents i
    WHERE NOT EXISTS (SELECT 1 FROM alert_audit a WHERE a.incident_id = i.id AND a.action = 'opened') LIMIT 20`);
  for (const u of unopened) problems.push(`incident ${u.id} has no 'opened' entry: its timeline lost entries`);
  const present = new Set((pg
    ? await all(raw<{ name: string }>`SELECT t.tgname AS name FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
        WHERE c.relnamespace = current_schema()::regnamespace AND NOT t.tgisinternal AND t.tgenabled <> 'D'`)
    : await all(raw<{ name: string }>`SELECT name FROM sqlite_master WHERE type = 'trigger'`)).map((r) => r.name));
  for (const t of pg ? PG_TRIGGERS : TRIGGERS) if (!present.has(t)) problems.push(`trigger ${t} is missing${pg ? ' or disabled' : ''}: the trail is not protected`);
  const mismatched = await all(raw<{ id: number }>`SELECT a.id FROM alert_audit a
    JOIN privacy_redactions r ON r.id = (SELECT MAX(id) FROM privacy_redactions WHERE audit_id = a.id)
    WHERE a.note IS DISTINCT FROM r.note OR a.note_zh IS DISTINCT FROM r.note_zh ORDER BY a.id LIMIT 20`);
  for (const m of mismatched) problems.push(`alert_audit #${m.id} differs from its redaction record`);
  const orphans = await all(raw<{ id: number; cause: string }>`SELECT r.id, r.cause FROM privacy_redactions r WHERE r.cause <> 'retention'
    AND NOT EXISTS (SELECT 1 FROM privacy_erasures e WHERE 'erasure:' || e.id = r.cause) ORDER BY r.id LIMIT 20`);
  for (const o of orphans) problems.push(`redaction #${o.id} names ${o.cause}, which is not recorded`);
  const unfinished = await all(raw<{ id: number }>`SELECT id FROM privacy_erasures WHERE counts = 'pending' ORDER BY id`);
  for (const u of unfinished) problems.push(`erasure #${u.id} has no counts: it did not finish`);
  const [{ redacted } = { redacted: 0 }] = await all(raw<{ redacted: number }>`SELECT COUNT(DISTINCT audit_id) AS redacted FROM privacy_redactions`);
  const [{ erasures } = { erasures: 0 }] = await all(raw<{ erasures: number }>`SELECT COUNT(*) AS erasures FROM privacy_erasures`);
  return { ok: problems.length === 0, entries: n, redacted, erasures, problems };
}
