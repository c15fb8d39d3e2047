// The SQL store's schema, as an ordered list of migrations (issue 18 point 3). openDatabase()
// applies the ones a database has not seen yet, all in one transaction, and records the version
// in SQLite's `PRAGMA user_version`; a database from a newer release is refused (WF_DB_TOO_NEW).
//
// To change the schema, ADD ONE ENTRY at the end of MIGRATIONS (never edit or reorder a released
// one, never reuse a number):
//
//   { version: 3, name: 'alerts: incidents.pseudonymised_at', sql: `
//       ALTER TABLE alert_incidents ADD COLUMN pseudonymised_at INTEGER;
//       CREATE INDEX alert_incidents_resolved ON alert_incidents(resolved_at);` },
//
// - `sql` runs with db.exec(); for work SQL cannot express, give `up(db)` instead.
// - Say exactly what changes: no `IF NOT EXISTS` (only the baseline needs it, see 0001).
// - Everything runs inside one transaction: no `PRAGMA foreign_keys`, no VACUUM. To rebuild a
//   table, follow https://sqlite.org/lang_altertable.html#otheralter (create new, copy, drop,
//   rename) with foreign keys left as they are.
// - Long SQL gets its own file beside this one (NNNN-what.ts exporting a string), like 0001.
// - Then run `npx vitest run tests/migrations.test.ts`: it upgrades the 0.1.0 fixture database
//   through every migration and checks a fresh database ends up with the same schema.
import type { Database } from 'better-sqlite3';
import { BASELINE_0_1_0 } from './0001-baseline.ts';
import { INSTALLATION } from './0002-installation.ts';

export interface Migration {
  /** 1, 2, 3, … in order, without gaps: the database's user_version after it ran. */
  readonly version: number;
  /** `module: what changes`, shown in the log when it is applied. */
  readonly name: string;
  readonly sql?: string;
  readonly up?: (db: Database) => void;
}

export const MIGRATIONS: readonly Migration[] = Object.freeze([
  { version: 1, name: 'baseline: the schema of release 0.1.0', sql: BASELINE_0_1_0 },
  { version: 2, name: 'app: wf_meta with installed_at', sql: INSTALLATION },
]);
