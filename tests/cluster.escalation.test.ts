// Issue 21 point 6, escalation across kill -9: two Watchfire processes (app/main.ts start) with the
// partitioned log on, one real redis-server, one influxd, and both nodes' incidents, escalation
// steps and notification outbox on one real PostgreSQL (storage.postgresUrl). A detector's alarm
// opens one red incident; nobody acknowledges it, so every 2 s the supervisor gets a signed webhook
// (a real HTTP server of this test's). Both nodes run due steps (each claims them row by row, FOR
// UPDATE SKIP LOCKED); once two rounds went out, the node that ran the last one is killed with
// SIGKILL while devices on both nodes keep sending readings. The survivor carries on: no round
// skipped or run twice, no webhook delivered twice, no PUBACKed reading lost; and when an operator
// acknowledges on the survivor, the rounds stop.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topics } from '../contracts/protocol.ts';
import { hashSecret } from '../contracts/secrets.ts';
import { createUser } from '../dashboards/users.ts';
import { freePort } from '../ingest/influxd.ts';
import { createUserStorage, postgresRunner, type SqlRunner } from '../storage/index.ts';
import { TEST_COST } from './dashboards.fixture.ts';
import { startTestInfluxd, type TestInfluxd } from './support/influxd.ts';
import { startTestPostgres, type TestPostgres } from './support/postgres.ts';
import { startWatchfireProcess, writeConfig, type WatchfireProcess } from './support/process.ts';
import { startTestRedis, type TestRedis } from './support/redis.ts';
import type { RegistryInput } from './support/registries.ts';
import { waitFor } from './support/wait.ts';

const PARTITIONS = 4;
const SECRET = 'cluster-escalation-webhook-secret';
/** The cadence of the unacknowledged rounds. */
const ROUND_MS = 2_000;
/**
 * A policy's `every` is at least 10 s (alerts/policies.ts: a page is not a stream), so a 2 s
 * cadence is five repeating steps, 2 s apart, each every 10 s. Each round is still a repetition
 * scheduled by whichever node ran the round before it, as a single repeating step's would be.
 */
const ROUNDS = ['u0', 'u1', 'u2', 'u3', 'u4'] as const;
const EVERY_MS = ROUND_MS * ROUNDS.length;
/** Counted from the acknowledgement, after the next round would have been due: the witness that the survivor's scheduler went on past it. */
const AFTER_ACK_MS = 3_000;
const LOAD = ['ld-0', 'ld-1', 'ld-2', 'ld-3', 'ld-4', 'ld-5'];
const PERIOD_MS = 100;
const SITE = 'h-esc';
const DETECTOR = 'sd-esc';

/** Every device's secret, and the registry both nodes load at start with the same hashes: a device may connect to either. */
const secrets = Object.fromEntries([...LOAD, DETECTOR].map((id) => [id, randomBytes(12).toString('hex')]));

function county(hookUrl: string): RegistryInput {
  return {
    centers: [{ id: 'fc-1', name: '鼓楼联合消防中心', timezone: 'Asia/Shanghai' }],
    grids: [{ id: 'g-1', centerId: 'fc-1', name: '幸福网格', workerId: 'p-grid' }],
    sites: [
      { id: 'b-load', kind: 'building', centerId: 'fc-1', gridId: 'g-1', name: '幸福小区8栋', address: '幸福小区8栋' },
      { id: SITE, kind: 'home', centerId: 'fc-1', gridId: 'g-1', name: '赵家', address: '幸福小区9栋101', resident: { name: '赵奶奶', age: 86, livesAlone: true } },
    ],
    devices: [
      ...LOAD.map((id) => ({ id, type: 'smoke_detector' as const, siteId: 'b-load', location: '走廊', secretHash: hashSecret(secrets[id]!) })),
      { id: DETECTOR, type: 'smoke_detector' as const, siteId: SITE, location: '厨房', secretHash: hashSecret(secrets[DETECTOR]!) },
    ],
    people: [
      { id: 'p-op', name: '值班员甲', role: 'operator', centerId: 'fc-1' },
      { id: 'p-sup', name: '值班长', role: 'supervisor', centerId: 'fc-1', webhook: `${hookUrl}?to=p-sup` },
      { id: 'p-grid', name: '网格员小刘', role: 'grid_worker', centerId: 'fc-1' },
    ],
    rosters: [{ centerId: 'fc-1', timezone: 'Asia/Shanghai', shifts: [{ id: 'all', name: '全天班', start: '0 0 * * *', durationMinutes: 1440, operators: ['p-op'], supervisor: 'p-sup' }] }],
  };
}

/** Red: the console at once, then the supervisor by webhook every ROUND_MS until acknowledged; after it, one more step as witness. */
const policies = {
  policies: [
    {
      id: 'red',
      level: 'red',
      steps: [
        { id: 'alarm', kind: 'alarm', after: 0, notify: [{ to: 'console' }] },
        ...ROUNDS.map((id, k) => ({
          id, kind: 'escalation', after: (k + 1) * ROUND_MS, every: EVERY_MS, until: 'acknowledged', notify: [{ to: 'supervisor', via: ['webhook'] }],
        })),
        { id: 'after_ack', kind: 'not_on_site', from: 'acknowledged', after: AFTER_ACK_MS, until: 'on_site', notify: [{ to: 'supervisor', via: ['webhook'] }] },
      ],
    },
    { id: 'yellow', level: 'yellow', steps: [{ id: 'notice', kind: 'notice', after: 0, notify: [{ to: 'console' }] }] },
  ],
};

const t0 = Date.now();
/** WF_ESC_TRACE=1 prints the course of the run (who ran which round, when the kill came). */
const note = (m: string): void => { if (process.env.WF_ESC_TRACE) console.error(`${Date.now() - t0} ms: ${m}`); };

// ---- the supervisor's webhook endpoint: every delivery recorded, signature checked ----------

interface Delivery {
  id: string;
  at: number;
  signatureOk: boolean;
  body: { step?: string; incident?: { id?: string }; deliveryId?: number };
}

const deliveries: Delivery[] = [];
const listeners = new Set<() => void>();
let hookServer: Server;

/** Resolves once the deliveries so far satisfy `ok` (checked on every delivery, no polling). */
function delivered(ok: (d: readonly Delivery[]) => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (!ok(deliveries)) return;
      listeners.delete(check);
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      listeners.delete(check);
      reject(new Error(`Timed out waiting for ${what}; deliveries: ${deliveries.map((d) => `${d.id}/${d.body.step}`).join(', ')}`));
    }, timeoutMs);
    listeners.add(check);
    check();
  });
}

async function startHook(): Promise<string> {
  hookServer = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const expected = Buffer.from(`sha256=${createHmac('sha256', SECRET).update(raw).digest('hex')}`);
      const got = Buffer.from(String(req.headers['x-watchfire-signature'] ?? ''));
      const signatureOk = got.length === expected.length && timingSafeEqual(got, expected);
      deliveries.push({ id: String(req.headers['x-watchfire-delivery']), at: Date.now(), signatureOk, body: JSON.parse(raw) as Delivery['body'] });
      res.writeHead(signatureOk ? 204 : 401).end();
      for (const l of [...listeners]) l();
    });
  });
  await new Promise<void>((r) => hookServer.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(hookServer.address() as AddressInfo).port}/hook`;
}

// ---- the cluster ----------------------------------------------------------------------------

interface Node {
  name: string;
  dataDir: string;
  mqttPort: number;
  httpUrl: string;
  proc: WatchfireProcess;
}

let postgres: TestPostgres;
let redis: TestRedis;
let influx: TestInfluxd;
let db: pg.Pool;
let users: SqlRunner | undefined;
let shared: string;
const nodes: Node[] = [];
const clients: MqttClient[] = [];
let session: { cookie: string; csrf: string };

async function startNode(name: string, postgresUrl: string, registryFile: string, policyFile: string, hookUrl: string): Promise<Node> {
  const dataDir = mkdtempSync(join(tmpdir(), `wf-esc-${name}-`));
  const [mqttPort, httpPort] = [await freePort(), await freePort()];
  const config = writeConfig(dataDir, {
    dataDir,
    registryFile,
    log: { level: 'info' },
    gateway: { host: '127.0.0.1', port: mqttPort },
    http: { host: '127.0.0.1', port: httpPort },
    influx: { url: influx.url, database: influx.database, flushIntervalMs: 100 },
    cluster: { enabled: true, redisUrl: redis.url, nodeId: name, heartbeatMs: 1_000, partitions: PARTITIONS, log: { leaseMs: 1_000 } },
    storage: { postgresUrl },
    alerts: { policyFile, webhook: { url: hookUrl, secret: SECRET } },
  });
  const proc = startWatchfireProcess(config);
  await proc.ready;
  return { name, dataDir, mqttPort, httpUrl: `http://127.0.0.1:${httpPort}`, proc };
}

beforeAll(async () => {
  let hookUrl: string;
  [postgres, redis, influx, hookUrl] = await Promise.all([startTestPostgres(), startTestRedis({ durable: true }), startTestInfluxd(), startHook()]);
  const url = await postgres.createDatabase({ name: 'wf_cluster_escalation' });
  db = new pg.Pool({ connectionString: url, max: 2 });
  shared = mkdtempSync(join(tmpdir(), 'wf-esc-'));
  const registryFile = join(shared, 'registry.json');
  const policyFile = join(shared, 'policies.json');
  writeFileSync(registryFile, JSON.stringify(county(hookUrl)));
  writeFileSync(policyFile, JSON.stringify(policies));
  // Started together: both migrate the empty database at once (one does, the other waits).
  nodes.push(...await Promise.all(['node-a', 'node-b'].map((n) => startNode(n, url, registryFile, policyFile, hookUrl))));
  note('both nodes started');
  // The operator's account, on the PostgreSQL both nodes share: one session opens on either.
  users = postgresRunner({ connectionString: url, max: 1 });
  await createUser(createUserStorage({ sql: users }), { username: 'op', role: 'operator', personId: 'p-op', password: 'op-pass-123', centerId: 'fc-1' }, { cost: TEST_COST });
  const login = await fetch(`${nodes[0]!.httpUrl}/api/auth/login`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'op', password: 'op-pass-123' }),
  });
  expect(login.status).toBe(200);
  session = { cookie: login.headers.getSetCookie().find((c) => c.startsWith('wf_session='))!.split(';')[0]!, csrf: ((await login.json()) as { csrf: string }).csrf };
}, 120_000);

afterAll(async () => {
  for (const c of clients) c.end(true);
  for (const n of nodes) await n.proc.kill('SIGTERM');
  await users?.close();
  await db?.end();
  await new Promise<void>((r) => (hookServer ? hookServer.close(() => r()) : r()));
  await Promise.all([influx?.stop(), redis?.stop(), postgres?.stop()]);
  for (const n of nodes) rmSync(n.dataDir, { recursive: true, force: true });
  if (shared) rmSync(shared, { recursive: true, force: true });
}, 60_000);

// ---- reading what happened ------------------------------------------------------------------

interface StepRow { id: number; step: string; due_at: number; done: number; done_at: number | null }
interface OutboxRow { id: number; step: string | null; status: string }

async function stepRows(incident: string): Promise<StepRow[]> {
  return (await db.query<StepRow>('SELECT id, step, due_at::float8 AS due_at, done, done_at::float8 AS done_at FROM alert_escalations WHERE incident_id = $1 ORDER BY due_at, id', [incident])).rows;
}

async function webhookRows(incident: string): Promise<OutboxRow[]> {
  return (await db.query<OutboxRow>(`SELECT id, step, status FROM alert_outbox WHERE incident_id = $1 AND channel = 'webhook' ORDER BY id`, [incident])).rows;
}

/** Escalation steps this node ran, from its own /metrics (loopback needs no token). */
async function stepsRunBy(n: Node): Promise<number> {
  const text = await (await fetch(`${n.httpUrl}/metrics`)).text();
  let sum = 0;
  for (const m of text.matchAll(/^watchfire_alerts_escalations_total\{[^}]*step="(u\d)"[^}]*\} (\d+)$/gm)) sum += Number(m[2]);
  return sum;
}

async function api<T>(n: Node, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${n.httpUrl}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { cookie: session.cookie, 'x-csrf-token': session.csrf, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  if (!res.ok) throw new Error(`${path} on ${n.name}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

const isRound = (step: string | null): boolean => (ROUNDS as readonly string[]).includes(step ?? '');

describe('kill -9 of the node that ran the last escalation round', () => {
  it('the survivor escalates on without a round skipped or doubled, loses no reading, and stops at the acknowledgement', async () => {
    const [a, b] = nodes as [Node, Node];

    // Steady load on both gateways: each device lists its own node first and the other as the
    // load balancer's next choice, so a device of the dead node reconnects to the survivor and
    // re-sends what was not PUBACKed (mqtt.js keeps it), as firmware does.
    const acked = new Map<string, Set<number>>(LOAD.map((id) => [id, new Set<number>()]));
    let inFlight = 0;
    let loading = true;
    const load = LOAD.map((id, i) => {
      const [first, second] = i % 2 === 0 ? [a, b] : [b, a];
      const c = mqtt.connect({
        servers: [{ host: '127.0.0.1', port: first.mqttPort }, { host: '127.0.0.1', port: second.mqttPort }],
        protocol: 'mqtt', clientId: id, username: id, password: secrets[id]!, reconnectPeriod: 100, connectTimeout: 3_000,
      });
      c.on('error', () => undefined);
      clients.push(c);
      return { id, c, seq: 0 };
    });
    const timer = setInterval(() => {
      if (!loading) return;
      for (const d of load) {
        if (!d.c.connected) continue;
        const seq = d.seq++;
        inFlight++;
        d.c.publish(topics.telemetry(d.id), JSON.stringify({ seq, ts: Date.now(), smoke: 0.01, temp: 21, battery: 90 }), { qos: 1 }, (err) => {
          inFlight--;
          if (!err) acked.get(d.id)!.add(seq);
        });
      }
    }, PERIOD_MS);

    try {
      await waitFor(() => load.every((d) => d.c.connected), { what: 'the load devices to connect', timeoutMs: 20_000 });
      const detector = await mqtt.connectAsync(`mqtt://127.0.0.1:${a.mqttPort}`, { clientId: DETECTOR, username: DETECTOR, password: secrets[DETECTOR]!, reconnectPeriod: 0 });
      clients.push(detector);
      await detector.publishAsync(topics.events(DETECTOR), JSON.stringify({ type: 'alarm', seq: 1, ts: Date.now() }), { qos: 1 });

      // One red incident, shared: both nodes' APIs list the same one.
      type Listed = { incidents: Array<{ id: string; level: string; state: string }> };
      const incident = await waitFor(async () => (await api<Listed>(a, `/api/incidents?siteId=${SITE}`)).incidents[0], { what: 'the incident on node A' });
      expect(incident).toMatchObject({ level: 'red', state: 'open' });
      expect((await api<Listed>(b, `/api/incidents?siteId=${SITE}`)).incidents.map((i) => i.id)).toEqual([incident.id]);

      // At least two rounds, then the node that ran the last one. A round's runner is told by the
      // nodes' step counters (/metrics): between two settled looks (every round's webhook sent,
      // the counters summing to the rounds done) exactly one round ran, on the node whose counter
      // rose. The kill waits for its webhook to be sent, so no send of the dead node is in flight:
      // a claim it held would be taken back only when its lease (the webhook timeout + 30 s) lapsed.
      let prev: { done: number; ran: number[] } | undefined;
      const { victim, doneAtKill, ranAtKill, ranBy } = await waitFor(async () => {
        const [rows, hooks, ran] = await Promise.all([stepRows(incident.id), webhookRows(incident.id), Promise.all(nodes.map(stepsRunBy))]);
        const done = rows.filter((r) => isRound(r.step) && r.done === 1).length;
        const nextDue = Math.min(...rows.filter((r) => r.done === 0).map((r) => r.due_at));
        const settled = ran[0]! + ran[1]! === done && hooks.length === done && hooks.every((h) => h.status === 'sent')
          && hooks.every((h) => deliveries.some((d) => d.id === String(h.id)));
        if (!settled) return undefined;
        const before = prev;
        prev = { done, ran };
        // Far enough from the next round that the kill does not land in it.
        if (!before || done < 2 || done !== before.done + 1 || nextDue - Date.now() < ROUND_MS / 2) return undefined;
        const i = ran.findIndex((n, k) => n === before.ran[k]! + 1);
        return { victim: nodes[i]!, doneAtKill: done, ranAtKill: ran[i]!, ranBy: ran };
      }, { what: 'two rounds, the last one sent, its runner known', timeoutMs: 30_000, intervalMs: 50 });
      const survivor = victim === a ? b : a;
      note(`${doneAtKill} rounds done (${ranBy.join(' + ')} by A + B); killing ${victim.name}, which ran the last one`);

      expect(await victim.proc.kill('SIGKILL')).toBe('SIGKILL');

      // The survivor goes on: three more rounds, each with its webhook.
      await waitFor(async () => (await stepRows(incident.id)).filter((r) => isRound(r.step) && r.done === 1).length >= doneAtKill + 3,
        { what: 'three more rounds on the survivor', timeoutMs: 20_000 });

      // Acknowledged on the survivor: the rounds stop. The step counted from the acknowledgement is
      // due after the next round would have been: once its webhook came, the survivor's scheduler
      // has gone past that round's time.
      await api(survivor, `/api/incidents/${incident.id}/acknowledge`, { note: '已联系住户' });
      note('acknowledged on the survivor');
      await delivered((ds) => ds.some((d) => d.body.step === 'after_ack' && d.body.incident?.id === incident.id), 'the step after the acknowledgement');
      // Load until the survivor has PUBACKed readings of its own after the kill, then drain.
      const ackedNow = () => [...acked.values()].reduce((n, s) => n + s.size, 0);
      const atAck = ackedNow();
      await waitFor(() => ackedNow() >= atAck + 50, { what: 'more readings PUBACKed by the survivor' });
      loading = false;
      await waitFor(() => inFlight === 0, { what: 'every publish to be PUBACKed', timeoutMs: 20_000 });

      // (1) An unbroken cadence: the rounds' rows, done or not, are due every ROUND_MS from the
      // first (opened + ROUND_MS), one row per due time; every one before the acknowledgement ran
      // exactly once (done = 1), the five pending at it were cancelled (done = 2), none ran after.
      const rows = await stepRows(incident.id);
      const rounds = rows.filter((r) => isRound(r.step));
      const [opened] = (await db.query<{ opened_at: number; acknowledged_at: number }>('SELECT opened_at::float8 AS opened_at, acknowledged_at::float8 AS acknowledged_at FROM alert_incidents WHERE id = $1', [incident.id])).rows;
      expect(rounds.map((r) => r.due_at)).toEqual(rounds.map((_, k) => opened!.opened_at + (k + 1) * ROUND_MS));
      const ran = rounds.filter((r) => r.done === 1);
      expect(rounds.map((r) => r.done)).toEqual([...ran.map(() => 1), ...ROUNDS.map(() => 2)]);
      expect(ran.length).toBeGreaterThanOrEqual(doneAtKill + 3);
      expect(ran.every((r) => r.done_at! <= opened!.acknowledged_at)).toBe(true);
      // Each round's step is its own repetition every EVERY_MS: u0, u1, … u4, u0, …
      expect(rounds.map((r) => r.step)).toEqual(rounds.map((_, k) => ROUNDS[k % ROUNDS.length]));
      const after = rows.filter((r) => r.step === 'after_ack');
      expect(after.map((r) => r.done)).toEqual([1]);
      // The timeline has one entry per step run, no more: no step ran twice with its row done once.
      const timeline = (await db.query<{ id: number; action: string }>('SELECT id, action FROM alert_audit WHERE incident_id = $1 ORDER BY id', [incident.id])).rows;
      const escalations = timeline.filter((e) => e.action.startsWith('escalation:'));
      expect(escalations.length).toBe(ran.length + 1);
      for (const s of [...ROUNDS, 'after_ack']) expect(escalations.filter((e) => e.action === `escalation:${s}`).length, s).toBe(rows.filter((r) => r.step === s && r.done === 1).length);
      // (4) No round after the acknowledgement: every round's entry comes before it in the trail.
      const ackEntry = timeline.find((e) => e.action === 'acknowledge')!;
      expect(escalations.filter((e) => isRound(e.action.slice('escalation:'.length))).every((e) => e.id < ackEntry.id)).toBe(true);
      // Rounds after the kill were the survivor's: its counter holds every one the victim did not run.
      expect(await stepsRunBy(survivor)).toBe(ran.length - ranAtKill);

      // (2) Nothing doubled: one webhook row per step run, each sent, and the deliveries are exactly
      // those rows by their delivery id. A row whose sender died mid-send is sent again with the
      // same id (at-least-once, alerts/outbox.ts): a second copy is allowed only for a row with an
      // attempt that failed (its claim taken back), never as another id.
      const hooks = await webhookRows(incident.id);
      expect(hooks.filter((h) => isRound(h.step)).length).toBe(ran.length);
      expect(hooks.filter((h) => h.step === 'after_ack').length).toBe(1);
      expect(hooks.every((h) => h.status === 'sent')).toBe(true);
      expect(deliveries.every((d) => d.signatureOk && d.id === String(d.body.deliveryId))).toBe(true);
      expect([...new Set(deliveries.map((d) => d.id))].sort()).toEqual(hooks.map((h) => String(h.id)).sort());
      for (const h of hooks) {
        const copies = deliveries.filter((d) => d.id === String(h.id)).length;
        if (copies === 1) continue;
        const failed = (await db.query<{ n: number }>(`SELECT COUNT(*)::int AS n FROM alert_outbox_attempts WHERE outbox_id = $1 AND outcome = 'failed'`, [h.id])).rows[0]!.n;
        expect(copies, `copies of delivery ${h.id}`).toBeLessThanOrEqual(1 + failed);
      }

      // (3) No PUBACKed reading lost, none stored twice: InfluxDB's rows by device and seq.
      const total = ackedNow();
      note(`${ran.length} rounds, ${deliveries.length} deliveries of ${hooks.length} webhook rows, ${total} readings PUBACKed`);
      const stored = await waitFor(async () => {
        const r = await influx.query('SELECT seq, device FROM telemetry');
        return r.length >= total ? r : undefined;
      }, { what: `${total} PUBACKed readings in InfluxDB`, timeoutMs: 20_000 });
      const count = new Map<string, number>();
      for (const r of stored) count.set(`${String(r.device)}/${String(r.seq)}`, (count.get(`${String(r.device)}/${String(r.seq)}`) ?? 0) + 1);
      const missing: string[] = [];
      for (const [id, seqs] of acked) for (const s of seqs) if (count.get(`${id}/${s}`) !== 1) missing.push(`${id}/${s}: ${count.get(`${id}/${s}`) ?? 0}`);
      expect(missing).toEqual([]);
      for (const [id, seqs] of acked) expect(await influx.count('telemetry', 'seq', `device = '${id}'`), id).toBeGreaterThanOrEqual(seqs.size);
    } finally {
      loading = false;
      clearInterval(timer);
    }
  }, 90_000);
});
