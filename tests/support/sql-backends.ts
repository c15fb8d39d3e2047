// The databases the storage contract suites run every case against (issue 21 point 2): the
// embedded SQLite file, migrated by app/migrations/ as the product opens it, and a real
// PostgreSQL (tests/support/postgres.ts) migrated by storage/postgres-migrations.ts. Each case
// gets a database of its own; `another()` is a second connection to it, as a second node has.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { openDatabase, type Db } from '../../app/db.ts';
import { migratePostgres, postgresRunner, sqliteRunner, type SqlRunner } from '../../storage/index.ts';
import { startTestPostgres, type TestPostgres } from './postgres.ts';

export interface TestDatabase {
  readonly runner: SqlRunner;
  /** Where it is: a file for SQLite, a postgres:// URL. */
  readonly url: string;
  /** A second connection (pool) to the same database. */
  another(): SqlRunner;
  /** Raw SQL on the database, around the store (to plant a row the store would never write). */
  exec(sql: string): Promise<void>;
  /** Raw SQL's rows, on a connection of its own. */
  query<R extends Record<string, unknown>>(sql: string): Promise<R[]>;
  /** Column name → nullable, per table: the schema as the database reports it. */
  columns(table: string): Promise<Map<string, boolean>>;
  /** The names of the table's declared indexes (not those behind PRIMARY KEY or UNIQUE), sorted. */
  indexes(table: string): Promise<string[]>;
  /** For SQLite: the better-sqlite3 handle, as the embedded product holds it. */
  readonly sqlite?: Db;
}

export interface SqlBackend {
  readonly name: 'SQLite' | 'PostgreSQL';
  setup(): Promise<void>;
  open(): Promise<TestDatabase>;
  /** Closes what open() opened and stops the server. */
  teardown(): Promise<void>;
}

function sqliteBackend(): SqlBackend {
  let dir = '';
  let n = 0;
  const closers: Array<() => void> = [];
  return {
    name: 'SQLite',
    async setup() {
      dir = await mkdtemp(join(tmpdir(), 'wf-sqlstore-'));
    },
    async open() {
      const file = join(dir, `s${++n}.db`);
      const db = openDatabase(file);
      closers.push(() => db.close());
      return {
        url: file,
        runner: sqliteRunner(db),
        sqlite: db,
        another() {
          const other = openDatabase(file);
          closers.push(() => other.close());
          return sqliteRunner(other);
        },
        async exec(sql) {
          db.exec(sql);
        },
        async query<R>(sql: string) {
          return db.prepare(sql).all() as R[];
        },
        async columns(table) {
          const rows = db.prepare(`SELECT name, "notnull" AS nn, pk FROM pragma_table_info(?)`).all(table) as Array<{ name: string; nn: number; pk: number }>;
          // A SQLite INTEGER PRIMARY KEY is the rowid: never null, whatever the declaration says.
          return new Map(rows.map((r) => [r.name, r.nn === 0 && r.pk === 0]));
        },
        async indexes(table) {
          // sql IS NULL: the automatic index of a PRIMARY KEY or UNIQUE constraint.
          const rows = db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL ORDER BY name").all(table) as Array<{ name: string }>;
          return rows.map((r) => r.name);
        },
      };
    },
    async teardown() {
      for (const c of closers.splice(0)) c();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

const TEMPLATE = 'wf_migrated';

function postgresBackend(): SqlBackend {
  let server: TestPostgres | undefined;
  const runners: SqlRunner[] = [];
  const track = (r: SqlRunner) => (runners.push(r), r);
  return {
    name: 'PostgreSQL',
    async setup() {
      server = await startTestPostgres();
      // Migrated once, copied per case: a copy costs about half of a migration run.
      const template = postgresRunner({ connectionString: await server.createDatabase({ name: TEMPLATE }) });
      await migratePostgres(template);
      await template.close();
    },
    async open() {
      const url = await server!.createDatabase({ template: TEMPLATE });
      const runner = track(postgresRunner({ connectionString: url }));
      const query = async <R extends pg.QueryResultRow>(text: string, values: unknown[] = []) => {
        const client = new pg.Client({ connectionString: url });
        await client.connect();
        try {
          return (await client.query<R>(text, values)).rows;
        } finally {
          await client.end();
        }
      };
      return {
        url,
        runner,
        another: () => track(postgresRunner({ connectionString: url })),
        async exec(sql) {
          await query(sql);
        },
        query: <R extends Record<string, unknown>>(sql: string) => query<R>(sql),
        async columns(table) {
          const rows = await query<{ column_name: string; is_nullable: string }>(
            'SELECT column_name, is_nullable FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1', [table]);
          return new Map(rows.map((r) => [r.column_name, r.is_nullable === 'YES']));
        },
        async indexes(table) {
          const rows = await query<{ indexname: string }>(
            `SELECT i.indexname FROM pg_indexes i WHERE i.schemaname = current_schema() AND i.tablename = $1
               AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname) ORDER BY i.indexname`, [table]);
          return rows.map((r) => r.indexname);
        },
      };
    },
    async teardown() {
      for (const r of runners.splice(0)) await r.close();
      await server?.stop();
    },
  };
}

export function sqlBackends(): SqlBackend[] {
  return [sqliteBackend(), postgresBackend()];
}

/** The error a promise rejects with (the contract suites compare codes and messages); fails if it resolves. */
export async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}
