// Issue 17 point 7: incidents in InfluxDB, for Grafana's incidents dashboard and annotations.
// Every opening and transition becomes a point of measurement `incident` (tags center, site, grid,
// level, category, action; fields id, title, and on acknowledge / arrival the seconds it took),
// and once a minute each center's open incidents by age become a point of `incidents_open`.
// Written through the store's writeLines (buffered, spooled when InfluxDB is down): never on the
// alarm's path, and losing InfluxDB loses none of it.
import { escape } from '@influxdata/influxdb-client';
import type { Logger } from 'pino';
import type { EventBus } from '../contracts/bus.ts';
import type { Incident, IncidentEvent, IncidentService } from '../contracts/incidents.ts';
import type { Clock, ReadingStore } from '../contracts/ports.ts';

/** The console's age buckets (dashboards/overview.ts), as field names. */
const AGES: ReadonlyArray<[string, number]> = [['lt5m', 5 * 60_000], ['lt30m', 30 * 60_000], ['lt2h', 2 * 3_600_000], ['lt24h', 24 * 3_600_000], ['lt72h', 72 * 3_600_000], ['gte72h', Infinity]];
const SNAPSHOT_MS = 60_000;

function tags(i: Incident, action: string): string {
  const t: Array<[string, string | null]> = [['action', action], ['category', i.category], ['center', i.centerId], ['grid', i.gridId], ['level', i.level], ['site', i.siteId]];
  return t.filter(([, v]) => v !== null && v !== '').map(([k, v]) => `${k}=${escape.tag(v!)}`).join(',');
}

/** One point for an opening or a transition; undefined for repeats and escalations. */
export function incidentLine(ev: IncidentEvent): string | undefined {
  const i = ev.incident;
  let action: string;
  if (ev.kind === 'opened') action = 'opened';
  else if (ev.kind === 'transition') action = i.state;
  else if (ev.kind === 'raised') action = 'raised';
  else return undefined;
  const fields = [`id=${escape.quoted(i.id)}`, `title=${escape.quoted(i.title.zh)}`, `title_en=${escape.quoted(i.title.en)}`, `state=${escape.quoted(i.state)}`];
  if (action === 'acknowledged' && i.acknowledgedAt !== null) fields.push(`ack_s=${(i.acknowledgedAt - i.openedAt) / 1000}`);
  if (action === 'on_site' && i.onSiteAt !== null) fields.push(`site_s=${(i.onSiteAt - i.openedAt) / 1000}`);
  if (action === 'resolved' && i.resolvedAt !== null) fields.push(`resolve_s=${(i.resolvedAt - i.openedAt) / 1000}`);
  return `incident,${tags(i, action)} ${fields.join(',')} ${Math.trunc(ev.at)}000000`;
}

/** Each center's open incidents by age at `now`, one point per center. */
export function openByAgeLines(open: readonly Incident[], now: number): string[] {
  const byCenter = new Map<string, number[]>();
  for (const i of open) {
    const counts = byCenter.get(i.centerId) ?? AGES.map(() => 0);
    const age = now - i.openedAt;
    counts[AGES.findIndex(([, max]) => age < max)]! += 1;
    byCenter.set(i.centerId, counts);
  }
  return [...byCenter].map(([center, counts]) => `incidents_open,center=${escape.tag(center)} ${AGES.map(([k], n) => `${k}=${counts[n]}i`).join(',')},total=${counts.reduce((a, b) => a + b, 0)}i ${Math.trunc(now)}000000`);
}

export function createIncidentAnnotations(deps: { bus: EventBus; store: Pick<ReadingStore, 'writeLines'>; incidents: Pick<IncidentService, 'list'>; clock: Clock; logger: Logger }) {
  let off: (() => void) | undefined;
  let timer: NodeJS.Timeout | undefined;
  const snapshot = async () => {
    const lines = openByAgeLines(await deps.incidents.list({ active: true, limit: 1000 }), deps.clock.now());
    if (lines.length) deps.store.writeLines(lines);
  };
  return {
    start(): void {
      off = deps.bus.on('incident', 'incident-annotations', (ev) => {
        const line = incidentLine(ev);
        if (line) deps.store.writeLines([line]);
      });
      // A failed read (the incident store away) loses one minute's point, never the process.
      timer = setInterval(() => void snapshot().catch((err: unknown) => deps.logger.warn({ err }, 'open incidents snapshot for InfluxDB failed')), SNAPSHOT_MS);
      timer.unref();
    },
    stop(): void {
      off?.();
      off = undefined;
      if (timer) clearInterval(timer);
      timer = undefined;
    },
  };
}
