// What the console shows with an incident: the incident plus the names an operator needs at a
// glance (site, resident, device, grid, assignee), resolved from the in-memory registry.
import { z } from 'zod';
import { AuditEntry, Incident } from '../contracts/incidents.ts';
import type { RegistryReader } from '../contracts/ports.ts';

export const IncidentContext = z.object({
  siteName: z.string(),
  siteKind: z.string(),
  address: z.string(),
  resident: z.object({ name: z.string(), age: z.number().nullable(), phone: z.string().nullable(), livesAlone: z.boolean() }).nullable(),
  deviceType: z.string(),
  deviceLocation: z.string(),
  gridName: z.string().nullable(),
  /** The grid worker of the site's grid: the default target of a dispatch. */
  gridWorkerId: z.string().nullable(),
  gridWorkerName: z.string().nullable(),
  assigneeName: z.string().nullable(),
  centerName: z.string(),
  timezone: z.string(),
});
export const IncidentView = Incident.extend({ context: IncidentContext });
export type IncidentView = z.infer<typeof IncidentView>;

export const TimelineEntry = AuditEntry.extend({ actorName: z.string() });

export function personName(registry: RegistryReader, id: string | null | undefined): string | null {
  if (!id) return null;
  return registry.person(id)?.name ?? id;
}

export function viewOf(registry: RegistryReader, inc: Incident, defaultTz: string): IncidentView {
  const site = registry.site(inc.siteId);
  const device = registry.get(inc.deviceId);
  const grid = inc.gridId ? registry.grid(inc.gridId) : undefined;
  const center = registry.center(inc.centerId);
  const r = site?.resident;
  return {
    ...inc,
    context: {
      siteName: site?.name ?? inc.siteId,
      siteKind: site?.kind ?? 'home',
      address: site?.address ?? '',
      resident: r ? { name: r.name, age: r.age ?? null, phone: r.phone ?? null, livesAlone: r.livesAlone } : null,
      deviceType: device?.type ?? 'unknown',
      deviceLocation: device?.location ?? '',
      gridName: grid?.name ?? null,
      gridWorkerId: grid?.workerId ?? null,
      gridWorkerName: personName(registry, grid?.workerId),
      assigneeName: personName(registry, inc.assignee),
      centerName: center?.name ?? inc.centerId,
      timezone: center?.timezone ?? defaultTz,
    },
  };
}

const LEVEL_RANK = { red: 0, yellow: 1, green: 2 } as const;
const STATE_RANK = { open: 0, acknowledged: 1, dispatched: 2, on_site: 3, resolved: 4, reviewed: 5 } as const;

/** Queue order: red first, unacknowledged first within a level, then the longest waiting. */
export function queueOrder(a: Incident, b: Incident): number {
  return LEVEL_RANK[a.level] - LEVEL_RANK[b.level] || STATE_RANK[a.state] - STATE_RANK[b.state] || a.openedAt - b.openedAt;
}
