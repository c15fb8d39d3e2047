// The three-colour overview (三色动态管理): a pure function of the registry, the incidents and the
// devices' live state, so it is tested without a server.
import { z } from 'zod';
import type { Incident, IncidentFilter, IncidentService } from '../contracts/incidents.ts';
import type { Level } from '../contracts/findings.ts';
import type { RegistryReader } from '../contracts/ports.ts';
import type { DeviceLive } from './kit.ts';

const Colours = z.object({ red: z.number(), yellow: z.number(), green: z.number() });
const Responses = z.object({
  opened: z.number(),
  acknowledged: z.number(),
  onSite: z.number(),
  resolved: z.number(),
  ackMedianSec: z.number().nullable(),
  ackP90Sec: z.number().nullable(),
  siteMedianSec: z.number().nullable(),
  siteP90Sec: z.number().nullable(),
});
export const AGE_BUCKETS = [
  { key: 'lt5m', maxMs: 5 * 60_000 },
  { key: 'lt30m', maxMs: 30 * 60_000 },
  { key: 'lt2h', maxMs: 2 * 3600_000 },
  { key: 'lt24h', maxMs: 24 * 3600_000 },
  { key: 'lt72h', maxMs: 72 * 3600_000 },
  // DESIGN.md yellow escalation: reminder 24 h, warning 72 h, enforcement at 7 days.
  { key: 'gte72h', maxMs: Infinity },
] as const;

const DeviceRef = z.object({ deviceId: z.string(), siteId: z.string(), siteName: z.string(), centerId: z.string(), lastSeen: z.number().nullable(), battery: z.number().nullable() });

export const Overview = z.object({
  generatedAt: z.number(),
  centers: z.array(z.object({
    id: z.string(),
    name: z.string(),
    timezone: z.string(),
    sites: Colours,
    open: z.object({ red: z.number(), yellow: z.number() }),
    devices: z.number(),
    devicesOffline: z.number(),
    batteriesLow: z.number(),
    openByAge: z.array(z.object({ key: z.string(), red: z.number(), yellow: z.number() })),
    today: Responses,
  })),
  grids: z.array(z.object({ id: z.string(), name: z.string(), centerId: z.string(), workerName: z.string().nullable(), sites: Colours, open: z.number() })),
  offline: z.array(DeviceRef),
  lowBattery: z.array(DeviceRef),
});
export type Overview = z.infer<typeof Overview>;

/** PROTOCOL/DESIGN default: battery ≤ 20 % is low. */
export const LOW_BATTERY_PCT = 20;

/** Epoch ms of the last local midnight in a time zone (Intl: no tz database of our own). */
export function startOfDay(now: number, timeZone: string): number {
  const parts = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' }).formatToParts(now);
  const get = (t: string) => Number(parts.find((p) => p.type === t)?.value ?? 0);
  const localAsUtc = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second'));
  const offset = localAsUtc - Math.floor(now / 1000) * 1000;
  return Date.UTC(get('year'), get('month') - 1, get('day')) - offset;
}

function quantile(sorted: number[], q: number): number | null {
  if (!sorted.length) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return Math.round(sorted[i]! / 1000);
}

/** Pages through list() (capped at 1000 a page by the contract), one page after the other. */
export async function listAll(service: IncidentService, filter: IncidentFilter, maxPages = 20): Promise<Incident[]> {
  const out: Incident[] = [];
  for (let page = 0; page < maxPages; page++) {
    const batch = await service.list({ ...filter, limit: 1000, offset: page * 1000 });
    out.push(...batch);
    if (batch.length < 1000) break;
  }
  return out;
}

export function computeOverview(input: {
  registry: RegistryReader;
  active: readonly Incident[];
  recent: readonly Incident[];
  deviceState?: ((id: string) => DeviceLive | undefined) | undefined;
  now: number;
  defaultTimezone: string;
  centerId?: string | null | undefined;
}): Overview {
  const { registry, now } = input;
  const inScope = (c: string) => !input.centerId || c === input.centerId;
  const siteLevel = new Map<string, Level>();
  for (const i of input.active) {
    if (i.level === 'green') continue;
    const prev = siteLevel.get(i.siteId);
    if (prev !== 'red') siteLevel.set(i.siteId, i.level);
  }
  const empty = () => ({ red: 0, yellow: 0, green: 0 });
  const centerSites = new Map<string, { red: number; yellow: number; green: number }>();
  const gridSites = new Map<string, { red: number; yellow: number; green: number }>();
  for (const s of registry.sites()) {
    if (!inScope(s.centerId)) continue;
    const lvl = siteLevel.get(s.id) ?? 'green';
    const c = centerSites.get(s.centerId) ?? empty();
    c[lvl]++;
    centerSites.set(s.centerId, c);
    if (s.gridId) {
      const g = gridSites.get(s.gridId) ?? empty();
      g[lvl]++;
      gridSites.set(s.gridId, g);
    }
  }

  const offlineByIncident = new Set(input.active.filter((i) => i.condition === 'offline').map((i) => i.deviceId));
  const lowByIncident = new Set(input.active.filter((i) => i.condition === 'low_battery').map((i) => i.deviceId));
  const offline: Overview['offline'] = [];
  const lowBattery: Overview['lowBattery'] = [];
  const devicesPerCenter = new Map<string, number>();
  for (const d of registry.all()) {
    if (!inScope(d.centerId) || !d.enabled) continue;
    devicesPerCenter.set(d.centerId, (devicesPerCenter.get(d.centerId) ?? 0) + 1);
    const s = input.deviceState?.(d.id);
    const battery = typeof s?.last?.battery === 'number' ? s.last.battery : null;
    const ref = { deviceId: d.id, siteId: d.siteId, siteName: registry.site(d.siteId)?.name ?? d.siteId, centerId: d.centerId, lastSeen: s?.lastSeen ?? null, battery };
    if (s?.online === false || offlineByIncident.has(d.id)) offline.push(ref);
    if ((battery !== null && battery <= LOW_BATTERY_PCT) || lowByIncident.has(d.id)) lowBattery.push(ref);
  }

  const centers = registry.centers().filter((c) => inScope(c.id)).map((c) => {
    const tz = c.timezone ?? input.defaultTimezone;
    const active = input.active.filter((i) => i.centerId === c.id);
    const openByAge = AGE_BUCKETS.map((b) => ({ key: b.key, red: 0, yellow: 0 }));
    for (const i of active) {
      if (i.level === 'green') continue;
      const age = now - i.openedAt;
      const idx = AGE_BUCKETS.findIndex((b) => age < b.maxMs);
      openByAge[idx]![i.level]++;
    }
    const since = startOfDay(now, tz);
    const today = input.recent.filter((i) => i.centerId === c.id && i.openedAt >= since);
    const ack = today.filter((i) => i.acknowledgedAt !== null).map((i) => i.acknowledgedAt! - i.openedAt).sort((a, b) => a - b);
    const site = today.filter((i) => i.onSiteAt !== null).map((i) => i.onSiteAt! - i.openedAt).sort((a, b) => a - b);
    return {
      id: c.id,
      name: c.name,
      timezone: tz,
      sites: centerSites.get(c.id) ?? empty(),
      open: { red: active.filter((i) => i.level === 'red').length, yellow: active.filter((i) => i.level === 'yellow').length },
      devices: devicesPerCenter.get(c.id) ?? 0,
      devicesOffline: offline.filter((d) => d.centerId === c.id).length,
      batteriesLow: lowBattery.filter((d) => d.centerId === c.id).length,
      openByAge,
      today: {
        opened: today.length,
        acknowledged: ack.length,
        onSite: site.length,
        resolved: today.filter((i) => i.resolvedAt !== null).length,
        ackMedianSec: quantile(ack, 0.5),
        ackP90Sec: quantile(ack, 0.9),
        siteMedianSec: quantile(site, 0.5),
        siteP90Sec: quantile(site, 0.9),
      },
    };
  });

  const grids = registry.grids().filter((g) => inScope(g.centerId)).map((g) => ({
    id: g.id,
    name: g.name,
    centerId: g.centerId,
    workerName: g.workerId ? registry.person(g.workerId)?.name ?? g.workerId : null,
    sites: gridSites.get(g.id) ?? empty(),
    open: input.active.filter((i) => i.gridId === g.id).length,
  })).sort((a, b) => b.sites.red - a.sites.red || b.sites.yellow - a.sites.yellow || a.id.localeCompare(b.id));

  const cap = 100;
  return { generatedAt: now, centers, grids, offline: offline.slice(0, cap), lowBattery: lowBattery.slice(0, cap) };
}
