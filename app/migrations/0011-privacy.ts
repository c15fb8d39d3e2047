// Migration 11 (issue 18 point 8): personal data of residents (PIPL). See privacy/README.md.
// - `privacy_key` in wf_meta: the HMAC key of pseudonyms (`P-1a2b3c4d5e`), random per installation,
//   so a pseudonym cannot be turned back into a site id by someone who only has an export.
// - `pseudonymised_at` on incidents, outbox rows and reports: done once, never again.
// - privacy_erasures: one row per erasure (who, when, why, what was changed where, HMACs of the
//   strings erased so a stale registry file cannot bring them back), append-only.
// - privacy_redactions: one row per audit entry whose text was pseudonymised (which erasure or
//   retention run, the HMAC of the text it had, the text it has now), append-only.
// - alert_audit stays append-only: no DELETE ever; an UPDATE is refused unless it changes only
//   note/note_zh to exactly the text that entry's latest redaction record says. A rewrite of the
//   trail without its record (a bug, a hand edit) is refused by the database itself.
// - read_audit: who read which resident's data, when (dashboards/read-audit.ts).
export const PRIVACY = `
INSERT INTO wf_meta (key, value) VALUES ('privacy_key', lower(hex(randomblob(32))));
ALTER TABLE alert_incidents ADD COLUMN pseudonymised_at INTEGER;
ALTER TABLE alert_outbox ADD COLUMN pseudonymised_at INTEGER;
ALTER TABLE alert_reports ADD COLUMN pseudonymised_at INTEGER;
CREATE INDEX alert_incidents_pseudonymise ON alert_incidents (active, pseudonymised_at, resolved_at);
CREATE INDEX alert_outbox_recipient ON alert_outbox (recipient_id);
-- Only rows not yet pseudonymised: the nightly run walks it oldest first (without it, each batch
-- scanned the whole outbox: quadratic on the first run after an upgrade).
CREATE INDEX alert_outbox_pseudonymise ON alert_outbox (created_at) WHERE pseudonymised_at IS NULL;

CREATE TABLE privacy_erasures (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at INTEGER NOT NULL,
  actor TEXT NOT NULL,
  reason TEXT NOT NULL,
  site_id TEXT NOT NULL,
  pseudonym TEXT NOT NULL,
  counts TEXT NOT NULL,
  -- HMACs of the strings erased, so that a registry file loaded again cannot bring them back
  erased TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX privacy_erasures_site ON privacy_erasures (site_id);
-- The counts are written once, at the end of the erasure's transaction ('pending' until then).
CREATE TRIGGER privacy_erasures_no_update BEFORE UPDATE ON privacy_erasures
  WHEN NOT (OLD.counts = 'pending' AND NEW.id IS OLD.id AND NEW.at IS OLD.at AND NEW.actor IS OLD.actor
    AND NEW.reason IS OLD.reason AND NEW.site_id IS OLD.site_id AND NEW.pseudonym IS OLD.pseudonym AND NEW.erased IS OLD.erased)
  BEGIN SELECT RAISE(ABORT, 'privacy_erasures is append-only'); END;
CREATE TRIGGER privacy_erasures_no_delete BEFORE DELETE ON privacy_erasures
  BEGIN SELECT RAISE(ABORT, 'privacy_erasures is append-only'); END;

CREATE TABLE privacy_redactions (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at INTEGER NOT NULL,
  audit_id INTEGER NOT NULL,
  -- 'erasure:<privacy_erasures.id>' or 'retention'
  cause TEXT NOT NULL,
  -- HMAC-SHA256(privacy_key, note || x'00' || note_zh) of the text before: proves a copy presented later
  before_hmac TEXT NOT NULL,
  note TEXT,
  note_zh TEXT
);
CREATE INDEX privacy_redactions_audit ON privacy_redactions (audit_id, id);
CREATE TRIGGER privacy_redactions_no_update BEFORE UPDATE ON privacy_redactions
  BEGIN SELECT RAISE(ABORT, 'privacy_redactions is append-only'); END;
CREATE TRIGGER privacy_redactions_no_delete BEFORE DELETE ON privacy_redactions
  BEGIN SELECT RAISE(ABORT, 'privacy_redactions is append-only'); END;

DROP TRIGGER alert_audit_no_update;
CREATE TRIGGER alert_audit_no_update BEFORE UPDATE ON alert_audit
  WHEN NOT (NEW.id IS OLD.id AND NEW.incident_id IS OLD.incident_id AND NEW.at IS OLD.at AND NEW.actor IS OLD.actor
    AND NEW.action IS OLD.action AND NEW.from_state IS OLD.from_state AND NEW.to_state IS OLD.to_state
    AND EXISTS (SELECT 1 FROM privacy_redactions r WHERE r.id = (SELECT MAX(id) FROM privacy_redactions WHERE audit_id = OLD.id)
      AND r.note IS NEW.note AND r.note_zh IS NEW.note_zh))
  BEGIN SELECT RAISE(ABORT, 'alert_audit is append-only (only a recorded redaction may rewrite a note)'); END;

CREATE TABLE read_audit (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at INTEGER NOT NULL,
  username TEXT NOT NULL,
  role TEXT NOT NULL,
  center_id TEXT,
  -- site (the site view), incident (its detail), incidents (a list with residents' names), export
  resource TEXT NOT NULL,
  resource_id TEXT,
  site_id TEXT
);
CREATE INDEX read_audit_site ON read_audit (site_id, at);
CREATE INDEX read_audit_at ON read_audit (at);
`;
