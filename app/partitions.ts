// Cluster mode's partitioned log, wired (issue 21 point 4; contracts/cluster.ts): built only when
// cluster.enabled and cluster.partitions > 0, so that one node's alarm path is the objects it always
// was, with not one more branch on it.
//
//   gateway / adapters ─frame─▶ appender ─XADD (site's partition)─▶ Redis ─▶ rule worker (the owner)
//        PUBACK once Redis has fsynced it ◀─┘                                      │ lane.handle
//                                                              ingest ─▶ pipeline ─▶ the partition's engine
//
// Per partition this node owns: a rule engine of its own (devices and sites of other partitions
// never enter it, and its offline sweep covers only its devices) and ingest's per-device state,
// which holds the re-send memory (seq). That memory lives with the partition, not with the
// gateway: a device reconnects to any gateway, and only the owner sees all its frames in order; it
// is rebuilt with the rest, so it moves on failover without a store of its own: from the
// partition's newest snapshot (cluster.log.snapshotMs: the engine's state and this memory, see
// save() below) and the log after it; with snapshots off, from the retained log alone
// (cluster.log.retentionMs), and a re-send of something older than that is taken as new.
//
// Presence, too, is the owner's alone: a status frame or a will is in the log, and the owner reads
// it there (presenceOf); what the gateway or an adapter tells only this node's bus (a connect, a
// socket closed without a will, a shutdown, a heartbeat) is appended as a presence record to the
// device's partition, behind its frames (contracts/cluster.ts). The pipeline does not take the
// bus's presence in this mode (app/watchfire.ts), so whichever node the device is connected to,
// its presence is applied once, on the owner, in the log's order.
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { DevicePresence, EventBus } from '../contracts/bus.ts';
import { partitionOf, presenceOfFrame, type PartitionLane } from '../contracts/cluster.ts';
import type { Config } from '../contracts/config.ts';
import type { Scorer } from '../contracts/pipeline.ts';
import type { DeadLetterStore, DeviceDirectory, Frame, FrameSink, ReadingSink, ReadingStore } from '../contracts/ports.ts';
import { ByteReader, ByteWriter } from '../contracts/bytes.ts';
import { parseTopic } from '../contracts/protocol.ts';
import type { Reading } from '../contracts/reading.ts';
import { createLogAppender, createRedisLog, type LogAppender } from '../journal/index.ts';
import type { Ingest } from '../ingest/index.ts';
import type { ReloadResult, RuleEngine, RuleSet } from '../rules/index.ts';
import { createRuleWorker, type RuleWorker } from '../worker/index.ts';

/** How stale the sweep's list of a partition's devices may be: a new device is swept within it. */
const REGROUP_MS = 60_000;

/** Which presence the bus tells is appended as a presence record: not what the log has as a frame already. */
const APPEND_PRESENCE: Readonly<Record<DevicePresence['reason'], boolean>> = {
  connect: true, socket: true, shutdown: true, heartbeat: true,
  // The status frame or will itself travels in the log; its owner reads the presence from it (presenceOf).
  status: false, will: false,
};

export interface PartitioningDeps {
  cluster: Config['cluster'];
  directory: DeviceDirectory;
  /** A rule engine with the node's rule set and callbacks, over the devices given. */
  engine: (devices: DeviceDirectory, ruleSet: RuleSet) => RuleEngine;
  /** The node's own engine: the rule set in force, and what scores a reading no lane claims. */
  rules: RuleEngine;
  /** The pipeline's presence handling: a device's presence, as its partition's owner hears it from the log. */
  presence: (p: DevicePresence) => void;
  /** This node's bus: its gateway's and adapters' presence is appended to the log from it. */
  bus: EventBus;
  /** The node's journal wait: a record is acknowledged in the log once what it did is durable here. */
  durable: (done: (err?: Error) => void) => void;
  /** The node's journal: called back once what is durable now is in InfluxDB (the partitions' stored marks). */
  shipped: (done: () => void) => void;
  /** The alerts: resolves once the findings handed over so far are recorded (a record is acknowledged in the log only then). */
  recorded?: () => Promise<void>;
  logger: Logger;
  metrics: Registry;
}

export interface Partitioning {
  /** The pipeline's scorer: each reading to its partition's engine. */
  readonly scorer: Scorer;
  /** Rule reloads reach every partition's engine. */
  reload(input: unknown): ReloadResult;
  /** Ingest's deps, quiet while a partition is rebuilt (no dead letter, bus event or stored reading). */
  quiet: {
    deadLetters(d: DeadLetterStore): DeadLetterStore;
    bus(b: EventBus): EventBus;
    /** `store`: where a restored record's reading goes (lane.restore), scored by its partition's engine. */
    sink(live: ReadingSink, store: Pick<ReadingStore, 'write'>): ReadingSink;
  };
  /** Built after ingest (it is ingest's deps' user): the gateway's sink and its durable wait. */
  attach(ingest: Ingest, journalDurable: (done: (err?: Error) => void) => void): LogAppender;
  readonly worker: RuleWorker;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A status frame's presence, for the owner of the device's partition: the gateway that took the
 * frame tells only its own node's bus. `online: false` comes from a last will (a device that is
 * publishing is online), so it counts as one: a panel goes offline at once (rules' atDisconnect).
 */
function presenceOf(frame: Frame): DevicePresence | undefined {
  const t = parseTopic(frame.topic);
  if (t?.kind !== 'status' || t.deviceId !== frame.deviceId || frame.payload.length > 4096) return undefined;
  try {
    const v = JSON.parse(frame.payload.toString('utf8')) as { online?: unknown } | null;
    if (v && typeof v === 'object' && typeof v.online === 'boolean') return { deviceId: frame.deviceId, online: v.online, at: frame.receivedAt, reason: v.online ? 'status' : 'will' };
  } catch {
    // Not JSON: ingest has dead-lettered it.
  }
  return undefined;
}

export function createPartitioning(deps: PartitioningDeps): Partitioning {
  const { cluster, directory, logger } = deps;
  const partitions = cluster.partitions;
  const node = cluster.nodeId ?? `${hostname()}-${process.pid}`;
  const log = createRedisLog({
    redisUrl: cluster.redisUrl,
    partitions,
    requireFsync: cluster.log.requireFsync,
    appendConnections: cluster.log.appendConnections,
    onError: (err) => logger.warn({ code: 'WF_CLUSTER_REDIS', err: err.message }, 'partitioned log: Redis connection error'),
  });
  const engines = new Map<number, RuleEngine>();
  let ingest: Ingest | undefined;
  let appender: LogAppender | undefined;
  let stopPresence: (() => void) | undefined;
  /** True while a lane replays a record: ingest's side effects are off. */
  let replaying = false;
  /** True while a lane restores a record: as replaying, but its reading is stored. */
  let restoring = false;

  const partitionOfDevice = (id: string): number | undefined => {
    const d = directory.get(id);
    return d ? partitionOf(d.siteId, partitions) : undefined;
  };
  const engineOf = (r: Reading): RuleEngine => engines.get(partitionOf(r.siteId, partitions)) ?? deps.rules;

  const scorer: Scorer = {
    evaluate: (r) => engineOf(r).evaluate(r),
    presence(p) {
      // Only the owner of the device's partition keeps its state; it hears every presence from
      // the log (lane.handle), wherever the device is connected.
      const n = partitionOfDevice(p.deviceId);
      const e = n === undefined ? undefined : engines.get(n);
      return e ? e.presence(p) : [];
    },
    sweep(now) {
      const out = [];
      for (const e of engines.values()) out.push(...e.sweep(now));
      return out;
    },
  };

  // Device ids by partition, for the offline sweeps and for forgetting a partition's devices: one
  // pass over the registry (one CRC-32 per device) a minute at most, not one per lane per sweep.
  let groups = new Map<number, string[]>();
  let groupedAt = -Infinity;
  function idsOf(partition: number, fresh = false): readonly string[] {
    const now = Date.now();
    if (fresh || now - groupedAt > REGROUP_MS) {
      groups = new Map();
      for (const d of directory.all()) {
        const p = partitionOf(d.siteId, partitions);
        let list = groups.get(p);
        if (!list) groups.set(p, (list = []));
        list.push(d.id);
      }
      groupedAt = now;
    }
    return groups.get(partition) ?? [];
  }

  /** The devices of one partition, for its engine's offline sweep (a partition's own devices only). */
  function directoryOf(partition: number): DeviceDirectory {
    return {
      get: (id) => directory.get(id),
      verifySecret: (id, secret) => directory.verifySecret(id, secret),
      *all() {
        // Looked up again: the registry's current record, never one cached here.
        for (const id of idsOf(partition)) {
          const d = directory.get(id);
          if (d && partitionOf(d.siteId, partitions) === partition) yield d;
        }
      },
    };
  }

  function forget(partition: number): void {
    if (!ingest) return;
    for (const id of idsOf(partition, true)) ingest.forget(id);
  }

  function lane(partition: number): PartitionLane {
    const sink = ingest;
    if (!sink) throw new Error('partitioning is not attached to ingest');
    const engine = deps.engine(directoryOf(partition), deps.rules.ruleSet());
    engines.set(partition, engine);
    forget(partition);
    const rebuild = (frame: Frame, store: boolean): void => {
      const told = presenceOfFrame(frame);
      if (told) {
        engine.presence(told);
        return;
      }
      replaying = true;
      restoring = store;
      try {
        sink.replay(frame);
        const p = presenceOf(frame);
        if (p) engine.presence(p);
      } finally {
        replaying = false;
        restoring = false;
      }
    };
    return {
      replay: (frame) => rebuild(frame, false),
      restore: (frame) => rebuild(frame, true),
      handle(frame) {
        const told = presenceOfFrame(frame);
        if (told) {
          deps.presence(told);
          return;
        }
        sink.accept(frame);
        const p = presenceOf(frame);
        if (p) deps.presence(p);
      },
      close() {
        engines.delete(partition);
        forget(partition);
      },
      // A snapshot's state: the engine's (rules/snapshot.ts) and the re-send memory of the
      // partition's devices (ingest/seq-snapshot.ts), each in its own versioned format.
      save() {
        const w = new ByteWriter();
        w.block(engine.saveState());
        w.block(sink.saveMemory(idsOf(partition)));
        return w.finish();
      },
      load(state) {
        const r = new ByteReader(state);
        const rules = r.block();
        const memory = r.block();
        r.end();
        engine.loadState(rules);
        sink.loadMemory(memory);
      },
    };
  }

  const worker = createRuleWorker({
    log,
    lanes: lane,
    worker: node,
    durable: deps.durable,
    shipped: deps.shipped,
    ...(deps.recorded ? { recorded: deps.recorded } : {}),
    leaseMs: cluster.log.leaseMs,
    retentionMs: cluster.log.retentionMs,
    snapshotMs: cluster.log.snapshotMs,
    logger: logger.child({ module: 'rule-worker' }),
    metrics: deps.metrics,
  });

  return {
    scorer,
    reload(input) {
      const r = deps.rules.reload(input);
      if (r.ok) for (const e of engines.values()) e.reload(input);
      return r;
    },
    quiet: {
      deadLetters: (d) => ({
        add: (rec) => {
          if (!replaying) d.add(rec);
        },
        list: (f) => d.list(f),
        count: (f) => d.count(f),
      }),
      bus: (b) => ({
        on: (event, owner, listener) => b.on(event, owner, listener),
        emit: (event, payload) => {
          if (!replaying) b.emit(event, payload);
        },
        get listenerErrors() {
          return b.listenerErrors;
        },
      }),
      // Rebuilding scores the reading into its partition's engine and throws the result away, or
      // (restoring) stores it as scored, the same point its old owner wrote or would have.
      sink: (live, store) => (r) => {
        if (!replaying) {
          live(r);
          return;
        }
        const ev = engineOf(r).evaluate(r);
        if (restoring) {
          // Older than the continuous query reaches (a dead owner's unshipped outage), its
          // 5-minute aggregates are made again once it is stored (ingest/store/late-downsample.ts).
          store.write({ reading: r, score: ev.score, level: ev.level });
        }
      },
    },
    attach(i, journalDurable) {
      ingest = i;
      const local: FrameSink = i;
      appender = createLogAppender({ log, directory, local, localDurable: journalDurable, logger: logger.child({ module: 'cluster-log' }), metrics: deps.metrics });
      return appender;
    },
    worker,
    async start() {
      await log.start();
      await worker.start();
      stopPresence = deps.bus.on('device.presence', 'cluster.presence', (p) => {
        if (APPEND_PRESENCE[p.reason]) appender?.presence(p);
      });
    },
    async stop() {
      stopPresence?.();
      stopPresence = undefined;
      // The gateway stopped first: its shutdown's presence records are in the log before it closes.
      const a = appender;
      if (a) await new Promise<void>((resolve) => a.durable(() => resolve()));
      await worker.stop();
      await log.stop();
    },
  };
}
