// Migration 1: the schema of release 0.1.0 as its modules created it at start, verbatim.
// 0.1.0 set no user_version, so its databases open at version 0 with these tables present:
// `IF NOT EXISTS` lets this migration adopt them unchanged. It is the only migration allowed to
// say `IF NOT EXISTS`; later ones state exactly what they change (issue 18 point 3).
// Frozen: never edit it; add a new migration instead.
export const BASELINE_0_1_0 = `-- registry (registry/store.ts)
CREATE TABLE IF NOT EXISTS registry_centers (
  id TEXT PRIMARY KEY, json TEXT NOT NULL, updated_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS registry_grids (
  id TEXT PRIMARY KEY, center_id TEXT NOT NULL, worker_id TEXT, json TEXT NOT NULL, updated_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS registry_sites (
  id TEXT PRIMARY KEY, kind TEXT NOT NULL, center_id TEXT NOT NULL, grid_id TEXT,
  json TEXT NOT NULL, updated_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS registry_sites_center ON registry_sites(center_id, grid_id);
CREATE TABLE IF NOT EXISTS registry_devices (
  id TEXT PRIMARY KEY, type TEXT NOT NULL, site_id TEXT NOT NULL, enabled INTEGER NOT NULL,
  secret_hash TEXT, provisioned_at INTEGER, json TEXT NOT NULL, updated_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS registry_devices_site ON registry_devices(site_id);
CREATE TABLE IF NOT EXISTS registry_people (
  id TEXT PRIMARY KEY, role TEXT NOT NULL, center_id TEXT, json TEXT NOT NULL, updated_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS registry_rosters (
  center_id TEXT PRIMARY KEY, json TEXT NOT NULL, updated_at INTEGER NOT NULL);

-- alerts: incidents, audit trail, escalation timers, outbox, reports
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

-- ingest: dead letters
CREATE TABLE IF NOT EXISTS dead_letters (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at INTEGER NOT NULL,
  device_id TEXT,
  topic TEXT NOT NULL,
  code TEXT NOT NULL,
  reason TEXT NOT NULL,
  idx INTEGER,
  payload TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS dead_letters_device ON dead_letters (device_id, id);
CREATE INDEX IF NOT EXISTS dead_letters_code ON dead_letters (code, id);
CREATE INDEX IF NOT EXISTS dead_letters_at ON dead_letters (at);

-- dashboards: console users and their sessions
CREATE TABLE IF NOT EXISTS users (
  username TEXT PRIMARY KEY,
  role TEXT NOT NULL,
  person_id TEXT,
  center_id TEXT,
  locale TEXT NOT NULL DEFAULT 'zh-CN',
  password_hash TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  disabled INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS sessions (
  id TEXT PRIMARY KEY,           -- sha256 of the cookie token: a stolen database opens no session
  username TEXT NOT NULL REFERENCES users(username) ON DELETE CASCADE,
  csrf TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_expiry ON sessions(expires_at);
`;
