// The dead-letter store: every rejected message or element with its reason (PROTOCOL.md "What the
// gateway does with bad input"). add() is on the hot path, so it only queues in memory; the queue
// is written behind it, one batch per tick, through the storage seam (contracts/storage.ts
// DeadLetterStorage): the SQLite file by default, or the PostgreSQL every node shares when
// storage.postgresUrl is set (issue 21), so any node's console lists every node's rejects.
//
// One write is in flight at a time and batches go in the order they were queued: what arrives
// while a write is out waits in the queue and goes as the next batch, whole. On SQLite the
// runner commits synchronously inside flush() (better-sqlite3), as the store always did; on
// PostgreSQL the write is a round trip, and the queue's bound is what keeps memory in check.
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import type { DeadLetterStore, RejectRecord } from '../contracts/ports.ts';
import type { DeadLetterStorage } from '../contracts/storage.ts';

export interface DeadLetterDeps {
  /** Where the rejects are kept (app/ builds it on the runner app/stores.ts chose). */
  storage: DeadLetterStorage;
  logger: Logger;
  /** Rejects lost (a failed write, a full queue) are counted here when given. */
  metrics?: Registry;
  /** Newest rows kept (default 100,000); older ones are deleted as new ones arrive. */
  maxRows?: number;
  /** Rejects held in memory at most while waiting for a write; beyond it they are counted and dropped. */
  maxQueued?: number;
}

export interface DeadLetters extends DeadLetterStore {
  start(): Promise<void>;
  /** Waits for the write in flight, then writes what is still queued. */
  stop(): Promise<void>;
  /**
   * Starts writing everything queued now (after the write in flight, if any); resolves once it
   * is written or its failure logged. Never rejects. list/count do this themselves.
   */
  flush(): Promise<void>;
  /** Rejects dropped because the memory queue was full (a device spewing garbage faster than the database takes it). */
  readonly dropped: number;
  /** Rejects lost because their write failed (logged with the number, as each failure is). */
  readonly lost: number;
  /** Rejects waiting in memory for their write. */
  readonly queued: number;
  /** A write is out (on PostgreSQL, a round trip), or rejects wait for one. */
  readonly pending: boolean;
}

export function createDeadLetterStore(deps: DeadLetterDeps): DeadLetters {
  const maxRows = deps.maxRows ?? 100_000;
  const maxQueued = deps.maxQueued ?? 50_000;
  let queue: RejectRecord[] = [];
  let scheduled: NodeJS.Immediate | undefined;
  /** The write in flight, and the one chained to start when it ends (taking the whole queue then). */
  let writing: Promise<void> | undefined;
  let following: Promise<void> | undefined;
  let dropped = 0;
  let lost = 0;
  let warnedDrop = false;
  const lostCounter = deps.metrics
    ? new Counter({ name: 'watchfire_dead_letters_lost_total', help: 'Rejects not dead-lettered: their write failed (write_failed) or the memory queue was full (queue_full)', labelNames: ['reason'], registers: [deps.metrics] })
    : undefined;

  async function write(batch: RejectRecord[]): Promise<void> {
    try {
      await deps.storage.append(batch, maxRows);
    } catch (err) {
      // The database is the problem, not the device: say so loudly, keep running.
      lost += batch.length;
      lostCounter?.inc({ reason: 'write_failed' }, batch.length);
      deps.logger.error({ err, lost: batch.length }, 'dead-letter write failed');
    }
  }

  function flush(): Promise<void> {
    if (scheduled) {
      clearImmediate(scheduled);
      scheduled = undefined;
    }
    // One write at a time: what is queued now goes as the next batch once this one is done.
    if (writing) return (following ??= writing.then(() => {
      following = undefined;
      return flush();
    }));
    if (!queue.length) return Promise.resolve();
    const batch = queue;
    queue = [];
    // On SQLite, append() has committed by the time it returns its promise (storage/sql.ts).
    const w = write(batch);
    writing = w;
    // Registered before any `following`, so it runs first: the chained flush finds no write out.
    void w.then(() => {
      if (writing === w) writing = undefined;
    });
    return w;
  }

  return {
    add(rec) {
      if (queue.length >= maxQueued) {
        dropped++;
        lostCounter?.inc({ reason: 'queue_full' });
        if (!warnedDrop) {
          warnedDrop = true;
          deps.logger.warn({ maxQueued }, 'dead-letter queue full: dropping rejects until it drains');
        }
        return;
      }
      warnedDrop = false;
      queue.push(rec);
      scheduled ??= setImmediate(() => void flush());
    },
    /** `before`: an `at` time (ms epoch), for paging back through older rejects. Newest first. */
    async list(filter = {}) {
      await flush();
      return deps.storage.list(filter);
    },
    async count(filter = {}) {
      await flush();
      return deps.storage.count(filter);
    },
    flush,
    async start() {
      await flush();
    },
    async stop() {
      await flush();
    },
    get queued() {
      return queue.length;
    },
    get pending() {
      return writing !== undefined || queue.length > 0;
    },
    get dropped() {
      return dropped;
    },
    get lost() {
      return lost;
    },
  };
}
