// Test inputs for the dashboards suites: a small in-memory registry and incident service that
// follow the contracts (the real alerts module replaces the latter once it has landed), and a
// server with one user per role.
import Database from 'better-sqlite3';
import pino from 'pino';
import { Registry as Metrics } from 'prom-client';
import { createEventBus, type EventBus } from '../contracts/bus.ts';
import { WatchfireError } from '../contracts/errors.ts';
import type { AuditEntry, Incident, IncidentFilter, IncidentService, IncidentState, ResolveBody } from '../contracts/incidents.ts';
import { IncidentFilter as IncidentFilterSchema } from '../contracts/incidents.ts';
import type { RegistryReader } from '../contracts/ports.ts';
import { DEFAULT_INTERVAL_SEC, RegistryFile, type DeviceInfo } from '../contracts/registry.ts';
import { createHttpServer, createUser } from '../dashboards/index.ts';
import type { HttpDeps } from '../dashboards/kit.ts';

export const REGISTRY = RegistryFile.parse({
  centers: [
    { id: 'c1', name: '城东联合消防中心', timezone: 'Asia/Shanghai' },
    { id: 'c2', name: 'West fire center', timezone: 'Asia/Shanghai' },
  ],
  grids: [
    { id: 'g1', centerId: 'c1', name: '梅园一网格', workerId: 'w1' },
    { id: 'g2', centerId: 'c1', name: '梅园二网格' },
    { id: 'g9', centerId: 'c2', name: 'West grid', workerId: 'w9' },
  ],
  sites: [
    { id: 's1', kind: 'home', centerId: 'c1', gridId: 'g1', name: '梅园新村 3-2-401', address: '梅园新村3栋2单元401', resident: { name: '王秀英', age: 84, phone: '13800000001' }, contacts: [{ name: '王强', relation: '儿子', phone: '13900000002' }] },
    { id: 's2', kind: 'home', centerId: 'c1', gridId: 'g2', name: '梅园新村 5-1-102', address: '梅园新村5栋1单元102', resident: { name: '李建国', age: 79 } },
    { id: 's9', kind: 'home', centerId: 'c2', gridId: 'g9', name: 'West 9', address: '9 West Road' },
  ],
  devices: [
    { id: 'sd-1', type: 'smoke_detector', siteId: 's1', location: '厨房吊顶' },
    { id: 'sd-2', type: 'smoke_detector', siteId: 's1', location: '卧室' },
    { id: 'sd-3', type: 'smoke_detector', siteId: 's2', location: 'kitchen' },
    { id: 'sd-9', type: 'smoke_detector', siteId: 's9', location: 'hall' },
  ],
  people: [
    { id: 'op1', name: '陈值班', role: 'operator', centerId: 'c1' },
    { id: 'w1', name: '张网格', role: 'grid_worker', centerId: 'c1', phone: '13700000003' },
    { id: 'w2', name: '刘网格', role: 'grid_worker', centerId: 'c1' },
    { id: 'w9', name: 'West worker', role: 'grid_worker', centerId: 'c2' },
    { id: 'sup1', name: '赵值班长', role: 'supervisor', centerId: 'c1' },
  ],
});

export function memRegistry(file: RegistryFile = REGISTRY): RegistryReader {
  const info = (d: RegistryFile['devices'][number]): DeviceInfo => {
    const site = file.sites.find((s) => s.id === d.siteId)!;
    return { id: d.id, type: d.type, siteId: d.siteId, centerId: site.centerId, gridId: site.gridId, location: d.location, intervalSec: d.intervalSec ?? DEFAULT_INTERVAL_SEC[d.type], enabled: d.enabled, rules: d.rules, meta: d.meta };
  };
  const devices = new Map(file.devices.map((d) => [d.id, info(d)]));
  return {
    get: (id) => devices.get(id),
    verifySecret: () => 'unknown',
    all: () => devices.values(),
    center: (id) => file.centers.find((c) => c.id === id),
    grid: (id) => file.grids.find((g) => g.id === id),
    site: (id) => file.sites.find((s) => s.id === id),
    person: (id) => file.people.find((p) => p.id === id),
    roster: (id) => file.rosters.find((r) => r.centerId === id),
    centers: () => file.centers,
    grids: () => file.grids,
    sites: () => file.sites,
    people: () => file.people,
    devicesOfSite: (siteId) => [...devices.values()].filter((d) => d.siteId === siteId),
  };
}

/** The lifecycle of DESIGN.md, in memory: every transition audited, refused ones change nothing. */
export function memIncidents(bus: EventBus, now: () => number = Date.now) {
  const incidents = new Map<string, Incident>();
  const audit: AuditEntry[] = [];
  let n = 0;
  const must = (id: string) => {
    const i = incidents.get(id);
    if (!i) throw new WatchfireError('WF_INCIDENT_NOT_FOUND', `No incident ${id}`);
    return i;
  };
  const move = (id: string, actor: string, action: string, from: readonly IncidentState[], to: IncidentState | null, patch: (i: Incident, t: number) => Partial<Incident>, note?: string): Incident => {
    const i = must(id);
    if (!from.includes(i.state)) throw new WatchfireError('WF_INCIDENT_TRANSITION', `Cannot ${action} an incident that is ${i.state}`);
    const t = now();
    const next: Incident = { ...i, ...patch(i, t), state: to ?? i.state, updatedAt: t };
    incidents.set(id, next);
    audit.push({ id: audit.length + 1, incidentId: id, at: t, actor, action, fromState: i.state, toState: to ?? i.state, note: note ?? null });
    bus.emit('incident', { kind: 'transition', incident: next, at: t, actor, ...(note ? { note } : {}) });
    return next;
  };
  const service: IncidentService & { open(p: Partial<Incident> & { siteId: string; deviceId: string }): Incident } = {
    open(p) {
      const t = now();
      const site = REGISTRY.sites.find((s) => s.id === p.siteId)!;
      const inc: Incident = {
        id: `inc-${++n}`, key: `site:${p.siteId}:fire`, level: 'red', score: 90, category: 'fire', condition: 'alarm', state: 'open',
        centerId: site.centerId, gridId: site.gridId ?? null, zone: null,
        title: { en: 'Smoke alarm', zh: '烟感火警' }, confirmed: false, findingCount: 1, openedAt: t, updatedAt: t, lastFindingAt: t,
        acknowledgedAt: null, dispatchedAt: null, onSiteAt: null, resolvedAt: null, reviewedAt: null, assignee: null,
        disposition: null, feedback: null, recurrenceOf: null, ...p,
      };
      incidents.set(inc.id, inc);
      audit.push({ id: audit.length + 1, incidentId: inc.id, at: t, actor: 'system', action: 'open', fromState: null, toState: 'open', note: null });
      bus.emit('incident', { kind: 'opened', incident: inc, at: t });
      return inc;
    },
    list(filter: IncidentFilter) {
      const f = IncidentFilterSchema.parse(filter);
      return [...incidents.values()].filter((i) =>
        (!f.state || f.state.includes(i.state)) && (!f.level || f.level.includes(i.level)) && (!f.centerId || i.centerId === f.centerId) &&
        (!f.gridId || i.gridId === f.gridId) && (!f.siteId || i.siteId === f.siteId) && (!f.assignee || i.assignee === f.assignee) &&
        (!f.active || (i.state !== 'resolved' && i.state !== 'reviewed')),
      ).slice(f.offset, f.offset + f.limit);
    },
    get: (id) => incidents.get(id),
    timeline: (id) => audit.filter((a) => a.incidentId === id),
    acknowledge: (id, actor, note) => move(id, actor, 'acknowledge', ['open'], 'acknowledged', (_i, t) => ({ acknowledgedAt: t }), note),
    dispatch: (id, actor, assignee, note) => move(id, actor, 'dispatch', ['open', 'acknowledged', 'dispatched'], 'dispatched', (i, t) => ({ dispatchedAt: t, assignee, acknowledgedAt: i.acknowledgedAt ?? t }), note),
    enRoute: (id, actor, note) => move(id, actor, 'en_route', ['dispatched'], null, () => ({}), note),
    onSite: (id, actor, note) => move(id, actor, 'on_site', ['acknowledged', 'dispatched'], 'on_site', (_i, t) => ({ onSiteAt: t }), note),
    resolve: (id, actor, body: ResolveBody) => move(id, actor, 'resolve', ['open', 'acknowledged', 'dispatched', 'on_site'], 'resolved', (_i, t) => ({ resolvedAt: t, disposition: body.disposition, feedback: body.feedback }), body.feedback),
    review: (id, actor, note) => move(id, actor, 'review', ['resolved'], 'reviewed', (_i, t) => ({ reviewedAt: t }), note),
  };
  return service;
}

/** Fast scrypt for tests (the default cost is for real deployments). */
export const TEST_COST = { N: 1024, r: 8, p: 1 };

export const USERS = {
  operator: { username: 'op', role: 'operator', personId: 'op1', centerId: 'c1' },
  grid_worker: { username: 'worker', role: 'grid_worker', personId: 'w1', centerId: 'c1' },
  supervisor: { username: 'sup', role: 'supervisor', personId: 'sup1', centerId: 'c1' },
  admin: { username: 'admin', role: 'admin' },
} as const;
export const PASSWORD = 'correct horse battery';

export async function makeServer(over: Partial<HttpDeps> = {}) {
  const db = new Database(':memory:');
  const bus = createEventBus();
  const incidents = memIncidents(bus);
  const metrics = new Metrics();
  const server = createHttpServer({
    config: { host: '127.0.0.1', port: 0, publicUrl: 'http://localhost', timezone: 'Asia/Shanghai' },
    db,
    registry: memRegistry(),
    incidents,
    bus,
    metrics,
    health: () => ({ live: true, ready: true, checks: { database: true } }),
    logger: pino({ level: 'silent' }),
    ...over,
  });
  for (const u of Object.values(USERS)) await createUser(db, { ...u, password: PASSWORD }, { cost: TEST_COST });
  return { server, app: server.app, db, bus, incidents, metrics };
}

export interface Session {
  cookie: string;
  csrf: string;
}

export async function login(app: ReturnType<typeof createHttpServer>['app'], username: string, password = PASSWORD): Promise<Session> {
  const res = await app.inject({ method: 'POST', url: '/api/auth/login', payload: { username, password } });
  if (res.statusCode !== 200) throw new Error(`login ${username}: ${res.statusCode} ${res.body}`);
  const c = res.cookies.find((x) => x.name === 'wf_session')!;
  return { cookie: `wf_session=${c.value}`, csrf: (res.json() as { csrf: string }).csrf };
}
