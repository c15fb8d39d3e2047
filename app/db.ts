// The embedded SQL store: one SQLite file under the data directory. Each module owns its tables
// and creates them with its own migrate(db); this file only opens the database well.
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

export type Db = Database.Database;

export function openDatabase(file: string): Db {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const db = new Database(file);
  // WAL with synchronous=NORMAL: commits survive a process crash, and a write costs microseconds,
  // so incident state can be written on the alarm path without waiting on a disk flush.
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  return db;
}
