// The incident lifecycle's order, and the row mapping reports still use (the rows themselves are
// storage/incidents.ts's).
import type { AuditEntry, Incident, IncidentState } from '../contracts/incidents.ts';

export const STATE_RANK: Record<IncidentState, number> = { open: 0, acknowledged: 1, dispatched: 2, on_site: 3, resolved: 4, reviewed: 5 };

/** States at or before `s` in the lifecycle (a step ending at any of these has ended once `s` is reached). */
export function statesUpTo(s: IncidentState): IncidentState[] {
  return (Object.keys(STATE_RANK) as IncidentState[]).filter((k) => STATE_RANK[k] <= STATE_RANK[s]);
}

export interface IncidentRow {
  id: string; key: string; level: Incident['level']; score: number; category: Incident['category']; condition: string;
  state: IncidentState; active: number; center_id: string; site_id: string; grid_id: string | null; device_id: string;
  zone: string | null; title_en: string; title_zh: string; confirmed: number; finding_count: number; last_reading: string | null;
  opened_at: number; updated_at: number; last_finding_at: number; acknowledged_at: number | null; dispatched_at: number | null;
  on_site_at: number | null; resolved_at: number | null; reviewed_at: number | null; assignee: string | null;
  disposition: Incident['disposition']; feedback: string | null; recurrence_of: string | null;
  /** The device whose finding wrote the title (null: the opening device, rows from before migration 9). */
  lead_device?: string | null;
}

export function toIncident(r: IncidentRow): Incident {
  return {
    id: r.id, key: r.key, level: r.level, score: r.score, category: r.category, condition: r.condition, state: r.state,
    centerId: r.center_id, siteId: r.site_id, gridId: r.grid_id, deviceId: r.device_id, zone: r.zone,
    title: { en: r.title_en, zh: r.title_zh }, confirmed: r.confirmed === 1, findingCount: r.finding_count,
    openedAt: r.opened_at, updatedAt: r.updated_at, lastFindingAt: r.last_finding_at, acknowledgedAt: r.acknowledged_at,
    dispatchedAt: r.dispatched_at, onSiteAt: r.on_site_at, resolvedAt: r.resolved_at, reviewedAt: r.reviewed_at,
    assignee: r.assignee, disposition: r.disposition, feedback: r.feedback, recurrenceOf: r.recurrence_of,
  };
}
