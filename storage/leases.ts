// Leases behind the storage seam (contracts/storage.ts): one row per duty; taking, renewing and
// taking over are one upsert, atomic on both databases (PostgreSQL's ON CONFLICT locks the row, so
// two nodes racing for a free lease are serialised; SQLite has one writer).
import { sql } from 'kysely';
import type { Lease, LeaseStorage } from '../contracts/storage.ts';
import type { SqlRunner } from './sql.ts';

export interface LeaseStorageDeps {
  sql: SqlRunner;
}

export function createLeaseStorage(deps: LeaseStorageDeps): LeaseStorage {
  const { q } = deps.sql;

  return {
    async acquire(name, holder, now, ttlMs) {
      if (!(ttlMs > 0)) throw new RangeError(`ttlMs must be > 0, got ${ttlMs}`);
      const upsert = q.insertInto('wf_leases').values({ name, holder, term: 1, expires_at: now + ttlMs })
        .onConflict((oc) => oc.column('name')
          .doUpdateSet((eb) => ({
            holder: eb.ref('excluded.holder'),
            expires_at: eb.ref('excluded.expires_at'),
            // The same holder renews within its term; anyone else taking over starts the next.
            term: sql<number>`CASE WHEN wf_leases.holder = excluded.holder THEN wf_leases.term ELSE wf_leases.term + 1 END`,
          }))
          // Only the holder itself, or anyone once it expired. An expired lease renewed by its old
          // holder keeps its term: nobody else held it meanwhile.
          .where((eb) => eb.or([eb('wf_leases.holder', '=', eb.ref('excluded.holder')), eb('wf_leases.expires_at', '<=', now)])))
        .returning(['holder', 'term', 'expires_at']);
      const [r] = await deps.sql.all(upsert);
      return r ? { holder: r.holder, term: r.term, expiresAt: r.expires_at } : undefined;
    },

    async release(name, holder) {
      // Expired rather than deleted: the row keeps its term, so the next holder's is still higher.
      return (await deps.sql.run(q.updateTable('wf_leases').set({ expires_at: 0 }).where('name', '=', name).where('holder', '=', holder).where('expires_at', '>', 0))) > 0;
    },

    async current(name, now) {
      const [r] = await deps.sql.all(q.selectFrom('wf_leases').selectAll().where('name', '=', name).where('expires_at', '>', now));
      return r ? ({ holder: r.holder, term: r.term, expiresAt: r.expires_at } satisfies Lease) : undefined;
    },
  };
}
