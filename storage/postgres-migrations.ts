// The PostgreSQL schema of the stores behind the seam (issue 21 point 2), as an ordered list like
// SQLite's in app/migrations/: to change it, ADD ONE ENTRY at the end; never edit, reorder or
// renumber one that shipped. Each table mirrors its SQLite twin column for column (same names,
// same nullability, ms times as BIGINT, flags as 0/1 INTEGER) so that one kysely query serves
// both; tests/storage.contract.test.ts fails when they drift. Tables join this list as their
// stores move behind the seam; SQLite's numbering is its own.
//
// Several nodes may start at once against one server: the run holds a transaction-scoped
// advisory lock, so one migrates and the others wait, then find nothing to do. DDL is
// transactional in PostgreSQL, so a failed migration leaves the schema and its version as they were.
import { sql } from 'kysely';
import { WatchfireError } from '../contracts/errors.ts';
import type { SqlRunner } from './sql.ts';

export interface PostgresMigration {
  /** 1, 2, 3, … in order, without gaps: wf_schema.version after it ran. */
  readonly version: number;
  /** `module: what changes`. */
  readonly name: string;
  /** Run as one simple-protocol query: several statements, no parameters. */
  readonly sql: string;
}

export const POSTGRES_MIGRATIONS: readonly PostgresMigration[] = Object.freeze([
  // Mirrors app/migrations/0001-baseline.ts. A registry table gets `pos`: SQLite lists rows by
  // rowid (first insert order, kept by an upsert), PostgreSQL has no rowid; the identity is it.
  { version: 1, name: 'registry and dead letters', sql: `
      CREATE TABLE registry_centers (
        pos BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
        id TEXT PRIMARY KEY, json TEXT NOT NULL, updated_at BIGINT NOT NULL);
      CREATE TABLE registry_grids (
        pos BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
        id TEXT PRIMARY KEY, center_id TEXT NOT NULL, worker_id TEXT, json TEXT NOT NULL, updated_at BIGINT NOT NULL);
      CREATE TABLE registry_sites (
        pos BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
        id TEXT PRIMARY KEY, kind TEXT NOT NULL, center_id TEXT NOT NULL, grid_id TEXT,
        json TEXT NOT NULL, updated_at BIGINT NOT NULL);
      CREATE INDEX registry_sites_center ON registry_sites (center_id, grid_id);
      CREATE TABLE registry_devices (
        pos BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
        id TEXT PRIMARY KEY, type TEXT NOT NULL, site_id TEXT NOT NULL, enabled INTEGER NOT NULL,
        secret_hash TEXT, provisioned_at BIGINT, json TEXT NOT NULL, updated_at BIGINT NOT NULL);
      CREATE INDEX registry_devices_site ON registry_devices (site_id);
      CREATE TABLE registry_people (
        pos BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
        id TEXT PRIMARY KEY, role TEXT NOT NULL, center_id TEXT, json TEXT NOT NULL, updated_at BIGINT NOT NULL);
      CREATE TABLE registry_rosters (
        pos BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
        center_id TEXT PRIMARY KEY, json TEXT NOT NULL, updated_at BIGINT NOT NULL);

      CREATE TABLE dead_letters (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        at BIGINT NOT NULL,
        device_id TEXT,
        topic TEXT NOT NULL,
        code TEXT NOT NULL,
        reason TEXT NOT NULL,
        idx INTEGER,
        payload TEXT NOT NULL
      );
      CREATE INDEX dead_letters_device ON dead_letters (device_id, id);
      CREATE INDEX dead_letters_code ON dead_letters (code, id);
      CREATE INDEX dead_letters_at ON dead_letters (at);` },
  // Mirrors alert_outbox and alert_outbox_attempts as SQLite has them after its migration 13
  // (0001, 6, 7, 11, 13), claims included (issue 21 point 5: storage/outbox.ts).
  { version: 2, name: 'alerts: alert_outbox, alert_outbox_attempts', sql: `
      CREATE TABLE alert_outbox (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        channel TEXT NOT NULL,
        incident_id TEXT,
        report_id BIGINT,
        kind TEXT NOT NULL,
        step TEXT,
        recipient_kind TEXT NOT NULL,
        recipient_id TEXT NOT NULL,
        recipient_name TEXT NOT NULL,
        address TEXT NOT NULL,
        locale TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        next_at BIGINT NOT NULL,
        created_at BIGINT NOT NULL,
        sent_at BIGINT,
        last_error TEXT,
        pseudonymised_at BIGINT,
        claimed_by TEXT,
        claimed_until BIGINT
      );
      CREATE INDEX alert_outbox_due ON alert_outbox (channel, status, next_at);
      CREATE INDEX alert_outbox_incident ON alert_outbox (incident_id);
      CREATE INDEX alert_outbox_digest ON alert_outbox (recipient_id, step, created_at);
      CREATE INDEX alert_outbox_address ON alert_outbox (channel, address, id);
      CREATE INDEX alert_outbox_recipient ON alert_outbox (recipient_id);
      CREATE INDEX alert_outbox_pseudonymise ON alert_outbox (created_at) WHERE pseudonymised_at IS NULL;
      CREATE INDEX alert_outbox_claim ON alert_outbox (claimed_by) WHERE claimed_by IS NOT NULL;
      CREATE TABLE alert_outbox_attempts (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        outbox_id BIGINT NOT NULL,
        started_at BIGINT NOT NULL,
        finished_at BIGINT,
        outcome TEXT NOT NULL,
        error TEXT,
        provider_id TEXT,
        receipt TEXT,
        receipt_at BIGINT,
        receipt_detail TEXT
      );
      CREATE INDEX alert_outbox_attempts_row ON alert_outbox_attempts (outbox_id);
      CREATE INDEX alert_outbox_attempts_provider ON alert_outbox_attempts (provider_id) WHERE provider_id IS NOT NULL;` },
  // Mirrors app/migrations/0001-baseline.ts's console users and sessions (storage/users.ts).
  { version: 3, name: 'dashboards: users, sessions', sql: `
      CREATE TABLE users (
        username TEXT PRIMARY KEY,
        role TEXT NOT NULL,
        person_id TEXT,
        center_id TEXT,
        locale TEXT NOT NULL DEFAULT 'zh-CN',
        password_hash TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        disabled INTEGER NOT NULL DEFAULT 0
      );
      CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        username TEXT NOT NULL REFERENCES users (username) ON DELETE CASCADE,
        csrf TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL
      );
      CREATE INDEX sessions_expiry ON sessions (expires_at);` },
  // Mirrors SQLite's migration 14 (storage/leases.ts).
  { version: 4, name: 'app: wf_leases', sql: `
      CREATE TABLE wf_leases (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        term BIGINT NOT NULL,
        expires_at BIGINT NOT NULL
      );` },
  // Mirrors alert_reports (app/migrations/0001-baseline.ts, 0011-privacy.ts): storage/reports.ts.
  { version: 5, name: 'alerts: alert_reports', sql: `
      CREATE TABLE alert_reports (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        kind TEXT NOT NULL,
        center_id TEXT NOT NULL,
        period TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        body TEXT NOT NULL,
        pseudonymised_at BIGINT,
        UNIQUE (kind, center_id, period)
      );` },
  // Mirrors alert_escalations (app/migrations/0001-baseline.ts, 8): storage/escalations.ts.
  { version: 6, name: 'alerts: alert_escalations', sql: `
      CREATE TABLE alert_escalations (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        incident_id TEXT NOT NULL,
        policy TEXT NOT NULL,
        step TEXT NOT NULL,
        until_state TEXT NOT NULL,
        due_at BIGINT NOT NULL,
        done INTEGER NOT NULL DEFAULT 0,
        done_at BIGINT,
        created_at BIGINT NOT NULL,
        stage INTEGER
      );
      CREATE INDEX alert_escalations_due ON alert_escalations (done, due_at);
      CREATE INDEX alert_escalations_incident ON alert_escalations (incident_id, done);` },
  // Mirrors alert_incidents and alert_audit as SQLite has them after its migration 11 (0001, 4, 9,
  // 10, 11): storage/incidents.ts. The partial unique index is what refuses a second open incident
  // for one key when two nodes open it at once. The audit trail is append-only here too, refused
  // by the database itself; SQLite's one exception (a recorded privacy redaction may rewrite a
  // note, migration 11) comes with the privacy tables when they move behind the seam.
  { version: 7, name: 'alerts: alert_incidents, alert_audit', sql: `
      CREATE TABLE alert_incidents (
        id TEXT PRIMARY KEY,
        key TEXT NOT NULL,
        level TEXT NOT NULL,
        score DOUBLE PRECISION NOT NULL,
        category TEXT NOT NULL,
        condition TEXT NOT NULL,
        state TEXT NOT NULL,
        active INTEGER NOT NULL DEFAULT 1,
        center_id TEXT NOT NULL,
        site_id TEXT NOT NULL,
        grid_id TEXT,
        device_id TEXT NOT NULL,
        zone TEXT,
        title_en TEXT NOT NULL,
        title_zh TEXT NOT NULL,
        confirmed INTEGER NOT NULL DEFAULT 0,
        finding_count INTEGER NOT NULL DEFAULT 1,
        last_reading TEXT,
        opened_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        last_finding_at BIGINT NOT NULL,
        acknowledged_at BIGINT,
        dispatched_at BIGINT,
        on_site_at BIGINT,
        resolved_at BIGINT,
        reviewed_at BIGINT,
        assignee TEXT,
        disposition TEXT,
        feedback TEXT,
        recurrence_of TEXT,
        lead_device TEXT,
        pseudonymised_at BIGINT
      );
      CREATE UNIQUE INDEX alert_incidents_active_key ON alert_incidents (key) WHERE active = 1;
      CREATE INDEX alert_incidents_key_resolved ON alert_incidents (key, resolved_at);
      CREATE INDEX alert_incidents_center_opened ON alert_incidents (center_id, opened_at);
      CREATE INDEX alert_incidents_active ON alert_incidents (active, level);
      CREATE INDEX alert_incidents_pseudonymise ON alert_incidents (active, pseudonymised_at, resolved_at);
      CREATE TABLE alert_audit (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        incident_id TEXT NOT NULL,
        at BIGINT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        from_state TEXT,
        to_state TEXT,
        note TEXT,
        note_zh TEXT
      );
      CREATE INDEX alert_audit_incident ON alert_audit (incident_id, id);
      CREATE INDEX alert_audit_at ON alert_audit (at);
      CREATE FUNCTION alert_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'alert_audit is append-only'; END $$;
      CREATE TRIGGER alert_audit_no_update BEFORE UPDATE ON alert_audit
        FOR EACH ROW EXECUTE FUNCTION alert_audit_append_only();
      CREATE TRIGGER alert_audit_no_delete BEFORE DELETE ON alert_audit
        FOR EACH ROW EXECUTE FUNCTION alert_audit_append_only();
      CREATE TRIGGER alert_audit_no_truncate BEFORE TRUNCATE ON alert_audit
        FOR EACH STATEMENT EXECUTE FUNCTION alert_audit_append_only();` },
  // Mirrors SQLite's migration 11 (app/migrations/0011-privacy.ts) for the tables that live here:
  // privacy/ rewrites residents' personal text in incidents, the audit trail, the outbox and
  // reports wherever they are (issue 18 point 8), so its own records sit beside them.
  // - privacy_key: the pseudonyms' HMAC key, one for every node (a pseudonym must be the same
  //   whichever node computed it). Not drawn here: the first node to need it writes the key of
  //   its own SQLite file (wf_meta.privacy_key) with ON CONFLICT DO NOTHING, so an installation
  //   that moves onto PostgreSQL keeps its pseudonyms; every node then reads the one stored.
  //   Never changed nor deleted (its pseudonyms and the erasures' HMACs depend on it).
  // - privacy_erasures, privacy_redactions: append-only, as on SQLite (an erasure's counts are
  //   written once, 'pending' until then), TRUNCATE refused too.
  // - alert_audit_no_update now lets an UPDATE through exactly when it changes only note/note_zh,
  //   to the text of that entry's latest privacy_redactions row (SQLite's trigger of migration 11).
  // - read_audit: who read which resident's data (privacy/reads.ts), from every node, so that an
  //   export and GET /api/privacy/reads list the reads of the whole cluster.
  // shift_handovers and privacy_handover_redactions stay in each node's SQLite file.
  { version: 8, name: 'privacy: privacy_key, privacy_erasures, privacy_redactions, read_audit; alert_audit rewrites only by redaction', sql: `
      CREATE TABLE privacy_key (
        only_row BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (only_row),
        value TEXT NOT NULL CHECK (value ~ '^[0-9a-f]{64}$')
      );
      CREATE FUNCTION privacy_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$;
      CREATE TRIGGER privacy_key_no_update BEFORE UPDATE OR DELETE ON privacy_key
        FOR EACH ROW EXECUTE FUNCTION privacy_append_only();
      CREATE TRIGGER privacy_key_no_truncate BEFORE TRUNCATE ON privacy_key
        FOR EACH STATEMENT EXECUTE FUNCTION privacy_append_only();

      CREATE TABLE privacy_erasures (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        at BIGINT NOT NULL,
        actor TEXT NOT NULL,
        reason TEXT NOT NULL,
        site_id TEXT NOT NULL,
        pseudonym TEXT NOT NULL,
        counts TEXT NOT NULL,
        erased TEXT NOT NULL DEFAULT '[]'
      );
      CREATE INDEX privacy_erasures_site ON privacy_erasures (site_id);
      CREATE FUNCTION privacy_erasures_counts_once() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF OLD.counts = 'pending' AND NEW.id IS NOT DISTINCT FROM OLD.id AND NEW.at IS NOT DISTINCT FROM OLD.at
            AND NEW.actor IS NOT DISTINCT FROM OLD.actor AND NEW.reason IS NOT DISTINCT FROM OLD.reason
            AND NEW.site_id IS NOT DISTINCT FROM OLD.site_id AND NEW.pseudonym IS NOT DISTINCT FROM OLD.pseudonym
            AND NEW.erased IS NOT DISTINCT FROM OLD.erased THEN
            RETURN NEW;
          END IF;
          RAISE EXCEPTION 'privacy_erasures is append-only';
        END $$;
      CREATE TRIGGER privacy_erasures_no_update BEFORE UPDATE ON privacy_erasures
        FOR EACH ROW EXECUTE FUNCTION privacy_erasures_counts_once();
      CREATE TRIGGER privacy_erasures_no_delete BEFORE DELETE ON privacy_erasures
        FOR EACH ROW EXECUTE FUNCTION privacy_append_only();
      CREATE TRIGGER privacy_erasures_no_truncate BEFORE TRUNCATE ON privacy_erasures
        FOR EACH STATEMENT EXECUTE FUNCTION privacy_append_only();

      CREATE TABLE privacy_redactions (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        at BIGINT NOT NULL,
        audit_id BIGINT NOT NULL,
        cause TEXT NOT NULL,
        before_hmac TEXT NOT NULL,
        note TEXT,
        note_zh TEXT
      );
      CREATE INDEX privacy_redactions_audit ON privacy_redactions (audit_id, id);
      CREATE TRIGGER privacy_redactions_no_update BEFORE UPDATE ON privacy_redactions
        FOR EACH ROW EXECUTE FUNCTION privacy_append_only();
      CREATE TRIGGER privacy_redactions_no_delete BEFORE DELETE ON privacy_redactions
        FOR EACH ROW EXECUTE FUNCTION privacy_append_only();
      CREATE TRIGGER privacy_redactions_no_truncate BEFORE TRUNCATE ON privacy_redactions
        FOR EACH STATEMENT EXECUTE FUNCTION privacy_append_only();

      CREATE FUNCTION alert_audit_redaction_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF NEW.id IS NOT DISTINCT FROM OLD.id AND NEW.incident_id IS NOT DISTINCT FROM OLD.incident_id
            AND NEW.at IS NOT DISTINCT FROM OLD.at AND NEW.actor IS NOT DISTINCT FROM OLD.actor
            AND NEW.action IS NOT DISTINCT FROM OLD.action AND NEW.from_state IS NOT DISTINCT FROM OLD.from_state
            AND NEW.to_state IS NOT DISTINCT FROM OLD.to_state
            AND EXISTS (SELECT 1 FROM privacy_redactions r
              WHERE r.id = (SELECT MAX(id) FROM privacy_redactions WHERE audit_id = OLD.id)
                AND r.note IS NOT DISTINCT FROM NEW.note AND r.note_zh IS NOT DISTINCT FROM NEW.note_zh) THEN
            RETURN NEW;
          END IF;
          RAISE EXCEPTION 'alert_audit is append-only (only a recorded redaction may rewrite a note)';
        END $$;
      CREATE TABLE read_audit (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        at BIGINT NOT NULL,
        username TEXT NOT NULL,
        role TEXT NOT NULL,
        center_id TEXT,
        resource TEXT NOT NULL,
        resource_id TEXT,
        site_id TEXT
      );
      CREATE INDEX read_audit_site ON read_audit (site_id, at);
      CREATE INDEX read_audit_at ON read_audit (at);

      DROP TRIGGER alert_audit_no_update ON alert_audit;
      CREATE TRIGGER alert_audit_no_update BEFORE UPDATE ON alert_audit
        FOR EACH ROW EXECUTE FUNCTION alert_audit_redaction_only();` },
  // Mirrors SQLite migration 15: the storm digest starts from the site's incidents.
  { version: 9, name: 'alerts: index alert_incidents_site', sql: 'CREATE INDEX alert_incidents_site ON alert_incidents (site_id, active);' },
  // Mirrors SQLite's wf_meta (its migration 2): values every node must share, such as the key that
  // signs one-tap acknowledge links (a link one node sent must open on any other).
  { version: 10, name: 'app: wf_meta', sql: 'CREATE TABLE wf_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);' },
]);

// pg_advisory_xact_lock's key: any constant no other user of the database takes ("wfmi").
const LOCK_KEY = 0x77666d69;

export interface PostgresMigrationResult {
  from: number;
  to: number;
  applied: string[];
}

export async function migratePostgres(runner: SqlRunner, list: readonly PostgresMigration[] = POSTGRES_MIGRATIONS): Promise<PostgresMigrationResult> {
  if (runner.dialect !== 'postgres') throw new Error('migratePostgres needs a PostgreSQL runner (SQLite migrates in app/migrations/)');
  list.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`PostgreSQL migration list out of order: entry ${i} has version ${m.version}, expected ${i + 1}`);
  });
  const latest = list.length;
  return runner.q.transaction().execute(async (tx) => {
    await sql`SELECT pg_advisory_xact_lock(${LOCK_KEY})`.execute(tx);
    await sql`CREATE TABLE IF NOT EXISTS wf_schema (only_row BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (only_row), version INTEGER NOT NULL)`.execute(tx);
    const row = (await sql<{ version: number }>`SELECT version FROM wf_schema`.execute(tx)).rows[0];
    const from = row?.version ?? 0;
    if (from > latest) {
      throw new WatchfireError('WF_DB_TOO_NEW',
        `The PostgreSQL database is at schema version ${from}, newer than this release knows (${latest}): it was written by a newer Watchfire. ` +
        'Run that release again, or restore a backup taken before the upgrade.');
    }
    const applied: string[] = [];
    for (const m of list.slice(from)) {
      try {
        await sql.raw(m.sql).execute(tx);
      } catch (err) {
        throw new WatchfireError('WF_DB_MIGRATION', `PostgreSQL migration ${m.version} (${m.name}) failed, nothing was changed: ${(err as Error).message}`);
      }
      applied.push(`${m.version}: ${m.name}`);
    }
    if (applied.length) {
      await sql`INSERT INTO wf_schema (version) VALUES (${latest}) ON CONFLICT (only_row) DO UPDATE SET version = excluded.version`.execute(tx);
    }
    return { from, to: Math.max(from, latest), applied };
  });
}
