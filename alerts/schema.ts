// The alerts module's tables in the embedded SQL store (DESIGN.md "Storage": incidents, audit
// trail, notification outbox, escalation timers — the state that must survive a restart).
import type { Database } from 'better-sqlite3';

export const ACTIVE_STATES = ['open', 'acknowledged', 'dispatched', 'on_site'] as const;

export function migrate(db: Database): void {
  db.exec(`
    CREATE TABLE IF NOT EXISTS alert_incidents (
      id TEXT PRIMARY KEY,
      key TEXT NOT NULL,
      level TEXT NOT NULL,
      score REAL NOT NULL,
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
      opened_at INTEGER NOT NULL,
      updated_at INTEGER NOT NULL,
      last_finding_at INTEGER NOT NULL,
      acknowledged_at INTEGER,
      dispatched_at INTEGER,
      on_site_at INTEGER,
      resolved_at INTEGER,
      reviewed_at INTEGER,
      assignee TEXT,
      disposition TEXT,
      feedback TEXT,
      recurrence_of TEXT
    );
    -- One open incident per situation and place: the database refuses a second one.
    CREATE UNIQUE INDEX IF NOT EXISTS alert_incidents_active_key ON alert_incidents(key) WHERE active = 1;
    CREATE INDEX IF NOT EXISTS alert_incidents_key_resolved ON alert_incidents(key, resolved_at);
    CREATE INDEX IF NOT EXISTS alert_incidents_center_opened ON alert_incidents(center_id, opened_at);
    CREATE INDEX IF NOT EXISTS alert_incidents_active ON alert_incidents(active, level);

    CREATE TABLE IF NOT EXISTS alert_audit (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      incident_id TEXT NOT NULL,
      at INTEGER NOT NULL,
      actor TEXT NOT NULL,
      action TEXT NOT NULL,
      from_state TEXT,
      to_state TEXT,
      note TEXT
    );
    CREATE INDEX IF NOT EXISTS alert_audit_incident ON alert_audit(incident_id, id);
    -- Append-only: the audit trail cannot be rewritten, even by a bug of ours.
    CREATE TRIGGER IF NOT EXISTS alert_audit_no_update BEFORE UPDATE ON alert_audit
      BEGIN SELECT RAISE(ABORT, 'alert_audit is append-only'); END;
    CREATE TRIGGER IF NOT EXISTS alert_audit_no_delete BEFORE DELETE ON alert_audit
      BEGIN SELECT RAISE(ABORT, 'alert_audit is append-only'); END;

    CREATE TABLE IF NOT EXISTS alert_escalations (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      incident_id TEXT NOT NULL,
      policy TEXT NOT NULL,
      step TEXT NOT NULL,
      -- the state that ends this step (copied from the policy, so cancelling needs no policy lookup)
      until_state TEXT NOT NULL,
      due_at INTEGER NOT NULL,
      -- 0 pending, 1 done (notifications written), 2 cancelled
      done INTEGER NOT NULL DEFAULT 0,
      done_at INTEGER,
      created_at INTEGER NOT NULL
    );
    CREATE INDEX IF NOT EXISTS alert_escalations_due ON alert_escalations(done, due_at);
    CREATE INDEX IF NOT EXISTS alert_escalations_incident ON alert_escalations(incident_id, done);

    CREATE TABLE IF NOT EXISTS alert_outbox (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      channel TEXT NOT NULL,
      incident_id TEXT,
      report_id INTEGER,
      kind TEXT NOT NULL,
      step TEXT,
      recipient_kind TEXT NOT NULL,
      recipient_id TEXT NOT NULL,
      recipient_name TEXT NOT NULL,
      address TEXT NOT NULL,
      locale TEXT NOT NULL,
      -- pending, sending, sent, failed (gave up after maxAttempts)
      status TEXT NOT NULL DEFAULT 'pending',
      attempts INTEGER NOT NULL DEFAULT 0,
      next_at INTEGER NOT NULL,
      created_at INTEGER NOT NULL,
      sent_at INTEGER,
      last_error TEXT
    );
    CREATE INDEX IF NOT EXISTS alert_outbox_due ON alert_outbox(channel, status, next_at);
    CREATE INDEX IF NOT EXISTS alert_outbox_incident ON alert_outbox(incident_id);

    CREATE TABLE IF NOT EXISTS alert_outbox_attempts (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      outbox_id INTEGER NOT NULL,
      started_at INTEGER NOT NULL,
      finished_at INTEGER,
      outcome TEXT NOT NULL,
      error TEXT
    );
    CREATE INDEX IF NOT EXISTS alert_outbox_attempts_row ON alert_outbox_attempts(outbox_id);

    CREATE TABLE IF NOT EXISTS alert_reports (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      kind TEXT NOT NULL,
      center_id TEXT NOT NULL,
      period TEXT NOT NULL,
      created_at INTEGER NOT NULL,
      body TEXT NOT NULL,
      UNIQUE(kind, center_id, period)
    );
  `);

  // --- Issue 17 point 5: the Chinese text of the system's own timeline notes -------------------
  // `note` keeps the English (and a person's own words); `note_zh` the same system note in Chinese,
  // so each reader sees the timeline in their language. Added to existing databases in place.
  const auditColumns = db.prepare(`SELECT name FROM pragma_table_info('alert_audit')`).pluck().all() as string[];
  if (!auditColumns.includes('note_zh')) db.exec('ALTER TABLE alert_audit ADD COLUMN note_zh TEXT');
}
