// Shared setup of the alerts suites: a small registry (a fire center with a day and a night
// shift, a home with a resident and emergency contacts, a bank with a fire panel), the real
// registry module on a SQLite file, a real event bus, and createAlerts on top.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHmac, timingSafeEqual } from 'node:crypto';
import pino from 'pino';
import { Registry as MetricsRegistry } from 'prom-client';
import { openDatabase, type Db } from '../app/db.ts';
import { createRegistry, type Registry } from '../registry/index.ts';
import { createEventBus, type EventBus } from '../contracts/bus.ts';
import { RegistryFile, type RegistryFile as RegistryFileType } from '../contracts/registry.ts';
import type { Finding } from '../contracts/findings.ts';
import type { IncidentEvent } from '../contracts/incidents.ts';
import type { Clock } from '../contracts/ports.ts';
import { createAlerts, type AlertsDeps, type Alerts, type OutboundMessage } from '../alerts/index.ts';

/** Monday 2026-11-23 10:00 in Shanghai: the day shift (08:00–20:00) is on duty. */
export const DAY_SHIFT_TIME = Date.parse('2026-11-23T10:00:00+08:00');
export const NIGHT_SHIFT_TIME = Date.parse('2026-11-23T22:00:00+08:00');
export const WEBHOOK_SECRET = 'test-webhook-secret-0123456789';

export function registryFile(opts: { contactWebhook?: string } = {}): RegistryFileType {
  return RegistryFile.parse({
    centers: [{ id: 'fc1', name: '鼓楼联合消防中心', timezone: 'Asia/Shanghai' }],
    grids: [{ id: 'g1', centerId: 'fc1', name: '幸福网格', workerId: 'gw-wang' }],
    sites: [
      {
        id: 'h1', kind: 'home', centerId: 'fc1', gridId: 'g1', name: '张桂英家', address: '幸福小区3栋201',
        resident: { name: '张桂英', phone: '13800000001', age: 84 },
        contacts: [
          { name: '李明', relation: '儿子', phone: '13900000001', ...(opts.contactWebhook ? { webhook: opts.contactWebhook } : {}) },
          { name: '王芳', relation: '邻居', phone: '13900000002', email: 'wangfang@example.org', locale: 'en' },
        ],
      },
      { id: 'b1', kind: 'business', centerId: 'fc1', name: '工商银行', address: '鼓楼大街88号', contacts: [{ name: '周主任', phone: '13700000000' }] },
    ],
    devices: [
      { id: 'sd1', type: 'smoke_detector', siteId: 'h1', location: '厨房' },
      { id: 'sd2', type: 'smoke_detector', siteId: 'h1', location: '卧室' },
      { id: 'fp1', type: 'fire_panel', siteId: 'b1', location: '消防控制室' },
    ],
    people: [
      { id: 'op-liu', name: '刘洋', role: 'operator', centerId: 'fc1', email: 'liu@example.org' },
      { id: 'op-sun', name: '孙丽', role: 'operator', centerId: 'fc1', email: 'sun@example.org', locale: 'en' },
      { id: 'op-zhou', name: '周强', role: 'operator', centerId: 'fc1', email: 'zhou@example.org' },
      { id: 'op-wu', name: '吴芳', role: 'operator', centerId: 'fc1', email: 'wu@example.org' },
      { id: 'sup-huang', name: '黄志明', role: 'supervisor', centerId: 'fc1', email: 'huang@example.org', phone: '13600000010' },
      { id: 'sup-ma', name: '马丽', role: 'supervisor', centerId: 'fc1', email: 'ma@example.org' },
      { id: 'gw-wang', name: '王红梅', role: 'grid_worker', centerId: 'fc1', phone: '13600000021' },
      { id: 'li-119', name: '消防救援站值班室', role: 'liaison', centerId: 'fc1', phone: '02500000119', email: 'liaison@example.org' },
      { id: 'mgr-qian', name: '钱国华', role: 'manager', centerId: 'fc1', email: 'qian@example.org' },
    ],
    rosters: [{
      centerId: 'fc1', timezone: 'Asia/Shanghai', liaison: 'li-119', manager: 'mgr-qian',
      shifts: [
        { id: 'day', name: '白班', start: '0 8 * * *', durationMinutes: 720, operators: ['op-liu', 'op-sun'], supervisor: 'sup-huang' },
        { id: 'night', name: '夜班', start: '0 20 * * *', durationMinutes: 720, operators: ['op-zhou', 'op-wu'], supervisor: 'sup-ma' },
      ],
    }],
  });
}

export function finding(over: Partial<Finding> = {}): Finding {
  return {
    ruleId: 'smoke.alarm', level: 'red', score: 90, category: 'fire', condition: 'alarm',
    message: { en: 'Fire: smoke alarm (kitchen)', zh: '火警：烟感报警 (厨房)' },
    deviceId: 'sd1', deviceType: 'smoke_detector', siteId: 'h1', centerId: 'fc1', gridId: 'g1', zone: undefined,
    ts: DAY_SHIFT_TIME, confirmed: false, clears: false, ...over,
  };
}

/** A clock that runs at real speed from a chosen instant (real timers, a known shift on duty). */
export function shiftedClock(start: number): Clock & { advance(ms: number): void } {
  let offset = start - Date.now();
  return { now: () => Date.now() + offset, advance: (ms) => { offset += ms; } };
}

export interface Harness {
  db: Db;
  file: string;
  registry: Registry;
  bus: EventBus;
  events: IncidentEvent[];
  /** The next bus 'incident' event that matches, from now on (what a reply, a keypress or a timer did, once done). */
  incident(match: (e: IncidentEvent) => boolean): Promise<IncidentEvent>;
  alerts: Alerts;
  close(): Promise<void>;
}

export function tempDir(): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'wf-alerts-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export async function startAlerts(opts: {
  file: string;
  clock: Clock;
  registry?: RegistryFileType;
  alerts?: Partial<AlertsDeps>;
  config?: Partial<AlertsDeps['config']>;
}): Promise<Harness> {
  const db = openDatabase(opts.file);
  const logger = pino({ level: process.env.WF_TEST_LOG ?? 'silent' });
  const registry = createRegistry({ db, logger, clock: opts.clock });
  await registry.start();
  registry.importFile(opts.registry ?? registryFile());
  const bus = createEventBus();
  const events: IncidentEvent[] = [];
  bus.on('incident', 'test', (e) => events.push(e));
  const alerts = createAlerts({
    db, bus, registry, clock: opts.clock, logger, metrics: new MetricsRegistry(), cron: false,
    config: { timezone: 'Asia/Shanghai', publicUrl: 'http://watchfire.test:8080', ...opts.config },
    ...opts.alerts,
  });
  await alerts.start();
  let waiters = 0;
  const incident = (match: (e: IncidentEvent) => boolean) => new Promise<IncidentEvent>((resolve) => {
    const off = bus.on('incident', `test.wait.${waiters++}`, (e) => {
      if (!match(e)) return;
      off();
      resolve(e);
    });
  });
  return {
    db, file: opts.file, registry, bus, events, incident, alerts,
    async close() {
      await alerts.stop();
      await registry.stop();
      db.close();
    },
  };
}

export interface ReceivedHook {
  body: Record<string, unknown>;
  raw: string;
  headers: IncomingHttpHeaders;
  signatureOk: boolean;
}

/** A real HTTP receiver for webhooks: verifies the HMAC, records bodies, can answer 503 for a while. */
export async function startWebhookReceiver(secret = WEBHOOK_SECRET) {
  const received: ReceivedHook[] = [];
  let failing = false;
  let delayMs = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(raw).digest('hex')}`);
      const got = Buffer.from(String(req.headers['x-watchfire-signature'] ?? ''));
      const signatureOk = got.length === expected.length && timingSafeEqual(got, expected);
      const answer = () => {
        if (failing) {
          res.writeHead(503).end('down');
          return;
        }
        received.push({ body: JSON.parse(raw) as Record<string, unknown>, raw, headers: req.headers, signatureOk });
        res.writeHead(signatureOk ? 204 : 401).end();
      };
      if (delayMs) setTimeout(answer, delayMs);
      else answer();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  return {
    url,
    received,
    setFailing(v: boolean) {
      failing = v;
    },
    setDelay(ms: number) {
      delayMs = ms;
    },
    stop: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}

/** A channel that records what it is handed (the delivery suites use the real SMTP and HTTP receivers). */
export function recordingChannel<N extends 'console' | 'email' | 'webhook'>(name: N) {
  const sent: OutboundMessage[] = [];
  return {
    name,
    sent,
    send(m: OutboundMessage) {
      sent.push(m);
      return Promise.resolve();
    },
    close: () => Promise.resolve(),
  };
}

/** A clock the test sets by hand. */
export function manualClock(start: number) {
  let t = start;
  return { now: () => t, set: (v: number) => { t = v; }, advance: (ms: number) => { t += ms; } };
}
