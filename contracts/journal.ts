// The journal (issue 15, "An acknowledgement is a promise"): what a PUBACK promises, and the small
// ports through which the pipeline writes to the journal, the gateway waits for it, and the
// InfluxDB writer reads from it.
//
// THE PROMISE. A device's QoS 1 PUBLISH is acknowledged (PUBACK) only after the readings and
// events it carried are in the append-only journal on disk, and the incident store's commits for
// its alarms have been flushed the same way:
//   - after a process crash (kill -9, OOM, a panic), nothing acknowledged is lost;
//   - after a power loss or kernel crash, nothing acknowledged is lost, unless the operator turned
//     `journal.fsync` off (then the last second or so of acknowledged data can be lost);
//   - QoS 0 has no acknowledgement and stays best effort: a QoS 0 message is journaled like any
//     other but a crash in the flush window loses it, and the device is never told.
// Alarms never wait for the journal: rules and incidents run on receipt; only the PUBACK waits.
// Notifications are at-least-once (alerts/outbox.ts): a crash between an SMTP server accepting a
// message and the outbox marking it sent makes it go out again, with the same Message-ID.
//
// GROUP COMMIT. Appends between two flushes form one group: one write for all of them, durable
// when it returns (the segment is O_DSYNC: write + fdatasync in one call; journal/segments.ts),
// and their PUBACKs released together, in the order the PUBLISHes came (MQTT 3.1.1
// [MQTT-4.6.0-2]). While one flush is on the disk the next group gathers, so the flush rate is
// bounded by the disk and the per-message cost shrinks as load grows.
//
// ONE MECHANISM. The InfluxDB writer ships from the journal and nothing else: what InfluxDB has
// not confirmed is the journal's unshipped tail (formerly "the spool"), replayed after a restart;
// a segment is deleted once InfluxDB has confirmed every line of it. Writes to InfluxDB are
// idempotent (ingest/store/line.ts: an exact re-write lands on the same point), so a segment
// shipped again after a crash stores nothing twice.

/** The pipeline's side: records in, and "tell me when it is on disk". */
export interface JournalWriter {
  /** Appends one record (one line of InfluxDB line protocol, no newline) to the open group. No I/O. */
  append(line: string): void;
  /**
   * Calls `done` once everything appended before this call is durable (written, and fdatasync'ed
   * unless fsync is off). Callbacks run in the order they were registered. Called at once when
   * nothing is pending. `err` is set only when the disk failed: nothing may be acknowledged then.
   */
  durable(done: (err?: Error) => void): void;
  /** Records appended and not yet durable. */
  pending(): number;
  /** The unshipped tail has reached its cap: telemetry should be held (events are still taken). */
  full(): boolean;
}

/** Where a batch is in the journal: what confirm() needs (a shipper may let go of the lines themselves). */
export interface JournalRange {
  /** Segment number and first index within it. */
  readonly segment: number;
  readonly from: number;
  /** Records in the batch. */
  readonly count: number;
}

/** A run of durable records handed to the shipper; confirm() it once InfluxDB has stored it. */
export interface JournalBatch extends JournalRange {
  readonly lines: readonly string[];
  /** Read back from a sealed segment on disk (an earlier run's, or one sealed during an outage) rather than from memory. */
  readonly fromDisk: boolean;
}

/** The InfluxDB writer's side: durable records in order, and confirmations back. */
export interface JournalReader {
  /** The next up to `max` durable records not yet handed out; waits for some. Undefined once stopped. */
  read(max: number): Promise<JournalBatch | undefined>;
  /** InfluxDB stored (or refused for good) this batch: a segment whose every line is confirmed is deleted. */
  confirm(batch: JournalRange): void;
  /** Durable records not yet handed out by read(). */
  unread(): number;
  /**
   * Calls `done` once every record durable at this call is confirmed (InfluxDB stored it, or
   * refused it for good), in whatever order the shippers confirmed their batches. Records still
   * in the open group are not waited for: call it after durable(). Never called if this run stops
   * first (what was not confirmed is shipped after the next start). Cluster mode's rule worker
   * uses it to tell the log how far a partition's readings are in InfluxDB (worker/rule-worker.ts).
   */
  shipped(done: () => void): void;
}

/** Something else whose commits a PUBACK must cover (the incident store's SQLite WAL). */
export interface DurabilityParticipant {
  /** Has it committed anything since its last sync? Checked once per group, on the event loop. */
  dirty(): boolean;
  /** Makes its commits durable; runs beside the journal's own flush. */
  sync(): Promise<void>;
}

export interface JournalStats {
  /** Records appended since start. */
  readonly appended: number;
  /** Group commits (one write + one fdatasync each) since start. */
  readonly commits: number;
  /** Records durable and not yet confirmed by InfluxDB (the unshipped tail, on disk). */
  readonly unshippedLines: number;
  readonly unshippedBytes: number;
  readonly segments: number;
  /** Records kept in memory for the reader: those durable and not yet handed out, at most one segment's. */
  readonly heldLines: number;
  readonly fsync: boolean;
}

export interface Journal extends JournalWriter, JournalReader {
  start(): Promise<void>;
  /** Flushes the open group (its callbacks run), wakes a waiting read() with undefined, closes files. */
  stop(): Promise<void>;
  stats(): JournalStats;
}
