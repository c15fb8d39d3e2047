// Cluster mode's live-state mirror (issue 21, "Beyond one machine"): with the partitioned log a
// device's live state (online, last seen, last values, level) is kept by the pipeline of the node
// owning its site's partition only, yet every node's console (site view, map, overview, handover)
// reads it. So the owner publishes the state of the devices whose state changed, and every node
// keeps a mirror of what the others published. Built only with cluster.partitions > 0
// (app/watchfire.ts): one node's console reads its pipeline as it always did.
//
//   owner: reading scored / presence ─▶ dirty set ─(every FLUSH_MS; at once for offline or a level
//          change)─▶ one Redis pipeline: HSET watchfire:live:<partition> per partition touched,
//          PEXPIRE it, PUBLISH watchfire:live ─▶ every other node's mirror
//   a node that starts, or whose subscription reconnects: HGETALL of every partition's hash.
//
// deviceState(id) answers from this node's pipeline when it holds the device's partition and has
// changed the device's state under its current term (its pipeline's entry for a device of a
// partition it held before and lost in between is stale); otherwise from the mirror. Entries are
// ordered by (partition term, production time) (contracts/live-state.ts): an owner that lost the
// partition without knowing it publishes under its old term, and never overrides its successor
// in a mirror; in the hash (a plain HSET) it can, until it learns of the new term (its next batch's
// fencing check) and the successor writes the device again: a node starting in that window shows
// the older state until the device's next change.
//
// COST per device state change (`npx tsx bench/live-mirror.ts`: 2,000 smoke detectors, ids of 10
// characters, 16 partitions): on the alarm path, a Map lookup and a Set insertion per reading or
// presence, nothing else; once a second at most per device, one JSON entry of 178 bytes, written
// twice to Redis (the hash field and the published batch) and received once by every other node;
// 0.75 µs to encode it on the owner, 1.5 µs to parse, check and apply it on each other node.
// Redis commands per flush, whatever the number of devices in it: one HSET and one PEXPIRE per
// partition touched and one PUBLISH per PUBLISH_MAX entries, in one round trip; so per device
// change (2 × partitions touched + publishes) ÷ devices in the flush: 0.018 at 2,000 devices. Every
// PRUNE_MS, one HKEYS (and an HDEL if any) and one PEXPIRE per owned partition. Redis keeps one hash
// field per device (its entry); each node's mirror one entry object per device of the others.
import { hostname } from 'node:os';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { DevicePresence, EventBus } from '../contracts/bus.ts';
import { partitionOf } from '../contracts/cluster.ts';
import { decodeLiveBatch, decodeLiveState, encodeLiveBatch, encodeLiveState, newerLiveState, type LiveStateEntry } from '../contracts/live-state.ts';
import type { DeviceLiveState } from '../contracts/pipeline.ts';
import type { DeviceDirectory, Lifecycle } from '../contracts/ports.ts';

const CHANNEL = 'watchfire:live';
const KEY = (partition: number): string => `watchfire:live:${partition}`;
/** A batch a second: the console's "last seen" is in seconds, and a device reports every minute or more. */
export const FLUSH_MS = 1_000;
/** Removed devices leave the hashes (and the mirror) within this. */
export const PRUNE_MS = 60_000;
/**
 * A partition's hash outlives its last write or prune by this: an owned one is refreshed every
 * PRUNE_MS, one nobody owns any more (fewer partitions, the cluster down) goes.
 */
export const HASH_TTL_MS = 10 * PRUNE_MS;
/**
 * Entries a PUBLISH carries at most (≈ 90 KB): every other node parses a message in one go on its
 * event loop, so a flush of many devices (a restart's first readings) goes as several.
 */
export const PUBLISH_MAX = 500;
/** How long stop() waits for its last flush to be answered. */
const QUIT_MS = 1_000;

export interface LiveMirrorDeps {
  redisUrl: string;
  nodeId?: string | undefined;
  partitions: number;
  directory: DeviceDirectory;
  /** This node's pipeline's live state (right for the partitions it holds). */
  local: (deviceId: string) => DeviceLiveState | undefined;
  /** The lease term this node holds a partition under; undefined when it does not. */
  term: (partition: number) => number | undefined;
  /** Its 'reading.scored': the owner's readings (a rebuild's replays are not emitted). */
  bus: EventBus;
  logger: Logger;
  flushMs?: number;
  pruneMs?: number;
}

export interface LiveMirror extends Lifecycle {
  /** The console's view: this node's own state for the devices it owns, the owners' for the others. */
  deviceState(deviceId: string): DeviceLiveState | undefined;
  /** The owner's pipeline applied a presence (app/partitions.ts hands it over). */
  presence(p: DevicePresence): void;
  /** Publishes what changed now (the timer does this every flushMs). */
  flush(): void;
}

export function createLiveMirror(deps: LiveMirrorDeps): LiveMirror {
  const { directory, partitions, logger } = deps;
  const node = deps.nodeId ?? `${hostname()}-${process.pid}`;
  const onError = (err: Error): void => logger.warn({ err: err.message, code: 'WF_CLUSTER_REDIS' }, 'live-state mirror: Redis error');
  // A flush never waits for a Redis that is away: the devices stay dirty and go with the next one.
  const pub = new Redis(deps.redisUrl, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  const sub = new Redis(deps.redisUrl, { lazyConnect: true });
  pub.on('error', onError);
  sub.on('error', onError);
  /** Every device's newest entry: the others' as received, this node's own as it published them. */
  const mirror = new Map<string, LiveStateEntry>();
  /** Devices whose state this node changed since its last flush. */
  const dirty = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  let pruneTimer: NodeJS.Timeout | undefined;
  let soon: NodeJS.Immediate | undefined;
  let stopReadings: (() => void) | undefined;
  let running = false;

  const partitionOfDevice = (id: string): number | undefined => {
    const d = directory.get(id);
    return d ? partitionOf(d.siteId, partitions) : undefined;
  };

  function apply(e: LiveStateEntry): void {
    if (newerLiveState(mirror.get(e.d), e)) mirror.set(e.d, e);
  }

  function flushSoon(): void {
    soon ??= setImmediate(() => {
      soon = undefined;
      flush();
    });
  }

  function changed(id: string, atOnce: boolean): void {
    dirty.add(id);
    if (atOnce && running) flushSoon();
  }

  function flush(): void {
    if (dirty.size === 0 || pub.status !== 'ready') return;
    const at = Date.now();
    const fields = new Map<number, string[]>();
    const encoded: string[] = [];
    for (const id of dirty) {
      const p = partitionOfDevice(id);
      const t = p === undefined ? undefined : deps.term(p);
      const s = deps.local(id);
      // Not this node's any more (lost, or the device removed): its new owner publishes it.
      if (p === undefined || t === undefined || !s) continue;
      const e: LiveStateEntry = { d: id, p, t, n: node, at, s: { ...s, ...(s.last ? { last: { ...s.last } } : {}) } };
      const json = encodeLiveState(e);
      // Kept here too: once the partition moves, this is its last state until the new owner's.
      mirror.set(id, e);
      let f = fields.get(p);
      if (!f) fields.set(p, (f = []));
      f.push(id, json);
      encoded.push(json);
    }
    dirty.clear();
    if (!encoded.length) return;
    const batch = pub.pipeline();
    for (const [p, f] of fields) {
      batch.hset(KEY(p), ...f);
      batch.pexpire(KEY(p), HASH_TTL_MS);
    }
    for (let i = 0; i < encoded.length; i += PUBLISH_MAX) batch.publish(CHANNEL, encodeLiveBatch(node, encoded.slice(i, i + PUBLISH_MAX)));
    batch.exec().then((results) => {
      const failed = results?.find(([err]) => err)?.[0];
      if (failed) onError(failed);
    }, onError);
  }

  /** Every partition's hash: what a node that starts or reconnects shows at once. */
  async function load(): Promise<void> {
    if (pub.status !== 'ready') return;
    const batch = pub.pipeline();
    for (let p = 0; p < partitions; p++) batch.hgetall(KEY(p));
    const results = (await batch.exec()) ?? [];
    let n = 0;
    for (const [err, value] of results) {
      if (err || !value) continue;
      for (const json of Object.values(value as Record<string, string>)) {
        const e = decodeLiveState(json);
        if (e) {
          apply(e);
          n++;
        }
      }
    }
    logger.debug({ entries: n }, 'live-state mirror loaded');
  }

  /** Removed devices, and devices moved to another partition's site, leave the mirror and the hashes this node owns. */
  async function prune(): Promise<void> {
    const stale = (id: string, p: number): boolean => partitionOfDevice(id) !== p;
    for (const [id, e] of mirror) if (stale(id, e.p)) mirror.delete(id);
    if (pub.status !== 'ready') return;
    for (let p = 0; p < partitions; p++) {
      if (deps.term(p) === undefined) continue;
      const gone = (await pub.hkeys(KEY(p))).filter((id) => stale(id, p));
      const batch = pub.pipeline();
      if (gone.length) batch.hdel(KEY(p), ...gone);
      batch.pexpire(KEY(p), HASH_TTL_MS);
      await batch.exec();
    }
  }

  function deviceState(id: string): DeviceLiveState | undefined {
    const e = mirror.get(id);
    const p = partitionOfDevice(id);
    const t = p === undefined ? undefined : deps.term(p);
    if (t !== undefined && (dirty.has(id) || (e?.n === node && e.p === p && e.t === t))) {
      // None here (a restart that kept its lease and term): what this node published before it.
      const s = deps.local(id);
      if (s) return s;
    }
    return e?.s;
  }

  return {
    deviceState,
    presence(p) {
      // Offline goes at once: an operator acting on "online" must not wait a batch for it.
      changed(p.deviceId, !p.online);
    },
    flush,
    async start() {
      sub.on('message', (channel: string, message: string) => {
        if (channel !== CHANNEL) return;
        const b = decodeLiveBatch(message);
        if (!b || b.node === node) return;
        for (const e of b.entries) apply(e);
      });
      await Promise.all([pub.connect(), sub.connect()]);
      await sub.subscribe(CHANNEL);
      await load();
      // Reconnected: what was published meanwhile is in the hashes (read once both are back).
      const reload = (): void => void load().catch(onError);
      sub.on('ready', reload);
      pub.on('ready', reload);
      stopReadings = deps.bus.on('reading.scored', 'live-mirror', (s) => {
        const id = s.reading.deviceId;
        // A level change goes at once (not a first reading: that is every device after a start).
        const before = mirror.get(id);
        changed(id, before !== undefined && before.n === node && before.s.level !== s.level);
      });
      running = true;
      timer = setInterval(flush, deps.flushMs ?? FLUSH_MS);
      timer.unref();
      pruneTimer = setInterval(() => void prune().catch(onError), deps.pruneMs ?? PRUNE_MS);
      pruneTimer.unref();
    },
    async stop() {
      running = false;
      stopReadings?.();
      stopReadings = undefined;
      if (timer) clearInterval(timer);
      if (pruneTimer) clearInterval(pruneTimer);
      if (soon) clearImmediate(soon);
      timer = pruneTimer = soon = undefined;
      // What changed last (a shutdown's offline presences) goes before the connections close.
      flush();
      // QUIT waits for that flush's replies, but a shutdown never waits long on a Redis that hangs.
      let wait: NodeJS.Timeout | undefined;
      await Promise.race([pub.quit().catch(() => undefined), new Promise((resolve) => (wait = setTimeout(resolve, QUIT_MS)))]);
      clearTimeout(wait);
      pub.disconnect();
      sub.disconnect();
    },
  };
}
