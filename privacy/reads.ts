// Who read a resident's personal data, when (issue 18 point 8). One row per reader, resource and
// dedup window (default 5 min), decided in memory before any write: a console that polls a site
// view every few seconds, or the incident queue, costs one INSERT per window, and the live stream
// is not recorded per event (opening the site or incident it shows is). Exports always write.
import type { Database } from 'better-sqlite3';
import type { Clock } from '../contracts/ports.ts';
import type { ReadAudit, ReadResource, ReadRow, Reader } from '../contracts/privacy.ts';

/** Past this many remembered (reader, resource) pairs, the expired ones are dropped. */
const PRUNE_AT = 10_000;

export function createReadAudit(deps: { db: Database; clock: Clock; dedupMs: number }): ReadAudit & { prune(before: number): number } {
  const { db, clock, dedupMs } = deps;
  const insert = db.prepare('INSERT INTO read_audit (at, username, role, center_id, resource, resource_id, site_id) VALUES (?, ?, ?, ?, ?, ?, ?)');
  const last = new Map<string, number>();

  return {
    record(reader: Reader, resource: ReadResource, resourceId: string | null, siteId: string | null, centerId: string | null): void {
      const now = clock.now();
      if (resource !== 'export') {
        const key = `${reader.username}\u0000${resource}\u0000${resourceId ?? ''}`;
        const seen = last.get(key);
        if (seen !== undefined && now - seen < dedupMs) return;
        if (last.size >= PRUNE_AT) for (const [k, t] of last) if (now - t >= dedupMs) last.delete(k);
        last.set(key, now);
      }
      insert.run(now, reader.username, reader.role, centerId ?? reader.centerId ?? null, resource, resourceId, siteId);
    },
    list(f): ReadRow[] {
      const where: string[] = [];
      const args: unknown[] = [];
      if (f.siteId !== undefined) { where.push('site_id = ?'); args.push(f.siteId); }
      if (f.username !== undefined) { where.push('username = ?'); args.push(f.username); }
      if (f.centerId !== undefined) { where.push('center_id = ?'); args.push(f.centerId); }
      if (f.before !== undefined) { where.push('id < ?'); args.push(f.before); }
      const rows = db.prepare(`SELECT * FROM read_audit ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`).all(...args, f.limit) as Array<{
        id: number; at: number; username: string; role: string; center_id: string | null; resource: string; resource_id: string | null; site_id: string | null;
      }>;
      return rows.map((r) => ({ id: r.id, at: r.at, username: r.username, role: r.role, centerId: r.center_id, resource: r.resource, resourceId: r.resource_id, siteId: r.site_id }));
    },
    prune(before: number): number {
      return db.prepare('DELETE FROM read_audit WHERE at < ?').run(before).changes;
    },
  };
}
