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
import { INGRESS_SOURCES } from './ingress.ts';
import type { Frame, Lifecycle } from './ports.ts';

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

/** Orders two offsets of one partition (`<ms>-<n>`, compared as numbers, not as text). */
export function compareOffsets(a: LogOffset, b: LogOffset): number {
  const i = a.indexOf('-');
  const j = b.indexOf('-');
  const ma = Number(a.slice(0, i));
  const mb = Number(b.slice(0, j));
  if (ma !== mb) return ma < mb ? -1 : 1;
  const na = Number(a.slice(i + 1));
  const nb = Number(b.slice(j + 1));
  return na === nb ? 0 : na < nb ? -1 : 1;
}

// A frame as it travels in the log: everything ingest needs to treat it exactly as the gateway's
// own hand-off would (the receive time included, so a rebuild scores a reading as it was scored
// live). A fixed binary head, then the payload as it came: no JSON around a JSON payload.
//   u8 version (1) | u8 qos | u8 flags (1 retain, 2 oversize) | u8 source index | f64 receivedAt
//   | u16 deviceId bytes | u16 topic bytes | [u32 oversize bytes | u32 oversize limit]
//   | deviceId | topic | payload
const FRAME_V1 = 1;
const HEAD = 16;

export function encodeFrame(f: Frame): Buffer {
  const id = Buffer.from(f.deviceId);
  const topic = Buffer.from(f.topic);
  const over = f.oversize ? 8 : 0;
  const out = Buffer.allocUnsafe(HEAD + over + id.length + topic.length + f.payload.length);
  out[0] = FRAME_V1;
  out[1] = f.qos;
  out[2] = (f.retain ? 1 : 0) | (f.oversize ? 2 : 0);
  out[3] = f.source === undefined ? 255 : INGRESS_SOURCES.indexOf(f.source);
  out.writeDoubleLE(f.receivedAt, 4);
  out.writeUInt16LE(id.length, 12);
  out.writeUInt16LE(topic.length, 14);
  let at = HEAD;
  if (f.oversize) {
    out.writeUInt32LE(f.oversize.bytes, at);
    out.writeUInt32LE(f.oversize.limit, at + 4);
    at += 8;
  }
  at += id.copy(out, at);
  at += topic.copy(out, at);
  f.payload.copy(out, at);
  return out;
}

/** The frame of a log record; throws on a record this version cannot read (its caller dead-letters it). */
export function decodeFrame(b: Buffer): Frame {
  if (b.length < HEAD || b[0] !== FRAME_V1) throw new Error(`log record of ${b.length} bytes is not a version ${FRAME_V1} frame`);
  const flags = b[2]!;
  const src = b[3]!;
  const idLen = b.readUInt16LE(12);
  const topicLen = b.readUInt16LE(14);
  let at = HEAD;
  const oversize = flags & 2 ? { bytes: b.readUInt32LE(at), limit: b.readUInt32LE(at + 4) } : undefined;
  if (oversize) at += 8;
  if (at + idLen + topicLen > b.length) throw new Error('log record shorter than its head says');
  const deviceId = b.toString('utf8', at, at + idLen);
  at += idLen;
  const topic = b.toString('utf8', at, at + topicLen);
  at += topicLen;
  const source = src === 255 ? undefined : INGRESS_SOURCES[src];
  return {
    deviceId, topic, payload: b.subarray(at), qos: b[1] as 0 | 1 | 2, retain: (flags & 1) === 1, receivedAt: b.readDoubleLE(4),
    ...(source ? { source } : {}), ...(oversize ? { oversize } : {}),
  };
}

export interface PartitionedLog extends Lifecycle {
  readonly partitions: number;
  /** Appends to the site's partition; resolves once durable (above) with where it went. */
  append(siteId: string, frame: Buffer): Promise<{ partition: number; offset: LogOffset }>;
  /** Takes or renews this worker's lease on a partition for `leaseMs`; false while another worker holds it. */
  claim(partition: number, worker: string, leaseMs: number): Promise<boolean>;
  /** The worker holding a partition's lease, if any (for operators and tests). */
  owner(partition: number): Promise<string | undefined>;
  /**
   * Says this worker is alive for `ttlMs` and returns how many workers are (itself included): each
   * takes its fair share of the partitions, ⌈partitions ÷ workers⌉.
   */
  workers(worker: string, ttlMs: number): Promise<number>;
  /** Gives a lease up (on a clean stop), so the next owner need not wait for it to run out. */
  release(partition: number, worker: string): Promise<void>;
  /**
   * The partition's records after `after`, oldest first, at most `count`: the rebuild of rule
   * state. Does not touch the consumer group.
   */
  read(partition: number, after: LogOffset, count: number): Promise<LogRecord[]>;
  /**
   * New records for the owner through the partition's consumer group, at most `count` per
   * partition, waiting up to `blockMs` for the first. Several partitions are read in one call (one
   * blocking read, not one per partition). Each record stays pending until ack().
   */
  readNew(partition: number | readonly number[], worker: string, opts: { count: number; blockMs: number }): Promise<LogRecord[]>;
  /**
   * The last offset the consumer group handed out (LOG_START when none): what lies at or before it
   * was handled or is pending, what lies after it has never been read. A new owner rebuilds state
   * from the records up to here and reads on from here.
   */
  delivered(partition: number): Promise<LogOffset>;
  /** Drops records appended more than `ageMs` ago (approximately: whole internal nodes only). */
  trim(partition: number, ageMs: number): Promise<void>;
  /** The owner handled these records (scored, incidents committed). */
  ack(partition: number, offsets: readonly LogOffset[]): Promise<void>;
  /**
   * For a new owner: records read by earlier owners and never acknowledged, now this worker's,
   * oldest first. With `minIdleMs`, only those nobody has touched for that long (a worker that
   * read them after losing its lease, and never will acknowledge them).
   */
  takeOver(partition: number, worker: string, count: number, minIdleMs?: number): Promise<LogRecord[]>;
}

/**
 * One partition's rule state on the worker that owns it (app/ builds it: a rule engine of its own
 * and the re-send memory of the partition's devices, both in memory, both rebuilt from the log).
 */
export interface PartitionLane {
  /**
   * Rebuild: the frame goes through parse, re-send check and scoring as it did when it was handled,
   * with every side effect off (no dead letter, no stored reading, no finding, no bus event).
   */
  replay(frame: Frame): void;
  /** Live: the path a frame takes on one node (ingest → rules → storage and incidents). */
  handle(frame: Frame): void;
  /** The partition went to another worker (or this one stops): its state is dropped. */
  close(): void;
}

/** Opens a partition's lane with empty state (a claim, or a claim after losing it). */
export type PartitionLanes = (partition: number) => PartitionLane;

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
