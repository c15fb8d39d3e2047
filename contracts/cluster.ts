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
//
// FENCING. Every new holder of a partition's lease gets a new term (a counter per partition, never
// reused). A worker handles and acknowledges under the term it took the partition with: it checks
// the term before handling a batch, and an acknowledgement or snapshot under a term that is no
// longer current is refused by Redis. So a worker that lost its lease without knowing it yet (a
// long pause, a renewal that came too late) neither handles on, nor acknowledges records its
// successor now holds pending, nor puts its state over its successor's.
import { crc32 } from 'node:zlib';
import { PRESENCE_REASONS, type DevicePresence } from './bus.ts';
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

// A PRESENCE RECORD: what a gateway or adapter tells only its own node's bus (a device connected,
// its socket closed without a will, the node shut down, an adapter's heartbeat), for the owner of
// the device's site partition, in order with the device's frames (one partition, one connection:
// journal/redis-log.ts). A status frame or a will needs none: it is in the log already, and its
// owner reads its presence from it. It travels as a frame on a topic no device can publish to
// (topics beginning with $ are the server's, MQTT 3.1.1 §4.7.2, and the gateway's ACL lets a device
// publish under its own v1/devices/<id>/ only), so the log, the worker and snapshots carry it as is.
//   payload: u8 online (0|1) | u8 reason (index in PRESENCE_REASONS); receivedAt: the presence's time
export const PRESENCE_TOPIC = '$wf/presence';

export function presenceFrame(p: DevicePresence): Frame {
  return {
    deviceId: p.deviceId, topic: PRESENCE_TOPIC, payload: Buffer.from([p.online ? 1 : 0, PRESENCE_REASONS.indexOf(p.reason)]),
    qos: 0, retain: false, receivedAt: p.at,
  };
}

/** The presence a log record carries; undefined for a device's own frame. Throws on a presence record this version cannot read. */
export function presenceOfFrame(f: Frame): DevicePresence | undefined {
  if (f.topic !== PRESENCE_TOPIC) return undefined;
  const reason = f.payload.length === 2 && f.payload[0]! <= 1 ? PRESENCE_REASONS[f.payload[1]!] : undefined;
  if (!reason) throw new Error(`presence record of ${f.payload.length} bytes [${[...f.payload.subarray(0, 4)].join(', ')}] not readable`);
  return { deviceId: f.deviceId, online: f.payload[0] === 1, at: f.receivedAt, reason };
}

export interface PartitionedLog extends Lifecycle {
  readonly partitions: number;
  /** Appends to the site's partition; resolves once durable (above) with where it went. */
  append(siteId: string, frame: Buffer): Promise<{ partition: number; offset: LogOffset }>;
  /** Takes or renews this worker's lease on a partition for `leaseMs`; false while another worker holds it. */
  claim(partition: number, worker: string, leaseMs: number): Promise<boolean>;
  /**
   * claim(), answering with the lease's term: 0 when refused. A worker renewing passes the term it
   * holds: its lease having run out with nobody taking it meanwhile, it keeps that term (its state is
   * still the partition's); taken by anyone else in between, the answer is a new term (its state is
   * not). Without `term`, a free lease is always taken under a new term.
   */
  claimTerm(partition: number, worker: string, leaseMs: number, term?: number): Promise<number>;
  /** The partitions' current terms (0: never held). */
  terms(partitions: readonly number[]): Promise<number[]>;
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
  /**
   * Drops records appended more than `ageMs` ago (approximately: whole internal nodes only), but
   * never one after `keep` (the older of the partition's newest snapshot and its stored mark: what
   * a new owner replays, or stores again, after it).
   */
  trim(partition: number, ageMs: number, keep?: LogOffset): Promise<void>;
  /** The owner handled these records (scored, incidents committed). */
  /** With `term`: false, and nothing acknowledged, when the partition's term is another (fenced). */
  ack(partition: number, offsets: readonly LogOffset[], term?: number): Promise<boolean>;
  /**
   * For a new owner: records read by earlier owners and never acknowledged, now this worker's,
   * oldest first. With `minIdleMs`, only those nobody has touched for that long (a worker that
   * read them after losing its lease, and never will acknowledge them).
   */
  takeOver(partition: number, worker: string, count: number, minIdleMs?: number): Promise<LogRecord[]>;
  /**
   * Replaces the partition's snapshot (encodeSnapshot) in one step, only under the current term:
   * false, and nothing written, otherwise (a worker that lost the partition cannot put an older
   * state over its new owner's).
   */
  saveSnapshot(partition: number, term: number, snapshot: Buffer): Promise<boolean>;
  /** The partition's snapshot as saved (undefined when none): decodeSnapshot reads it. */
  loadSnapshot(partition: number): Promise<Buffer | undefined>;
  /**
   * Records up to `offset` of the partition are in InfluxDB: every reading its owner (or an owner
   * before it) handled up to there is confirmed. Only under the current term (false otherwise), as
   * a snapshot. A new owner stores again what its predecessor acknowledged after it (their
   * readings were in that node's journal only, unshipped when it died; InfluxDB keeps one point
   * per reading, so what was shipped after all is not doubled).
   */
  saveStored(partition: number, term: number, offset: LogOffset): Promise<boolean>;
  /** The partition's stored mark (saveStored), undefined when none was ever saved. */
  loadStored(partition: number): Promise<LogOffset | undefined>;
  /** The oldest record still in the partition (undefined when it is empty) and the last ever appended (LOG_START: none). */
  retained(partition: number): Promise<{ first: LogOffset | undefined; last: LogOffset }>;
}

// A PARTITION SNAPSHOT: one partition's rule state (its lane's save(), in the lane's own versioned
// format), tagged with the last log record it holds, so that a new owner loads it and replays only
// the records after that offset (worker/rule-worker.ts). The envelope:
//   "WFPS" | u16 envelope version (1) | u16 partitions | u16 partition | f64 takenAt
//   | u16 offset bytes | offset | u32 CRC-32 of state | u32 state bytes | state (deflate, RFC 1951)
// The partition count is in it because a site's partition depends on it: a snapshot taken under
// another count holds other sites' state, and is refused.
const SNAPSHOT_MAGIC = 0x53504657; // "WFPS", little-endian
const SNAPSHOT_V1 = 1;

export interface PartitionSnapshot {
  readonly partitions: number;
  readonly partition: number;
  /** The newest record the state holds: a new owner replays from the next one. */
  readonly offset: LogOffset;
  /** The owner's clock when it was taken (ms), for operators. */
  readonly takenAt: number;
  /** The lane's state, deflated (RFC 1951, raw). */
  readonly state: Buffer;
}

export function encodeSnapshot(s: PartitionSnapshot): Buffer {
  const offset = Buffer.from(s.offset);
  const out = Buffer.allocUnsafe(4 + 2 + 2 + 2 + 8 + 2 + offset.length + 4 + 4 + s.state.length);
  let at = out.writeUInt32LE(SNAPSHOT_MAGIC, 0);
  at = out.writeUInt16LE(SNAPSHOT_V1, at);
  at = out.writeUInt16LE(s.partitions, at);
  at = out.writeUInt16LE(s.partition, at);
  at = out.writeDoubleLE(s.takenAt, at);
  at = out.writeUInt16LE(offset.length, at);
  at += offset.copy(out, at);
  at = out.writeUInt32LE(crc32(s.state), at);
  at = out.writeUInt32LE(s.state.length, at);
  s.state.copy(out, at);
  return out;
}

/** A snapshot's envelope, checked (magic, version, lengths, CRC); throws on anything else. */
export function decodeSnapshot(b: Buffer): PartitionSnapshot {
  if (b.length < 20 || b.readUInt32LE(0) !== SNAPSHOT_MAGIC) throw new Error(`a ${b.length}-byte value that is not a partition snapshot`);
  const version = b.readUInt16LE(4);
  if (version !== SNAPSHOT_V1) throw new Error(`partition snapshot version ${version}; this node reads version ${SNAPSHOT_V1}`);
  const partitions = b.readUInt16LE(6);
  const partition = b.readUInt16LE(8);
  const takenAt = b.readDoubleLE(10);
  const offsetLen = b.readUInt16LE(18);
  let at = 20;
  if (at + offsetLen + 8 > b.length) throw new Error('partition snapshot shorter than its head says');
  const offset = b.toString('latin1', at, at + offsetLen);
  at += offsetLen;
  const crc = b.readUInt32LE(at);
  const stateLen = b.readUInt32LE(at + 4);
  at += 8;
  if (at + stateLen !== b.length) throw new Error(`partition snapshot of ${b.length} bytes where its head says ${at + stateLen}`);
  if (!/^\d+-\d+$/.test(offset)) throw new Error(`partition snapshot at offset ${JSON.stringify(offset)}, not a log offset`);
  const state = b.subarray(at);
  if (crc32(state) !== crc) throw new Error('partition snapshot damaged: its CRC-32 does not match');
  return { partitions, partition, offset, takenAt, state };
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
  /**
   * Rebuild of a record its old owner acknowledged but may not have shipped to InfluxDB (after the
   * partition's stored mark): replay() that stores the reading, as scored then (same point, so
   * nothing is doubled), and has no other side effect.
   */
  restore(frame: Frame): void;
  /** Live: the path a frame takes on one node (ingest → rules → storage and incidents). */
  handle(frame: Frame): void;
  /** The partition went to another worker (or this one stops): its state is dropped. */
  close(): void;
  /**
   * The partition's state now (rule engine and re-send memory), in the lane's own versioned
   * format, for a snapshot. Absent: the lane is only ever rebuilt from the log.
   */
  save?(): Uint8Array;
  /**
   * A fresh lane takes a save() of this or another node, before any replay. Throws on a format it
   * cannot read (another version): the worker then closes it, opens a fresh lane and replays the log.
   */
  load?(state: Uint8Array): void;
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
