// Partition snapshots for the rule worker (worker/rule-worker.ts; contracts/cluster.ts has the
// envelope): writing an owned partition's state, and loading the newest one into a new owner's
// fresh lane. The worker decides when (every snapshotMs, between batches); this file decides how.
//
// Cost (`npx tsx bench/snapshot.ts`, 2026-12-07, 2 shared cores at load 5): 10,000 devices (19 in
// 20 smoke detectors, 1 in 20 settlement points with all three quantities) after 100 readings each
// make 5.9 MB raw — 398 B of rule state and 194 of re-send memory per device — and 1.5 MB deflated
// (155 B per device). Saving takes 21 ms on the event loop (it must: the state is the one the next
// record changes; so the worker writes one partition's per lease renewal at most), deflating 39 ms
// in libuv's pool, loading 120 ms when the partition moves.
import { promisify } from 'node:util';
import { deflateRaw, inflateRaw } from 'node:zlib';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { Gauge } from 'prom-client';
import { compareOffsets, decodeSnapshot, encodeSnapshot, type LogOffset, type PartitionedLog, type PartitionLanes } from '../contracts/cluster.ts';
import { hotCounter } from '../contracts/metrics.ts';
import type { Owned } from './owned.ts';

export interface SnapshotsDeps {
  log: Pick<PartitionedLog, 'partitions' | 'saveSnapshot' | 'loadSnapshot' | 'retained'>;
  lanes: PartitionLanes;
  logger: Logger;
  metrics: Registry;
}

export interface Snapshots {
  /**
   * Loads the partition's snapshot into its fresh lane: the offset its state holds up to, or
   * undefined when there is none or it cannot be used (then the lane is a fresh one again and the
   * log is replayed from its start). A Redis error is thrown: the partition is given back and taken
   * again, never rebuilt short of its snapshot because Redis did not answer once.
   */
  restore(o: Owned, until: LogOffset): Promise<LogOffset | undefined>;
  /**
   * Takes the partition's state now, tagged with `o.last`, and saves it once `ready(offset)` says
   * yes (false: not saved, tried again next period); failures are logged, never thrown.
   */
  write(o: Owned, ready?: (offset: LogOffset) => Promise<boolean>): Promise<void>;
}

/** Deflated off the event loop, at the fastest level: the state is mostly doubles. */
const deflate = promisify(deflateRaw);
const inflate = promisify(inflateRaw);

export function createSnapshots(deps: SnapshotsDeps): Snapshots {
  const { log, logger } = deps;
  const written = hotCounter(deps.metrics, 'watchfire_cluster_snapshots_written_total', 'Partition snapshots this node\'s rule worker wrote');
  const unusable = hotCounter(deps.metrics, 'watchfire_cluster_snapshots_unusable_total', 'Partition snapshots a new owner could not use (damaged, another version or partition count): rebuilt from the whole retained log instead');
  const size = new Gauge({ name: 'watchfire_cluster_snapshot_bytes', help: 'Size of the last partition snapshot this node wrote (deflated)', registers: [deps.metrics] });

  function fresh(o: Owned): void {
    try {
      o.lane.close();
    } catch (err) {
      logger.error({ err, partition: o.partition }, 'closing a partition lane threw');
    }
    o.lane = deps.lanes(o.partition);
  }

  return {
    async restore(o, until) {
      if (!o.lane.load) return undefined;
      const raw = await log.loadSnapshot(o.partition);
      if (!raw || o.gone) return undefined;
      const kept = await log.retained(o.partition);
      try {
        const snap = decodeSnapshot(raw);
        if (snap.partitions !== log.partitions || snap.partition !== o.partition) {
          throw new Error(`it is partition ${snap.partition} of ${snap.partitions}, this is ${o.partition} of ${log.partitions} (other sites)`);
        }
        // Past what the consumer group ever handed out: not this log's history (a Redis that lost writes).
        if (compareOffsets(snap.offset, until) > 0) throw new Error(`it holds records up to ${snap.offset}, the log handed out only up to ${until}`);
        const state = await inflate(snap.state);
        if (o.gone) return undefined;
        o.lane.load(state);
        // The owner never trims past its snapshot's own record: gone, the log was trimmed past it
        // (by hand, or by a node with snapshots off), and records after it may be gone too. Still
        // the best state there is, the snapshot and what is left; said, as history may be lost.
        if (compareOffsets(kept.first ?? kept.last, snap.offset) > 0) {
          logger.warn({ code: 'WF_CLUSTER_SNAPSHOT', partition: o.partition, offset: snap.offset, oldestKept: kept.first ?? null }, 'the log was trimmed past the partition snapshot: rule state rebuilt from the snapshot and what is left, records between may be missing');
        }
        logger.info({ partition: o.partition, offset: snap.offset, bytes: raw.length, takenAt: new Date(snap.takenAt).toISOString() }, 'partition snapshot loaded: only the log after it is replayed');
        return snap.offset;
      } catch (err) {
        unusable.n++;
        logger.warn({ code: 'WF_CLUSTER_SNAPSHOT', partition: o.partition, bytes: raw.length, err: (err as Error).message }, 'partition snapshot unusable: rule state rebuilt from the whole retained log instead');
        // Whatever load() did goes with its lane.
        fresh(o);
        return undefined;
      }
    },

    async write(o, ready) {
      if (!o.lane.save) return;
      const offset = o.last;
      try {
        const t0 = performance.now();
        const state = o.lane.save();
        const saveMs = performance.now() - t0;
        const packed = await deflate(state, { level: 1 });
        const bytes = encodeSnapshot({ partitions: log.partitions, partition: o.partition, offset, takenAt: Date.now(), state: packed });
        if (o.gone) return;
        if (ready && !(await ready(offset))) return;
        if (await log.saveSnapshot(o.partition, o.term, bytes)) {
          o.snapped = offset;
          written.n++;
          size.set(bytes.length);
          logger.debug({ partition: o.partition, offset, bytes: bytes.length, stateBytes: state.length, saveMs: Math.round(saveMs * 10) / 10 }, 'partition snapshot written');
        } else {
          logger.warn({ code: 'WF_CLUSTER_SNAPSHOT', partition: o.partition, term: o.term }, 'partition snapshot not written: the partition has a new lease term (another worker took it)');
        }
      } catch (err) {
        // The log is not trimmed past the last snapshot written: nothing a new owner needs is lost.
        logger.error({ code: 'WF_CLUSTER_SNAPSHOT', partition: o.partition, err: (err as Error).message }, 'partition snapshot could not be written; tried again next period');
      } finally {
        o.snappedAt = Date.now();
      }
    },
  };
}
