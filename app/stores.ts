// The stores behind the storage seam (issue 21 point 2), on the database the config names: the
// embedded SQLite file by default, or the PostgreSQL every node shares when storage.postgresUrl is
// set: the console's users and sessions, the registry (the alarm path reads it from memory, only
// its writes wait on the database), the alerts' incidents, escalations, outbox and reports
// (alerts/ runs its SQL through `runner`), and the dead letters (written behind the device path). Nothing on the device path waits on them: a reading's
// PUBACK waits for the journal, and a finding reaches alerts/ after it, off the hot path.
import type { Logger } from 'pino';
import type { Config } from '../contracts/config.ts';
import { WatchfireError } from '../contracts/errors.ts';
import type { RegistryStorage, SqlDialect, UserStorage } from '../contracts/storage.ts';
import { createRegistryStorage, createUserStorage, migratePostgres, postgresRunner, sqliteRunner, type SqlRunner } from '../storage/index.ts';
import type { Db } from './db.ts';

export interface SharedStores {
  readonly dialect: SqlDialect;
  /** Console users and sessions (dashboards/users.ts). */
  readonly users: UserStorage;
  /** Where alerts/ runs its SQL: the embedded file, or the PostgreSQL every node shares. */
  readonly runner: SqlRunner;
  /** The registry's durable copy (registry/registry.ts keeps it in memory and follows it). */
  readonly registry: RegistryStorage;
  /**
   * An installation-wide value (wf_meta): on SQLite `local` (this node's own, kept in its file);
   * on PostgreSQL the one every node shares — the first node to ask stores its own `local`, so an
   * installation moving onto PostgreSQL keeps it, and every node then uses the one stored.
   */
  shared(key: string, local: string): Promise<string>;
  /** Closes the PostgreSQL pool; the SQLite handle stays its owner's. */
  close(): Promise<void>;
}

async function sharedValue(runner: SqlRunner, key: string, local: string): Promise<string> {
  if (runner.dialect === 'sqlite') return local;
  await runner.run(runner.q.insertInto('wf_meta').values({ key, value: local }).onConflict((oc) => oc.column('key').doNothing()));
  const [row] = await runner.all(runner.q.selectFrom('wf_meta').select('value').where('key', '=', key));
  if (!row) throw new WatchfireError('WF_DB_POSTGRES', `wf_meta.${key} is missing on PostgreSQL right after it was stored`);
  return row.value;
}

export interface SharedStoresDeps {
  config: Pick<Config, 'storage'>;
  /** The embedded database, used when no PostgreSQL is configured. */
  db: Db;
  logger: Logger;
}

/** Opens them: on PostgreSQL this connects and migrates (several nodes may do so at once). */
export async function openSharedStores(deps: SharedStoresDeps): Promise<SharedStores> {
  const url = deps.config.storage.postgresUrl;
  let runner: SqlRunner;
  if (url) {
    runner = postgresRunner({
      connectionString: url,
      onIdleError: (err) => deps.logger.warn({ err: err.message, code: 'WF_DB_POSTGRES' }, 'a pooled PostgreSQL connection failed; the next query opens another'),
    });
    try {
      const r = await migratePostgres(runner);
      if (r.applied.length) deps.logger.info({ from: r.from, to: r.to, applied: r.applied }, 'PostgreSQL schema migrated');
    } catch (err) {
      await runner.close();
      if (err instanceof WatchfireError) throw err;
      // The URL's password stays out of the message: only where it points.
      const where = new URL(url);
      throw new WatchfireError('WF_DB_POSTGRES', `Cannot use the PostgreSQL at ${where.hostname}:${where.port || 5432}${where.pathname} (storage.postgresUrl): ${(err as Error).message}`);
    }
  } else {
    runner = sqliteRunner(deps.db);
  }
  return {
    dialect: runner.dialect, users: createUserStorage({ sql: runner }), registry: createRegistryStorage({ sql: runner }), runner,
    shared: (key, local) => sharedValue(runner, key, local),
    close: () => runner.close(),
  };
}
