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
  WF_INFLUXD_STALE: 'An influxd of an earlier run was still running on the data directory: it is stopped before a new one starts (or, if it cannot be, Watchfire does not start).',
  // SQL store schema (issue 18: app/migrations/)
  WF_DB_TOO_NEW: 'The database was written by a newer Watchfire (its schema version is above the newest this release knows): refused, nothing changed.',
  WF_DB_MIGRATION: 'A schema migration failed at start; the transaction was rolled back and the database is as it was.',
  WF_DB_POSTGRES: 'The PostgreSQL of storage.postgresUrl could not be reached or refused the connection: at start, Watchfire does not start (the message names the cause); a pooled connection failing while idle is only logged, discarded, and replaced by the next query.',
  WF_FINDINGS_SLOW: "Findings (an alarm's incident, a warning's) were not committed on storage.postgresUrl's PostgreSQL within 1 s: the group's PUBACKs went without them, so a PostgreSQL that stops answering holds no device's PUBACK; the findings are still queued for their incidents (a crash before they commit loses them). Logged at most once a minute, counted in watchfire_findings_puback_unbound_total.",
  WF_DEAD_LETTER_SLOW: "Rejects' dead letters were not committed on storage.postgresUrl's PostgreSQL within 1 s: the group's PUBACKs went without them, so a PostgreSQL that stops answering holds no device's PUBACK; the rejects stay queued for their write (a crash before it loses them). Logged at most once a minute, counted in watchfire_dead_letters_puback_unbound_total.",
  // backup and restore (issue 18 point 4)
  WF_BACKUP_FAILED: 'A backup could not be completed (SQLite copy, integrity check or influxd backup failed); the partial directory was removed, older backups are kept.',
  WF_RESTORE_REFUSED: 'A restore was refused: the target data directory already holds a database, or the backup is incomplete or unreadable.',
  WF_RESTORE_FAILED: 'A restore step failed (copying the database or influxd restore); the message names the step.',
  // residents' personal data (issue 18 point 8, privacy/)
  WF_PRIVACY_NOT_FOUND: 'No site with that id, and no resident with that name or phone (or more than one: they are listed), to export or erase.',
  WF_PRIVACY_OPEN_INCIDENT: 'Erasure refused: the site has open incidents (they are listed); an emergency in progress needs its address and contacts. Close them first.',
  WF_PRIVACY_GUARD: 'The erasures could not be read to check a registry import against them (the database alerts run on did not answer): the import was checked against the erasures known before; the next import or start checks again.',
  WF_PRIVACY_REIMPORTED: 'A registry import (the registry file at start, a CSV) brought back a resident or contact that was erased: erased again from the registry; remove them from the file.',
  WF_PRIVACY_REASON: 'Erasure refused: a reason (the request it answers) is required and recorded in the audit trail.',
  WF_DEMO_DEV_ONLY: '`wf demo` was run on a production install (npm ci --omit=dev): the demo and its mail catcher need the development packages.',
  // gateway: refusals and drops
  WF_AUTH_UNKNOWN_DEVICE: 'CONNECT with a user name that is no registered device: CONNACK 4.',
  WF_AUTH_BAD_SECRET: 'CONNECT with a wrong or missing device secret: CONNACK 4.',
  WF_AUTH_DISABLED: 'CONNECT from a device that is disabled in the registry: CONNACK 5.',
  WF_AUTH_PROTOCOL: 'CONNECT with an unsupported protocol version (MQTT 5): refused.',
  WF_AUTH_KEEPALIVE: 'CONNECT asking for a keep-alive above gateway.maxKeepaliveSec (default 1200 s): CONNACK 5.',
  WF_ACL_PUBLISH: 'PUBLISH outside v1/devices/{own id}/: dropped, counted, connection closed.',
  WF_ACL_SUBSCRIBE: 'SUBSCRIBE to anything but the device\'s own commands filters (v1/devices/{own id}/commands/#, …/commands/+ or …/commands/{name}): SUBACK 0x80.',
  WF_RATE_LIMITED: 'A device exceeded its message rate budget: throttled, then disconnected if it persists.',
  WF_PACKET_TOO_LARGE: 'An MQTT packet above gateway.maxPacketBytes that is not a device PUBLISH, or any packet above gateway.maxPacketHardBytes: connection closed.',
  WF_GATEWAY_LISTEN: 'The gateway could not listen on its MQTT or MQTTS port (in use, no permission, bad host).',
  // gateway: bounds and admission control (issue 16; README "Securing a deployment" › MQTT)
  WF_AUTH_CLIENT_ID: 'CONNECT with a client id longer than gateway.limits.maxClientIdLength (default 128): CONNACK 2 (identifier rejected).',
  WF_PROTOCOL_QOS2: 'A QoS 2 PUBLISH (PROTOCOL.md supports QoS 0 and 1): dropped, counted, connection closed.',
  WF_PROTOCOL_TOPIC_NUL: 'A PUBLISH topic or SUBSCRIBE filter containing U+0000 ([MQTT-4.7.3-2]): counted, connection closed.',
  WF_SUBSCRIBE_LIMIT: 'A subscription beyond gateway.limits.maxSubscriptionsPerConnection on one connection: SUBACK 0x80.',
  WF_HELD_LIMIT: 'A connection had more publishes (or payload bytes) waiting for its rate budget than gateway.limits allow: connection closed, unacknowledged QoS 1 messages are re-sent by the device.',
  WF_CONNECT_TIMEOUT: 'A socket sent no CONNECT (or did not finish its TLS handshake) within gateway.connectTimeoutMs (default 5 s): closed.',
  WF_ADMISSION_CONNECTIONS: 'A new socket from an address that already has gateway.admission.maxConnectionsPerAddress open: closed at once.',
  WF_ADMISSION_RATE: 'A new socket from an address over gateway.admission.attemptsPerSecond (after its burst): closed at once.',
  WF_COMMAND_QUEUE_FULL: 'A command to an offline device whose session already holds gateway.limits.maxQueuedCommands: refused.',
  WF_GATEWAY_REFUSALS: 'Log summary: refusals beyond the first few per code and window, counted by code with the busiest addresses.',
  WF_GATEWAY_PLAINTEXT: 'Start-up warning: plain-text MQTT listens on a non-loopback address; configure gateway.tls and gateway.plain: false.',
  WF_CLUSTER_REDIS: 'Cluster mode (issue 21): the Redis every node shares (cluster.redisUrl) answered with an error or went away; routing between nodes, queued commands and retained messages wait until it is back (ioredis reconnects).',
  WF_CLUSTER_LOG_NOT_DURABLE: 'Cluster mode: the Redis holding the partitioned log of readings does not fsync every write (appendonly yes, appendfsync always), so a PUBACK could promise a reading a Redis crash then loses; the log refuses to start.',
  WF_CLUSTER_LOG_APPEND: 'Cluster mode with the partitioned log (cluster.partitions): a frame could not be appended to its site\'s partition (Redis refused or went away); its PUBACK is not sent and the connection is closed, so the device re-sends it.',
  WF_CLUSTER_LOG_WORKER: 'Cluster mode with the partitioned log: a rule worker could not read, acknowledge or renew a partition (Redis refused or went away); it retries, and a partition whose lease it could not renew is given up so that another worker takes it.',
  WF_CLUSTER_SNAPSHOT: 'Cluster mode with the partitioned log: a partition snapshot (cluster.log.snapshotMs) could not be used by a new owner (damaged, another version or partition count, or state this node cannot read), so its rule state was rebuilt from the whole retained log instead; or one could not be written, and the next period tries again (the log is not trimmed past the last snapshot written meanwhile).',
  WF_PROXY_HEADER: 'A connection from a trusted load balancer (gateway.proxyProtocol.trustedAddresses) did not start with a valid PROXY protocol v1 or v2 header within connectTimeoutMs; it is closed, since the device address it would carry is unknown.',
  WF_GATEWAY_TLS_RELOAD: 'The MQTTS certificate files changed but could not be read or do not match; the previous certificate stays in use.',
  // ingest: rejects (each one in the dead-letter store)
  WF_INGEST_TOPIC: 'A publish on a topic that is not v1/devices/{id}/telemetry|events|status.',
  WF_INGEST_TOO_LARGE: 'Payload over 64 KiB, or an MQTT packet over gateway.maxPacketBytes (up to gateway.maxPacketHardBytes): rejected whole and acknowledged; its first 4 KiB are dead-lettered.',
  WF_INGEST_NOT_JSON: 'Payload is not UTF-8 JSON: rejected whole.',
  WF_INGEST_NOT_OBJECT: 'JSON that is neither an object nor an array of objects: rejected whole.',
  WF_INGEST_BATCH_TOO_LARGE: 'An array of more than 500 elements: rejected whole.',
  WF_INGEST_SCHEMA: 'One element failed validation (wrong type, out of range, unknown event type); the rest of the batch is processed.',
  WF_INGEST_UNKNOWN_DEVICE: 'A message from a device that is not (or no longer) in the registry.',
  WF_INGEST_DUPLICATE: 'An exact re-send (same device, seq and ts): dropped, counted, not dead-lettered.',
  // issue 15 point 4: every bad input is rejected with a reason, never acknowledged and lost
  WF_INGEST_TOO_DEEP: 'JSON nested deeper than 16 arrays/objects (MAX_JSON_DEPTH): rejected whole before parsing.',
  WF_INGEST_EMPTY: 'A telemetry object with no field its device type knows (e.g. `{}`): rejected; nothing is stored.',
  WF_INGEST_INTERNAL: 'Ingest or the pipeline behind it threw on this frame or element (a bug): the frame is dead-lettered, not silently acknowledged; logged with the error.',
  // storage
  WF_STORE_WRITE: 'A batch write to InfluxDB failed; its readings stay in the journal and the batch is retried with backoff.',
  WF_STORE_SPOOL_FULL: 'The journal\'s unshipped tail (what InfluxDB has not confirmed) reached influx.spoolMaxBytes; devices\' telemetry is held unacknowledged until InfluxDB catches up, alarms still pass.',
  WF_STORE_SPOOL_WARN: 'The journal\'s unshipped tail passed influx.spoolWarnRatio of its cap.',
  WF_STORE_REFUSED: 'InfluxDB refused lines (HTTP 400: type conflict, series or tag-value limit, malformed); they are kept under DATA_DIR/refused/ with the reason for `wf store replay-refused`, or lost loudly when that store is full.',
  // journal (issue 15)
  WF_JOURNAL_WRITE: 'The journal could not write or fdatasync a group (disk full, I/O error): its PUBACKs are held and the group retried; nothing is acknowledged until it is on disk.',
  // rules
  WF_RULES_INVALID: 'A rule set (file, API or per-device override) failed validation; the running one stays.',
  // rules (issue 14)
  WF_RULE_EXCEPTION: 'A rule threw while scoring a reading (a bug): counted by device in watchfire_rules_exceptions_total and logged; the reading keeps what was found before.',
  // alerts and notifications
  WF_NOTIFY_SMTP: 'An email could not be handed to the SMTP server; retried with backoff.',
  WF_NOTIFY_WEBHOOK: 'A webhook POST failed or answered non-2xx; retried with backoff.',
  WF_NOTIFY_CONSOLE: 'A console notification could not be shown (the console channel is closed); retried with backoff.',
  WF_NOTIFY_SMS: 'An SMS could not be handed to the provider (Alibaba Cloud or Tencent Cloud SMS): the API failed, timed out or refused it (the provider\'s code is in the message); retried with backoff.',
  WF_NOTIFY_VOICE: 'A voice notification call could not be placed with the provider (Alibaba Cloud SingleCallByTts or Tencent Cloud VMS); retried with backoff.',
  WF_NOTIFY_WECOM: 'A WeCom group robot did not take the message (HTTP failure, timeout or a non-zero errcode); retried with backoff.',
  WF_NOTIFY_DINGTALK: 'A DingTalk group robot did not take the message (HTTP failure, timeout, a wrong signature or a non-zero errcode); retried with backoff.',
  WF_NOTIFY_TEMPLATE: 'The templated webhook failed or answered non-2xx; retried with backoff.',
  WF_NOTIFY_LIMIT: 'Not sent now: a per-number SMS/voice limit (ours, alerts.channels.*.limits, or the provider\'s throttling such as isv.BUSINESS_LIMIT_CONTROL or LimitExceeded.PhoneNumberDailyLimit) or a robot\'s 20-a-minute limit was reached; the row is retried when the window reopens, never dropped, and the policy\'s other channels still run.',
  WF_NOTIFY_CALLBACK: 'A provider callback (delivery receipt, SMS reply, voice keypress) was refused: wrong URL token, address outside allowFrom, or not the provider\'s documented format.',
  WF_NOTIFY_GAVE_UP: 'A notification kept failing past its retry window; it stays in the outbox marked failed, logged loudly.',
  WF_NOTIFY_NO_RECIPIENT: 'A notification step found nobody to notify (no one on duty, no contact); logged loudly.',
  WF_INCIDENT_NOT_FOUND: 'No incident with that id.',
  WF_INCIDENT_TRANSITION: 'That transition is not allowed from the incident\'s current state.',
  WF_INCIDENT_DISPOSITION: 'A red incident can be resolved only with a disposition and feedback.',
  WF_POLICY_INVALID: 'An escalation policy file failed validation.',
  // ingress adapters (issue 20): GB/T 26875.3 units and NB-IoT platform pushes, each dead-lettered
  WF_GBT_FRAME: 'A GB/T 26875.3 frame that cannot be read (markers, length, checksum, time tag, unknown command or type flag, objects cut short): denied (command 6) when its header was readable, dead-lettered with the reason.',
  WF_GBT_UNKNOWN_UNIT: 'A transmission unit whose source address is no enabled fire panel\'s meta.gbtAddress: denied, connection closed.',
  WF_GBT_NOT_ALLOWED: 'A registered transmission unit connecting from an IP outside its meta.gbtAllow and ingress.gbt26875.allowFrom: denied, connection closed.',
  WF_GBT_LISTEN: 'The GB/T 26875.3 listener could not listen on its port (in use, no permission, bad host).',
  WF_NBIOT_SIGNATURE: 'An NB-IoT platform push with a missing or wrong signature/token, or from an address outside allowFrom: answered 403, not ingested.',
  WF_NBIOT_FORMAT: 'An NB-IoT platform push that is not the platform\'s documented message format: answered 200 (a retry cannot help), dead-lettered.',
  WF_NBIOT_UNKNOWN_DEVICE: 'An NB-IoT push for an IMEI or platform device id that is no enabled device\'s meta.imei/meta.nbDeviceId: answered 200, dead-lettered.',
  WF_NBIOT_COMMAND: 'A command (selftest, silence) through the CTWing or OneNET API failed or was refused by the platform.',
  // HTTP API
  WF_HTTP_VALIDATION: 'A request body, query or parameter failed validation; the field and reason are given.',
  WF_HTTP_UNAUTHENTICATED: 'No valid session or token.',
  WF_HTTP_FORBIDDEN: 'The authenticated user\'s role may not call this route.',
  WF_HTTP_CSRF: 'A write without the CSRF token of the session.',
  WF_HTTP_NOT_FOUND: 'No such route, site or user.',
  WF_HTTP_CONFLICT: 'The resource already exists (a user name taken).',
  WF_HTTP_RATE_LIMITED: 'Too many failed logins from this address (or for this user name from it), or one of its logins is still being checked; retry after the Retry-After delay.',
  WF_HTTP_BUSY: 'Sign-in is at capacity (every password-hashing slot busy and the queue full); answered at once, retry after the Retry-After delay.',
  WF_HTTP_INTERNAL: 'An unexpected server error; logged with the request, the body says no more.',
  WF_HANDOVER_NOT_FOUND: 'No shift handover with that id in the user\'s center.',
  WF_HANDOVER_RECEIVED: 'The shift handover was already received (signed for) by someone; a handover is received once.',
  WF_HANDOVER_SELF: 'The operator who handed the shift over cannot also receive it: the incoming operator signs for it.',
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
