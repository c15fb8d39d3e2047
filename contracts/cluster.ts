// Issue 21 point 4, "Readings partitioned by site": in cluster mode a gateway does not score what
// it receives; it appends each frame to a partitioned log, keyed by the device's site, and a rule
// worker that owns the site's partition scores it. Second-detector confirmation and panel zones
// need every reading of a site in one place, so the key is the site, never the device.
//
// THE PROMISE in cluster mode (contracts/journal.ts states it for one node): a QoS 1 PUBACK is
// sent once append() has resolved, that is once the log holds the frame durably as its engine
// defines it. For Redis Streams (journal/redis-log.ts) that is: the XADD was answered by a Redis
// running with `appendonly yes` and `appendfsync always`, which fsyncs the append-only file before
// it replies; start() refuses a Redis configured otherwise unless told to accept less. A replica
// does not add to it (Redis 7.0 has no WAITAOF): the Redis disk is the durable copy.
//
// OWNERSHIP. Each partition has at most one rule worker at a time, under a lease the worker renews
// (claim). A worker reads new records through the partition's consumer group and acknowledges
// them once handled; when a worker dies, the next owner takes over what it had read but not
// acknowledged (takeOver), and rebuilds the partition's rule state by reading from an offset
// (read), e.g. from its last snapshot's.
import { crc32 } from 'node:zlib';
import type { Incident } from './incidents.ts';
import type { Lifecycle } from './ports.ts';

/** A position in one partition: a Redis Stream id (`<ms>-<n>`), ordered within its partition. */
export type LogOffset = string;

/** The offset before the first record. */
export const LOG_START: LogOffset = '0-0';

export interface LogRecord {
  readonly partition: number;
  readonly offset: LogOffset;
  readonly siteId: string;
  readonly frame: Buffer;
}

/** The partition of a site: stable across processes, restarts and versions (CRC-32 of the id). */
export function partitionOf(siteId: string, partitions: number): number {
  return crc32(siteId) % partitions;
}

export interface PartitionedLog extends Lifecycle {
  readonly partitions: number;
  /** Appends to the site's partition; resolves once durable (above) with where it went. */
  append(siteId: string, frame: Buffer): Promise<{ partition: number; offset: LogOffset }>;
  /** Takes or renews this worker's lease on a partition for `leaseMs`; false while another worker holds it. */
  claim(partition: number, worker: string, leaseMs: number): Promise<boolean>;
  /** Gives a lease up (on a clean stop), so the next owner need not wait for it to run out. */
  release(partition: number, worker: string): Promise<void>;
  /**
   * The partition's records after `after`, oldest first, at most `count`: the rebuild of rule
   * state. Does not touch the consumer group.
   */
  read(partition: number, after: LogOffset, count: number): Promise<LogRecord[]>;
  /**
   * New records for the owner through the partition's consumer group, at most `count`, waiting up
   * to `blockMs` for the first. Each stays pending until ack().
   */
  readNew(partition: number, worker: string, opts: { count: number; blockMs: number }): Promise<LogRecord[]>;
  /** The owner handled these records (scored, incidents committed). */
  ack(partition: number, offsets: readonly LogOffset[]): Promise<void>;
  /** For a new owner: records read by earlier owners and never acknowledged, now this worker's, oldest first. */
  takeOver(partition: number, worker: string, count: number): Promise<LogRecord[]>;
}

/**
 * Issue 21 point 5, "exactly one actor per duty", for the scheduler: every node runs node-cron
 * with the same plan, and each firing is run by the one node that claims it first. A claim is
 * keyed by the job and its firing (the scheduled second, or the report's period for a catch-up)
 * and outlives the run by `ttlMs`, so a node whose clock is a little behind finds it taken rather
 * than running the job again. A node that dies mid-run leaves that firing undone; the next
 * start's catch-up makes a missing daily or monthly report (alerts/cron.ts).
 */
export interface FiringClaims {
  /** True on the one node that claimed `job` at `firing`; false on every other. */
  claim(job: string, firing: string, ttlMs: number): Promise<boolean>;
}

/**
 * Issue 21 point 5, console streams across API nodes: what one node's console stream sends (an
 * incident changed, a device came or went), told to the other nodes, whose streams send it to
 * their own operators. Readings of an open site stay on the node that took them.
 */
export interface ConsoleEvent {
  readonly type: 'incident' | 'presence';
  /** The incident, for deciding who may see it (as on the node it happened on). */
  readonly incident?: Incident;
  readonly centerId?: string;
  /** The event's data as the stream sends it. */
  readonly data: string;
}

export interface ConsoleRelay {
  /** Tells the other nodes (never this one). */
  tell(e: ConsoleEvent): void;
  /** The other nodes' events; returns the unsubscribe. */
  listen(listener: (e: ConsoleEvent) => void): () => void;
}
