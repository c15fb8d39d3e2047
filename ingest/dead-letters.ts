// The dead-letter store: every rejected message or element with its reason (PROTOCOL.md "What the
// gateway does with bad input"). add() is on the hot path, so it only queues in memory; the queue
// is written in one SQLite transaction per tick, off the path of the frame that caused it.
import type { Database } from 'better-sqlite3';
import type { Logger } from 'pino';
import type { DeadLetterStore, RejectRecord } from '../contracts/ports.ts';
import type { ErrorCode } from '../contracts/errors.ts';

export interface DeadLetterDeps {
  db: Database;
  logger: Logger;
  /** Newest rows kept (default 100,000); older ones are deleted as new ones arrive. */
  maxRows?: number;
  /** Rejects held in memory at most while waiting for a write; beyond it they are counted and dropped. */
  maxQueued?: number;
}

export interface DeadLetters extends DeadLetterStore {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Writes everything queued now (list/count do this themselves). */
  flush(): void;
  /** Rejects dropped because the memory queue was full (a device spewing garbage faster than SQLite). */
  readonly dropped: number;
  /** Rejects waiting in memory for their write. */
  readonly queued: number;
}

interface Row {
  id: number;
  at: number;
  device_id: string | null;
  topic: string;
  code: string;
  reason: string;
  idx: number | null;
  payload: string;
}

export function createDeadLetterStore(deps: DeadLetterDeps): DeadLetters {
  const maxRows = deps.maxRows ?? 100_000;
  const maxQueued = deps.maxQueued ?? 50_000;
  let queue: RejectRecord[] = [];
  let scheduled: NodeJS.Immediate | undefined;
  let dropped = 0;
  let warnedDrop = false;

  function flush(): void {
    if (scheduled) {
      clearImmediate(scheduled);
      scheduled = undefined;
    }
    if (!queue.length) return;
    const batch = queue;
    queue = [];
    const insert = deps.db.prepare('INSERT INTO dead_letters (at, device_id, topic, code, reason, idx, payload) VALUES (?, ?, ?, ?, ?, ?, ?)');
    // AUTOINCREMENT ids only grow, so "the newest maxRows" is an id range: one indexed delete.
    const trim = deps.db.prepare('DELETE FROM dead_letters WHERE id <= (SELECT MAX(id) FROM dead_letters) - ?');
    try {
      deps.db.transaction(() => {
        for (const r of batch) insert.run(r.at, r.deviceId ?? null, r.topic, r.code, r.reason, r.index ?? null, r.payload);
        trim.run(maxRows);
      })();
    } catch (err) {
      // The database is the problem, not the device: say so loudly, keep running.
      deps.logger.error({ err, lost: batch.length }, 'dead-letter write failed');
    }
  }

  function where(filter: { deviceId?: string; deviceIds?: readonly string[]; code?: ErrorCode; before?: number }): { sql: string; args: unknown[] } {
    const parts: string[] = [];
    const args: unknown[] = [];
    if (filter.deviceId !== undefined) { parts.push('device_id = ?'); args.push(filter.deviceId); }
    // One JSON parameter, not one per id: a center has thousands of devices.
    if (filter.deviceIds !== undefined) { parts.push('device_id IN (SELECT value FROM json_each(?))'); args.push(JSON.stringify(filter.deviceIds)); }
    if (filter.code !== undefined) { parts.push('code = ?'); args.push(filter.code); }
    if (filter.before !== undefined) { parts.push('at < ?'); args.push(filter.before); }
    return { sql: parts.length ? `WHERE ${parts.join(' AND ')}` : '', args };
  }

  return {
    add(rec) {
      if (queue.length >= maxQueued) {
        dropped++;
        if (!warnedDrop) {
          warnedDrop = true;
          deps.logger.warn({ maxQueued }, 'dead-letter queue full: dropping rejects until it drains');
        }
        return;
      }
      warnedDrop = false;
      queue.push(rec);
      scheduled ??= setImmediate(flush);
    },
    /** `before`: an `at` time (ms epoch), for paging back through older rejects. Newest first. */
    list(filter = {}) {
      flush();
      const { sql, args } = where(filter);
      const limit = Math.max(1, Math.min(filter.limit ?? 100, 10_000));
      const rows = deps.db.prepare(`SELECT * FROM dead_letters ${sql} ORDER BY id DESC LIMIT ?`).all(...args, limit) as Row[];
      return rows.map((r) => ({
        id: r.id, at: r.at, deviceId: r.device_id ?? undefined, topic: r.topic, code: r.code as ErrorCode,
        reason: r.reason, index: r.idx ?? undefined, payload: r.payload,
      }));
    },
    count(filter = {}) {
      flush();
      const { sql, args } = where(filter);
      return (deps.db.prepare(`SELECT COUNT(*) AS n FROM dead_letters ${sql}`).get(...args) as { n: number }).n;
    },
    flush,
    async start() {
      flush();
    },
    async stop() {
      flush();
    },
    get queued() {
      return queue.length;
    },
    get dropped() {
      return dropped;
    },
  };
}
