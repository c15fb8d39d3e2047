// Issue 17 point 6, the shift handover (交接班): what a shift saw and did, summarised for the one who
// takes over. A pure function of the incidents, their notes and calls, the registry and the
// devices' live state, so it is tested without a server; the stored handovers are in
// handover-store.ts, the routes in routes/handover.ts.
import { z } from 'zod';
import type { AuditEntry, Incident, IncidentService } from '../contracts/incidents.ts';
import type { RegistryReader } from '../contracts/ports.ts';
import type { DeviceLive, DutyNow } from './kit.ts';
import { listAll } from './overview.ts';
import { personName } from './views.ts';

/** Lines kept per list (the counts stay whole): a handover is read, not scrolled for an hour. */
export const LIST_CAP = 200;

const Text = z.object({ en: z.string(), zh: z.string() });
export const HandoverLine = z.object({
  id: z.string(), level: z.string(), category: z.string(), state: z.string(), title: Text, siteId: z.string(), siteName: z.string(),
  openedAt: z.number(), acknowledgedAt: z.number().nullable(), dispatchedAt: z.number().nullable(), resolvedAt: z.number().nullable(),
  assigneeName: z.string().nullable(), disposition: z.string().nullable(),
});
export const HandoverRemark = z.object({
  incidentId: z.string(), siteName: z.string(), at: z.number(), actorName: z.string(),
  /** `note`, or the call's outcome (`reached`, `no_answer`, …). */
  kind: z.string(), text: z.string(),
});
export const HandoverSummary = z.object({
  centerId: z.string(),
  centerName: z.string(),
  timezone: z.string(),
  from: z.number(),
  to: z.number(),
  generatedAt: z.number(),
  /** The roster's shift the range was taken from; null for a chosen range. */
  shift: z.object({ names: z.array(z.string()), operators: z.array(z.string()), supervisors: z.array(z.string()) }).nullable(),
  counts: z.object({
    opened: z.number(), acknowledged: z.number(), dispatched: z.number(), resolved: z.number(), stillOpen: z.number(),
    offline: z.number(), maintenance: z.number(), calls: z.number(), notes: z.number(),
  }),
  opened: z.array(HandoverLine),
  acknowledged: z.array(HandoverLine),
  dispatched: z.array(HandoverLine),
  resolved: z.array(HandoverLine),
  stillOpen: z.array(HandoverLine.extend({ ageMs: z.number(), lastNote: HandoverRemark.nullable() })),
  offline: z.array(z.object({ deviceId: z.string(), siteName: z.string(), location: z.string(), lastSeen: z.number().nullable() })),
  maintenance: z.array(HandoverLine),
  calls: z.array(HandoverRemark),
  notes: z.array(HandoverRemark),
});
export type HandoverSummary = z.infer<typeof HandoverSummary>;

export interface SummaryInput {
  registry: RegistryReader;
  incidents: IncidentService;
  deviceState?: ((id: string) => DeviceLive | undefined) | undefined;
  centerId: string;
  timezone: string;
  from: number;
  to: number;
  now: number;
  duty?: DutyNow | undefined;
}

const within = (t: number | null, from: number, to: number) => t !== null && t >= from && t < to;

export async function summarise(input: SummaryInput): Promise<HandoverSummary> {
  const { registry, centerId, from, to, now } = input;
  const siteName = (id: string) => registry.site(id)?.name ?? id;
  const line = (i: Incident): z.infer<typeof HandoverLine> => ({
    id: i.id, level: i.level, category: i.category, state: i.state, title: i.title, siteId: i.siteId, siteName: siteName(i.siteId),
    openedAt: i.openedAt, acknowledgedAt: i.acknowledgedAt, dispatchedAt: i.dispatchedAt, resolvedAt: i.resolvedAt,
    assigneeName: personName(registry, i.assignee), disposition: i.disposition,
  });
  const all = await listAll(input.incidents, { centerId });
  const byId = new Map(all.map((i) => [i.id, i]));
  const remark = (e: AuditEntry): z.infer<typeof HandoverRemark> => ({
    incidentId: e.incidentId, siteName: siteName(byId.get(e.incidentId)?.siteId ?? e.incidentId), at: e.at,
    actorName: personName(registry, e.actor) ?? e.actor, kind: e.action === 'note' ? 'note' : e.action.slice('call:'.length), text: e.note ?? '',
  });
  const remarks = (await input.incidents.remarks(centerId, from, to)).map(remark);
  const calls = remarks.filter((r) => r.kind !== 'note');
  const notes = remarks.filter((r) => r.kind === 'note');
  const oldestFirst = (a: Incident, b: Incident) => a.openedAt - b.openedAt;
  const pick = (f: (i: Incident) => boolean) => all.filter(f).sort(oldestFirst);
  const opened = pick((i) => within(i.openedAt, from, to));
  const acknowledged = pick((i) => within(i.acknowledgedAt, from, to));
  const dispatched = pick((i) => within(i.dispatchedAt, from, to));
  const resolved = pick((i) => within(i.resolvedAt, from, to));
  const maintenance = opened.filter((i) => i.category === 'maintenance');
  // Still open at the end of the range: red first, then the longest waiting.
  const open = all.filter((i) => i.openedAt < to && (i.resolvedAt === null || i.resolvedAt >= to))
    .sort((a, b) => (a.level === 'red' ? 0 : 1) - (b.level === 'red' ? 0 : 1) || a.openedAt - b.openedAt);
  // One timeline after the other: up to LIST_CAP reads at once would crowd the store's
  // connections, which the alarm path shares, for a page nobody waits on to the millisecond.
  const stillOpen = [];
  for (const i of open.slice(0, LIST_CAP)) {
    const last = (await input.incidents.timeline(i.id)).filter((e) => (e.action === 'note' || e.action.startsWith('call:')) && e.at < to).at(-1);
    stillOpen.push({ ...line(i), ageMs: Math.max(0, Math.min(now, to) - i.openedAt), lastNote: last ? remark(last) : null });
  }

  const offlineByIncident = new Set(all.filter((i) => i.resolvedAt === null && i.condition === 'offline').map((i) => i.deviceId));
  const offline: HandoverSummary['offline'] = [];
  for (const d of registry.all()) {
    if (d.centerId !== centerId || !d.enabled) continue;
    const live = input.deviceState?.(d.id);
    if (live?.online === false || offlineByIncident.has(d.id)) {
      offline.push({ deviceId: d.id, siteName: siteName(d.siteId), location: d.location, lastSeen: live?.lastSeen ?? null });
    }
  }

  const cap = <T>(xs: T[]) => xs.slice(0, LIST_CAP);
  return {
    centerId,
    centerName: registry.center(centerId)?.name ?? centerId,
    timezone: input.timezone,
    from,
    to,
    generatedAt: now,
    shift: input.duty && input.duty.shifts.length ? {
      names: input.duty.shifts.map((s) => s.shift.name),
      operators: input.duty.operators.map((p) => p.name),
      supervisors: input.duty.supervisors.map((p) => p.name),
    } : null,
    counts: {
      opened: opened.length, acknowledged: acknowledged.length, dispatched: dispatched.length, resolved: resolved.length, stillOpen: open.length,
      offline: offline.length, maintenance: maintenance.length, calls: calls.length, notes: notes.length,
    },
    opened: cap(opened).map(line),
    acknowledged: cap(acknowledged).map(line),
    dispatched: cap(dispatched).map(line),
    resolved: cap(resolved).map(line),
    stillOpen,
    offline: cap(offline),
    maintenance: cap(maintenance).map(line),
    calls: cap(calls),
    notes: cap(notes),
  };
}

/**
 * The range a handover covers: a chosen one, the last `hours`, or the roster's shift (the one on
 * duty now, or the one before it). Without a roster: the last 12 hours.
 */
export function rangeOf(q: { from?: number | undefined; to?: number | undefined; hours?: number | undefined; shift?: 'current' | 'previous' | undefined }, now: number, dutyAt: (at: number) => DutyNow | undefined): { from: number; to: number; duty: DutyNow | undefined } {
  if (q.from !== undefined) return { from: q.from, to: q.to ?? now, duty: undefined };
  if (q.hours !== undefined) return { from: now - q.hours * 3_600_000, to: now, duty: undefined };
  const current = dutyAt(now);
  const start = current?.shifts.length ? Math.min(...current.shifts.map((s) => s.startedAt)) : undefined;
  if (start === undefined) return { from: now - 12 * 3_600_000, to: now, duty: undefined };
  if (q.shift !== 'previous') return { from: start, to: now, duty: current };
  const before = dutyAt(start - 1);
  const prevStart = before?.shifts.length ? Math.min(...before.shifts.map((s) => s.startedAt)) : start - 12 * 3_600_000;
  return { from: prevStart, to: start, duty: before };
}
