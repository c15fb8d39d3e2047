// Who read a resident's personal data, when (issue 18 point 8). One row per reader, resource and
// dedup window (default 5 min), decided in memory before any write: a console that polls a site
// view every few seconds, or the incident queue, costs one INSERT per window, and the live stream
// is not recorded per event (opening the site or incident it shows is). Exports always write.
// The rows live where alerts/ runs (issue 21): with storage.postgresUrl every node writes to the
// one read_audit, so an export and the supervisors' list show the reads made on any node. The
// dedup window is per node (its memory): a user served by two nodes gets a row from each.
import type { Clock } from '../contracts/ports.ts';
import type { ReadAudit, ReadResource, ReadRow, Reader } from '../contracts/privacy.ts';
import type { SqlRunner } from './sql.ts';

/** Past this many remembered (reader, resource) pairs, the expired ones are dropped. */
const PRUNE_AT = 10_000;

export function createReadAudit(deps: { sql: SqlRunner; clock: Clock; dedupMs: number }): ReadAudit & { prune(before: number): Promise<number> } {
  const { sql, clock, dedupMs } = deps;
  const { q } = sql;
  const last = new Map<string, number>();

  return {
    async record(reader: Reader, resource: ReadResource, resourceId: string | null, siteId: string | null, centerId: string | null): Promise<void> {
      const now = clock.now();
      if (resource !== 'export') {
        const key = `${reader.username}\u0000${resource}\u0000${resourceId ?? ''}`;
        const seen = last.get(key);
        if (seen !== undefined && now - seen < dedupMs) return;
        if (last.size >= PRUNE_AT) for (const [k, t] of last) if (now - t >= dedupMs) last.delete(k);
        last.set(key, now);
      }
      await sql.run(q.insertInto('read_audit').values({
        at: now, username: reader.username, role: reader.role, center_id: centerId ?? reader.centerId ?? null, resource, resource_id: resourceId, site_id: siteId,
      }));
    },
    async list(f): Promise<ReadRow[]> {
      let s = q.selectFrom('read_audit').selectAll().orderBy('id', 'desc').limit(f.limit);
      if (f.siteId !== undefined) s = s.where('site_id', '=', f.siteId);
      if (f.username !== undefined) s = s.where('username', '=', f.username);
      if (f.centerId !== undefined) s = s.where('center_id', '=', f.centerId);
      if (f.before !== undefined) s = s.where('id', '<', f.before);
      const rows = await sql.all(s);
      return rows.map((r) => ({ id: r.id, at: r.at, username: r.username, role: r.role, centerId: r.center_id, resource: r.resource, resourceId: r.resource_id, siteId: r.site_id }));
    },
    prune(before: number): Promise<number> {
      return sql.run(q.deleteFrom('read_audit').where('at', '<', before));
    },
  };
}
