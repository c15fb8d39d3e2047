// One way to run a store's queries on either database (issue 21 point 2). Each store builds its
// queries once with kysely, typed against storage/tables.ts, and hands them to a runner:
//
// - PostgreSQL: kysely's PostgresDialect over a `pg` pool, asynchronous as the network is.
// - SQLite: kysely only compiles (its DummyDriver executes nothing); the compiled SQL runs on
//   better-sqlite3 synchronously, its statements prepared once per SQL text. A batch runs inside
//   one synchronous better-sqlite3 transaction, so a transaction never spans an `await`: the
//   handle can be the one the embedded alarm path writes on, with nothing of ours interleaved in
//   its transactions or holding the file's write lock while the event loop is elsewhere (kysely's
//   own SqliteDialect would hold BEGIN…COMMIT across awaits).
//
// Why kysely: one typed query per store serves both dialects (it compiles `?` or `$1`, quotes
// and RETURNING for each), the compiler checks column names against the table types, and it
// runs no code of its own at runtime beyond compiling. Where the dialects really differ (a JSON
// list on SQLite against an array on PostgreSQL, FOR UPDATE SKIP LOCKED) a store branches on
// `dialect`, in the open. An ORM would own the schema and the connection; raw SQL twice per
// store would let the two copies drift.
import type { Database, Statement } from 'better-sqlite3';
import {
  DummyDriver, Kysely, PostgresDialect, SqliteAdapter, SqliteIntrospector, SqliteQueryCompiler, type Compilable, type CompiledQuery,
} from 'kysely';
import pg from 'pg';
import type { SqlDialect } from '../contracts/storage.ts';
import type { Tables } from './tables.ts';

export interface SqlRunner {
  readonly dialect: SqlDialect;
  /** Builds queries; never executes them (run them through the methods below). */
  readonly q: Kysely<Tables>;
  /** The rows of one query. */
  all<R>(query: Compilable<R> | CompiledQuery<R>): Promise<R[]>;
  /** One statement; the rows it changed. */
  run(query: Compilable<unknown> | CompiledQuery<unknown>): Promise<number>;
  /**
   * Statements in one transaction, in order: all or none. For each, the rows it returned
   * (SELECT, RETURNING) and the rows it changed.
   */
  batch(queries: ReadonlyArray<Compilable<unknown> | CompiledQuery<unknown>>): Promise<BatchResult[]>;
  /**
   * Reads that must agree with one another (a whole registry: no device whose site another node
   * deleted between two SELECTs): one read-only transaction on one snapshot. PostgreSQL's default
   * READ COMMITTED takes a snapshot per statement, so this one is REPEATABLE READ; on SQLite (WAL)
   * a transaction's reads share one snapshot. The rows of each query.
   */
  snapshot(queries: ReadonlyArray<Compilable<unknown> | CompiledQuery<unknown>>): Promise<unknown[][]>;
  /**
   * A transaction whose later statements depend on earlier results (insert a report, and only if
   * it is new, its deliveries). The body is a generator: it `yield*`s tx.all()/tx.run() and gets
   * their results back, and can await nothing else, so on SQLite the runner drives it to the end
   * inside one synchronous IMMEDIATE transaction (no await while the write lock is held, as for
   * batch()), and on PostgreSQL inside one transaction whose only waits are its own statements.
   * A failing statement or a throw in the body rolls everything back and rejects.
   */
  transaction<T>(body: () => TxBody<T>): Promise<T>;
  /**
   * PostgreSQL LISTEN on a connection of its own (a pooled one goes back to serve queries, and
   * would stop hearing); resolves once listening. When that connection drops it is opened again
   * (after 100 ms, doubling up to 5 s), and `onGap` is called once it listens again: what was
   * notified in between is lost. SQLite has no notifications: resolves at once and hears nothing.
   * The result stops listening.
   */
  listen(channel: string, onMessage: (payload: string) => void, onGap: () => void): Promise<() => Promise<void>>;
  /** Closes what the runner opened (the PostgreSQL pool); a SQLite handle stays its owner's. */
  close(): Promise<void>;
}

/** One statement of a transaction body, yielded to the runner. */
export interface TxStep {
  readonly query: CompiledQuery<unknown>;
  readonly want: 'rows' | 'changes';
}

export type TxBody<T> = Generator<TxStep, T, unknown>;

/** The statements of a transaction body: `const rows = yield* tx.all(query)`, typed as the query. */
export const tx = {
  *all<R>(query: Compilable<R> | CompiledQuery<R>): Generator<TxStep, R[], unknown> {
    return (yield { query: compiled(query), want: 'rows' }) as R[];
  },
  *run(query: Compilable<unknown> | CompiledQuery<unknown>): Generator<TxStep, number, unknown> {
    return (yield { query: compiled(query), want: 'changes' }) as number;
  },
};

/** Runs a body's steps through `exec`, synchronously or not; a failure ends the generator (its finally blocks run). */
function drive<T>(body: () => TxBody<T>, exec: (q: CompiledQuery<unknown>) => BatchResult): T;
function drive<T>(body: () => TxBody<T>, exec: (q: CompiledQuery<unknown>) => Promise<BatchResult>): Promise<T>;
function drive<T>(body: () => TxBody<T>, exec: (q: CompiledQuery<unknown>) => BatchResult | Promise<BatchResult>): T | Promise<T> {
  const g = body();
  const answer = (step: TxStep, r: BatchResult) => (step.want === 'rows' ? r.rows : r.changes);
  let next: IteratorResult<TxStep, T>;
  try {
    next = g.next();
    while (!next.done) {
      const r = exec(next.value.query);
      if (r instanceof Promise) return continueAsync(g, next.value, r, exec, answer);
      next = g.next(answer(next.value, r));
    }
    return next.value;
  } catch (err) {
    g.return(undefined as T);
    throw err;
  }
}

async function continueAsync<T>(
  g: TxBody<T>, first: TxStep, pending: Promise<BatchResult>,
  exec: (q: CompiledQuery<unknown>) => BatchResult | Promise<BatchResult>, answer: (step: TxStep, r: BatchResult) => unknown,
): Promise<T> {
  try {
    let next = g.next(answer(first, await pending));
    while (!next.done) next = g.next(answer(next.value, await exec(next.value.query)));
    return next.value;
  } catch (err) {
    g.return(undefined as T);
    throw err;
  }
}

export interface BatchResult {
  readonly rows: unknown[];
  readonly changes: number;
}

function compiled<R>(query: Compilable<R> | CompiledQuery<R>): CompiledQuery<R> {
  return 'compile' in query ? query.compile() : query;
}

const MAX_STATEMENTS = 200;

/** A runner on an open better-sqlite3 database whose schema app/migrations/ maintains. */
export function sqliteRunner(db: Database): SqlRunner {
  const q = new Kysely<Tables>({
    dialect: {
      createAdapter: () => new SqliteAdapter(),
      createDriver: () => new DummyDriver(),
      createIntrospector: (k) => new SqliteIntrospector(k),
      createQueryCompiler: () => new SqliteQueryCompiler(),
    },
  });
  // Prepared once per SQL text, the most recently used kept. Bounded: a multi-row INSERT's text
  // differs with its row count, so a store writing batches of any size would otherwise keep one
  // statement per size.
  const statements = new Map<string, Statement<unknown[]>>();
  const prepare = (sql: string) => {
    let s = statements.get(sql);
    if (s) {
      statements.delete(sql);
    } else {
      s = db.prepare<unknown[]>(sql);
      if (statements.size >= MAX_STATEMENTS) statements.delete(statements.keys().next().value!);
    }
    statements.set(sql, s);
    return s;
  };
  const exec = (query: Compilable<unknown> | CompiledQuery<unknown>): BatchResult => {
    const c = compiled(query);
    const s = prepare(c.sql);
    // A statement that returns rows (RETURNING) cannot be run(); its changes are its rows.
    const args = c.parameters as unknown[];
    if (!s.reader) return { rows: [], changes: s.run(...args).changes };
    const rows = s.all(...args);
    return { rows, changes: rows.length };
  };
  // Every method is async, so a SQLite error is a rejection, as it is on PostgreSQL.
  return {
    dialect: 'sqlite',
    q,
    async all<R>(query: Compilable<R> | CompiledQuery<R>) {
      const c = compiled(query);
      return prepare(c.sql).all(...(c.parameters as unknown[])) as R[];
    },
    async run(query) {
      return exec(query).changes;
    },
    async batch(queries) {
      return db.transaction(() => queries.map(exec)).immediate();
    },
    async snapshot(queries) {
      return db.transaction(() => queries.map((query) => exec(query).rows)).deferred();
    },
    async transaction(body) {
      return db.transaction(() => drive(body, exec)).immediate();
    },
    async listen() {
      return async () => undefined;
    },
    async close() {
      statements.clear();
    },
  };
}

// BIGINT (int8) and COUNT(*) arrive from pg as strings, since they can exceed 2^53. Ours are ms
// timestamps and row ids, far below it: numbers, as better-sqlite3 gives them. NUMERIC stays text.
const INT8_OID = 20;
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

export interface PostgresOptions {
  connectionString: string;
  /** Connections in the pool (default 10). */
  max?: number;
  /**
   * Told when an idle pooled connection fails (the server restarted, the network dropped it).
   * The pool discards that connection and opens another for the next query, which fails on its
   * own if the server is still away; without a listener, pg's 'error' event would crash the process.
   */
  onIdleError?: (err: Error) => void;
}

/** A runner on its own `pg` pool; the schema comes from storage/postgres-migrations.ts. */
export function postgresRunner(opts: PostgresOptions): SqlRunner {
  const pool = new pg.Pool({ connectionString: opts.connectionString, max: opts.max ?? 10, types });
  pool.on('error', (err) => opts.onIdleError?.(err));
  const q = new Kysely<Tables>({ dialect: new PostgresDialect({ pool }) });
  return {
    dialect: 'postgres',
    q,
    async all<R>(query: Compilable<R> | CompiledQuery<R>) {
      return (await q.executeQuery(compiled(query))).rows;
    },
    async run(query) {
      return Number((await q.executeQuery(compiled(query))).numAffectedRows ?? 0n);
    },
    async batch(queries) {
      return q.transaction().execute(async (tx) => {
        const out: BatchResult[] = [];
        for (const query of queries) {
          const r = await tx.executeQuery(compiled(query));
          out.push({ rows: r.rows, changes: Number(r.numAffectedRows ?? BigInt(r.rows.length)) });
        }
        return out;
      });
    },
    async snapshot(queries) {
      return q.transaction().setIsolationLevel('repeatable read').setAccessMode('read only').execute(async (tx) => {
        const out: unknown[][] = [];
        for (const query of queries) out.push((await tx.executeQuery(compiled(query))).rows);
        return out;
      });
    },
    async transaction(body) {
      return q.transaction().execute((t) => drive(body, async (query) => {
        const r = await t.executeQuery(query);
        return { rows: r.rows, changes: Number(r.numAffectedRows ?? BigInt(r.rows.length)) };
      }));
    },
    listen: (channel, onMessage, onGap) => listenOn(opts, channel, onMessage, onGap),
    async close() {
      await q.destroy();
    },
  };
}

const RELISTEN_FIRST_MS = 100;
const RELISTEN_MAX_MS = 5_000;

async function listenOn(opts: PostgresOptions, channel: string, onMessage: (payload: string) => void, onGap: () => void): Promise<() => Promise<void>> {
  let client: pg.Client | undefined;
  let closed = false;
  let retry: NodeJS.Timeout | undefined;
  let delay = RELISTEN_FIRST_MS;

  const connect = async (): Promise<pg.Client> => {
    const c = new pg.Client({ connectionString: opts.connectionString, types });
    c.on('notification', (n) => {
      if (n.channel === channel && n.payload !== undefined) onMessage(n.payload);
    });
    // Set before connect(): a failure during it is its rejection, after it an event to handle.
    c.on('error', (err) => {
      if (client === c) opts.onIdleError?.(err);
      lost(c);
    });
    c.on('end', () => lost(c));
    try {
      await c.connect();
      await c.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
    } catch (err) {
      c.removeAllListeners('end');
      await c.end().catch(() => undefined);
      throw err;
    }
    return c;
  };
  const lost = (c: pg.Client): void => {
    if (client !== c || closed) return;
    client = undefined;
    void c.end().catch(() => undefined);
    again();
  };
  const again = (): void => {
    retry = setTimeout(() => {
      retry = undefined;
      connect().then(
        (c) => {
          if (closed) return void c.end().catch(() => undefined);
          client = c;
          delay = RELISTEN_FIRST_MS;
          onGap();
        },
        () => {
          delay = Math.min(delay * 2, RELISTEN_MAX_MS);
          if (!closed) again();
        },
      );
    }, delay);
  };

  client = await connect();
  return async () => {
    closed = true;
    if (retry) clearTimeout(retry);
    const c = client;
    client = undefined;
    await c?.end().catch(() => undefined);
  };
}
