// Every error and reject reason Watchfire reports has a code listed here with its meaning.
// A test fails when a code used in the code base is missing from this table.

export const ERROR_CODES = {
  // configuration and start
  WF_CONFIG_INVALID: 'The configuration file or environment failed validation; every problem is listed with its path.',
  WF_REGISTRY_INVALID: 'The registry file or CSV import failed validation; every problem is listed with its path or row.',
  WF_REGISTRY_NOT_FOUND: 'No registry entry (device, site, person, …) with that id.',
  WF_REGISTRY_IN_USE: 'A registry entry cannot be removed while others refer to it (a site with devices, a grid with sites, …); they are listed.',
  WF_INFLUXD_MISSING: 'No InfluxDB URL is configured and no `influxd` is on PATH to start a local one (apt-get install influxdb).',
  WF_INFLUXD_START: 'The local influxd could not be started or did not become ready.',
  // SQL store schema (issue 18: app/migrations/)
  WF_DB_TOO_NEW: 'The database was written by a newer Watchfire (its schema version is above the newest this release knows): refused, nothing changed.',
  WF_DB_MIGRATION: 'A schema migration failed at start; the transaction was rolled back and the database is as it was.',
  // gateway: refusals and drops
  WF_AUTH_UNKNOWN_DEVICE: 'CONNECT with a user name that is no registered device: CONNACK 4.',
  WF_AUTH_BAD_SECRET: 'CONNECT with a wrong or missing device secret: CONNACK 4.',
  WF_AUTH_DISABLED: 'CONNECT from a device that is disabled in the registry: CONNACK 5.',
  WF_AUTH_PROTOCOL: 'CONNECT with an unsupported protocol version (MQTT 5): refused.',
  WF_AUTH_KEEPALIVE: 'CONNECT asking for a keep-alive above gateway.maxKeepaliveSec (default 1200 s): CONNACK 5.',
  WF_ACL_PUBLISH: 'PUBLISH outside v1/devices/{own id}/: dropped, counted, connection closed.',
  WF_ACL_SUBSCRIBE: 'SUBSCRIBE outside v1/devices/{own id}/commands/#: SUBACK 0x80.',
  WF_RATE_LIMITED: 'A device exceeded its message rate budget: throttled, then disconnected if it persists.',
  WF_PACKET_TOO_LARGE: 'An MQTT packet above the maximum packet size: connection closed.',
  WF_GATEWAY_LISTEN: 'The gateway could not listen on its MQTT or MQTTS port (in use, no permission, bad host).',
  // ingest: rejects (each one in the dead-letter store)
  WF_INGEST_TOPIC: 'A publish on a topic that is not v1/devices/{id}/telemetry|events|status.',
  WF_INGEST_TOO_LARGE: 'Payload over 64 KiB: rejected whole.',
  WF_INGEST_NOT_JSON: 'Payload is not UTF-8 JSON: rejected whole.',
  WF_INGEST_NOT_OBJECT: 'JSON that is neither an object nor an array of objects: rejected whole.',
  WF_INGEST_BATCH_TOO_LARGE: 'An array of more than 500 elements: rejected whole.',
  WF_INGEST_SCHEMA: 'One element failed validation (wrong type, out of range, unknown event type); the rest of the batch is processed.',
  WF_INGEST_UNKNOWN_DEVICE: 'A message from a device that is not (or no longer) in the registry.',
  WF_INGEST_DUPLICATE: 'An exact re-send (same device, seq and ts): dropped, counted, not dead-lettered.',
  // storage
  WF_STORE_WRITE: 'A batch write to InfluxDB failed; the batch is spooled to disk and retried.',
  WF_STORE_SPOOL_FULL: 'The disk spool reached its size cap; the oldest data is kept, new batches are refused loudly.',
  WF_STORE_SPOOL_WARN: 'The disk spool passed its warning threshold.',
  // rules
  WF_RULES_INVALID: 'A rule set (file, API or per-device override) failed validation; the running one stays.',
  // rules (issue 14)
  WF_RULE_EXCEPTION: 'A rule threw while scoring a reading (a bug): counted by device in watchfire_rules_exceptions_total and logged; the reading keeps what was found before.',
  // alerts and notifications
  WF_NOTIFY_SMTP: 'An email could not be handed to the SMTP server; retried with backoff.',
  WF_NOTIFY_WEBHOOK: 'A webhook POST failed or answered non-2xx; retried with backoff.',
  WF_NOTIFY_CONSOLE: 'A console notification could not be shown (the console channel is closed); retried with backoff.',
  WF_NOTIFY_GAVE_UP: 'A notification kept failing past its retry window; it stays in the outbox marked failed, logged loudly.',
  WF_NOTIFY_NO_RECIPIENT: 'A notification step found nobody to notify (no one on duty, no contact); logged loudly.',
  WF_INCIDENT_NOT_FOUND: 'No incident with that id.',
  WF_INCIDENT_TRANSITION: 'That transition is not allowed from the incident\'s current state.',
  WF_INCIDENT_DISPOSITION: 'A red incident can be resolved only with a disposition and feedback.',
  WF_POLICY_INVALID: 'An escalation policy file failed validation.',
  // HTTP API
  WF_HTTP_VALIDATION: 'A request body, query or parameter failed validation; the field and reason are given.',
  WF_HTTP_UNAUTHENTICATED: 'No valid session or token.',
  WF_HTTP_FORBIDDEN: 'The authenticated user\'s role may not call this route.',
  WF_HTTP_CSRF: 'A write without the CSRF token of the session.',
  WF_HTTP_NOT_FOUND: 'No such route, site or user.',
  WF_HTTP_CONFLICT: 'The resource already exists (a user name taken).',
  WF_HTTP_RATE_LIMITED: 'Too many login attempts from this address for this user name; retry after the given delay.',
  WF_HTTP_INTERNAL: 'An unexpected server error; logged with the request, the body says no more.',
  WF_HTTP_UPSTREAM: 'A read from InfluxDB for a chart failed or timed out; the rest of the page still works.',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class WatchfireError extends Error {
  readonly code: ErrorCode;
  readonly details: readonly string[];
  constructor(code: ErrorCode, message: string, details: readonly string[] = []) {
    super(details.length ? `${message}\n  - ${details.join('\n  - ')}` : message);
    this.name = 'WatchfireError';
    this.code = code;
    this.details = details;
  }
}

/** Formats zod issues as `path.to.field: message`, one per problem. */
export function formatIssues(issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }>): string[] {
  return issues.map((i) => `${i.path.length ? i.path.map(String).join('.') : '(root)'}: ${i.message}`);
}
