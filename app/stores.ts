// The stores behind the storage seam (issue 21 point 2), on the database the config names: the
// embedded SQLite file by default, or the PostgreSQL every node shares when storage.postgresUrl is
// set. Only stores off the alarm path are chosen here; the alarm path's stores stay synchronous
// on SQLite (DESIGN.md: alarm → incident never waits on storage), whatever is configured. The
// registry is here: the alarm path reads it from memory, only its writes wait on the database.
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
  /** The registry's durable copy (registry/registry.ts keeps it in memory and follows it). */
  readonly registry: RegistryStorage;
  /** Closes the PostgreSQL pool; the SQLite handle stays its owner's. */
  close(): Promise<void>;
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
  return { dialect: runner.dialect, users: createUserStorage({ sql: runner }), registry: createRegistryStorage({ sql: runner }), close: () => runner.close() };
}
