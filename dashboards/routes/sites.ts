// The site view: who lives there and whom to call, the devices with their live state, and a
// chart of recent readings read from InfluxDB by the server (the browser never talks InfluxQL).
import { z } from 'zod';
import type { DeviceType } from '../../contracts/protocol.ts';
import { aggregateField, DOWNSAMPLE_STEP_SEC, DOWNSAMPLED, LONG_TERM_RP, RAW_TAIL_MS, readsLongTerm } from '../../contracts/downsampling.ts';
import { ApiError, httpError } from '../http-errors.ts';
import { auditRead, canSee, personalSite, userOf, type App, type HttpDeps } from '../kit.ts';
import { canSeeSite } from '../scope.ts';
import type { User } from '../users.ts';
import { IncidentView, personName, queueOrder, viewOf } from '../views.ts';

/** The numeric telemetry worth a chart, per device type (PROTOCOL.md telemetry fields). */
export const CHART_FIELDS: Record<DeviceType, readonly string[]> = {
  smoke_detector: ['smoke', 'temp', 'co', 'battery'],
  fire_panel: ['pointsInAlarm', 'pointsInFault', 'pointsDisabled'],
  settlement_sensor: ['settlement', 'tiltX', 'tiltY', 'crack'],
};

const INFLUX_TIMEOUT_MS = 5_000;
const Id = z.object({ id: z.string().min(1).max(64) });

const DeviceView = z.object({
  id: z.string(),
  type: z.string(),
  location: z.string(),
  enabled: z.boolean(),
  intervalSec: z.number(),
  online: z.boolean().nullable().describe('null: not heard from since the server started'),
  lastSeen: z.number().nullable(),
  last: z.record(z.string(), z.union([z.number(), z.string()])),
  battery: z.number().nullable(),
});

const SiteView = z.object({
  site: z.object({
    id: z.string(),
    kind: z.string(),
    name: z.string(),
    address: z.string(),
    resident: z.object({ name: z.string(), phone: z.string().nullable(), age: z.number().nullable(), livesAlone: z.boolean(), notes: z.string().nullable() }).nullable(),
    contacts: z.array(z.object({ name: z.string(), relation: z.string().nullable(), phone: z.string().nullable(), email: z.string().nullable() })),
  }),
  center: z.object({ id: z.string(), name: z.string(), timezone: z.string() }),
  grid: z.object({ id: z.string(), name: z.string(), workerId: z.string().nullable(), workerName: z.string().nullable(), workerPhone: z.string().nullable() }).nullable(),
  devices: z.array(DeviceView),
  incidents: z.array(IncidentView),
});

const Series = z.object({ device: z.string(), field: z.string(), points: z.array(z.tuple([z.number(), z.number()])) });
const Readings = z.object({
  from: z.number(), to: z.number(), stepSec: z.number(),
  source: z.enum(['raw', 'long_term']).describe('raw readings, or the 5-minute aggregates (ranges over 48 h or past the raw retention; the newest minutes raw)'),
  series: z.array(Series),
});

/** Each step's peak (max), so the spike that raised an alarm is drawn, not averaged away; battery its lowest (min) for the same reason (issue 17 point 6). */
const aggOf = (f: string) => (f === 'battery' ? 'min' : 'max');

/** InfluxQL string literal: ids are already restricted to [A-Za-z0-9_.:-], this is belt and braces. */
const lit = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
const ident = (s: string) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

function timeOf(v: unknown): number | undefined {
  if (typeof v === 'number') return v > 1e15 ? Math.round(v / 1e6) : v; // ns from some clients
  if (typeof v === 'string') {
    const t = Date.parse(v);
    return Number.isNaN(t) ? undefined : t;
  }
  if (v instanceof Date) return v.getTime();
  return undefined;
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** Rows of two queries on the same steps, one row per step: each field's max (battery's min) of both. */
function mergeSteps(a: Array<Record<string, unknown>>, b: Array<Record<string, unknown>>, fields: readonly string[]): Array<Record<string, unknown>> {
  const byTime = new Map<number, Record<string, unknown>>();
  for (const row of [...a, ...b]) {
    const t = timeOf(row.time);
    if (t === undefined) continue;
    const have = byTime.get(t);
    if (!have) {
      byTime.set(t, { ...row, time: t });
      continue;
    }
    for (const f of fields) {
      const v = row[f];
      if (typeof v !== 'number') continue;
      const old = have[f];
      have[f] = typeof old !== 'number' ? v : aggOf(f) === 'min' ? Math.min(old, v) : Math.max(old, v);
    }
  }
  return [...byTime.values()];
}

export function siteRoutes(app: App, deps: HttpDeps): void {
  const visibleSite = async (id: string, user: User) => {
    const site = deps.registry.site(id);
    if (!site || !(await canSeeSite(deps, user, site))) throw httpError('WF_HTTP_NOT_FOUND', `No site ${id}`);
    return site;
  };

  app.route({
    method: 'GET',
    url: '/api/sites/:id',
    config: { roles: ['operator', 'grid_worker', 'supervisor', 'admin'] },
    schema: { tags: ['sites'], summary: "Site view: resident, emergency contacts, devices with live state, recent incidents. A grid worker sees the homes of their grid and of their tasks only", params: Id, response: { 200: SiteView, 401: ApiError, 403: ApiError, 404: ApiError } },
    handler: async (req) => {
      const user = userOf(req);
      const site = await visibleSite(req.params.id, user);
      if (personalSite(site)) auditRead(deps, req, 'site', site.id, site.id, site.centerId);
      const center = deps.registry.center(site.centerId);
      const grid = site.gridId ? deps.registry.grid(site.gridId) : undefined;
      const worker = grid?.workerId ? deps.registry.person(grid.workerId) : undefined;
      const devices = deps.registry.devicesOfSite(site.id).map((d) => {
        const s = deps.deviceState?.(d.id);
        const battery = s?.last?.battery;
        return {
          id: d.id,
          type: d.type,
          location: d.location,
          enabled: d.enabled,
          intervalSec: d.intervalSec,
          online: s ? s.online : null,
          lastSeen: s?.lastSeen ?? null,
          last: s?.last ?? {},
          battery: typeof battery === 'number' ? battery : null,
        };
      });
      const incidents = (await deps.incidents.list({ siteId: site.id, limit: 50 }))
        .filter((i) => canSee(user, i))
        .sort((a, b) => b.openedAt - a.openedAt)
        .slice(0, 20)
        .sort(queueOrder)
        .map((i) => viewOf(deps.registry, i, deps.config.timezone));
      const r = site.resident;
      return {
        site: {
          id: site.id,
          kind: site.kind,
          name: site.name,
          address: site.address,
          resident: r ? { name: r.name, phone: r.phone ?? null, age: r.age ?? null, livesAlone: r.livesAlone, notes: r.notes ?? null } : null,
          contacts: site.contacts.map((c) => ({ name: c.name, relation: c.relation ?? null, phone: c.phone ?? null, email: c.email ?? null })),
        },
        center: { id: site.centerId, name: center?.name ?? site.centerId, timezone: center?.timezone ?? deps.config.timezone },
        grid: grid ? { id: grid.id, name: grid.name, workerId: grid.workerId ?? null, workerName: personName(deps.registry, grid.workerId), workerPhone: worker?.phone ?? null } : null,
        devices,
        incidents,
      };
    },
  });

  app.route({
    method: 'GET',
    url: '/api/sites/:id/readings',
    config: { roles: ['operator', 'grid_worker', 'supervisor', 'admin'] },
    schema: {
      tags: ['sites'],
      summary: "Recent readings of the site's devices from InfluxDB (each step's max; battery min), for the chart",
      params: Id,
      querystring: z.object({ hours: z.coerce.number().int().min(1).max(24 * 366).default(24) }),
      response: { 200: Readings, 400: ApiError, 404: ApiError, 502: ApiError },
    },
    handler: async (req) => {
      const user = userOf(req);
      const site = await visibleSite(req.params.id, user);
      const to = deps.clock?.now() ?? Date.now();
      const hours = req.query.hours;
      const from = to - hours * 3600_000;
      // Long ranges from the 5-minute aggregates (contracts/downsampling.ts has the cut-over).
      const longTerm = readsLongTerm(from, to, deps.longTerm);
      // About 120 points across the chart, on a whole number of minutes; from the aggregates on a
      // whole number of their buckets, so no bucket is split between two points.
      const unit = longTerm ? DOWNSAMPLE_STEP_SEC : 60;
      const stepSec = Math.max(unit, Math.round((hours * 3600) / 120 / unit) * unit);
      const source = longTerm ? 'long_term' as const : 'raw' as const;
      if (!deps.influx) return { from, to, stepSec, source, series: [] };
      const influx = deps.influx;
      const ask = async (q: string, device: string) => {
        try {
          return await withTimeout(influx.query(q), INFLUX_TIMEOUT_MS);
        } catch (err) {
          req.log.warn({ err, device }, 'chart query failed');
          throw httpError('WF_HTTP_UPSTREAM', `InfluxDB did not answer the chart query: ${(err as Error).message}`);
        }
      };
      const rawQuery = (fields: readonly string[], device: string, since: number) =>
        `SELECT ${fields.map((f) => `${aggOf(f)}(${ident(f)}) AS ${ident(f)}`).join(', ')} FROM "telemetry" WHERE "device" = ${lit(device)} AND time > ${since}ms AND time <= ${to}ms GROUP BY time(${stepSec}s) fill(none)`;
      const series: z.infer<typeof Series>[] = [];
      // One query per device: a site has a handful, and the answer needs no tag parsing.
      for (const d of deps.registry.devicesOfSite(site.id)) {
        const fields = CHART_FIELDS[d.type];
        let rows: Array<Record<string, unknown>>;
        if (!longTerm) rows = await ask(rawQuery(fields, d.id, from), d.id);
        else {
          // max of the bucket maxes (min of mins for battery): the same value the raw query gives.
          const lt = `SELECT ${fields.map((f) => `${aggOf(f)}(${ident(aggregateField(aggOf(f), f))}) AS ${ident(f)}`).join(', ')} FROM ${ident(LONG_TERM_RP)}.${ident(DOWNSAMPLED)} WHERE "device" = ${lit(d.id)} AND time > ${from}ms AND time <= ${to}ms GROUP BY time(${stepSec}s) fill(none)`;
          const aggregated = await ask(lt, d.id);
          // The newest minutes are not aggregated yet; with no aggregates at all (InfluxDB 2 without
          // deploy/influxdb2's task, or an install older than the continuous query) the raw readings.
          const tail = await ask(rawQuery(fields, d.id, aggregated.length ? Math.max(from, to - RAW_TAIL_MS) : from), d.id);
          rows = mergeSteps(aggregated, tail, fields);
        }
        for (const f of fields) {
          const points: Array<[number, number]> = [];
          for (const row of rows) {
            const t = timeOf(row.time);
            const v = row[f];
            if (t !== undefined && typeof v === 'number' && Number.isFinite(v)) points.push([t, v]);
          }
          if (points.length) series.push({ device: d.id, field: f, points: points.sort((a, b) => a[0] - b[0]) });
        }
      }
      return { from, to, stepSec, source, series };
    },
  });
}
