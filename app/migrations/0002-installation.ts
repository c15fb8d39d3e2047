// Migration 2: when this installation began, so that reports never cover a period before it
// (issue 18 point 7: a fresh install emailed the monthly report for a month it did not exist).
// An upgraded 0.1.0 database takes the oldest moment it remembers; a new one takes now.
export const INSTALLATION = `
CREATE TABLE wf_meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
INSERT INTO wf_meta (key, value)
SELECT 'installed_at', CAST(COALESCE(MIN(t), CAST(unixepoch('subsec') * 1000 AS INTEGER)) AS TEXT) FROM (
  SELECT MIN(updated_at) AS t FROM registry_centers
  UNION ALL SELECT MIN(provisioned_at) FROM registry_devices
  UNION ALL SELECT MIN(opened_at) FROM alert_incidents
  UNION ALL SELECT MIN(at) FROM alert_audit
  UNION ALL SELECT MIN(created_at) FROM users
);
`;
