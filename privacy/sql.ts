// The statements privacy/ runs over other modules' tables (incidents, audit trail, outbox,
// reports): the one place outside alerts/ that rewrites them, and only their personal text.
// Every rewrite of an audit entry goes with its record in privacy_redactions, which the
// database's trigger on alert_audit demands (SQLite migration 11, PostgreSQL migration 8).
//
// Two databases (issue 21): the shared tables (alert_*, privacy_erasures, privacy_redactions)
// are queried through the SqlRunner alerts/ runs on, so with storage.postgresUrl an erasure or the
// nightly run rewrites the rows every node shares; kysely builds each query once for both
// dialects. What stays in each node's SQLite file (shift handovers and their redactions, the read
// audit, wf_meta, secure_delete, the WAL) is run on better-sqlite3 directly, below the line.
import type { Database } from 'better-sqlite3';
import { sql as raw, type Kysely } from 'kysely';
import { sqliteRunner, tx, type SqlRunner, type Tables, type TxBody } from '../storage/index.ts';
import { hmac } from './terms.ts';

export { sqliteRunner, tx, type SqlRunner, type TxBody };

export interface AuditRow { id: number; incident_id: string; at: number; actor: string; action: string; from_state: string | null; to_state: string | null; note: string | null; note_zh: string | null }
export interface OutboxRaw { id: number; incident_id: string | null; recipient_id: string; recipient_name: string; address: string; last_error: string | null; status: string; site_id?: string | null }
export interface IncidentRaw { id: string; site_id: string; center_id: string; state: string; active: number; title_en: string; title_zh: string; last_reading: string | null; feedback: string | null; resolved_at: number | null; pseudonymised_at: number | null }
export interface AttemptRaw { id: number; error: string | null; receipt_detail: string | null }
export interface ReportRaw { id: number; kind: string; center_id: string; period: string; created_at: number; body: string }

/** The shared tables' queries, built for the runner's dialect; run them with runner.all/run or tx.all/run. */
export function sharedSql(runner: SqlRunner) {
  const q: Kysely<Tables> = runner.q;
  const pg = runner.dialect === 'postgres';
  return {
    openOfSite: (siteId: string) => q.selectFrom('alert_incidents').select('id').where('site_id', '=', siteId).where('active', '=', 1),
    /**
     * An erasure's incidents. On PostgreSQL locked until it commits: a nightly run on another node
     * (which skips locked rows) must not write back a scrub of a note this erasure replaced whole.
     * SQLite's IMMEDIATE transaction already makes it the only writer.
     */
    incidentsOfSite: (siteId: string) => {
      const s = q.selectFrom('alert_incidents').selectAll().where('site_id', '=', siteId).orderBy('opened_at');
      return pg ? s.forUpdate() : s;
    },
    oldClosed: (cutoff: number, limit: number) => {
      const s = q.selectFrom('alert_incidents').selectAll().where('active', '=', 0).where('pseudonymised_at', 'is', null)
        .where('resolved_at', '<', cutoff).orderBy('resolved_at').limit(limit);
      return pg ? s.forUpdate().skipLocked() : s;
    },
    // `active = 0` here too: an incident reopened since it was read is never touched.
    updateIncident: (id: string, v: { title_en: string; title_zh: string; last_reading: string | null; feedback: string | null }, at: number) =>
      q.updateTable('alert_incidents').set({ ...v, pseudonymised_at: at }).where('id', '=', id).where('active', '=', 0),
    incidentsOfSiteForExport: (siteId: string) => q.selectFrom('alert_incidents').selectAll().where('site_id', '=', siteId).orderBy('opened_at'),
    auditOf: (incidentId: string) => q.selectFrom('alert_audit').selectAll().where('incident_id', '=', incidentId).orderBy('id'),
    appendAudit: (row: Omit<AuditRow, 'id'>) => q.insertInto('alert_audit').values(row),
    redaction: (row: { at: number; audit_id: number; cause: string; before_hmac: string; note: string | null; note_zh: string | null }) =>
      q.insertInto('privacy_redactions').values(row),
    rewriteAudit: (id: number, note: string | null, noteZh: string | null) => q.updateTable('alert_audit').set({ note, note_zh: noteZh }).where('id', '=', id),
    outboxOfIncident: (incidentId: string) => q.selectFrom('alert_outbox').selectAll().where('incident_id', '=', incidentId).orderBy('id'),
    // Rows to a site's contacts: recipient ids `<site>#contact<n>` (alerts/recipients.ts). SQLite
    // compares bytes, so the range walks alert_outbox_recipient; PostgreSQL's default collation
    // is the server's locale, where a range on text is not a prefix: starts_with (a scan, once
    // per erasure or export).
    outboxToContacts: (siteId: string) => {
      const s = q.selectFrom('alert_outbox').selectAll().orderBy('id');
      return pg
        ? s.where(raw<boolean>`starts_with(recipient_id, ${`${siteId}#contact`})`)
        : s.where('recipient_id', '>=', `${siteId}#contact`).where('recipient_id', '<', `${siteId}#contacu`);
    },
    oldOutbox: (cutoff: number, limit: number) => {
      const s = q.selectFrom('alert_outbox as o').leftJoin('alert_incidents as i', 'i.id', 'o.incident_id').selectAll('o').select('i.site_id as site_id')
        .where('o.pseudonymised_at', 'is', null).where('o.status', 'in', ['sent', 'failed']).where('o.created_at', '<', cutoff)
        .where((eb) => eb.or([eb('o.incident_id', 'is', null), eb('i.active', '=', 0)]))
        .orderBy('o.created_at').limit(limit);
      return pg ? s.forUpdate(['o']).skipLocked() : s;
    },
    updateOutbox: (id: number, v: { recipient_name: string; address: string; last_error: string | null }, at: number) =>
      q.updateTable('alert_outbox').set({ ...v, pseudonymised_at: at }).where('id', '=', id),
    attemptsOf: (outboxId: number) => q.selectFrom('alert_outbox_attempts').selectAll().where('outbox_id', '=', outboxId).orderBy('id'),
    // receipt_detail: the provider's delivery report (issue 19), which may quote the number.
    updateAttempt: (id: number, error: string | null, receiptDetail: string | null) =>
      q.updateTable('alert_outbox_attempts').set({ error, receipt_detail: receiptDetail }).where('id', '=', id),
    reports: () => q.selectFrom('alert_reports').select(['id', 'kind', 'center_id', 'period', 'created_at', 'body']).orderBy('id'),
    oldReports: (cutoff: number, limit: number) => {
      const s = q.selectFrom('alert_reports').select(['id', 'center_id', 'body']).where('pseudonymised_at', 'is', null).where('created_at', '<', cutoff).orderBy('id').limit(limit);
      return pg ? s.forUpdate().skipLocked() : s;
    },
    updateReport: (id: number, body: string, at: number | undefined) =>
      q.updateTable('alert_reports').set(at === undefined ? { body } : { body, pseudonymised_at: at }).where('id', '=', id),
    insertErasure: (row: { at: number; actor: string; reason: string; site_id: string; pseudonym: string; erased: string }) =>
      q.insertInto('privacy_erasures').values({ ...row, counts: 'pending' }).returning('id'),
    finishErasure: (id: number, counts: string) => q.updateTable('privacy_erasures').set({ counts }).where('id', '=', id),
    erasuresOfSite: (siteId: string) => q.selectFrom('privacy_erasures').selectAll().where('site_id', '=', siteId).orderBy('id'),
    erasureMarks: () => q.selectFrom('privacy_erasures').select(['site_id', 'erased']),
  };
}
export type SharedSql = ReturnType<typeof sharedSql>;

/**
 * The pseudonyms' key. On SQLite wf_meta.privacy_key (migration 11). On PostgreSQL one key for
 * every node: the first node to ask stores its own file's key (so an installation moving onto
 * PostgreSQL keeps its pseudonyms), every node then uses the one stored.
 */
export async function keyOf(runner: SqlRunner, db: Database): Promise<string> {
  const row = db.prepare("SELECT value FROM wf_meta WHERE key = 'privacy_key'").get() as { value: string } | undefined;
  if (!row) throw new Error('wf_meta.privacy_key is missing: the database predates migration 11');
  if (runner.dialect === 'sqlite') return row.value;
  await runner.run(runner.q.insertInto('privacy_key').values({ value: row.value }).onConflict((oc) => oc.column('only_row').doNothing()));
  const [shared] = await runner.all(runner.q.selectFrom('privacy_key').select('value'));
  if (!shared) throw new Error('privacy_key is missing on PostgreSQL');
  return shared.value;
}

/**
 * Rewrites one audit entry's text, with its redaction record first (the trigger checks the new
 * text against it). Returns whether anything changed.
 */
export function* rewriteNote(s: SharedSql, key: string, at: number, cause: string, row: AuditRow, note: string | null, noteZh: string | null): TxBody<boolean> {
  if (note === row.note && noteZh === row.note_zh) return false;
  const before = hmac(key, `${row.note ?? ''}\u0000${row.note_zh ?? ''}`);
  yield* tx.run(s.redaction({ at, audit_id: row.id, cause, before_hmac: before, note, note_zh: noteZh }));
  yield* tx.run(s.rewriteAudit(row.id, note, noteZh));
  return true;
}

/** The contact index of an outbox row addressed to a site's emergency contact, else undefined. */
export function contactIndex(recipientId: string): { siteId: string; index: number } | undefined {
  const m = /^(.+)#contact(\d+)$/.exec(recipientId);
  return m ? { siteId: m[1]!, index: Number(m[2]) } : undefined;
}

/**
 * Where any of `literals` still occurs in the shared database (PostgreSQL): one scan per table of
 * the schema, counting per text column. SQLite's file is scanned by findLeftovers (erase.ts).
 */
export async function sharedLeftovers(runner: SqlRunner, literals: readonly string[]): Promise<Array<{ table: string; column: string; rows: number }>> {
  if (runner.dialect !== 'postgres' || !literals.length) return [];
  const cols = await runner.all(raw<{ table_name: string; column_name: string }>`SELECT table_name, column_name FROM information_schema.columns
    WHERE table_schema = current_schema() AND data_type IN ('text', 'character varying', 'character') ORDER BY table_name, column_name`.compile(runner.q));
  const tables = new Map<string, string[]>();
  for (const c of cols) tables.set(c.table_name, [...tables.get(c.table_name) ?? [], c.column_name]);
  const out: Array<{ table: string; column: string; rows: number }> = [];
  for (const [table, columns] of tables) {
    const counts = raw.join(columns.map((c, i) =>
      raw`COUNT(*) FILTER (WHERE ${raw.join(literals.map((l) => raw`strpos(${raw.ref(c)}, ${l}) > 0`), raw` OR `)}) AS ${raw.id(`c${i}`)}`));
    const [r] = await runner.all(raw<Record<string, number>>`SELECT ${counts} FROM ${raw.table(table)}`.compile(runner.q));
    columns.forEach((column, i) => {
      const rows = Number(r?.[`c${i}`] ?? 0);
      if (rows > 0) out.push({ table: `postgres:${table}`, column, rows });
    });
  }
  return out;
}

/**
 * PostgreSQL keeps the old version of every row an erasure rewrote in the table's pages until
 * VACUUM marks it free (and even then the bytes stay until the page is written over; WAL
 * segments, replicas and base backups hold them until they are recycled): there is no
 * secure_delete. A plain VACUUM of the tables touched is online and, with the visibility map,
 * visits only changed pages; it cannot run inside a transaction, and needs the tables' owner.
 * False when it failed (e.g. a role that does not own them): the next autovacuum does it.
 */
export async function vacuumShared(runner: SqlRunner): Promise<boolean> {
  if (runner.dialect !== 'postgres') return true;
  try {
    await runner.run(raw`VACUUM alert_incidents, alert_audit, alert_outbox, alert_outbox_attempts, alert_reports`.compile(runner.q));
    return true;
  } catch {
    return false;
  }
}

// ---- SQLite only: each node's own file -------------------------------------------------------

export interface HandoverRaw { id: number; center_id: string; summary: string; remark: string; receipt_note: string | null }

/** Shift handovers (issue 17) live in each node's SQLite file (dashboards/handover-store.ts), so their redactions too. */
export function handoverSql(db: Database) {
  return {
    handoversOfCenter: db.prepare('SELECT id, center_id, summary, remark, receipt_note FROM shift_handovers WHERE center_id = ? ORDER BY id'),
    oldHandovers: db.prepare('SELECT id, center_id, summary, remark, receipt_note FROM shift_handovers WHERE pseudonymised_at IS NULL AND handed_at < ? ORDER BY handed_at LIMIT ?'),
    handoverRedaction: db.prepare('INSERT INTO privacy_handover_redactions (at, handover_id, cause, before_hmac, summary, remark, receipt_note) VALUES (?, ?, ?, ?, ?, ?, ?)'),
    rewriteHandover: db.prepare('UPDATE shift_handovers SET summary = ?, remark = ?, receipt_note = ?, pseudonymised_at = ? WHERE id = ?'),
  };
}
export type HandoverSql = ReturnType<typeof handoverSql>;

/** The text of a handover once scrubbed; undefined when nothing changes (and not forced). */
export function scrubbedHandover(row: HandoverRaw, scrubText: <T extends string | null>(t: T) => T, force = false) {
  const summary = scrubText(row.summary);
  const remark = scrubText(row.remark);
  const receipt = scrubText(row.receipt_note);
  if (!force && summary === row.summary && remark === row.remark && receipt === row.receipt_note) return undefined;
  return { summary, remark, receipt };
}

/**
 * Rewrites one shift handover's text (issue 17's 交接班 names homes, residents and calls), with its
 * redaction record first: a received handover is final, and its trigger (migration 12) lets only
 * a recorded redaction change its text. Returns whether anything changed.
 */
export function rewriteHandover(sql: HandoverSql, key: string, at: number, cause: string, row: HandoverRaw, scrubText: <T extends string | null>(t: T) => T, force = false): boolean {
  const next = scrubbedHandover(row, scrubText, force);
  if (!next) return false;
  sql.handoverRedaction.run(at, row.id, cause, hmac(key, `${row.summary}\u0000${row.remark}\u0000${row.receipt_note ?? ''}`), next.summary, next.remark, next.receipt);
  sql.rewriteHandover.run(next.summary, next.remark, next.receipt, at, row.id);
  return true;
}

// secure_delete per connection, counted: an erasure and a nightly batch may overlap across an await.
const secure = new WeakMap<Database, { depth: number; before: number }>();

/**
 * Runs `fn` with SQLite's secure_delete on: the bytes of rewritten rows are overwritten with
 * zeros in the file instead of left in free space (https://sqlite.org/pragma.html#pragma_secure_delete).
 * SQLite only: PostgreSQL has no such thing (vacuumShared).
 */
export async function withSecureDelete<T>(db: Database, fn: () => Promise<T>): Promise<T> {
  let s = secure.get(db);
  if (!s) {
    s = { depth: 0, before: db.pragma('secure_delete', { simple: true }) as number };
    secure.set(db, s);
    db.pragma('secure_delete = ON');
  }
  s.depth++;
  try {
    return await fn();
  } finally {
    if (--s.depth === 0) {
      secure.delete(db);
      if (db.open) db.pragma(`secure_delete = ${s.before}`);
    }
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
