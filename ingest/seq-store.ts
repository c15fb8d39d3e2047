// Each device's re-send memory (seq-tracker.ts), kept across restarts (issue 15 point 3): a
// checkpoint in SQLite (table ingest_seq, one JSON row per device) plus a log of what was taken
// since, replayed at start. A restart therefore knows every reading that was acknowledged before
// it, and re-accepts none of them.
//
// Never ahead of the journal. A reading's line is logged only once the journal holds that reading
// durably (`durable`), and before its PUBACK (the gateway's durable callback calls `release`
// first): were the memory to know a reading the journal lost in a crash, the device's re-send of
// it — never acknowledged — would be dropped as a duplicate and the reading lost. The checkpoint is
// taken from a second set of trackers fed only with released lines, for the same reason.
// Off the hot path: taking a reading appends to a memory buffer; lines are written once per group
// commit. A process crash keeps what was written (the page cache); `participant` fdatasyncs the log
// in the journal's next group commit.
import { closeSync, fdatasync, mkdirSync, openSync, readFileSync, readdirSync, unlinkSync, write } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import type { Database } from 'better-sqlite3';
import type { Logger } from 'pino';
import { SeqTracker, type SeqSnapshot } from './seq-tracker.ts';

/** What ingest asks of the re-send memory. */
export interface SeqTrackers {
  /** The device's tracker, restored from the checkpoint and log when it has one. */
  tracker(deviceId: string): SeqTracker;
  /** A reading with a seq was taken (not a duplicate): logged for replay after a restart. */
  taken(deviceId: string, seq: number, ts: number | undefined, trusted: boolean): void;
}

export interface SeqStoreDeps {
  db: Database;
  /** Directory of the logs (under the data directory). */
  dir: string;
  logger: Logger;
  /** Checkpoint period (default 10 s): bounds the log replayed at start. */
  checkpointMs?: number;
  /** The journal's durable(): calls back once everything appended so far is on disk. Without it, lines are logged a turn later. */
  durable?: (done: (err?: Error) => void) => void;
}

export interface SeqStore extends SeqTrackers {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Writes the changed devices and drops the logs they cover (also run every checkpointMs). */
  checkpoint(): Promise<void>;
  /** For the journal's group commit: fdatasyncs the lines logged since the last one. */
  readonly participant: { dirty(): boolean; sync(): Promise<void> };
  /** How many readings were taken so far: a PUBACK's durable wait notes it when it starts… */
  mark(): number;
  /** …and, once the journal has them, logs the readings taken up to that mark; `done` (the PUBACK) once they are in the log. */
  release(upTo: number, done?: (err?: Error) => void): void;
}

/** Devices written per transaction during a checkpoint: each is a short pause, not one long one. */
const CHUNK = 250;
const LOG_RE = /^seq-(\d+)\.log$/;

export function createSeqStore(deps: SeqStoreDeps): SeqStore {
  const checkpointMs = deps.checkpointMs ?? 10_000;
  /** What ingest judges with: every reading taken, durable in the journal or not yet. */
  const trackers = new Map<string, SeqTracker>();
  /** Fed only with released lines (durable in the journal): what a checkpoint saves. */
  const durableTrackers = new Map<string, SeqTracker>();
  /** Checkpointed rows not yet asked for: parsed at a device's first message. */
  let saved = new Map<string, string>();
  let dirty = new Set<string>();
  /** Taken, not yet released: [id, seq, ts, trusted] per reading. */
  const pending: Array<[string, number, number | undefined, boolean]> = [];
  /** Readings taken before pending[0]. */
  let releasedCount = 0;
  let scheduled: NodeJS.Immediate | undefined;
  let fd: number | undefined;
  let logN = 0;
  let unsynced = false;
  /** Writes and fdatasyncs in flight per descriptor; one is closed only when it has none. */
  const busy = new Map<number, number>();
  const toClose = new Set<number>();
  /** Rotated logs with lines not yet fdatasync'ed: synced, then closed, by the next group commit. */
  const rotated: number[] = [];
  /** Released lines not yet handed to a write, and the reading count they reach. */
  let queued = '';
  let queuedUpTo = 0;
  let writing = false;
  /** Readings whose lines are in the log (the page cache); PUBACKs wait for theirs, in order. */
  let written = 0;
  const waiters: Array<[upTo: number, done: (err?: Error) => void]> = [];
  /** Bytes written to the current log. */
  let logBytes = 0;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;

  const logPath = (n: number): string => join(deps.dir, `seq-${n}.log`);
  const logs = (): number[] => readdirSync(deps.dir).map((f) => LOG_RE.exec(f)?.[1]).filter((n): n is string => n !== undefined).map(Number).sort((a, b) => a - b);

  function restore(id: string, row: string | undefined): SeqTracker {
    if (row !== undefined) {
      try {
        return SeqTracker.from(JSON.parse(row) as SeqSnapshot);
      } catch (err) {
        deps.logger.error({ err, deviceId: id }, 'unreadable re-send memory; starting afresh for this device');
      }
    }
    return new SeqTracker();
  }

  /** Both trackers of a device, restored from its checkpoint row at first use. */
  function load(id: string): void {
    if (trackers.has(id)) return;
    const row = saved.get(id);
    saved.delete(id);
    trackers.set(id, restore(id, row));
    durableTrackers.set(id, restore(id, row));
  }

  function tracker(id: string): SeqTracker {
    load(id);
    return trackers.get(id)!;
  }

  function hold(f: number): void {
    busy.set(f, (busy.get(f) ?? 0) + 1);
  }
  // An idle descriptor keeps its entry at 0 until it is closed: a Map that drops to no entries
  // shrinks, and deleting the only entry on every write made a new hash table each group commit,
  // referenced from the old generation (5 % of what outlived young-generation GC at 5,000/s).
  function letGo(f: number): void {
    const n = Math.max((busy.get(f) ?? 1) - 1, 0);
    busy.set(f, n);
    if (n === 0 && toClose.has(f)) {
      toClose.delete(f);
      busy.delete(f);
      closeSync(f);
    }
  }
  function closeWhenIdle(f: number): void {
    if ((busy.get(f) ?? 0) > 0) toClose.add(f);
    else {
      busy.delete(f);
      closeSync(f);
    }
  }

  /**
   * Logs the lines of the readings taken up to `upTo` (the journal holds them now); `done` once
   * they are in the log. The write goes through the thread pool: a write(2) on the event loop
   * waited for the log's fdatasync in flight on the same file (the page under writeback), which
   * held every PUBACK and alarm for a disk flush (40 ms a second in the firmware bench's profile).
   */
  function release(upTo: number, done?: (err?: Error) => void): void {
    const n = Math.min(upTo - releasedCount, pending.length);
    if (n > 0) {
      const batch = pending.splice(0, n);
      releasedCount += n;
      for (const [id, seq, ts, trusted] of batch) {
        queued += `${id}\t${seq}\t${ts ?? ''}\t${trusted ? 1 : 0}\n`;
        durableTrackers.get(id)!.seen(seq, ts, trusted);
        dirty.add(id);
      }
      queuedUpTo = releasedCount;
      if (fd === undefined) {
        queued = '';
        written = releasedCount;
      }
    }
    if (done) {
      if (!waiters.length && upTo <= written) done();
      else waiters.push([upTo, done]);
    }
    writeQueued();
  }

  function wake(err?: Error): void {
    while (waiters.length && (err || waiters[0]![0] <= written)) waiters.shift()![1](err);
  }

  function writeQueued(): void {
    if (writing || !queued || fd === undefined) return;
    const f = fd;
    const buf = Buffer.from(queued);
    const upTo = queuedUpTo;
    queued = '';
    writing = true;
    hold(f);
    let off = 0;
    const step = (err: Error | null, n: number): void => {
      if (!err && (off += n) < buf.length) {
        write(f, buf, off, buf.length - off, null, step);
        return;
      }
      writing = false;
      if (err) {
        deps.logger.error({ err, log: logPath(logN) }, 're-send memory: log write failed; PUBACKs held');
        letGo(f);
        wake(err);
        return;
      }
      if (f === fd) {
        logBytes += buf.length;
        unsynced = true;
      } else if (!rotated.includes(f) && !toClose.has(f)) rotated.push(f);
      letGo(f);
      written = upTo;
      wake();
      writeQueued();
    };
    write(f, buf, 0, buf.length, null, step);
  }

  /** Resolves once no log write is in flight or queued. */
  async function writesDone(): Promise<void> {
    while (writing || (queued && fd !== undefined)) await new Promise<void>((resolve) => release(releasedCount, () => resolve()));
  }

  /** Once a turn: ask the journal to say when this turn's readings are durable, then log them. */
  function requestRelease(): void {
    scheduled = undefined;
    const upTo = releasedCount + pending.length;
    if (deps.durable) deps.durable((err) => { if (!err) release(upTo); });
    else release(upTo);
  }

  function taken(id: string, seq: number, ts: number | undefined, trusted: boolean): void {
    load(id);
    pending.push([id, seq, ts, trusted]);
    scheduled ??= setImmediate(requestRelease);
  }

  function replay(n: number): number {
    let lines = 0;
    for (const line of readFileSync(logPath(n), 'utf8').split('\n')) {
      const [id, seq, ts, trusted] = line.split('\t');
      // A torn last line (a crash mid-write) is skipped: its PUBACK was never sent.
      if (!id || seq === undefined || trusted === undefined || !/^[01]$/.test(trusted)) continue;
      const args = [Number(seq), ts === '' || ts === undefined ? undefined : Number(ts), trusted === '1'] as const;
      tracker(id).seen(...args);
      durableTrackers.get(id)!.seen(...args);
      dirty.add(id);
      lines++;
    }
    return lines;
  }

  function openLog(n: number): void {
    if (fd !== undefined) {
      // Its last lines may be what a PUBACK waits for: synced in the next group commit beside the
      // new log (participant), not here — an fdatasync on the event loop held every device's
      // PUBACK and every alarm for the length of a disk flush every checkpoint (issue 15 point 6).
      // A write still on its way to it is synced the same way once it lands (writeQueued).
      if (unsynced) rotated.push(fd);
      else closeWhenIdle(fd);
    }
    fd = openSync(logPath(n), 'a');
    logN = n;
    logBytes = 0;
    unsynced = false;
  }

  function upsertChunk(ids: string[]): void {
    const up = deps.db.prepare('INSERT INTO ingest_seq (device_id, state, updated_at) VALUES (?, ?, ?) ON CONFLICT(device_id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at');
    const now = Date.now();
    deps.db.transaction(() => {
      for (const id of ids) {
        const t = durableTrackers.get(id);
        // The duplicates count is a statistic of the live tracker (re-sends change no state).
        if (t) up.run(id, JSON.stringify({ ...t.snapshot(), d: trackers.get(id)?.duplicates ?? 0 }), now);
      }
    })();
  }

  /**
   * Makes the chunks' commits durable before the logs they replace are deleted: the WAL file is
   * fdatasync'ed on the thread pool (SQLite's own writes through its descriptor are covered,
   * app/db.ts walParticipant). It was `synchronous = FULL` on the last chunk: the same flush,
   * but on the event loop.
   */
  async function syncCommits(): Promise<void> {
    if (deps.db.memory) return;
    const fh = await open(`${deps.db.name}-wal`, 'r');
    try {
      await fh.datasync();
    } finally {
      await fh.close();
    }
  }

  function closeRotated(): void {
    for (const old of rotated.splice(0)) closeWhenIdle(old);
  }

  async function checkpointOnce(): Promise<void> {
    // Lines from here on go to a new log; the old ones are covered once every changed device is saved.
    const covered = logs().filter((n) => n <= logN);
    openLog(logN + 1);
    const ids = [...dirty];
    dirty = new Set();
    for (let i = 0; i < ids.length; i += CHUNK) {
      upsertChunk(ids.slice(i, i + CHUNK));
      if (i + CHUNK < ids.length) await new Promise<void>((r) => setImmediate(r));
    }
    if (ids.length) await syncCommits();
    for (const n of covered) unlinkSync(logPath(n));
    // Their lines are in the synced checkpoint now: nothing of them is left to sync.
    closeRotated();
  }

  function checkpoint(): Promise<void> {
    running ??= checkpointOnce().finally(() => {
      running = undefined;
    });
    return running;
  }

  return {
    tracker,
    taken,
    checkpoint,
    mark: () => releasedCount + pending.length,
    release,
    participant: {
      dirty: () => unsynced || rotated.length > 0,
      sync() {
        const old = rotated.splice(0);
        const fds = unsynced && fd !== undefined ? [...old, fd] : old;
        unsynced = false;
        if (!fds.length) return Promise.resolve();
        // Rotated logs are closed once nothing is on the disk for them.
        for (const f of old) toClose.add(f);
        return Promise.all(fds.map((f) => {
          hold(f);
          return new Promise<void>((resolve, reject) => fdatasync(f, (err) => {
            letGo(f);
            if (err) reject(err);
            else resolve();
          }));
        })).then(() => undefined);
      },
    },
    async start() {
      mkdirSync(deps.dir, { recursive: true });
      const rows = deps.db.prepare('SELECT device_id, state FROM ingest_seq').all() as Array<{ device_id: string; state: string }>;
      saved = new Map(rows.map((r) => [r.device_id, r.state]));
      const found = logs();
      let lines = 0;
      for (const n of found) lines += replay(n);
      if (found.length) deps.logger.info({ logs: found.length, lines, devices: dirty.size }, 're-send memory: replayed what was taken since the last checkpoint');
      openLog((found.at(-1) ?? 0) + 1);
      timer = setInterval(() => {
        checkpoint().catch((err: unknown) => deps.logger.error({ err }, 're-send memory checkpoint failed; the log keeps growing until one succeeds'));
      }, checkpointMs);
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      await running;
      // Stopped in order after the journal, which made everything it was handed durable.
      if (scheduled) clearImmediate(scheduled);
      scheduled = undefined;
      release(releasedCount + pending.length);
      await writesDone();
      await checkpoint();
      if (fd !== undefined) closeWhenIdle(fd);
      fd = undefined;
      // Everything is in the checkpoint: an empty log is not left behind.
      if (logBytes === 0) unlinkSync(logPath(logN));
    },
  };
}
