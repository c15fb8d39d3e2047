// The tables behind the storage seam as kysely sees them: one row type per table, the same on
// SQLite (schema: app/migrations/) and PostgreSQL (schema: storage/postgres-migrations.ts, which
// mirrors it; tests/storage.contract.test.ts compares the two). Times are ms since the epoch
// (BIGINT on PostgreSQL); flags are 0/1 integers on both, so one query serves both dialects.
import type { Generated } from 'kysely';

export interface DeadLettersTable {
  id: Generated<number>;
  at: number;
  device_id: string | null;
  topic: string;
  code: string;
  reason: string;
  idx: number | null;
  payload: string;
}

export interface OutboxTable {
  id: Generated<number>;
  channel: string;
  incident_id: string | null;
  report_id: number | null;
  kind: string;
  step: string | null;
  recipient_kind: string;
  recipient_id: string;
  recipient_name: string;
  address: string;
  locale: string;
  status: Generated<string>;
  attempts: Generated<number>;
  next_at: number;
  created_at: number;
  sent_at: number | null;
  last_error: string | null;
  pseudonymised_at: number | null;
  claimed_by: string | null;
  claimed_until: number | null;
}

export interface OutboxAttemptsTable {
  id: Generated<number>;
  outbox_id: number;
  started_at: number;
  finished_at: number | null;
  outcome: string;
  error: string | null;
  provider_id: string | null;
  receipt: string | null;
  receipt_at: number | null;
  receipt_detail: string | null;
}

export interface UsersTable {
  username: string;
  role: string;
  person_id: string | null;
  center_id: string | null;
  locale: Generated<string>;
  password_hash: string;
  created_at: number;
  disabled: Generated<number>;
}

export interface SessionsTable {
  id: string;
  username: string;
  csrf: string;
  created_at: number;
  expires_at: number;
}

export interface ReportsTable {
  id: Generated<number>;
  kind: string;
  center_id: string;
  period: string;
  created_at: number;
  body: string;
  pseudonymised_at: number | null;
}

export interface EscalationsTable {
  id: Generated<number>;
  incident_id: string;
  policy: string;
  step: string;
  until_state: string;
  due_at: number;
  done: Generated<number>;
  done_at: number | null;
  created_at: number;
  stage: number | null;
}

export interface IncidentsTable {
  id: string;
  key: string;
  level: string;
  score: number;
  category: string;
  condition: string;
  state: string;
  active: Generated<number>;
  center_id: string;
  site_id: string;
  grid_id: string | null;
  device_id: string;
  zone: string | null;
  title_en: string;
  title_zh: string;
  confirmed: Generated<number>;
  finding_count: Generated<number>;
  last_reading: string | null;
  opened_at: number;
  updated_at: number;
  last_finding_at: number;
  acknowledged_at: number | null;
  dispatched_at: number | null;
  on_site_at: number | null;
  resolved_at: number | null;
  reviewed_at: number | null;
  assignee: string | null;
  disposition: string | null;
  feedback: string | null;
  recurrence_of: string | null;
  lead_device: string | null;
  pseudonymised_at: number | null;
}

export interface AuditTable {
  id: Generated<number>;
  incident_id: string;
  at: number;
  actor: string;
  action: string;
  from_state: string | null;
  to_state: string | null;
  note: string | null;
  note_zh: string | null;
}

/** privacy/: one row per erasure (app/migrations/0011-privacy.ts); counts 'pending' until it finished. */
export interface PrivacyErasuresTable {
  id: Generated<number>;
  at: number;
  actor: string;
  reason: string;
  site_id: string;
  pseudonym: string;
  counts: string;
  erased: Generated<string>;
}

/** privacy/: one row per rewrite of an audit entry, the text it has now (alert_audit's trigger checks it). */
export interface PrivacyRedactionsTable {
  id: Generated<number>;
  at: number;
  audit_id: number;
  cause: string;
  before_hmac: string;
  note: string | null;
  note_zh: string | null;
}

/** privacy/reads.ts: who read which resident's data, when. */
export interface ReadAuditTable {
  id: Generated<number>;
  at: number;
  username: string;
  role: string;
  center_id: string | null;
  resource: string;
  resource_id: string | null;
  site_id: string | null;
}

/** PostgreSQL only: the pseudonyms' key every node shares (SQLite keeps its own in wf_meta). */
export interface PrivacyKeyTable {
  only_row: Generated<boolean>;
  value: string;
}

/** Installation-wide values by key (SQLite: this node's file; PostgreSQL: every node's). */
export interface MetaTable {
  key: string;
  value: string;
}

export interface LeasesTable {
  name: string;
  holder: string;
  term: number;
  expires_at: number;
}

interface RegistryColumns {
  json: string;
  updated_at: number;
}

export interface Tables {
  dead_letters: DeadLettersTable;
  alert_outbox: OutboxTable;
  alert_outbox_attempts: OutboxAttemptsTable;
  users: UsersTable;
  sessions: SessionsTable;
  wf_leases: LeasesTable;
  wf_meta: MetaTable;
  alert_reports: ReportsTable;
  alert_escalations: EscalationsTable;
  alert_incidents: IncidentsTable;
  alert_audit: AuditTable;
  privacy_erasures: PrivacyErasuresTable;
  privacy_redactions: PrivacyRedactionsTable;
  privacy_key: PrivacyKeyTable;
  read_audit: ReadAuditTable;
  registry_centers: RegistryColumns & { id: string };
  registry_grids: RegistryColumns & { id: string; center_id: string; worker_id: string | null };
  registry_sites: RegistryColumns & { id: string; kind: string; center_id: string; grid_id: string | null };
  registry_devices: RegistryColumns & {
    id: string; type: string; site_id: string; enabled: number; secret_hash: string | null; provisioned_at: number | null;
  };
  registry_people: RegistryColumns & { id: string; role: string; center_id: string | null };
  registry_rosters: RegistryColumns & { center_id: string };
}
