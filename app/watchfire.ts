// The composition root: the one place that builds every module, wires them together and decides
// the start and stop order (STYLE.md). Modules only know contracts/ and the deps handed to them.
//
// The alarm path, all synchronous and in memory, inside the broker's publish hook:
//   gateway ─frame─▶ ingest ─reading─▶ pipeline: rules ─scored─▶ store.write (buffer only)
//                                                      └─findings─▶ alerts.handleFinding ─▶ bus 'incident'
// InfluxDB, SMTP and webhooks are downstream of buffers and outboxes; none of them is waited on.
import { join, resolve } from 'node:path';
import { mkdirSync } from 'node:fs';
import pino, { type Logger } from 'pino';
import { Registry as MetricsRegistry, collectDefaultMetrics, Counter } from 'prom-client';
import type { Config } from '../contracts/config.ts';
import { createEventBus, type EventBus } from '../contracts/bus.ts';
import type { Clock, DeviceDirectory, InfluxQuery } from '../contracts/ports.ts';
import { durationMs } from '../contracts/downsampling.ts';
import { systemClock } from '../contracts/ports.ts';
import { ackLinkKey, installedAt, openDatabase, startCheckpointer, walParticipant, type Db } from './db.ts';
import { createJournal } from '../journal/index.ts';
import { createRegistry, loadRegistryFile } from '../registry/index.ts';
import { createIngest, createSeqStore, createDeadLetterStore, createInfluxStore, createInfluxQuery, spawnLocalInfluxd, createRefusedStore, ensureRetention, ensureDatabase, createLateDownsampler, downsampleRange } from '../ingest/index.ts';
import { checkDeviceRules, createRuleEngine, DEFAULT_RULE_SET, parseRuleSet, watchRuleFile, type RuleSet } from '../rules/index.ts';
import { createAlerts, loadPolicyFile } from '../alerts/index.ts';
import { createRedisFiringClaims } from './claims.ts';
import { createRedisConsoleRelay } from './console-relay.ts';
import { createPartitioning } from './partitions.ts';
import { createLiveMirror } from './live-mirror.ts';
import { createGateway } from '../gateway/index.ts';
import { createHttpServer } from '../dashboards/index.ts';
import { createPipeline } from '../pipeline/index.ts';
import { createPrivacy } from '../privacy/index.ts';
import { createIncidentAnnotations } from './annotations.ts';
import { openSharedStores, type SharedStores } from './stores.ts';
import { createDeadLetterStorage } from '../storage/index.ts';
import { readFileSync } from 'node:fs';
import { verifySecret } from '../contracts/secrets.ts';
import { rejectRecordOf, type IngressPort } from '../contracts/ingress.ts';
import { createGbtListener, createPlatformCommands, nbiotPushRoutes, notifyCallbackRoutes } from '../adapters/index.ts';
import type { Command } from '../contracts/protocol.ts';

export interface WatchfireDeps {
  config: Readonly<Config>;
  logger?: Logger;
  clock?: Clock;
  /** Extra options handed to alerts (tests and benchmarks inject slowed channels here). */
  alerts?: Partial<Parameters<typeof createAlerts>[0]>;
}

export type { DeviceLiveState } from '../contracts/pipeline.ts';

/**
 * A rejected frame's PUBACK stands behind its dead letter (issue 15 point 4: never acked and lost).
 * dirty() starts writing the queued rejects at once. On SQLite that write commits inside dirty()
 * (one small synchronous transaction), so the WAL participant listed after it sees that commit
 * and syncs it in the same group commit; on PostgreSQL (storage.postgresUrl) sync() waits for
 * the round trip, so the group's PUBACKs go once the rejects are committed there — but at most
 * `boundMs`: a PostgreSQL that stops answering must not hold every device's PUBACK, alarms
 * included (life-safety first). Past the bound the group goes without it, WF_DEAD_LETTER_SLOW is
 * logged and counted, and the rejects stay queued for their write; a crash before it loses them.
 */
/** How long a group's PUBACKs wait for their rejects' dead letters on PostgreSQL. */
const DEAD_LETTER_BOUND_MS = 1_000;

export function deadLetterParticipant(deadLetters: { readonly pending: boolean; flush(): Promise<void> }, opts: { boundMs: number; onLate(): void }) {
  let writing: Promise<void> = Promise.resolve();
  return {
    dirty(): boolean {
      if (!deadLetters.pending) return false;
      writing = deadLetters.flush();
      return true;
    },
    sync(): Promise<void> {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          opts.onLate();
          resolve();
        }, opts.boundMs);
      });
      return Promise.race([writing, late]).finally(() => clearTimeout(timer));
    },
  };
}

export function createWatchfire(deps: WatchfireDeps) {
  const { config } = deps;
  const clock = deps.clock ?? systemClock;
  const logger = deps.logger ?? pino({ level: config.log.level, name: 'watchfire' });
  const dataDir = resolve(config.dataDir);
  const metrics = new MetricsRegistry();
  const bus: EventBus = createEventBus({
    onListenerError: (owner, event, err) => logger.error({ err, owner, event }, 'bus listener failed'),
  });

  // Created in start(): these need I/O (the database file, a local influxd).
  let db: Db | undefined;
  /** The stores behind the seam: SQLite's file, or the shared PostgreSQL (storage.postgresUrl). */
  let stores: SharedStores | undefined;
  let influxd: { url: string; stop(): Promise<void> } | undefined;
  /** The local influxd's start, when Watchfire runs one: true once it answers. */
  let influxState: boolean | string = true;
  let influxStarting: Promise<void> | undefined;
  let influxUrl = config.influx.url;
  let query: InfluxQuery | undefined;
  let stopRuleWatch: (() => void) | undefined;
  let checkpointer: { stop(): Promise<void> } | undefined;
  let wal: ReturnType<typeof walParticipant> | undefined;
  let parts: ReturnType<typeof build> | undefined;
  // Exceptions inside a rule (a bug): by code, device type and device (the first 100 devices by
  // name, then "other", so a bug hitting every device cannot blow up the series count).
  const ruleExceptions = new Counter({
    name: 'watchfire_rules_exceptions_total',
    help: 'Exceptions inside a rule while scoring a reading (WF_RULE_EXCEPTION), by device',
    labelNames: ['code', 'device_type', 'device'],
    registers: [metrics],
  });
  const exceptionDevices = new Set<string>();

  function build(database: Db, url: string, shared: SharedStores, ackSecret: string) {
    let ruleSetNow: () => RuleSet = () => DEFAULT_RULE_SET;
    const registry = createRegistry({
      // Issue 21: on the shared PostgreSQL when storage.postgresUrl is set, every node following it.
      storage: shared.registry,
      logger: logger.child({ module: 'registry' }),
      clock,
      // Overrides are checked by the engine's own schema against the running rule set (issue 14).
      checkRules: (type, override) => checkDeviceRules(ruleSetNow(), type, override),
    });
    // Issue 21: on the shared PostgreSQL when storage.postgresUrl is set, so every node's console lists every node's rejects.
    const deadLetters = createDeadLetterStore({ storage: createDeadLetterStorage({ sql: shared.runner }), logger: logger.child({ module: 'dead-letters' }), metrics });
    /** A group commit whose PUBACKs went without a participant past its bound: counted, and logged at most once a minute. */
    const unbound = (counter: Counter, log: () => void): (() => void) => {
      let logged = 0;
      return () => {
        counter.inc();
        const now = clock.now();
        if (now - logged < 60_000) return;
        logged = now;
        log();
      };
    };
    const deadLetterLate = unbound(
      new Counter({ name: 'watchfire_dead_letters_puback_unbound_total', help: `Group commits whose PUBACKs went after ${DEAD_LETTER_BOUND_MS} ms without their rejects' dead letters committed (PostgreSQL slow or away)`, registers: [metrics] }),
      () => logger.error({ code: 'WF_DEAD_LETTER_SLOW', boundMs: DEAD_LETTER_BOUND_MS, queued: deadLetters.queued }, 'dead letters not committed in time: PUBACKs go without them (the database is slow or away); they stay queued for their write'),
    );
    const partitioned = config.cluster.enabled && config.cluster.partitions > 0;
    const findingsLate = unbound(
      new Counter({ name: 'watchfire_findings_puback_unbound_total', help: `Group commits whose PUBACKs went after ${DEAD_LETTER_BOUND_MS} ms without their findings' incidents committed (PostgreSQL slow or away)`, registers: [metrics] }),
      () => logger.error({ code: 'WF_FINDINGS_SLOW', boundMs: DEAD_LETTER_BOUND_MS }, 'findings not committed in time: PUBACKs go without their incidents (the database is slow or away); they stay queued for their write'),
    );
    /** The alerts' findings as a durability participant (created below; asked only once the journal runs). */
    const findings = {
      get pending(): boolean {
        return alerts.unrecorded;
      },
      flush: (): Promise<void> => alerts.recorded(),
    };
    // Issue 15 point 3: what was accepted is remembered across restarts, so no re-send is taken
    // twice. Its log lines are synced in the same group commit as the PUBACK they stand behind.
    // Lines are logged only once the journal has their readings (never ahead of it), before PUBACKs.
    const seqs = createSeqStore({ db: database, dir: join(dataDir, 'seq'), logger: logger.child({ module: 'seq' }), durable: (done) => journal.durable(done) });
    // Issue 15: every reading and event goes to the journal, and a PUBACK waits for its group
    // commit (with the SQLite WAL synced beside it); the InfluxDB writer ships from the journal.
    const journal = createJournal({
      dir: join(dataDir, 'journal'),
      fsync: config.journal.fsync,
      maxBytes: config.influx.spoolMaxBytes,
      warnRatio: config.influx.spoolWarnRatio,
      participants: [
        seqs.participant, deadLetterParticipant(deadLetters, { boundMs: DEAD_LETTER_BOUND_MS, onLate: deadLetterLate }), ...(wal ? [wal] : []),
        // With incidents on PostgreSQL and no partitioned log, an alarm's PUBACK also stands behind
        // its incident's commit (bounded as the dead letters' is): a crash after the PUBACK must not
        // lose the incident of an alarm the device will never send again. On SQLite the finding
        // commits before the group (synchronously, behind the WAL participant); with the
        // partitioned log the record is acknowledged in the log only once recorded (worker/).
        ...(shared.dialect === 'postgres' && !partitioned ? [deadLetterParticipant(findings, { boundMs: DEAD_LETTER_BOUND_MS, onLate: findingsLate })] : []),
      ],
      adoptSpool: join(dataDir, 'spool'),
      logger: logger.child({ module: 'journal' }),
      metrics,
    });
    // Readings stored late (after an outage) get their 5-minute aggregates too (issue 18 point 6).
    const late = config.influx.retention.downsample
      ? createLateDownsampler({
        run: (from, to, devices) => downsampleRange({ url, database: config.influx.database, username: config.influx.username, password: config.influx.password, ...config.influx.retention }, from, to, devices),
        rawKeptMs: durationMs(config.influx.retention.raw),
        logger: logger.child({ module: 'store' }),
      })
      : undefined;
    const store = createInfluxStore({
      config: { ...config.influx, url },
      ...(late ? { late } : {}),
      journal,
      logger: logger.child({ module: 'store' }),
      metrics,
      refused: createRefusedStore({ dir: join(dataDir, 'refused'), logger: logger.child({ module: 'store' }), metrics }),
      ...(influxStarting ? { until: influxStarting } : {}),
    });
    let ruleSet = DEFAULT_RULE_SET;
    if (config.rules.file) {
      const parsed = parseRuleSet(readFileSync(config.rules.file, 'utf8'));
      if (!parsed.ok) throw new Error(`Invalid rule set ${config.rules.file}:\n  - ${parsed.errors.join('\n  - ')}`);
      ruleSet = parsed.ruleSet;
    }
    const engine = (devices: DeviceDirectory, set: RuleSet) => createRuleEngine({
      ruleSet: set,
      devices,
      // A bad per-device override's failing keys are left out (the rest applies), said loudly and
      // as a yellow maintenance finding on the device.
      onOverrideError: (deviceId: string, errors: readonly string[]) =>
        logger.error({ code: 'WF_RULES_INVALID', deviceId, errors }, 'per-device rule override partly refused; its valid keys apply'),
      onRuleError: (e, err) => {
        ruleExceptions.inc({ code: e.code, device_type: e.deviceType, device: exceptionDevices.size < 100 || exceptionDevices.has(e.deviceId) ? (exceptionDevices.add(e.deviceId), e.deviceId) : 'other' });
        logger.error({ code: e.code, deviceId: e.deviceId, deviceType: e.deviceType, err }, 'rule exception while scoring a reading');
      },
    });
    const rules = engine(registry, ruleSet);
    ruleSetNow = () => rules.ruleSet();
    // Issue 18 point 8: residents' personal data: pseudonymised nightly, exported and erased on request.
    // On storage.postgresUrl's PostgreSQL, where alerts keep incidents, the trail, the outbox and
    // reports, so that an erasure or the nightly run reaches the rows every node shares.
    const privacy = createPrivacy({ db: database, sql: shared.runner, registry, clock, logger: logger.child({ module: 'privacy' }), config: config.privacy });
    const privacyJob = {
      name: 'privacy:pseudonymise', pattern: config.privacy.nightly, timezone: config.timezone,
      run: async () => logger.child({ module: 'privacy' }).info(await privacy.pseudonymise(), 'personal data of old closed incidents pseudonymised'),
    };
    // Issue 21 point 5: in cluster mode every node schedules the same jobs; one runs each firing.
    const consoleRelay = config.cluster.enabled ? createRedisConsoleRelay({ redisUrl: config.cluster.redisUrl, nodeId: config.cluster.nodeId, logger: logger.child({ module: 'cluster' }) }) : undefined;
    const claims = config.cluster.enabled ? createRedisFiringClaims({ redisUrl: config.cluster.redisUrl, nodeId: config.cluster.nodeId, logger: logger.child({ module: 'cluster' }) }) : undefined;
    const alerts = createAlerts({
      db: database,
      bus,
      registry,
      clock,
      logger: logger.child({ module: 'alerts' }),
      metrics,
      config: {
        timezone: config.timezone,
        publicUrl: config.http.publicUrl,
        ...(config.alerts.smtp ? { smtp: config.alerts.smtp } : {}),
        ...(config.alerts.webhook ? { webhook: config.alerts.webhook } : {}),
        channels: config.alerts.channels,
        providers: config.alerts.providers,
        ack: {
          secret: ackSecret,
          ttlMs: config.alerts.ack.linkTtlHours * 3_600_000,
          replyWords: config.alerts.ack.replyWords,
          keypressDigit: config.alerts.ack.keypressDigit,
        },
      },
      ...(config.alerts.policyFile ? { policies: loadPolicyFile(config.alerts.policyFile) } : {}),
      installedAt: installedAt(database),
      jobs: [privacyJob],
      ...(claims ? { claims } : {}),
      // Issue 21: on storage.postgresUrl's PostgreSQL every node shares incidents, escalations
      // (each due step run by one node) and the outbox (each row claimed by one node).
      sql: shared.runner,
      ...(config.cluster.nodeId ? { node: config.cluster.nodeId } : {}),
      ...deps.alerts,
    });

    // Issue 21 point 4 (cluster.partitions > 0): readings go through the partitioned log to the rule
    // worker owning their site's partition (app/partitions.ts). Otherwise none of it exists.
    const part = config.cluster.enabled && config.cluster.partitions > 0
      ? createPartitioning({
        cluster: config.cluster, directory: registry, engine, rules, presence: (p) => { pipeline.presence(p); live?.presence(p); }, bus,
        durable: (done) => journal.durable(done), shipped: (done) => journal.shipped(done), recorded: () => alerts.recorded(),
        logger: logger.child({ module: 'cluster' }), metrics,
      })
      : undefined;
    const pipeline = createPipeline({
      scorer: part ? part.scorer : rules,
      store,
      findings: alerts,
      bus,
      // With the partitioned log, presence reaches the device's partition owner through the log.
      busPresence: !part,
      clock,
      metrics,
      logger: logger.child({ module: 'pipeline' }),
    });
    // With the partitioned log a device's live state is on its partition owner's pipeline only:
    // every node's console reads it through a mirror the owners feed over Redis.
    const live = part
      ? createLiveMirror({
        redisUrl: config.cluster.redisUrl, nodeId: config.cluster.nodeId, partitions: config.cluster.partitions, directory: registry,
        local: pipeline.deviceState, term: (n) => part.worker.term(n), bus, logger: logger.child({ module: 'cluster' }),
      })
      : undefined;

    const ingest = createIngest({
      directory: registry,
      // With the partitioned log, the re-send memory is the partition's, rebuilt from the log.
      ...(part
        ? { deadLetters: part.quiet.deadLetters(deadLetters), sink: part.quiet.sink(pipeline.onReading, store), bus: part.quiet.bus(bus) }
        : { deadLetters, seqs, sink: pipeline.onReading, bus }),
      clock,
      metrics,
      logger: logger.child({ module: 'ingest' }),
    });
    const appender = part?.attach(ingest, (done) => journal.durable(done));
    // Before each PUBACK, confirm or 200, the re-send memory logs what the journal now holds
    // (seq-store.ts): the same promise whichever way the reading came in (a CTWing upPacketSN is a seq).
    const acknowledgeable = (done: (err?: Error) => void): void => {
      const upTo = seqs.mark();
      journal.durable((err) => {
        if (err) done(err);
        else seqs.release(upTo, done);
      });
    };
    const gateway = createGateway({
      config: config.gateway,
      directory: registry,
      sink: appender ?? ingest,
      bus,
      logger: logger.child({ module: 'gateway' }),
      metrics,
      clock,
      backlog: () => store.backlog(),
      durable: appender ? (done) => appender.durable(done) : acknowledgeable,
      // A device disabled or removed while connected is disconnected.
      changes: registry,
      // Maintainers' recorders subscribe to device traffic with these accounts (never publish).
      observers: {
        verify: (username: string, password: Buffer | undefined) =>
          config.gateway.observers.some((o) => o.username === username && verifySecret(password, o.secretHash)),
      },
      // Issue 21 (cluster mode, off by default): the broker shares sessions and routing through Redis.
      cluster: config.cluster,
    });

    // Issue 20: the one ingress seam. Adapters hand ingest the frames an MQTT device would have
    // published; their own refusals go to the same dead letters, their presence to the same bus.
    const ingress: IngressPort = {
      accept: (frame) => (appender ?? ingest).accept(frame),
      durable: appender ? (done) => appender.durable(done) : acknowledgeable,
      reject: (r) => {
        const rec = rejectRecordOf(r);
        deadLetters.add(rec);
        bus.emit('reject', rec);
      },
      presence: (deviceId, online, at) => bus.emit('device.presence', { deviceId, online, at, reason: online ? 'connect' : 'socket' }),
      heard: (deviceId, at) => bus.emit('device.presence', { deviceId, online: true, at, reason: 'heartbeat' }),
    };
    const gbt = config.ingress.gbt26875.enabled
      ? createGbtListener({ config: config.ingress.gbt26875, directory: registry, changes: registry, ingress, logger: logger.child({ module: 'gbt26875' }), metrics, clock })
      : undefined;

    const nb = config.ingress.nbiot;
    const nbiotPush = nb.onenet || nb.ctwing
      ? nbiotPushRoutes({
          config: { onenet: nb.onenet, ctwing: nb.ctwing }, directory: registry, changes: registry, ingress, clock,
          logger: logger.child({ module: 'nbiot' }), metrics,
        })
      : undefined;
    const platformCommands = createPlatformCommands({ config: { onenet: nb.onenet?.api, ctwing: nb.ctwing?.api }, directory: registry, clock });

    const http = createHttpServer({
      config: { ...config.http, timezone: config.timezone },
      db: database,
      users: shared.users,
      registry,
      incidents: alerts.service,
      ackLinks: alerts.ackLinks,
      bus,
      influx: query!,
      // Long charts read the 5-minute aggregates the continuous query keeps (issue 18 point 6).
      longTerm: config.influx.retention.downsample ? { rawKeptMs: durationMs(config.influx.retention.raw) } : undefined,
      deadLetters,
      metrics,
      health: () => health(),
      rules: { reload: (input: unknown) => (part ? part.reload(input) : rules.reload(input)) },
      deviceState: live ? live.deviceState : pipeline.deviceState,
      onDuty: (centerId: string, at: number) => alerts.rosters.onDuty(centerId, at),
      logger: logger.child({ module: 'http' }),
      plugins: [
        ...(nbiotPush ? [nbiotPush] : []),
        // Issue 19: provider receipts, SMS replies and voice keypresses, published as bus 'channel.inbound'.
        ...(config.alerts.callbacks
          ? [notifyCallbackRoutes({ config: config.alerts.callbacks, ledger: alerts.ledger, bus, logger: logger.child({ module: 'notify-callbacks' }), metrics, clock })]
          : []),
      ],
      privacy,
      consoleRelay,
    });
    // A command reaches a device by the way it arrives: its platform's API for NB-IoT, MQTT otherwise.
    const sendCommand = (deviceId: string, command: Command): Promise<void> =>
      platformCommands.handles(deviceId) ? platformCommands.send(deviceId, command) : gateway.publishCommand(deviceId, command);
    return { registry, deadLetters, seqs, journal, store, late, rules, part, live, alerts, claims, consoleRelay, pipeline, ingest, gateway, http, ingress, gbt, sendCommand, privacy };
  }

  function health() {
    const p = parts;
    const checks: Record<string, boolean | string> = {
      database: !!db,
      influx: influxUrl ? influxState : false,
      gateway: !!p,
    };
    if (p) {
      const s = p.store.stats();
      checks.spoolLines = String(s.spooledLines);
      checks.writeBacklog = String(p.store.backlog());
      // Cluster mode with the partitioned log: the partitions this node's rule worker serves.
      if (p.part) checks.partitionsServed = String([...p.part.worker.owned().values()].filter(Boolean).length);
    }
    return { live: true, ready: !!p && started, checks };
  }

  let started = false;

  async function start(): Promise<void> {
    mkdirSync(dataDir, { recursive: true });
    collectDefaultMetrics({ register: metrics });
    const dbFile = join(dataDir, 'watchfire.db');
    db = openDatabase(dbFile, {
      backgroundCheckpoint: true,
      onMigrated: (r) => { if (r.applied.length) logger.info({ from: r.from, to: r.to, applied: r.applied }, 'database schema migrated'); },
    });
    checkpointer = startCheckpointer(dbFile, { onError: (msg) => logger.warn({ msg }, 'WAL checkpoint failed') });
    wal = walParticipant(db, dbFile);
    stores = await openSharedStores({ config, db, logger: logger.child({ module: 'storage' }) });
    if (stores.dialect === 'postgres') logger.info('incidents, escalations, the outbox, reports, console users and sessions on the shared PostgreSQL (storage.postgresUrl)');
    if (!influxUrl) {
      // Not awaited: devices are served while influxd loads its index (issue 15 point 6); the
      // store ships the journal once it answers. If it never does, readings stay in the journal
      // (up to influx.spoolMaxBytes) and /readyz says so.
      const spawning = await spawnLocalInfluxd({
        binary: config.influx.local.binary,
        dataDir: join(dataDir, 'influxdb'),
        port: config.influx.local.port,
        logger: logger.child({ module: 'influxd' }),
      });
      influxd = spawning;
      influxUrl = spawning.url;
      influxState = 'starting';
      influxStarting = spawning.ready.then(
        () => {
          influxState = true;
        },
        (err: unknown) => {
          influxState = `failed: ${(err as Error).message}`;
          logger.error({ err, code: 'WF_INFLUXD_START' }, 'the local influxd did not start: readings stay in the journal until it does (restart Watchfire once the cause is fixed)');
        },
      );
      logger.info({ url: influxUrl }, 'starting a local influxd (set influx.url or WF_INFLUX_URL to use your own)');
    }
    query = createInfluxQuery({
      url: influxUrl,
      database: config.influx.database,
      ...(config.influx.username ? { username: config.influx.username } : {}),
      ...(config.influx.password ? { password: config.influx.password } : {}),
    });
    // The key of one-tap acknowledge links: configured, or made once and kept; on PostgreSQL one
    // for every node, so that a link one node sent opens on whichever node the balancer picks.
    const ackSecret = config.alerts.ack.secret ?? await stores.shared('ack_link_key', ackLinkKey(db));
    parts = build(db, influxUrl, stores, ackSecret);
    const p = parts;
    // Retention and downsampling (issue 18 point 6): in the background, never in the way of start;
    // InfluxDB 2.x refuses these InfluxQL statements, which is said once.
    const retention = { url: influxUrl, database: config.influx.database, username: config.influx.username, password: config.influx.password, ...config.influx.retention };
    void (influxStarting ?? Promise.resolve())
      .then(() => ensureDatabase(retention, 10_000, logger))
      .then(() => ensureRetention(retention, logger.child({ module: 'store' })))
      .catch((err: unknown) => logger.warn({ err: (err as Error).message }, 'InfluxDB retention policies and downsampling could not be set up (InfluxDB 2.x: bucket retention and the task of deploy/influxdb2/watchfire-downsampling.sh)'));
    // Start order: state first, then storage, then the people side, then HTTP; devices last, so
    // that nothing a device sends arrives before everything downstream of it can take it.
    await p.registry.start();
    if (config.registryFile) {
      const file = loadRegistryFile(config.registryFile);
      // Upserts: nodes starting with the same file write the same rows, without conflict.
      const { upserted } = await p.registry.importFile(file);
      logger.info({ file: config.registryFile, upserted }, 'registry loaded');
    }
    // After the registry file: an erased resident it still lists is erased again (privacy/guard.ts).
    await p.privacy.start();
    await p.deadLetters.start();
    await p.seqs.start();
    await p.journal.start();
    await p.store.start();
    await p.alerts.start();
    await p.consoleRelay?.start();
    annotations = createIncidentAnnotations({ bus, store: p.store, incidents: p.alerts.service, clock, logger: logger.child({ module: 'annotations' }) });
    annotations.start();
    // Presence and the offline sweep: before HTTP and devices, as the wiring did before the move.
    await p.pipeline.start();
    // Listening to the pipeline before the rule worker's first record, and the others' state loaded.
    await p.live?.start();
    // The rule worker takes its partitions (and rebuilds them) before devices are let in.
    await p.part?.start();
    await p.http.start();
    await p.gateway.start();
    await p.gbt?.start();
    if (config.rules.file) {
      stopRuleWatch = watchRuleFile(config.rules.file, p.part ?? p.rules, logger.child({ module: 'rules' }));
    }
    started = true;
    const a = addresses();
    logger.info({ mqtt: a.mqtt, mqtts: a.mqtts, http: a.http, gbt26875: a.gbt26875 }, 'Watchfire started');
  }

  // Issue 17 point 7: incidents into InfluxDB for Grafana (app/annotations.ts).
  let annotations: ReturnType<typeof createIncidentAnnotations> | undefined;

  async function stop(): Promise<void> {
    started = false;
    stopRuleWatch?.();
    const p = parts;
    if (p) {
      // Reverse order: stop taking device traffic, then drain storage and the outbox.
      await p.gbt?.stop();
      await p.gateway.stop();
      // What this node changed last is published while it still holds the partitions.
      await p.live?.stop();
      // Partitions handed over (released) once the gateway appends no more.
      await p.part?.stop();
      await p.http.stop();
      await p.pipeline.stop();
      annotations?.stop();
      annotations = undefined;
      await p.alerts.stop();
      await p.claims?.close();
      await p.consoleRelay?.close();
      await p.store.stop();
      await p.late?.stop();
      await p.journal.stop();
      await p.seqs.stop();
      await p.deadLetters.stop();
      await p.privacy.stop();
      await p.registry.stop();
    }
    if (influxd) await influxd.stop();
    await stores?.close();
    stores = undefined;
    await checkpointer?.stop();
    checkpointer = undefined;
    await wal?.close();
    wal = undefined;
    db?.close();
    parts = undefined;
    db = undefined;
  }

  function addresses(): { mqtt?: number; mqtts?: number; http: number; gbt26875?: number } {
    if (!parts) throw new Error('Watchfire is not started');
    const g = parts.gateway.addresses();
    return { ...g, http: parts.http.address().port, ...(parts.gbt ? { gbt26875: parts.gbt.address().port } : {}) };
  }

  function must() {
    if (!parts) throw new Error('Watchfire is not started');
    return parts;
  }

  return {
    start,
    stop,
    addresses,
    bus,
    metrics,
    logger,
    get influxUrl() {
      return influxUrl;
    },
    get query(): InfluxQuery {
      if (!query) throw new Error('Watchfire is not started');
      return query;
    },
    get db(): Db {
      if (!db) throw new Error('Watchfire is not started');
      return db;
    },
    /** Console users and sessions, on whichever database storage.postgresUrl chose. */
    get users() {
      if (!stores) throw new Error('Watchfire is not started');
      return stores.users;
    },
    get registry() { return must().registry; },
    get store() { return must().store; },
    get journal() { return must().journal; },
    get rules() { return must().rules; },
    get alerts() { return must().alerts; },
    get ingest() { return must().ingest; },
    get gateway() { return must().gateway; },
    get http() { return must().http; },
    get deadLetters() { return must().deadLetters; },
    get pipeline() { return must().pipeline; },
    /** Cluster mode with the partitioned log: the rule worker (undefined otherwise). */
    get ruleWorker() { return must().part?.worker; },
    get privacy() { return must().privacy; },
    /** What the console shows: in cluster mode with the partitioned log, every owner's (app/live-mirror.ts). */
    deviceState: (id: string) => (parts?.live ?? parts?.pipeline)?.deviceState(id),
    /** The ingress seam adapters use (issue 20); tests and the bench hand it frames too. */
    get ingress() { return must().ingress; },
    get gbt26875() { return must().gbt; },
    sendCommand: (deviceId: string, command: Command) => must().sendCommand(deviceId, command),
  };
}

export type Watchfire = ReturnType<typeof createWatchfire>;
