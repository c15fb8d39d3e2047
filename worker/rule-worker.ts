// The rule worker of cluster mode (issue 21 point 4; contracts/cluster.ts): on every node, it owns
// a fair share of the log's partitions under leases it renews, rebuilds each partition's rule state
// from the log when it takes one, then scores the partition's new records as they are appended.
//
// Taking a partition (open):
//   1. `delivered`: the last offset the consumer group handed out. Records up to it were handled by
//      an earlier owner, or read by it and never acknowledged (pending); records after it were never
//      read and come to this worker through the group.
//   2. `takeOver`: the pending records become this worker's.
//   3. Rebuild: every retained record up to `delivered`, oldest first, through the lane. An
//      acknowledged one is replayed with side effects off (its incident and dead letter exist
//      already, made by the owner that acknowledged it); one acknowledged after the partition's
//      stored mark is replayed with its reading stored again (restore: the owner acknowledged it
//      once its own journal held it, and may have died before that journal shipped it; InfluxDB
//      keeps one point per reading, so one that did ship is not doubled). A pending one is handled
//      live, in its place in the order: whether its owner got as far as its incident before dying
//      is not known, and an alarm handled twice is better than one never handled (at least once;
//      an incident's key makes the second a no-op where the incident store is shared, issue 21
//      point 2).
//   4. From then on, new records through the consumer group: handled, and acknowledged once this
//      node's journal (and the SQLite WAL beside it) holds what they did and the findings they
//      raised are recorded (`recorded`: their incidents committed, on PostgreSQL too). That last
//      wait is off the read loop (later()): a slow database delays acknowledgements, never the
//      scoring of the next record; a node that dies first leaves those records pending, and the
//      next owner handles them again rather than replaying an alarm nobody recorded.
// The stored mark (contracts/cluster.ts saveStored): once the journal says what was durable after
// a batch is in InfluxDB (shipped()), the partition's mark moves to the batch's last record; it is
// saved under the term at every renewal, at a give-back and at a clean stop. A snapshot is saved
// only once the mark covers it (so a new owner never loads a state whose readings it could not
// store again), and the log is never trimmed past the mark: while InfluxDB is away, Redis keeps the
// partition's records as the journal keeps their readings.
// Losing a partition (a renewal refused: the lease ran out, another worker has it) closes its lane
// at once; what was read and not yet acknowledged stays pending for the new owner.
//
// Fencing (worker/fencing.ts): a partition is owned under the lease term it was taken with, checked
// before each batch and carried by every acknowledgement and snapshot.
//
// Snapshots (cluster.log.snapshotMs; worker/snapshots.ts): every so often, between batches, the
// owner writes a partition's state (its lane's save()) tagged with the last record it holds; in
// step 3 a new owner loads the newest and replays only the records after it, so windows longer
// than the retention (settlement's 7-day regression, old runs' re-send memory) move whole. Pending
// records at or before its offset may or may not be in it: they are handled live, first. The owner
// trims each partition to `retentionMs` but never past its newest snapshot; without snapshots a
// rebuild sees only the retained history, and longer windows start again from it.
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { Gauge } from 'prom-client';
import { compareOffsets, decodeFrame, LOG_START, type LogOffset, type LogRecord, type PartitionedLog, type PartitionLanes } from '../contracts/cluster.ts';
import { hotCounter } from '../contracts/metrics.ts';
import type { Frame, Lifecycle } from '../contracts/ports.ts';
import { createFencing } from './fencing.ts';
import type { Owned } from './owned.ts';
import { createSnapshots } from './snapshots.ts';

export interface RuleWorkerDeps {
  log: PartitionedLog;
  lanes: PartitionLanes;
  /** This worker's name in leases and the consumer group (the node id). */
  worker: string;
  /** Calls back once what was handled so far is durable on this node (the journal's group commit). */
  durable: (done: (err?: Error) => void) => void;
  /** Calls back once every reading durable on this node now is in InfluxDB (the journal's shipped()). */
  shipped: (done: () => void) => void;
  /**
   * Resolves once what the records handled so far raised is recorded beyond this node (their
   * findings' incidents committed on the shared database): a record is acknowledged only then, so
   * an alarm a dying node had not committed is handled again by the next owner. Absent: at once.
   */
  recorded?: () => Promise<void>;
  logger: Logger;
  metrics: Registry;
  /** Lease length; renewed every third of it. */
  leaseMs?: number;
  /** History kept in each partition (and so seen by a rebuild). */
  retentionMs?: number;
  /** Records read per partition per turn. */
  batch?: number;
  /** How long one read waits for a new record (also how soon a new partition joins the reads). */
  blockMs?: number;
  /** How often each owned partition's state is snapshotted; 0 (default): never, a rebuild replays the retained log. */
  snapshotMs?: number;
}

export interface RuleWorker extends Lifecycle {
  /** Partitions this worker owns, and whether each is rebuilt (serving). */
  owned(): ReadonlyMap<number, boolean>;
  /** The lease term this worker holds a partition under (rebuilt or not); undefined when it does not hold it. */
  term(partition: number): number | undefined;
  /**
   * Stops without releasing or acknowledging anything, as a process that dies would: the leases
   * run out and another worker takes the partitions over. For a node that must leave at once, and
   * for the failover tests.
   */
  halt(): Promise<void>;
}

/** Records read per page while rebuilding. */
const PAGE = 1_000;
/** More pending records than a worker ever reads unacknowledged (batch × partitions), by far. */
const MAX_PENDING = 1_000_000;
/** Partitions are trimmed every this many renewals (a trim is cheap, not free). */
const TRIM_EVERY = 30;

export function createRuleWorker(deps: RuleWorkerDeps): RuleWorker {
  const { log, worker, logger } = deps;
  const leaseMs = deps.leaseMs ?? 10_000;
  const retentionMs = deps.retentionMs ?? 3_600_000;
  const batch = deps.batch ?? 500;
  const blockMs = deps.blockMs ?? 250;
  const snapshotMs = deps.snapshotMs ?? 0;
  const owned = new Map<number, Owned>();
  let running = false;
  let tickTimer: NodeJS.Timeout | undefined;
  let ticking: Promise<void> | undefined;
  let loop: Promise<void> | undefined;
  let ticks = 0;
  /** Rebuilds under way. */
  const opening = new Set<Promise<void>>();
  /** Wakes the read loop when it waits with no partition ready. */
  let wake: (() => void) | undefined;

  const handled = hotCounter(deps.metrics, 'watchfire_cluster_records_handled_total', 'Log records handled live by this node\'s rule worker (scored, stored, incidents raised)');
  const replayed = hotCounter(deps.metrics, 'watchfire_cluster_records_replayed_total', 'Log records replayed with side effects off to rebuild a partition\'s rule state');
  const restored = hotCounter(deps.metrics, 'watchfire_cluster_records_restored_total', 'Log records an earlier owner acknowledged after its stored mark, replayed here with their readings stored again (they may have been in its journal only)');
  const moves = hotCounter(deps.metrics, 'watchfire_cluster_partitions_taken_total', 'Partitions this node\'s rule worker took (and rebuilt)');
  const snaps = createSnapshots({ log, lanes: deps.lanes, logger, metrics: deps.metrics });
  const { ack, fence } = createFencing({ log, owned, drop: (o) => drop(o), logger });
  new Gauge({
    name: 'watchfire_cluster_partitions_owned', help: 'Partitions of the log this node\'s rule worker owns', registers: [deps.metrics],
    collect() { this.set(owned.size); },
  });

  const awake = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };

  function frameOf(r: LogRecord): Frame | undefined {
    try {
      return decodeFrame(r.frame);
    } catch (err) {
      // Written by a newer version, or damaged: said loudly, never a stall of the partition.
      logger.error({ code: 'WF_CLUSTER_LOG_WORKER', partition: r.partition, offset: r.offset, err: (err as Error).message }, 'log record unreadable: skipped');
      return undefined;
    }
  }

  function run(o: Owned, r: LogRecord, how: 'handle' | 'replay' | 'restore'): void {
    const f = frameOf(r);
    if (!f) return;
    try {
      if (how === 'handle') {
        o.lane.handle(f);
        handled.n++;
      } else if (how === 'replay') {
        o.lane.replay(f);
        replayed.n++;
      } else {
        o.lane.restore(f);
        replayed.n++;
        restored.n++;
      }
    } catch (err) {
      // Ingest contains its own failures (dead letters); this is a bug in the lane itself.
      logger.error({ code: 'WF_CLUSTER_LOG_WORKER', partition: r.partition, offset: r.offset, deviceId: f.deviceId, err }, 'a log record threw in its lane');
    }
  }

  const durable = (): Promise<void> => new Promise((resolve, reject) => deps.durable((err) => (err ? reject(err) : resolve())));

  /** Records up to `offset` are in InfluxDB: the stored mark moves (saved to the log at the next renewal). */
  function advance(o: Owned, offset: LogOffset): void {
    if (compareOffsets(offset, o.stored) <= 0) return;
    o.stored = offset;
    for (const l of [...o.storedListeners]) l();
  }

  /**
   * Called once `offset` and what came before it were handled and are durable here: the stored
   * mark follows once the journal has shipped them. One shipped() wait per partition at a time;
   * records handled meanwhile are covered by the next one, registered when it returns.
   */
  function track(o: Owned, offset: LogOffset): void {
    if (o.gone || compareOffsets(offset, o.stored) <= 0) return;
    if (!o.storing || compareOffsets(offset, o.storing) > 0) o.storing = offset;
    if (o.watching) return;
    o.watching = true;
    const target = o.storing;
    deps.shipped(() => {
      o.watching = false;
      if (o.gone) return;
      advance(o, target);
      const next = o.storing;
      o.storing = undefined;
      if (next && compareOffsets(next, target) > 0) track(o, next);
    });
  }

  const recorded = deps.recorded ?? ((): Promise<void> => Promise.resolve());

  /**
   * Acknowledges handled records once `barrier` says what they raised is recorded: behind the
   * partition's earlier acknowledgements, without holding the read loop (a slow or hung database
   * must not stop the scoring of the next alarm). Refused or failed, they are retried at the next
   * renewal while this worker owns the partition, and handled again by the next owner otherwise.
   */
  function later(o: Owned, offsets: readonly LogOffset[], barrier: Promise<void>): void {
    if (offsets.length === 0) return;
    o.acking = o.acking
      .then(() => barrier)
      .then(() => ack(o, offsets))
      .catch((err: unknown) => {
        logger.error({ code: 'WF_CLUSTER_LOG_WORKER', partition: o.partition, err: (err as Error).message }, 'handled records could not be acknowledged; retried at the next renewal');
        if (!o.gone) unacked.set(o, [...(unacked.get(o) ?? []), ...offsets]);
      });
  }

  /** Waits for a partition's acknowledgements in flight, at most `ms` (what is left is handled again by the next owner). */
  async function acked(o: Owned, ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([o.acking, new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
    clearTimeout(timer);
  }

  /** Resolves true once the stored mark reaches `offset`, false if the partition is dropped first. */
  function storedTo(o: Owned, offset: LogOffset): Promise<boolean> {
    return new Promise((resolve) => {
      const check = (): void => {
        if (!o.gone && compareOffsets(o.stored, offset) < 0) return;
        o.storedListeners.delete(check);
        resolve(!o.gone);
      };
      o.storedListeners.add(check);
      check();
    });
  }

  async function saveStored(o: Owned): Promise<void> {
    const mark = o.stored;
    if (mark === o.storedSaved || o.gone) return;
    if (await log.saveStored(o.partition, o.term, mark)) {
      if (compareOffsets(mark, o.storedSaved) > 0) o.storedSaved = mark;
    }
  }

  function drop(o: Owned): void {
    if (o.gone) return;
    o.gone = true;
    for (const l of [...o.storedListeners]) l();
    if (owned.get(o.partition) === o) owned.delete(o.partition);
    try {
      o.lane.close();
    } catch (err) {
      logger.error({ err, partition: o.partition }, 'closing a partition lane threw');
    }
  }

  async function open(partition: number, term: number): Promise<void> {
    const o: Owned = {
      partition, term, lane: deps.lanes(partition), ready: false, gone: false, last: LOG_START, snapped: LOG_START, snappedAt: Date.now(),
      stored: LOG_START, storedSaved: LOG_START, storing: undefined, watching: false, storedListeners: new Set(), acking: Promise.resolve(),
    };
    owned.set(partition, o);
    const t0 = Date.now();
    try {
      const until: LogOffset = await log.delivered(partition);
      // One call: takeOver walks the whole pending list itself, and a second call would take the
      // same records again (they are this worker's now, idle 0).
      const taken = await log.takeOver(partition, worker, MAX_PENDING);
      const pending = new Set(taken.map((r) => r.offset));
      const acks: LogOffset[] = [];
      const mark = await log.loadStored(partition);
      const from = snapshotMs > 0 ? await snaps.restore(o, until) : undefined;
      if (o.gone) return;
      // Where this partition's readings are known to be in InfluxDB. None saved: a log no owner
      // shipped from yet (everything retained is stored again), or one from before stored marks
      // (taken to be stored up to its snapshot, as that version did).
      const stored = mark ?? from ?? LOG_START;
      if (from !== undefined && compareOffsets(stored, from) < 0) {
        logger.warn({ code: 'WF_CLUSTER_LOG_WORKER', partition, stored, snapshot: from }, 'the partition snapshot is newer than its stored mark: readings between them, if their owner died unshipped, are not stored again');
      }
      o.stored = o.storedSaved = stored;
      let again = 0;
      let after = LOG_START;
      if (from !== undefined) {
        // Pending at or before the snapshot (in its state or not: unknown): live, first.
        for (const r of taken) {
          if (compareOffsets(r.offset, from) > 0) continue;
          run(o, r, 'handle');
          acks.push(r.offset);
        }
        after = o.last = o.snapped = from;
      }
      let n = 0;
      rebuild: while (!o.gone && compareOffsets(after, until) < 0) {
        const page = await log.read(partition, after, PAGE);
        if (o.gone) return;
        for (const r of page) {
          if (compareOffsets(r.offset, until) > 0) break rebuild;
          const live = pending.has(r.offset);
          // Acknowledged by an earlier owner after its stored mark: its reading may have been in
          // that node's journal only, so it is stored again (the same point, never a second one).
          run(o, r, live ? 'handle' : compareOffsets(r.offset, stored) > 0 ? 'restore' : 'replay');
          if (live) acks.push(r.offset);
          else if (compareOffsets(r.offset, stored) > 0) again++;
          n++;
          after = o.last = r.offset;
        }
        if (page.length < PAGE) break;
      }
      if (o.gone) return;
      if (acks.length > 0 || again > 0) {
        await durable();
        track(o, o.last);
        later(o, acks, recorded());
        if (o.gone) return;
      }
      o.ready = true;
      moves.n++;
      logger.info({ partition, records: n, pendingHandled: acks.length, storedAgain: again, stored, fromSnapshot: from ?? null, upTo: until, ms: Date.now() - t0 }, 'partition taken: rule state rebuilt from the log');
      awake();
    } catch (err) {
      // Given back, so that this or another worker tries again from the start.
      logger.error({ code: 'WF_CLUSTER_LOG_WORKER', partition, err: (err as Error).message }, 'partition could not be rebuilt: given back');
      drop(o);
      await log.release(partition, worker).catch(() => undefined);
    }
  }

  /**
   * Writes the partition's snapshot between batches: the state then holds exactly the records up to
   * `last`, all acknowledged (or kept for the next renewal's retry). It is saved once their readings
   * are in InfluxDB, with the stored mark first: a new owner never loads a state whose readings it
   * could not store again. Not awaited by the renewal (InfluxDB may be away for an hour).
   */
  const snapping = new Map<Owned, Promise<void>>();
  function snapshot(o: Owned): void {
    if (snapping.has(o)) return;
    const done = (async () => {
      while (inBatch) await inBatch;
      if (o.gone || !running) return;
      await snaps.write(o, async (offset) => {
        if (!(await storedTo(o, offset))) return false;
        await saveStored(o);
        return compareOffsets(o.storedSaved, offset) >= 0;
      });
    })().catch((err: unknown) => logger.error({ code: 'WF_CLUSTER_SNAPSHOT', partition: o.partition, err: (err as Error).message }, 'partition snapshot failed'))
      .finally(() => snapping.delete(o));
    snapping.set(o, done);
  }

  async function tick(): Promise<void> {
    ticks++;
    try {
      const alive = await log.workers(worker, leaseMs);
      const share = Math.ceil(log.partitions / Math.max(1, alive));
      for (const o of [...owned.values()]) {
        if (!running) return;
        const term = await log.claimTerm(o.partition, worker, leaseMs, o.term);
        if (term !== o.term) {
          // 0: another worker holds it. Another term: others held it since (this one's lease had
          // run out), so the state here is behind theirs; the lease is this worker's again, and the
          // partition is taken afresh below.
          logger.warn({ code: 'WF_CLUSTER_LOG_WORKER', partition: o.partition, term: o.term, now: term }, 'partition lease lost: its state is dropped here');
          drop(o);
        }
      }
      for (const [o, offsets] of [...unacked]) {
        unacked.delete(o);
        if (!o.gone) await ack(o, offsets);
      }
      // Records read by a worker after it lost the lease (its renewal came too late: it learns of
      // the loss only at its next one) stay pending under it, after this owner's takeover: taken
      // once nobody has touched them for three leases, and handled (late, never lost).
      for (const o of [...owned.values()]) {
        if (!running || !o.ready || o.gone) continue;
        const late = await log.takeOver(o.partition, worker, PAGE, 3 * leaseMs);
        if (late.length === 0 || o.gone) continue;
        logger.warn({ code: 'WF_CLUSTER_LOG_WORKER', partition: o.partition, records: late.length }, 'records left pending by a worker that lost the partition: handled now');
        for (const r of late) {
          run(o, r, 'handle');
          if (compareOffsets(r.offset, o.last) > 0) o.last = r.offset;
        }
        await durable();
        track(o, o.last);
        later(o, late.map((r) => r.offset), recorded());
      }
      // More than a fair share (a node joined): the newest-numbered go back, each after what was
      // read of it is handled and acknowledged (the read loop's batch, a rebuild's pending ones).
      while (running && owned.size > share) {
        const o = [...owned.values()].at(-1)!;
        drop(o);
        await idle();
        await Promise.all([...opening]);
        await acked(o, Math.floor(leaseMs / 3));
        // Still under its term: the stored mark goes with it, so the next owner stores again only what this node's journal has not shipped.
        if (o.ready && o.stored !== o.storedSaved) await log.saveStored(o.partition, o.term, o.stored);
        await log.release(o.partition, worker);
        logger.info({ partition: o.partition, share }, 'partition given back for another worker');
      }
      // Fewer: free partitions are taken, each worker starting its search at a place of its own.
      const start = crcStart(worker, log.partitions);
      for (let i = 0; running && owned.size < share && i < log.partitions; i++) {
        const p = (start + i) % log.partitions;
        if (owned.has(p)) continue;
        const term = await log.claimTerm(p, worker, leaseMs);
        if (term > 0) {
          const opened = open(p, term).finally(() => opening.delete(opened));
          opening.add(opened);
        }
      }
      // One snapshot per renewal, the most overdue: all at once could hold renewals past the lease.
      if (snapshotMs > 0 && running) {
        let due: Owned | undefined;
        for (const o of owned.values()) {
          if (o.ready && !o.gone && o.last !== o.snapped && Date.now() - o.snappedAt >= snapshotMs && (!due || o.snappedAt < due.snappedAt)) due = o;
        }
        if (due) snapshot(due);
      }
      // The stored marks that moved: what a new owner would store again starts after them.
      for (const o of [...owned.values()]) {
        if (!running) return;
        if (o.ready && !o.gone) await saveStored(o);
      }
      if (ticks % TRIM_EVERY === 0) {
        // Never past the newest snapshot, nor past a record whose reading is not known to be in InfluxDB.
        for (const o of owned.values()) {
          if (o.ready) await log.trim(o.partition, retentionMs, snapshotMs > 0 && compareOffsets(o.snapped, o.storedSaved) < 0 ? o.snapped : o.storedSaved);
        }
      }
    } catch (err) {
      logger.error({ code: 'WF_CLUSTER_LOG_WORKER', err: (err as Error).message }, 'partition leases could not be renewed this time');
    }
  }

  /** Handled records whose acknowledgement failed, by partition: retried at the next renewal. */
  const unacked = new Map<Owned, LogOffset[]>();
  /** The batch being handled, if any: given-back partitions wait for it. */
  let inBatch: Promise<void> | undefined;
  const idle = (): Promise<void> => inBatch ?? Promise.resolve();

  async function readLoop(): Promise<void> {
    while (running) {
      const ready: number[] = [];
      for (const o of owned.values()) if (o.ready && !o.gone) ready.push(o.partition);
      if (ready.length === 0) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, blockMs);
          wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
        continue;
      }
      let records: LogRecord[];
      try {
        records = await log.readNew(ready, worker, { count: batch, blockMs });
      } catch (err) {
        if (!running) return;
        logger.error({ code: 'WF_CLUSTER_LOG_WORKER', err: (err as Error).message }, 'reading the log failed; retrying');
        await new Promise((r) => setTimeout(r, blockMs));
        continue;
      }
      if (!running || records.length === 0) continue;
      let finish!: () => void;
      inBatch = new Promise<void>((r) => (finish = r));
      const acks = new Map<Owned, LogOffset[]>();
      try {
        if (!(await fence(records))) continue;
        for (const r of records) {
          const o = owned.get(r.partition);
          // Lost meanwhile: left pending, for the new owner.
          if (!o || o.gone || !o.ready) continue;
          run(o, r, 'handle');
          o.last = r.offset;
          let list = acks.get(o);
          if (!list) acks.set(o, (list = []));
          list.push(r.offset);
        }
        if (acks.size > 0) {
          await durable();
          // One barrier for the batch: the findings its records raised were handed over above.
          const barrier = recorded();
          for (const [o, offsets] of acks) {
            track(o, offsets.at(-1)!);
            later(o, offsets, barrier);
          }
        }
      } catch (err) {
        // Handled, not acknowledged: acknowledged again at the next renewal while this worker owns
        // the partition (so not handled twice here); handled again by the next owner otherwise.
        logger.error({ code: 'WF_CLUSTER_LOG_WORKER', err: (err as Error).message }, 'handled records could not be acknowledged; retried at the next renewal');
        for (const [o, offsets] of acks) unacked.set(o, [...(unacked.get(o) ?? []), ...offsets]);
      } finally {
        inBatch = undefined;
        finish();
      }
    }
  }

  function schedule(): void {
    tickTimer = setTimeout(() => {
      ticking = tick().finally(() => {
        ticking = undefined;
        if (running) schedule();
      });
    }, Math.max(10, Math.floor(leaseMs / 3)));
    tickTimer.unref();
  }

  async function halt(): Promise<void> {
    running = false;
    if (tickTimer) clearTimeout(tickTimer);
    tickTimer = undefined;
    awake();
    for (const o of [...owned.values()]) drop(o);
    await ticking;
    await Promise.all([...opening]);
    await Promise.all([...snapping.values()]);
    await loop;
    loop = undefined;
  }

  return {
    owned: () => new Map([...owned].map(([p, o]) => [p, o.ready])),
    term(partition) {
      const o = owned.get(partition);
      return o && !o.gone ? o.term : undefined;
    },
    async start() {
      if (running) return;
      running = true;
      loop = readLoop();
      ticking = tick().finally(() => {
        ticking = undefined;
        if (running) schedule();
      });
      await ticking;
      // A worker that starts alone serves its partitions when start() returns.
      await Promise.all([...opening]);
    },
    halt,
    async stop() {
      const mine = [...owned.values()];
      await halt();
      for (const o of mine) {
        await acked(o, Math.floor(leaseMs / 3));
        // Its stored mark as far as this node's journal has shipped (what the next owner stores
        // again starts after it), then the partition is handed over at once, not after the lease runs out.
        if (o.ready && o.stored !== o.storedSaved) await log.saveStored(o.partition, o.term, o.stored).catch((err: Error) => logger.warn({ partition: o.partition, err: err.message }, 'stored mark not saved; the next owner stores again from the last one'));
        await log.release(o.partition, worker).catch((err: Error) => logger.warn({ partition: o.partition, err: err.message }, 'lease not released; it runs out'));
      }
    },
  };
}

/** Where a worker starts looking for free partitions: spread by its name, so two do not race for the same ones. */
function crcStart(worker: string, partitions: number): number {
  let h = 0;
  for (let i = 0; i < worker.length; i++) h = (h * 31 + worker.charCodeAt(i)) >>> 0;
  return h % partitions;
}
