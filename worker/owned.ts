// What the rule worker knows of a partition it owns (worker/rule-worker.ts), shared with its
// snapshots (snapshots.ts) and fencing (fencing.ts).
import type { LogOffset, PartitionLane } from '../contracts/cluster.ts';

/** A partition this worker owns. */
export interface Owned {
  readonly partition: number;
  /** The lease term it was taken under (contracts/cluster.ts, fencing). */
  readonly term: number;
  /** Replaced by a fresh one when a snapshot could not be loaded into it. */
  lane: PartitionLane;
  ready: boolean;
  /** Set when the lease is lost or given up: nothing more is handled for it. */
  gone: boolean;
  /** The newest record in the lane's state. */
  last: LogOffset;
  /** The offset of the newest snapshot written or loaded here (LOG_START: none yet). */
  snapped: LogOffset;
  /** When a snapshot was last written or tried (or the partition taken). */
  snappedAt: number;
  /** Records up to here are in InfluxDB (confirmed to this node's journal, or the stored mark it was taken with). */
  stored: LogOffset;
  /** The stored mark last saved to the log (what a new owner would start storing after). */
  storedSaved: LogOffset;
  /** The newest handled record whose reading this node's journal has yet to confirm, if any. */
  storing: LogOffset | undefined;
  /** Whether a journal shipped() callback for this partition is outstanding. */
  watching: boolean;
  /** Called when `stored` moves or the partition is dropped. */
  storedListeners: Set<() => void>;
  /** Its acknowledgements waiting for what their records raised to be recorded, in order. */
  acking: Promise<void>;
}
