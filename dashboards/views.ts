// What the console shows with an incident: the incident plus the names an operator needs at a
// glance (site, resident, device, grid, assignee), resolved from the in-memory registry.
import { z } from 'zod';
import { AuditEntry, Incident } from '../contracts/incidents.ts';
import type { RegistryReader } from '../contracts/ports.ts';
import { DISPOSITION_WORDS } from '../contracts/words.ts';

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

export const TimelineEntry = AuditEntry.extend({
  actorName: z.string(),
  /** The note as a reader sees it in each language: names instead of ids, dispositions in words. */
  text: z.object({ en: z.string(), zh: z.string() }).nullable(),
});
export type TimelineEntry = z.infer<typeof TimelineEntry>;

/**
 * Issue 17 point 5: the system writes its notes in both languages (noteZh); a dispatch note names
 * the person (stored as `to ID[: note]`), a resolution its disposition (`disposition: feedback`).
 */
export function timelineEntry(registry: RegistryReader, e: AuditEntry): TimelineEntry {
  const actorName = personName(registry, e.actor) ?? e.actor;
  const note = e.note;
  let text: TimelineEntry['text'] = null;
  if (note !== null && e.noteZh !== null) text = { en: note, zh: e.noteZh };
  else if (note !== null && e.action === 'dispatch' && /^to \S+/.test(note)) {
    const m = /^to (\S+?)(?:: ([\s\S]*))?$/.exec(note)!;
    const name = personName(registry, m[1]) ?? m[1]!;
    text = { en: `to ${name}${m[2] ? `: ${m[2]}` : ''}`, zh: `派给 ${name}${m[2] ? `：${m[2]}` : ''}` };
  } else if (note !== null && e.action === 'resolve' && /^[a-z_]+: /.test(note)) {
    const cut = note.indexOf(': ');
    const d = DISPOSITION_WORDS[note.slice(0, cut) as keyof typeof DISPOSITION_WORDS];
    const feedback = note.slice(cut + 2);
    text = d ? { en: `${d.en}: ${feedback}`, zh: `${d.zh}：${feedback}` } : { en: note, zh: note };
  } else if (note !== null) text = { en: note, zh: note };
  return { ...e, actorName, text };
}

export function personName(registry: RegistryReader, id: string | null | undefined): string | null {
  if (!id) return null;
  // Issue 19 point 5: a resident or a contact who acknowledged from a message (`site#resident`, `site#contact0`).
  const m = /^(.+)#(resident|contact(\d+))$/.exec(id);
  if (m) {
    const site = registry.site(m[1]!);
    const name = m[2] === 'resident' ? site?.resident?.name : site?.contacts[Number(m[3])]?.name;
    if (name) return name;
  }
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
