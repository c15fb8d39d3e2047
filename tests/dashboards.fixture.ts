// The dashboards suites' world: the real registry and alerts modules on an in-memory SQLite
// database, a registry of two centers, findings raised as the rule engine would, and a server
// with one user per role.
import pino from 'pino';
import { Registry as Metrics } from 'prom-client';
import { createEventBus } from '../contracts/bus.ts';
import { Config } from '../contracts/config.ts';
import type { Finding } from '../contracts/findings.ts';
import { systemClock } from '../contracts/ports.ts';
import { RegistryFile } from '../contracts/registry.ts';
import { createRegistry } from '../registry/index.ts';
import { sqliteRegistryStorage } from './support/registries.ts';
import { createAlerts } from '../alerts/index.ts';
import { createDeadLetterStore } from '../ingest/dead-letters.ts';
import { openDatabase } from '../app/db.ts';
import { createDeadLetterStorage, createUserStorage, sqliteRunner } from '../storage/index.ts';
import { createPrivacy } from '../privacy/index.ts';
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
    { id: 's2', kind: 'home', centerId: 'c1', gridId: 'g2', name: '梅园新村 5-1-102', address: '梅园新村5栋1单元102', resident: { name: '李建国', age: 79, phone: 'G2-RESIDENT-PHONE' } },
    { id: 's9', kind: 'home', centerId: 'c2', gridId: 'g9', name: 'West 9', address: '9 West Road', resident: { name: 'Walter West', phone: '+86 C2-RESIDENT-PHONE', notes: 'C2-RESIDENT-NOTES' }, contacts: [{ name: 'C2-CONTACT', phone: '+86 C2-CONTACT-PHONE' }] },
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
    { id: 'w9', name: 'West worker', role: 'grid_worker', centerId: 'c2', phone: '+86 C2-WORKER-PHONE' },
    { id: 'op9', name: 'West operator', role: 'operator', centerId: 'c2', phone: '+86 C2-OPERATOR-PHONE' },
    { id: 'sup1', name: '赵值班长', role: 'supervisor', centerId: 'c1' },
  ],
});

/** A finding as the rule engine would raise it, for the site and device given. */
export function finding(deviceId: string, over: Partial<Finding> = {}): Finding {
  const d = REGISTRY.devices.find((x) => x.id === deviceId)!;
  const site = REGISTRY.sites.find((x) => x.id === d.siteId)!;
  return {
    ruleId: 'smoke.alarm', level: 'red', score: 90, category: 'fire', condition: 'alarm',
    message: { en: 'Smoke alarm', zh: '烟感火警' },
    deviceId, deviceType: d.type, siteId: site.id, centerId: site.centerId, gridId: site.gridId,
    zone: undefined, ts: Date.now(), confirmed: false, clears: false, ...over,
  };
}

export const OFFLINE = { ruleId: 'any.offline', level: 'yellow', score: 50, category: 'maintenance', condition: 'offline', message: { en: 'Detector offline', zh: '探测器离线' } } as const;
export const LOW_BATTERY = { ruleId: 'smoke.low_battery', level: 'yellow', score: 45, category: 'maintenance', condition: 'low_battery', message: { en: 'Low battery', zh: '低电量' } } as const;

/** Fast scrypt for tests (the default cost is for real deployments). */
export const TEST_COST = { N: 1024, r: 8, p: 1 };

export const USERS = {
  operator: { username: 'op', role: 'operator', personId: 'op1', centerId: 'c1' },
  grid_worker: { username: 'worker', role: 'grid_worker', personId: 'w1', centerId: 'c1' },
  supervisor: { username: 'sup', role: 'supervisor', personId: 'sup1', centerId: 'c1' },
  admin: { username: 'admin', role: 'admin' },
} as const;
export const PASSWORD = 'correct horse battery';

/** Strings only center c2's data holds: a c1 user's answer containing one is a leak (issue 16). */
export const OTHER_CENTER_MARKERS = ['C2-RESIDENT-PHONE', 'C2-RESIDENT-NOTES', 'C2-CONTACT', 'C2-WORKER-PHONE', 'C2-OPERATOR-PHONE', 'C2-DEAD-LETTER', 'Walter West', 'West operator', 'sd-9'];

export async function makeServer(over: Partial<Omit<HttpDeps, 'config'>> & { config?: Partial<HttpDeps['config']> } = {}) {
  const { config: configOver, ...depsOver } = over;
  const db = openDatabase(':memory:');
  const bus = createEventBus();
  const metrics = new Metrics();
  const logger = pino({ level: 'silent' });
  const registry = createRegistry({ storage: sqliteRegistryStorage(db), logger });
  await registry.start();
  await registry.importFile(REGISTRY);
  const alerts = createAlerts({ db, bus, registry, clock: systemClock, logger, metrics, config: { timezone: 'Asia/Shanghai', publicUrl: 'http://localhost' }, cron: false });
  await alerts.start();
  // Issue 18 point 8: exports, erasures and the read audit, on the same database.
  const privacy = createPrivacy({ db, registry, clock: systemClock, logger, config: Config.parse({}).privacy });
  // Real dead letters: one from each center's device, and one from a device nobody registered.
  const deadLetters = createDeadLetterStore({ storage: createDeadLetterStorage({ sql: sqliteRunner(db) }), logger });
  await deadLetters.start();
  deadLetters.add({ at: 1, deviceId: 'sd-1', topic: 'v1/devices/sd-1/telemetry', code: 'WF_INGEST_SCHEMA', reason: 'smoke: expected number', index: undefined, payload: '{"smoke":"C1-DEAD-LETTER"}' });
  deadLetters.add({ at: 2, deviceId: 'sd-9', topic: 'v1/devices/sd-9/telemetry', code: 'WF_INGEST_SCHEMA', reason: 'smoke: expected number', index: undefined, payload: '{"smoke":"C2-DEAD-LETTER"}' });
  deadLetters.add({ at: 3, deviceId: undefined, topic: 'v1/devices/ghost/telemetry', code: 'WF_INGEST_TOPIC', reason: 'unknown device', index: undefined, payload: '{"smoke":"C2-DEAD-LETTER-ORPHAN"}' });
  // Users and sessions through the seam, on this SQLite database unless a test hands in others (a shared PostgreSQL).
  const users = depsOver.users ?? createUserStorage({ sql: sqliteRunner(db) });
  const server = createHttpServer({
    config: { ...Config.parse({}).http, host: '127.0.0.1', port: 0, publicUrl: 'http://localhost', timezone: 'Asia/Shanghai', ...configOver },
    db,
    users,
    registry,
    incidents: alerts.service,
    bus,
    metrics,
    health: () => ({ live: true, ready: true, checks: { database: true } }),
    logger,
    passwordCost: TEST_COST,
    deadLetters,
    onDuty: (centerId: string, at: number) => alerts.rosters.onDuty(centerId, at),
    privacy,
    ...depsOver,
  });
  for (const u of Object.values(USERS)) if (!(await users.find(u.username))) await createUser(users, { ...u, password: PASSWORD }, { cost: TEST_COST });
  /** Raises a finding through the real alerts module and returns the incident it opened or updated. */
  const raise = async (deviceId: string, over: Partial<Finding> = {}) => {
    const f = finding(deviceId, over);
    await alerts.handleFinding(f);
    const found = (await alerts.service.list({ siteId: f.siteId, active: true })).find((i) => i.deviceId === deviceId && i.condition === f.condition);
    if (!found) throw new Error(`no incident for ${deviceId} ${f.condition}`);
    return found;
  };
  const close = async () => {
    await server.stop();
    await alerts.stop();
    await registry.stop();
    db.close();
  };
  return { server, app: server.app, db, users, bus, incidents: alerts.service, alerts, registry, metrics, privacy, raise, close };
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
