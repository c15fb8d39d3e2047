// Incident rows and the audit trail in SQLite: mapping, prepared statements, the state order.
import type { Database } from 'better-sqlite3';
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

export function createIncidentStore(db: Database) {
  const s = {
    byId: db.prepare('SELECT * FROM alert_incidents WHERE id = ?'),
    activeByKey: db.prepare('SELECT * FROM alert_incidents WHERE key = ? AND active = 1'),
    lastResolvedByKey: db.prepare('SELECT id, resolved_at FROM alert_incidents WHERE key = ? AND active = 0 AND resolved_at >= ? ORDER BY resolved_at DESC LIMIT 1'),
    insert: db.prepare(`INSERT INTO alert_incidents (id, key, level, score, category, condition, state, active, center_id, site_id, grid_id,
      device_id, zone, title_en, title_zh, confirmed, finding_count, last_reading, opened_at, updated_at, last_finding_at, recurrence_of)
      VALUES (@id, @key, @level, @score, @category, @condition, 'open', 1, @center_id, @site_id, @grid_id, @device_id, @zone, @title_en,
      @title_zh, @confirmed, 1, @last_reading, @now, @now, @now, @recurrence_of)`),
    /** A finding on the open incident: count, last reading; level, score and title only ever go up. */
    update: db.prepare(`UPDATE alert_incidents SET finding_count = finding_count + 1, last_reading = @last_reading, last_finding_at = @now,
      updated_at = @now, confirmed = MAX(confirmed, @confirmed), score = MAX(score, @score),
      level = @level, condition = @condition, title_en = @title_en, title_zh = @title_zh, lead_device = @lead_device WHERE id = @id`),
    /** Held repeats of the open incident's condition, written as one: @n findings, the last one's reading and time. */
    repeat: db.prepare(`UPDATE alert_incidents SET finding_count = finding_count + @n, last_reading = @last_reading, last_finding_at = @at,
      updated_at = @at, confirmed = MAX(confirmed, @confirmed), score = MAX(score, @score), condition = COALESCE(@condition, condition),
      title_en = COALESCE(@title_en, title_en), title_zh = COALESCE(@title_zh, title_zh) WHERE id = @id AND active = 1`),
    transition: db.prepare(`UPDATE alert_incidents SET state = @state, active = @active, updated_at = @now,
      acknowledged_at = COALESCE(@acknowledged_at, acknowledged_at), dispatched_at = COALESCE(@dispatched_at, dispatched_at),
      on_site_at = COALESCE(@on_site_at, on_site_at), resolved_at = COALESCE(@resolved_at, resolved_at),
      reviewed_at = COALESCE(@reviewed_at, reviewed_at), assignee = COALESCE(@assignee, assignee),
      disposition = COALESCE(@disposition, disposition), feedback = COALESCE(@feedback, feedback) WHERE id = @id`),
    touch: db.prepare('UPDATE alert_incidents SET updated_at = ? WHERE id = ?'),
    audit: db.prepare('INSERT INTO alert_audit (incident_id, at, actor, action, from_state, to_state, note, note_zh) VALUES (?, ?, ?, ?, ?, ?, ?, ?)'),
    timeline: db.prepare('SELECT * FROM alert_audit WHERE incident_id = ? ORDER BY id'),
    remarks: db.prepare(`SELECT a.* FROM alert_audit a JOIN alert_incidents i ON i.id = a.incident_id
      WHERE a.at >= ? AND a.at < ? AND i.center_id = ? AND (a.action = 'note' OR a.action LIKE 'call:%') ORDER BY a.at, a.id LIMIT 5000`),
    activeByLevel: db.prepare('SELECT level, COUNT(*) AS n FROM alert_incidents WHERE active = 1 GROUP BY level'),
  };

  function get(id: string): Incident | undefined {
    const r = s.byId.get(id) as IncidentRow | undefined;
    return r ? toIncident(r) : undefined;
  }

  /** `noteZh`: the Chinese of a system note (issue 17); a person's note is in their own words. */
  function audit(incidentId: string, at: number, actor: string, action: string, from: IncidentState | null, to: IncidentState | null, note: string | null, noteZh: string | null = null): void {
    s.audit.run(incidentId, at, actor, action, from, to, note, noteZh);
  }

  type AuditRow = { id: number; incident_id: string; at: number; actor: string; action: string; from_state: IncidentState | null; to_state: IncidentState | null; note: string | null; note_zh: string | null };
  const toEntry = (a: AuditRow): AuditEntry => ({ id: a.id, incidentId: a.incident_id, at: a.at, actor: a.actor, action: a.action, fromState: a.from_state, toState: a.to_state, note: a.note, noteZh: a.note_zh });

  function timeline(id: string): AuditEntry[] {
    return (s.timeline.all(id) as AuditRow[]).map(toEntry);
  }

  /** Notes and calls on a center's incidents in [from, to): a shift's log for its handover. */
  function remarks(centerId: string, from: number, to: number): AuditEntry[] {
    return (s.remarks.all(from, to, centerId) as AuditRow[]).map(toEntry);
  }

  return { s, get, audit, timeline, remarks };
}

export type IncidentStore = ReturnType<typeof createIncidentStore>;
