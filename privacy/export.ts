// `wf privacy export` (issue 18 point 8, PIPL art. 45): everything held about one resident, as
// JSON: the registry entry, the site's devices, every incident of the site with its timeline
// (notes, call log) and the notifications sent about it with their attempts, notifications to
// the site's contacts, reports that name the home or resident, erasures, and who read the data.
import type { Database } from 'better-sqlite3';
import type { RegistryReader } from '../contracts/ports.ts';
import type { Site } from '../contracts/registry.ts';
import type { PrivacyExport, ReadAudit } from '../contracts/privacy.ts';
import { pseudonymOf, termsOf } from './terms.ts';
import type { AuditRow, OutboxRaw, Sql } from './sql.ts';

/** snake_case row → camelCase object, as the API speaks. */
function camel(row: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(row).map(([k, v]) => [k.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase()), v]));
}

export function exportSite(deps: { db: Database; sql: Sql; key: string; registry: RegistryReader; reads: ReadAudit }, site: Site, now: number): PrivacyExport {
  const { db, sql, key, registry, reads } = deps;
  const withAttempts = (o: OutboxRaw) => ({ ...camel(o), attempts: (sql.attemptsOf.all(o.id) as object[]).map(camel) });
  const seen = new Set<number>();
  const incidents = (sql.incidentsOfSite.all(site.id) as Array<Record<string, unknown> & { id: string }>).map((i) => {
    const notifications = (sql.outboxOfIncident.all(i.id) as OutboxRaw[]).map((o) => {
      seen.add(o.id);
      return withAttempts(o);
    });
    return { ...camel(i), timeline: (sql.auditOf.all(i.id) as AuditRow[]).map(camel), notifications };
  });
  const notifications = (sql.outboxToContacts.all(site.id, site.id) as OutboxRaw[]).filter((o) => !seen.has(o.id)).map(withAttempts);
  const literals = termsOf(site, '').map((t) => t.literal);
  const reports = (sql.reports.all() as Array<{ id: number; kind: string; center_id: string; period: string; created_at: number; body: string }>)
    .filter((r) => literals.some((l) => r.body.includes(l)))
    .map((r) => {
      const body = JSON.parse(r.body) as { lines?: { zh?: string[]; en?: string[] } };
      const lines = [...(body.lines?.zh ?? []), ...(body.lines?.en ?? [])].filter((l) => literals.some((x) => l.includes(x)));
      return { id: r.id, kind: r.kind, centerId: r.center_id, period: r.period, createdAt: r.created_at, lines };
    });
  const erasures = (db.prepare('SELECT * FROM privacy_erasures WHERE site_id = ? ORDER BY id').all(site.id) as Array<{ counts: string }>)
    .map((e) => ({ ...camel(e), counts: e.counts === 'pending' ? null : JSON.parse(e.counts) as unknown }));
  return {
    subject: { siteId: site.id, pseudonym: pseudonymOf(key, site.id), centerId: site.centerId },
    exportedAt: now,
    site: { ...site },
    devices: registry.devicesOfSite(site.id).map((d) => ({ ...d })),
    incidents,
    notifications,
    reports,
    erasures,
    reads: reads.list({ siteId: site.id, limit: 10_000 }),
  };
}
