// Watchfire's configuration: one YAML file plus environment overrides, validated once at start
// (every problem by path), then frozen. Defaults here are the documented defaults.
import { z } from 'zod';
import { Role } from './registry.ts';

const Port = z.number().int().min(0).max(65535);

/** The email channel's SMTP server (alerts.smtp). */
export const SmtpConfig = z.object({
  host: z.string(),
  port: Port.default(25),
  secure: z.boolean().default(false),
  ignoreTLS: z.boolean().default(false),
  user: z.string().optional(),
  pass: z.string().optional(),
  from: z.string().default('Watchfire <watchfire@localhost>'),
});

/** The signed JSON webhook channel (alerts.webhook). */
export const WebhookConfig = z.object({
  url: z.url(),
  secret: z.string().min(16),
});

export const Config = z.object({
  /** Where SQLite, the journal (readings not yet in InfluxDB) and a local influxd's data live. */
  dataDir: z.string().default('./data'),
  timezone: z.string().default('Asia/Shanghai'),
  /** Registry YAML loaded (upserted) at start; optional. */
  registryFile: z.string().optional(),
  log: z.object({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') }).prefault({}),
  gateway: z.object({
    host: z.string().default('0.0.0.0'),
    port: Port.default(1883),
    tls: z.object({
      port: Port.default(8883),
      cert: z.string(),
      key: z.string(),
      ca: z.string().optional(),
    }).optional(),
    /** Largest MQTT packet accepted: 64 KiB payload plus topic and header room. */
    maxPacketBytes: z.number().int().min(1024).default(64 * 1024 + 512),
    /**
     * Hard cap for a device's PUBLISH (issue 15 point 4): one above maxPacketBytes and up to this
     * is still read, dead-lettered with its first 4 KiB (WF_INGEST_TOO_LARGE) and acknowledged, so a
     * QoS 1 device does not re-send it forever; beyond it the connection is closed
     * (WF_PACKET_TOO_LARGE). 4 × the 64 KiB payload limit, which bounds what one connection can
     * make the gateway buffer. Below maxPacketBytes it counts as maxPacketBytes.
     */
    maxPacketHardBytes: z.number().int().min(1024).default(256 * 1024),
    /** PROTOCOL.md: 20 messages/s sustained, burst 200. */
    rate: z.object({
      perSecond: z.number().positive().default(20),
      burst: z.number().int().positive().default(200),
      /** Throttled continuously this long: disconnected. */
      disconnectAfterMs: z.number().int().positive().default(10_000),
      /**
       * Budgets per device type that replace the default. A fire panel's transmission unit
       * legitimately sends hundreds of events in seconds during a fire (DESIGN.md: an alarm storm
       * of 1,000 events in 5 s); throttling it is fine, disconnecting it mid-fire is not.
       */
      byType: z.partialRecord(z.enum(['smoke_detector', 'fire_panel', 'settlement_sensor']), z.object({
        perSecond: z.number().positive(),
        burst: z.number().int().positive(),
      })).default({ fire_panel: { perSecond: 250, burst: 2000 } }),
    }).prefault({}),
    /** Seconds of keep-alive the gateway tolerates (PROTOCOL.md: up to 1200). */
    maxKeepaliveSec: z.number().int().positive().default(1200),
    /** Maintainers' observer accounts (a recorder of live traffic): subscribe only, never publish. */
    observers: z.array(z.object({
      username: z.string().min(1),
      /** hashSecret() of the password (contracts/secrets.ts): `npm run wf -- observer-secret NAME`. */
      secretHash: z.string().startsWith('sha256$'),
    })).default([]),
    /**
     * Admission control: hold telemetry while this many readings wait for the journal's disk (or
     * while the journal's unshipped tail is at influx.spoolMaxBytes). Events and status pass the
     * closed gate, with whatever of their own device's telemetry is held ahead of them.
     */
    highWaterReadings: z.number().int().positive().default(200_000),
    // ── Issue 16: bounds and admission control (README "Securing a deployment" › MQTT) ──
    /** The plain-text MQTT listener on `port`; false with `tls` set = MQTT over TLS only. */
    plain: z.boolean().default(true),
    /**
     * A socket that has not sent CONNECT (or finished its TLS handshake) this long is closed.
     * Aedes' default is 30 s: 20,400 half-open sockets from one address held 14,687 of 20,000
     * file descriptors (issue 16). A device on a slow cellular link sends CONNECT well within 5 s.
     */
    connectTimeoutMs: z.number().int().min(500).default(5_000),
    limits: z.object({
      /** MQTT 3.1.1 §3.1.3.1: a server must allow 23 and may allow more; firmware uses e.g. `{id}-load`. */
      maxClientIdLength: z.number().int().min(23).max(65_535).default(128),
      /** Subscriptions one connection may hold (observers; a device's set is fixed and smaller). */
      maxSubscriptionsPerConnection: z.number().int().min(1).default(16),
      /** Device publishes held for budget or admission on one connection before it is closed. */
      maxHeldPublishes: z.number().int().min(1).default(2_000),
      /** Bytes of payload those held publishes may take on one connection. */
      maxHeldBytes: z.number().int().min(64 * 1024).default(4 * 1024 * 1024),
      /** Commands queued for an offline device's persistent session; more are refused. */
      maxQueuedCommands: z.number().int().min(1).default(32),
    }).prefault({}),
    /**
     * Issue 21: a TCP load balancer (HAProxy, nginx stream) in front of the plain MQTT listener
     * sends the PROXY protocol (v1 or v2) header with the device's own address, so admission
     * control and the logs see the device, not the balancer. Only a socket from one of
     * `trustedAddresses` must start with the header (from anywhere else a header would be a forged
     * address); a socket from another address is taken as plain MQTT from that address.
     */
    proxyProtocol: z.object({
      enabled: z.boolean().default(false),
      trustedAddresses: z.array(z.string().min(1)).default(['127.0.0.1', '::1']),
    }).prefault({}),
    admission: z.object({
      /**
       * Open sockets per source address. Sized for NAT: a residential compound or an industrial
       * park can put a few thousand detectors behind one carrier address.
       */
      maxConnectionsPerAddress: z.number().int().min(1).default(5_000),
      /** New connections per address per second, sustained, and the burst (a NAT'd site reconnecting after an outage). */
      attemptsPerSecond: z.number().positive().default(100),
      attemptsBurst: z.number().int().min(1).default(5_000),
      /** Addresses exempt from the per-address caps (a load balancer, the bench on loopback). */
      exemptAddresses: z.array(z.string()).default([]),
      /** Failed CONNECTs per address or device id before wrong ones are answered late (backoff). */
      authFailuresFree: z.number().int().min(0).default(5),
      authBackoffMs: z.number().int().min(1).default(1_000),
      authMaxBackoffMs: z.number().int().min(1).default(30_000),
      /** Refusals are logged one line each for the first few of a window, then as one summary per window. */
      logWindowMs: z.number().int().min(100).default(10_000),
      logFirstPerWindow: z.number().int().min(0).default(5),
    }).prefault({}),
  }).prefault({}),
  influx: z.object({
    /** Unset: start a local influxd from PATH with its data under dataDir. */
    url: z.url().optional(),
    database: z.string().default('watchfire'),
    username: z.string().optional(),
    password: z.string().optional(),
    /**
     * Lines per write request. A batch waits in the JS heap until it is sent, and at 1,000 lines
     * it is gone before the young-generation GC would copy it: 5,000 made it most of what each
     * scavenge copied (1.17 vs 0.37 MB), with the same zero-loss rate and CPU per reading.
     */
    batchSize: z.number().int().positive().default(1000),
    flushIntervalMs: z.number().int().positive().default(1000),
    /** Gzip write bodies of this many bytes or more; 0 = never (a local or LAN influxd: gzip is CPU for nothing). */
    gzipThresholdBytes: z.number().int().min(0).default(0),
    /** Unused since the journal (issue 15): a batch stays in the journal and is retried until InfluxDB takes it. Accepted so old files stay valid. */
    maxRetries: z.number().int().min(0).default(3),
    /** Cap of the journal's unshipped tail on disk (what InfluxDB has not confirmed); at the cap telemetry is held, alarms pass. */
    spoolMaxBytes: z.number().int().positive().default(1024 ** 3),
    spoolWarnRatio: z.number().min(0).max(1).default(0.8),
    /** Write requests on the wire at once (NOTES.md: 1.6.7 peaks with 2–4 writers on 2 cores). */
    concurrency: z.number().int().min(1).max(64).default(2),
    local: z.object({ binary: z.string().default('influxd'), port: Port.default(0) }).prefault({}),
    /**
     * Issue 18 point 6 (InfluxDB 1.x): raw readings kept `raw` (InfluxQL duration or INF), then only
     * min/max/mean per 5 minutes in the `long_term` policy, kept `longTerm`.
     */
    retention: z.object({
      raw: z.string().regex(/^(INF|\d+[hdw])$/).default('180d'),
      longTerm: z.string().regex(/^(INF|\d+[hdw])$/).default('INF'),
      downsample: z.boolean().default(true),
    }).prefault({}),
  }).prefault({}),
  /**
   * The journal behind every PUBACK (contracts/journal.ts, issue 15). With fsync on (the default)
   * a PUBACK means the reading is on stable storage: nothing acknowledged is lost to a process
   * crash or a power loss. Off: still nothing lost to a process crash, but a power loss can take
   * the last moments of acknowledged readings (the kernel's dirty pages), for less disk work.
   */
  journal: z.object({
    fsync: z.boolean().default(true),
  }).prefault({}),
  http: z.object({
    host: z.string().default('0.0.0.0'),
    port: Port.default(8080),
    /** Public base URL used in links of emails and webhooks. */
    publicUrl: z.string().default('http://localhost:8080'),
    // ---- issue 16: securing the console and API ----
    /** HTTPS from these PEM files (re-read when they change, no restart). Unset: plain HTTP, warned about off loopback. */
    tls: z.object({
      cert: z.string(),
      key: z.string(),
      ca: z.string().optional(),
      /** How often the files are checked for a renewal (fs.watchFile polling: works on bind mounts and symlink swaps). */
      reloadCheckMs: z.number().int().min(100).default(10_000),
    }).optional(),
    /** Strict-Transport-Security max-age under HTTPS (RFC 6797; one year, as the HSTS preload list asks). */
    hstsMaxAgeSec: z.number().int().min(0).default(31_536_000),
    /**
     * hashSecret() of the bearer token /metrics asks for (`npm run wf -- metrics-token`). Unset:
     * /metrics answers only to loopback addresses (a Prometheus on the same host).
     */
    metricsTokenHash: z.string().startsWith('sha256$').optional(),
    /**
     * The console's map of sites (issue 17 point 6). tileUrl: a slippy-map tile template
     * (`https://tiles.example/{z}/{x}/{y}.png`, `{s}` for a subdomain, or a path on this server);
     * empty: sites on a plain grid of their coordinates, nothing fetched from anywhere. An absolute
     * URL's origin is added to the pages' img-src.
     */
    map: z.object({
      tileUrl: z.string().default(''),
      attribution: z.string().default(''),
      maxZoom: z.number().int().min(0).max(22).default(18),
    }).prefault({}),
    /** Registry roles an incident may be dispatched to; the person must also be of the incident's center. */
    dispatchRoles: z.array(Role).min(1).default(['grid_worker']),
    login: z.object({
      /** scrypt hashes at once (N=2^17: 128 MiB each, on libuv's pool of 4 threads). */
      concurrency: z.number().int().min(1).max(16).default(2),
      /** Logins waiting for a hashing slot; beyond it: 503 at once, with Retry-After. */
      queue: z.number().int().min(0).default(16),
      /**
       * Longest wait for a hashing slot, then 503. Measured (bench/login-flood.ts, 2 cores under
       * load 20): a hash took ~10 s and a 16-deep queue meant 75 s waits before this bound.
       */
      maxWaitMs: z.number().int().min(100).default(10_000),
      /** Logins one address may have hashing or waiting; beyond it: 429 at once. */
      perAddressInFlight: z.number().int().min(1).default(2),
      /** Failed logins per address per minute (a control room behind one NAT shares it). */
      perAddressFailuresPerMinute: z.number().int().min(1).default(30),
      /** Failed logins per address and user name per minute: slows guessing one account. */
      perAccountFailuresPerMinute: z.number().int().min(1).default(10),
      /** Sign-in audit rows kept (login_audit), newest first. */
      auditMaxRows: z.number().int().min(100).default(100_000),
    }).prefault({}),
  }).prefault({}),
  rules: z.object({ file: z.string().optional() }).prefault({}),
  // ---- issue 20: devices as they actually arrive (contracts/GBT26875.md, contracts/NBIOT.md) ----
  ingress: z.object({
    /** GB/T 26875.3 over TCP for user information transmission units (用户信息传输装置). */
    gbt26875: z.object({
      enabled: z.boolean().default(false),
      host: z.string().default('0.0.0.0'),
      port: Port.default(9026),
      /** The center's own 6-byte address, 12 hex digits, as source of the frames it sends. */
      centerAddress: z.string().regex(/^[0-9a-fA-F]{12}$/).transform((s) => s.toLowerCase()).default('000000000000'),
      /** Units stamp local time; China is UTC+8 all year. */
      utcOffsetMinutes: z.number().int().min(-720).max(840).default(480),
      /** No frame for this long: disconnected and reported offline (units send heartbeats far more often). */
      idleTimeoutSec: z.number().int().positive().default(300),
      /** Source IPs/CIDRs any unit may connect from, besides the unit's own meta.gbtAllow; both empty: any. */
      allowFrom: z.array(z.string().min(2)).default([]),
      maxConnections: z.number().int().positive().default(10_000),
    }).prefault({}),
    /** NB-IoT platforms pushing over HTTP; an endpoint exists only when its secret is set. */
    nbiot: z.object({
      onenet: z.object({
        /** The token configured on OneNET's push page: signature = base64(md5(token + nonce + msg)). */
        token: z.string().min(1),
        allowFrom: z.array(z.string().min(2)).default([]),
        /** OneNET's NB-IoT command API (api.heclouds.com), for selftest/silence. */
        api: z.object({ url: z.url().default('https://api.heclouds.com'), apiKey: z.string().min(1) }).optional(),
      }).optional(),
      ctwing: z.object({
        /** Secret path segment of the push URL (/ingress/ctwing/{token}): CTWing signs no pushes. */
        token: z.string().min(16),
        allowFrom: z.array(z.string().min(2)).default([]),
        /** CTWing AEP command API, for selftest/silence. */
        api: z.object({ url: z.url().default('https://ag-api.ctwing.cn'), appKey: z.string().min(1), appSecret: z.string().min(1), masterKey: z.string().min(1) }).optional(),
      }).optional(),
    }).prefault({}),
  }).prefault({}),
  alerts: z.object({
    policyFile: z.string().optional(),
    smtp: SmtpConfig.optional(),
    webhook: WebhookConfig.optional(),
    /**
     * Issue 19: the other channels' sections (sms, voice, wecom, dingtalk, template), each
     * validated by its own schema in the channel table (alerts/channels/registry.ts) at start.
     */
    channels: z.record(z.string(), z.unknown()).default({}),
    /**
     * Issue 19: provider callbacks (receipts, SMS replies, keypresses) at
     * {publicUrl}/callbacks/{token}/aliyun/sms-report etc. Providers sign no callbacks: the token
     * is the secret, allowFrom optionally narrows the sources.
     */
    callbacks: z.object({
      token: z.string().min(16),
      allowFrom: z.array(z.string().min(2)).default([]),
      /** A reply acknowledges the last SMS sent to that phone within this many ms. */
      replyWindowMs: z.number().int().min(60_000).default(24 * 3_600_000),
    }).optional(),
    /** Issue 19: cloud accounts the sms and voice channels send through (keys also from the environment). */
    providers: z.object({
      aliyun: z.object({ accessKeyId: z.string().min(1), accessKeySecret: z.string().min(1) }).optional(),
      tencent: z.object({ secretId: z.string().min(1), secretKey: z.string().min(1) }).optional(),
    }).prefault({}),
    /** Issue 19 point 5: acknowledging from where a message lands, without a login. */
    ack: z.object({
      /** Signs the one-tap links; unset: a random key made once and kept in the database (wf_meta). */
      secret: z.string().min(16).optional(),
      /** How long a link in a message acknowledges its incident. */
      linkTtlHours: z.number().positive().max(24 * 30).default(24),
      /** SMS replies that acknowledge the incident the last SMS to that phone was about. */
      replyWords: z.array(z.string().trim().min(1).max(10)).min(1).default(['1']),
      /** The key to press in a voice call; any key stops the call tree, this one also acknowledges. */
      keypressDigit: z.string().regex(/^[0-9*#]$/).default('1'),
    }).prefault({}),
  }).prefault({}),
  // ---- residents' personal data (issue 18 point 8, PIPL; privacy/README.md) ----
  privacy: z.object({
    /**
     * Closed incidents, their timeline notes and their sent notifications are pseudonymised this
     * many days after they were resolved. 365: a year of identifiable records covers the annual
     * review and any complaint about a call-out; after that, statistics need only the pseudonym.
     */
    pseudonymiseAfterDays: z.number().int().min(1).default(365),
    /** When the nightly pseudonymisation runs (cron pattern, in `timezone`). */
    nightly: z.string().default('30 3 * * *'),
    /** A user's reads of one resident's data are recorded once per this many minutes. */
    readAuditDedupMinutes: z.number().int().min(1).default(5),
    /** Read-audit rows older than this are deleted by the nightly job (3 years). */
    readAuditKeepDays: z.number().int().min(30).default(1095),
  }).prefault({}),
  /**
   * Issue 21 "Beyond one machine": off (the default) is one process with SQLite and an in-process
   * broker, as before. On, the gateway's broker shares subscriptions, retained messages, queued
   * commands, wills and client takeover with the other nodes through Redis (Aedes' `mq` and
   * persistence), so a device may connect to any node behind a TCP load balancer.
   */
  cluster: z.object({
    enabled: z.boolean().default(false),
    /** redis://[user:password@]host:port[/db] of the Redis every node shares. */
    redisUrl: z.string().regex(/^rediss?:\/\//).default('redis://127.0.0.1:6379'),
    /** This node's name among the nodes (the broker id in Redis); unset: hostname-pid. */
    nodeId: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/).optional(),
    /**
     * Aedes' heartbeat between nodes. A node not heard for 3 heartbeats is dead: the last wills of
     * its devices that have not connected anywhere since are published (checked every 4).
     */
    heartbeatMs: z.number().int().min(50).default(60_000),
    /**
     * Issue 21 point 4, readings partitioned by site: above 0, each frame goes to its site's
     * partition of a log in this Redis (Streams; contracts/cluster.ts) and its PUBACK waits for
     * that append; every node's rule worker owns a share of the partitions and scores them. 0
     * (default): each node scores what its own devices send. Fixed for the life of a deployment: a
     * site's partition is CRC-32(site) mod partitions, so a change moves sites (stop every node).
     */
    partitions: z.number().int().min(0).max(1024).default(0),
    log: z.object({
      /** A partition's lease: a node that dies gives up its partitions this long after its last renewal. */
      leaseMs: z.number().int().min(100).default(10_000),
      /**
       * History kept per partition: what a new owner rebuilds rule state from after the newest
       * snapshot (worker/rule-worker.ts). Never trimmed past that snapshot.
       */
      retentionMs: z.number().int().min(60_000).default(3_600_000),
      /**
       * How often the owner of a partition snapshots its rule state and re-send memory beside the
       * log, so a new owner replays only what came after and windows longer than the retention
       * (settlement's 7-day regression) move whole. 0: never (a new owner replays the retained log).
       */
      snapshotMs: z.number().int().min(0).default(300_000),
      /** Refuse a Redis that does not fsync every write (appendfsync always): a PUBACK means on disk. */
      requireFsync: z.boolean().default(true),
      /** Connections appends go through (journal/redis-log.ts). */
      appendConnections: z.number().int().min(1).max(64).default(4),
    }).prefault({}),
  }).refine((c) => c.enabled || c.partitions === 0, { path: ['partitions'], message: 'partitions needs cluster.enabled: true (the log is in the Redis the nodes share)' }).prefault({}),
  /**
   * Issue 21 point 2: the stores behind the storage seam (storage/). Unset (the default), they are
   * on the embedded SQLite file. Set, those the product already runs through the seam and off the
   * alarm path live on this PostgreSQL, shared by every node: today the console's users and
   * sessions (a session made on one node opens on any other). The alarm path's stores (incidents,
   * escalations, outbox, dead letters, registry) stay on SQLite either way (README "Beyond one machine").
   */
  storage: z.object({
    /** postgres://user:password@host:port/database; migrated at start (storage/postgres-migrations.ts). */
    postgresUrl: z.string().regex(/^postgres(ql)?:\/\//, { error: 'expected postgres://…' }).optional(),
  }).prefault({}),
  // ---- backups (issue 18 point 4: `wf backup DIR`, `wf restore DIR`) ----
  backup: z.object({
    /** Complete backups kept in a backup directory; older ones are deleted after each new one. */
    keep: z.number().int().min(1).default(7),
    /**
     * host:port of InfluxDB 1.x's backup (RPC) service, for `influxd backup -portable`. Unset with
     * a local influxd: read from its config under dataDir; unset with influx.url: readings are
     * not backed up (the backup says so), back up that server where it runs.
     */
    influxRpc: z.string().regex(/^[^:\s]+:\d{1,5}$/).optional(),
  }).prefault({}),
});
export type Config = z.infer<typeof Config>;
export type ConfigInput = z.input<typeof Config>;

/** Environment variables that override the file, and the config path each sets. */
export const ENV_OVERRIDES = {
  WF_DATA_DIR: { path: ['dataDir'], type: 'string' },
  WF_REGISTRY: { path: ['registryFile'], type: 'string' },
  WF_LOG_LEVEL: { path: ['log', 'level'], type: 'string' },
  WF_MQTT_HOST: { path: ['gateway', 'host'], type: 'string' },
  WF_MQTT_PORT: { path: ['gateway', 'port'], type: 'number' },
  WF_MQTTS_PORT: { path: ['gateway', 'tls', 'port'], type: 'number' },
  /** false: MQTT over TLS only (with WF_TLS_CERT/KEY), no plain-text listener. */
  WF_MQTT_PLAIN: { path: ['gateway', 'plain'], type: 'boolean' },
  WF_TLS_CERT: { path: ['gateway', 'tls', 'cert'], type: 'string' },
  WF_TLS_KEY: { path: ['gateway', 'tls', 'key'], type: 'string' },
  WF_INFLUX_URL: { path: ['influx', 'url'], type: 'string' },
  WF_INFLUX_DB: { path: ['influx', 'database'], type: 'string' },
  WF_INFLUX_USER: { path: ['influx', 'username'], type: 'string' },
  WF_INFLUX_PASSWORD: { path: ['influx', 'password'], type: 'string' },
  WF_HTTP_HOST: { path: ['http', 'host'], type: 'string' },
  WF_GBT_PORT: { path: ['ingress', 'gbt26875', 'port'], type: 'number' },
  WF_HTTP_PORT: { path: ['http', 'port'], type: 'number' },
  WF_PUBLIC_URL: { path: ['http', 'publicUrl'], type: 'string' },
  WF_HTTPS_CERT: { path: ['http', 'tls', 'cert'], type: 'string' },
  WF_HTTPS_KEY: { path: ['http', 'tls', 'key'], type: 'string' },
  WF_METRICS_TOKEN_HASH: { path: ['http', 'metricsTokenHash'], type: 'string' },
  WF_SMTP_HOST: { path: ['alerts', 'smtp', 'host'], type: 'string' },
  WF_SMTP_PORT: { path: ['alerts', 'smtp', 'port'], type: 'number' },
  WF_WEBHOOK_URL: { path: ['alerts', 'webhook', 'url'], type: 'string' },
  WF_WEBHOOK_SECRET: { path: ['alerts', 'webhook', 'secret'], type: 'string' },
  WF_NOTIFY_CALLBACK_TOKEN: { path: ['alerts', 'callbacks', 'token'], type: 'string' },
  WF_ALIYUN_ACCESS_KEY_ID: { path: ['alerts', 'providers', 'aliyun', 'accessKeyId'], type: 'string' },
  WF_ALIYUN_ACCESS_KEY_SECRET: { path: ['alerts', 'providers', 'aliyun', 'accessKeySecret'], type: 'string' },
  WF_TENCENT_SECRET_ID: { path: ['alerts', 'providers', 'tencent', 'secretId'], type: 'string' },
  WF_TENCENT_SECRET_KEY: { path: ['alerts', 'providers', 'tencent', 'secretKey'], type: 'string' },
  WF_REDIS_URL: { path: ['cluster', 'redisUrl'], type: 'string' },
  WF_NODE_ID: { path: ['cluster', 'nodeId'], type: 'string' },
  WF_POSTGRES_URL: { path: ['storage', 'postgresUrl'], type: 'string' },
} as const satisfies Record<string, { path: readonly string[]; type: 'string' | 'number' | 'boolean' }>;
