// `wf privacy export` (issue 18 point 8, PIPL art. 45): everything held about one resident, as
// JSON: the registry entry, the site's devices, every incident of the site with its timeline
// (notes, call log) and the notifications sent about it with their attempts, notifications to
// the site's contacts, reports that name the home or resident, erasures, and who read the data.
import type { RegistryReader } from '../contracts/ports.ts';
import type { Site } from '../contracts/registry.ts';
import type { PrivacyExport, ReadAudit } from '../contracts/privacy.ts';
import { pseudonymOf, termsOf } from './terms.ts';
import { sharedSql, tx, type OutboxRaw, type ReportRaw, type SqlRunner } from './sql.ts';

/** snake_case row → camelCase object, as the API speaks. */
function camel(row: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(row).map(([k, v]) => [k.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase()), v]));
}

/**
 * Read in one runner transaction (the rows agree with one another on SQLite; on PostgreSQL each
 * statement reads what was committed when it ran), wherever alerts/ keeps them.
 */
export async function exportSite(deps: { sql: SqlRunner; key: string; registry: RegistryReader; reads: ReadAudit }, site: Site, now: number): Promise<PrivacyExport> {
  const { key, registry, reads } = deps;
  const s = sharedSql(deps.sql);
  const literals = termsOf(site, '').map((t) => t.literal);
  const held = await deps.sql.transaction(function* () {
    function* withAttempts(o: OutboxRaw) {
      return { ...camel(o), attempts: (yield* tx.all(s.attemptsOf(o.id))).map(camel) };
    }
    const seen = new Set<number>();
    const incidents: Array<Record<string, unknown>> = [];
    for (const i of yield* tx.all(s.incidentsOfSiteForExport(site.id))) {
      const notifications: Array<Record<string, unknown>> = [];
      for (const o of yield* tx.all(s.outboxOfIncident(i.id))) {
        seen.add(o.id);
        notifications.push(yield* withAttempts(o));
      }
      incidents.push({ ...camel(i), timeline: (yield* tx.all(s.auditOf(i.id))).map(camel), notifications });
    }
    const notifications: Array<Record<string, unknown>> = [];
    for (const o of yield* tx.all(s.outboxToContacts(site.id))) if (!seen.has(o.id)) notifications.push(yield* withAttempts(o));
    const reports: ReportRaw[] = (yield* tx.all(s.reports())).filter((r) => literals.some((l) => r.body.includes(l)));
    const erasures = yield* tx.all(s.erasuresOfSite(site.id));
    return { incidents, notifications, reports, erasures };
  });
  const reports = held.reports.map((r) => {
    const body = JSON.parse(r.body) as { lines?: { zh?: string[]; en?: string[] } };
    const lines = [...(body.lines?.zh ?? []), ...(body.lines?.en ?? [])].filter((l) => literals.some((x) => l.includes(x)));
    return { id: r.id, kind: r.kind, centerId: r.center_id, period: r.period, createdAt: r.created_at, lines };
  });
  const erasures = held.erasures.map((e) => ({ ...camel(e), counts: e.counts === 'pending' ? null : JSON.parse(e.counts) as unknown }));
  const { incidents, notifications } = held;
  const readRows = await reads.list({ siteId: site.id, limit: 10_000 });
  return {
    subject: { siteId: site.id, pseudonym: pseudonymOf(key, site.id), centerId: site.centerId },
    exportedAt: now,
    site: { ...site },
    devices: registry.devicesOfSite(site.id).map((d) => ({ ...d })),
    incidents,
    notifications,
    reports,
    erasures,
    reads: readRows,
  };
}
