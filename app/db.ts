// The embedded SQL store: one SQLite file under the data directory, opened well and brought to
// the current schema by the ordered migration list in app/migrations/ (issue 18 point 3).
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';
import type { DurabilityParticipant } from '../contracts/journal.ts';
import { migrateDatabase, type MigrationResult } from './migrations/run.ts';

export type Db = Database.Database;

export interface OpenOptions {
  /**
   * Checkpoint the WAL from a worker thread on its own connection instead of inside commits.
   * SQLite's automatic checkpoint copies the WAL into the main file during whichever commit
   * crosses 1,000 pages; on the alarm path that put a 10+ ms tail on an incident's commit
   * (bench/alerts.ts: p99 13.8 ms with it, 8.1 ms without). A PASSIVE checkpoint from another
   * connection never blocks this one's writers.
   */
  backgroundCheckpoint?: boolean;
  /** Apply pending migrations (default true); false opens the file as it is (backup, inspection). */
  migrate?: boolean;
  /** Told what the migrations did (the composition root logs it). */
  onMigrated?: (result: MigrationResult) => void;
}

export function openDatabase(file: string, opts: OpenOptions = {}): Db {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const db = new Database(file);
  // WAL with synchronous=NORMAL: a commit is in the WAL file (the OS's page cache) when it
  // returns, so it survives a process crash, and a write costs microseconds: incident state is
  // written on the alarm path without waiting on a disk flush. A power loss could roll back the
  // last commits, so the WAL is synced with the journal's group commit before a PUBACK
  // (walParticipant below): then an acknowledged alarm's incident survives a power loss too.
  // FULL would put an fsync inside every commit on the alarm path instead (issue 15).
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  if (opts.backgroundCheckpoint && file !== ':memory:') db.pragma('wal_autocheckpoint = 0');
  if (opts.migrate !== false) {
    try {
      const result = migrateDatabase(db);
      opts.onMigrated?.(result);
    } catch (err) {
      db.close();
      throw err;
    }
  }
  return db;
}

/** When this installation began (migration 2 records it), in ms. */
export function installedAt(db: Db): number | undefined {
  const row = db.prepare("SELECT value FROM wf_meta WHERE key = 'installed_at'").get() as { value: string } | undefined;
  return row ? Number(row.value) : undefined;
}

/**
 * Issue 19 point 5: the key that signs one-tap acknowledge links when the config names none —
 * made once, kept in wf_meta, so links in messages already sent still work after a restart.
 */
export function ackLinkKey(db: Db): string {
  db.prepare("INSERT OR IGNORE INTO wf_meta (key, value) VALUES ('ack_link_key', ?)").run(randomBytes(32).toString('base64url'));
  return (db.prepare("SELECT value FROM wf_meta WHERE key = 'ack_link_key'").get() as { value: string }).value;
}

// An eval'd CommonJS worker: no TypeScript loader is needed inside the thread.
const CHECKPOINT_WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.module);
const db = new Database(workerData.file);
db.pragma('busy_timeout = 1000');
const timer = setInterval(() => {
  try { db.pragma('wal_checkpoint(PASSIVE)'); } catch (err) { parentPort.postMessage(String(err)); }
}, workerData.everyMs);
parentPort.on('message', (m) => { if (m === 'stop') { clearInterval(timer); try { db.pragma('wal_checkpoint(PASSIVE)'); } catch {} db.close(); parentPort.close(); } });
`;

/** Runs PASSIVE WAL checkpoints every `everyMs` on a worker thread; stop() ends it. */
export function startCheckpointer(file: string, opts: { everyMs?: number; onError?: (msg: string) => void } = {}) {
  const worker = new Worker(CHECKPOINT_WORKER, {
    eval: true,
    workerData: { file, everyMs: opts.everyMs ?? 1000, module: createRequire(import.meta.url).resolve('better-sqlite3') },
  });
  worker.on('message', (m: string) => opts.onError?.(m));
  worker.on('error', (err) => opts.onError?.(String(err)));
  worker.unref();
  return {
    async stop(): Promise<void> {
      const exited = new Promise<void>((res) => worker.once('exit', () => res()));
      // An unref'd worker does not keep the process alive: awaiting its exit with nothing else
      // pending would end the process mid-stop (exit code 13 in bench/alerts.ts).
      worker.ref();
      worker.postMessage('stop');
      await exited;
    },
  };
}

/**
 * The SQLite WAL as a participant of the journal's group commit (contracts/journal.ts): when the
 * connection committed anything since the last sync, the WAL file is fdatasync'ed beside the
 * journal, so the PUBACK of an alarm also means its incident (and outbox rows) are on disk.
 * fdatasync(2) flushes the file, not the descriptor: SQLite's own writes through its descriptor
 * are covered. The WAL keeps its inode while the database is open (a checkpoint rewinds it).
 */
export function walParticipant(db: Db, file: string): DurabilityParticipant & { close(): Promise<void> } {
  const changes = db.prepare('SELECT total_changes()').pluck();
  let synced = changes.get() as number;
  let fh: FileHandle | undefined;
  return {
    dirty: () => (changes.get() as number) !== synced,
    async sync() {
      const upTo = changes.get() as number;
      fh ??= await open(`${file}-wal`, 'r');
      await fh.datasync();
      synced = upTo;
    },
    async close() {
      await fh?.close();
      fh = undefined;
    },
  };
}
