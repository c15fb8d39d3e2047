// Applies pending migrations to an open database. One IMMEDIATE transaction for all of them: a
// failure leaves the database exactly as it was (the version included, since user_version lives
// in the database header, which SQLite writes inside the transaction), and a second process
// opening the same file at the same moment waits instead of migrating twice.
import type { Database } from 'better-sqlite3';
import { WatchfireError } from '../../contracts/errors.ts';
import { MIGRATIONS, type Migration } from './index.ts';

export interface MigrationResult {
  from: number;
  to: number;
  applied: string[];
}

function checkList(list: readonly Migration[]): void {
  list.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migration list out of order: entry ${i} has version ${m.version}, expected ${i + 1}`);
    if ((m.sql === undefined) === (m.up === undefined)) throw new Error(`migration ${m.version} needs exactly one of sql and up`);
  });
}

export function schemaVersion(db: Database): number {
  return db.pragma('user_version', { simple: true }) as number;
}

/** The newest schema version this release knows. */
export function latestVersion(list: readonly Migration[] = MIGRATIONS): number {
  return list.length;
}

export function migrateDatabase(db: Database, list: readonly Migration[] = MIGRATIONS): MigrationResult {
  checkList(list);
  const latest = latestVersion(list);
  const tooNew = (v: number) => new WatchfireError('WF_DB_TOO_NEW',
    `The database is at schema version ${v}, newer than this release knows (${latest}): it was written by a newer Watchfire. ` +
    'Run that release again, or restore a backup taken before the upgrade (wf restore).');
  const before = schemaVersion(db);
  if (before > latest) throw tooNew(before);
  if (before === latest) return { from: before, to: before, applied: [] };
  const run = db.transaction((): MigrationResult => {
    const from = schemaVersion(db);
    if (from > latest) throw tooNew(from);
    const applied: string[] = [];
    for (const m of list.slice(from)) {
      try {
        if (m.sql !== undefined) db.exec(m.sql);
        else m.up!(db);
      } catch (err) {
        throw new WatchfireError('WF_DB_MIGRATION', `Migration ${m.version} (${m.name}) failed, nothing was changed: ${(err as Error).message}`);
      }
      db.pragma(`user_version = ${m.version}`);
      applied.push(`${m.version}: ${m.name}`);
    }
    return { from, to: latest, applied };
  });
  return run.immediate();
}
