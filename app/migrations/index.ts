// The SQL store's schema, as an ordered list of migrations (issue 18 point 3). openDatabase()
// applies the ones a database has not seen yet, all in one transaction, and records the version
// in SQLite's `PRAGMA user_version`; a database from a newer release is refused (WF_DB_TOO_NEW).
//
// To change the schema, ADD ONE ENTRY at the end of MIGRATIONS (never edit or reorder a released
// one, never reuse a number):
//
//   { version: 3, name: 'alerts: incidents.pseudonymised_at', sql: `
//       ALTER TABLE alert_incidents ADD COLUMN pseudonymised_at INTEGER;
//       CREATE INDEX alert_incidents_resolved ON alert_incidents(resolved_at);` },
//
// - `sql` runs with db.exec(); for work SQL cannot express, give `up(db)` instead.
// - Say exactly what changes: no `IF NOT EXISTS` (only the baseline needs it, see 0001).
// - Everything runs inside one transaction: no `PRAGMA foreign_keys`, no VACUUM. To rebuild a
//   table, follow https://sqlite.org/lang_altertable.html#otheralter (create new, copy, drop,
//   rename) with foreign keys left as they are.
// - Long SQL gets its own file beside this one (NNNN-what.ts exporting a string), like 0001.
// - Then run `npx vitest run tests/migrations.test.ts`: it upgrades the 0.1.0 fixture database
//   through every migration and checks a fresh database ends up with the same schema.
import type { Database } from 'better-sqlite3';
import { BASELINE_0_1_0 } from './0001-baseline.ts';
import { INSTALLATION } from './0002-installation.ts';
import { PRIVACY } from './0011-privacy.ts';

export interface Migration {
  /** 1, 2, 3, … in order, without gaps: the database's user_version after it ran. */
  readonly version: number;
  /** `module: what changes`, shown in the log when it is applied. */
  readonly name: string;
  readonly sql?: string;
  readonly up?: (db: Database) => void;
}

export const MIGRATIONS: readonly Migration[] = Object.freeze([
  { version: 1, name: 'baseline: the schema of release 0.1.0', sql: BASELINE_0_1_0 },
  { version: 2, name: 'app: wf_meta with installed_at', sql: INSTALLATION },
  // Issue 16 point 3: the sign-in audit (dashboards/login-audit.ts).
  { version: 3, name: 'dashboards: login_audit', sql: `
      CREATE TABLE login_audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at INTEGER NOT NULL,
        username TEXT NOT NULL,
        address TEXT NOT NULL,
        outcome TEXT NOT NULL,
        user_agent TEXT
      );
      CREATE INDEX login_audit_user ON login_audit (username, address, outcome, at);` },
  // Issue 17 point 5: the Chinese of the system's own timeline notes (`note` keeps the English and
  // a person's own words), so each reader sees the timeline in their language.
  { version: 4, name: 'alerts: alert_audit.note_zh', sql: 'ALTER TABLE alert_audit ADD COLUMN note_zh TEXT;' },
  // Issue 15 point 3: each device's re-send memory survives restarts (ingest/seq-store.ts).
  { version: 5, name: 'ingest: ingest_seq', sql: `
      CREATE TABLE ingest_seq (
        device_id TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        updated_at INTEGER NOT NULL
      );` },
  // Issue 17 point 3: the storm digest asks "did this person get this step lately?" per alarm.
  { version: 6, name: 'alerts: index alert_outbox_digest', sql: 'CREATE INDEX alert_outbox_digest ON alert_outbox(recipient_id, step, created_at);' },
  // Issue 19 points 1 and 2: the provider's id of each attempt (its receipt names it), the receipt
  // itself, and "the last SMS to this phone" for replies that carry no message id.
  { version: 7, name: 'alerts: alert_outbox_attempts provider_id and receipt', sql: `
      ALTER TABLE alert_outbox_attempts ADD COLUMN provider_id TEXT;
      ALTER TABLE alert_outbox_attempts ADD COLUMN receipt TEXT;
      ALTER TABLE alert_outbox_attempts ADD COLUMN receipt_at INTEGER;
      ALTER TABLE alert_outbox_attempts ADD COLUMN receipt_detail TEXT;
      CREATE INDEX alert_outbox_attempts_provider ON alert_outbox_attempts(provider_id) WHERE provider_id IS NOT NULL;
      CREATE INDEX alert_outbox_address ON alert_outbox(channel, address, id);` },
  // Issue 19 point 4: a call tree's next stage is a due escalation row like any step, so it
  // survives a restart; `stage` says which (NULL for a step that notifies everyone at once).
  { version: 8, name: 'alerts: alert_escalations.stage', sql: 'ALTER TABLE alert_escalations ADD COLUMN stage INTEGER;' },
  // Issue 17: the device whose finding wrote the incident's title (its headline value), so a second
  // detector confirming at the same level does not replace 1.045 dB/m with its own 0.151 dB/m.
  { version: 9, name: 'alerts: alert_incidents.lead_device', sql: 'ALTER TABLE alert_incidents ADD COLUMN lead_device TEXT;' },
  // Issue 17 point 6: the shift handover (交接班). The outgoing operator's remark with the summary as
  // it was handed over, and the incoming operator's receipt; once received a row is final. The
  // index on alert_audit(at) finds a shift's notes and calls by time.
  { version: 10, name: 'dashboards: shift_handovers; alerts: index alert_audit_at', sql: `
      CREATE TABLE shift_handovers (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        center_id TEXT NOT NULL,
        from_at INTEGER NOT NULL,
        to_at INTEGER NOT NULL,
        summary TEXT NOT NULL,
        remark TEXT NOT NULL,
        outgoing_user TEXT NOT NULL,
        outgoing_name TEXT NOT NULL,
        handed_at INTEGER NOT NULL,
        incoming_user TEXT,
        incoming_name TEXT,
        received_at INTEGER,
        receipt_note TEXT
      );
      CREATE INDEX shift_handovers_center ON shift_handovers(center_id, handed_at);
      CREATE TRIGGER shift_handovers_final BEFORE UPDATE ON shift_handovers WHEN OLD.received_at IS NOT NULL
        BEGIN SELECT RAISE(ABORT, 'a received shift handover is final'); END;
      CREATE TRIGGER shift_handovers_no_delete BEFORE DELETE ON shift_handovers
        BEGIN SELECT RAISE(ABORT, 'shift handovers are kept'); END;
      CREATE INDEX alert_audit_at ON alert_audit(at);` },
  // Issue 18 point 8: residents' personal data (PIPL): pseudonyms, erasures, redactions, read audit.
  { version: 11, name: 'privacy: pseudonymised_at, privacy_erasures, privacy_redactions, read_audit', sql: PRIVACY },
  // Issue 18 point 8 meets issue 17's handover: a shift summary names homes, residents, their
  // phones and the calls made. A received handover stays final, except that a recorded privacy
  // redaction (erasure or retention) may rewrite its text, as for the audit trail (migration 11).
  { version: 12, name: 'privacy: shift_handovers redactions', sql: `
      ALTER TABLE shift_handovers ADD COLUMN pseudonymised_at INTEGER;
      CREATE INDEX shift_handovers_pseudonymise ON shift_handovers (handed_at) WHERE pseudonymised_at IS NULL;
      CREATE TABLE privacy_handover_redactions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at INTEGER NOT NULL,
        handover_id INTEGER NOT NULL,
        cause TEXT NOT NULL,
        before_hmac TEXT NOT NULL,
        summary TEXT NOT NULL,
        remark TEXT NOT NULL,
        receipt_note TEXT
      );
      CREATE INDEX privacy_handover_redactions_handover ON privacy_handover_redactions (handover_id, id);
      CREATE TRIGGER privacy_handover_redactions_no_update BEFORE UPDATE ON privacy_handover_redactions
        BEGIN SELECT RAISE(ABORT, 'privacy_handover_redactions is append-only'); END;
      CREATE TRIGGER privacy_handover_redactions_no_delete BEFORE DELETE ON privacy_handover_redactions
        BEGIN SELECT RAISE(ABORT, 'privacy_handover_redactions is append-only'); END;
      DROP TRIGGER shift_handovers_final;
      CREATE TRIGGER shift_handovers_final BEFORE UPDATE ON shift_handovers WHEN OLD.received_at IS NOT NULL AND NOT (
          NEW.id IS OLD.id AND NEW.center_id IS OLD.center_id AND NEW.from_at IS OLD.from_at AND NEW.to_at IS OLD.to_at
          AND NEW.outgoing_user IS OLD.outgoing_user AND NEW.outgoing_name IS OLD.outgoing_name AND NEW.handed_at IS OLD.handed_at
          AND NEW.incoming_user IS OLD.incoming_user AND NEW.incoming_name IS OLD.incoming_name AND NEW.received_at IS OLD.received_at
          AND EXISTS (SELECT 1 FROM privacy_handover_redactions r WHERE r.id = (SELECT MAX(id) FROM privacy_handover_redactions WHERE handover_id = OLD.id)
            AND r.summary IS NEW.summary AND r.remark IS NEW.remark AND r.receipt_note IS NEW.receipt_note))
        BEGIN SELECT RAISE(ABORT, 'a received shift handover is final (only a recorded privacy redaction may rewrite its text)'); END;` },
  // Issue 21 point 5: in cluster mode several nodes send from one outbox; a row is claimed by one
  // of them until claimed_until (storage/outbox.ts), and a claim that lapses (its node died) is
  // taken back. The embedded outbox leaves both NULL. The partial index holds only rows in flight.
  { version: 13, name: 'alerts: alert_outbox claimed_by, claimed_until', sql: `
      ALTER TABLE alert_outbox ADD COLUMN claimed_by TEXT;
      ALTER TABLE alert_outbox ADD COLUMN claimed_until INTEGER;
      CREATE INDEX alert_outbox_claim ON alert_outbox (claimed_by) WHERE claimed_by IS NOT NULL;` },
  // Issue 21 point 5: a duty only one node may do at a time (a cron job, a report) is done under
  // a lease (storage/leases.ts); `term` grows with each new holder, a fencing token.
  { version: 14, name: 'app: wf_leases', sql: `
      CREATE TABLE wf_leases (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        term INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
      );` },
  // The storm digest and a message's digest of the site's other incidents start from the site's
  // incidents (a handful), not from everything a busy operator was ever sent.
  { version: 15, name: 'alerts: index alert_incidents_site', sql: 'CREATE INDEX alert_incidents_site ON alert_incidents(site_id, active);' },
]);
