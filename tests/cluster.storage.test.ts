// Issue 21 point 2, "the product running on PostgreSQL": two whole Watchfire nodes, each with its
// own data directory (its own SQLite file), both given one storage.postgresUrl. The console's
// users and sessions are on that PostgreSQL: a session signed in on node A opens on node B, and
// neither SQLite file holds a user. So are incidents, their timelines, escalation steps and the
// outbox: an alarm a detector sends to node A is an incident node B lists and acknowledges, and
// node A sees the acknowledgement. And the dead letters: garbage a device sends to node A is a
// reject node B's console lists. An alarm's PUBACK stands behind its incident's commit there.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topics } from '../contracts/protocol.ts';
import { createUser } from '../dashboards/users.ts';
import { smallCounty } from './support/registries.ts';
import { startTestInfluxd, type TestInfluxd } from './support/influxd.ts';
import { startTestPostgres, type TestPostgres } from './support/postgres.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';
import { TEST_COST } from './dashboards.fixture.ts';

let postgres: TestPostgres;
let url: string;
let influx: TestInfluxd;
const nodes: TestSystem[] = [];

beforeAll(async () => {
  [postgres, influx] = await Promise.all([startTestPostgres(), startTestInfluxd()]);
  url = await postgres.createDatabase({ name: 'wf_cluster' });
  // Started together: both migrate the empty database at once (one does, the other waits).
  nodes.push(...await Promise.all([1, 2].map(() => startTestSystem({ registry: smallCounty(), influx, smtp: false, config: { 'storage.postgresUrl': url } }))));
});

afterAll(async () => {
  for (const n of nodes.splice(0)) await n.stop();
  await influx?.stop();
  await postgres?.stop();
});

describe('two nodes on one PostgreSQL (storage.postgresUrl)', () => {
  it('a user made on node A signs in there, and the session opens on node B', async () => {
    const [a, b] = nodes as [TestSystem, TestSystem];
    await createUser(a.wf.users, { username: 'op', role: 'operator', password: 'op-pass-123', centerId: 'fc-1' }, { cost: TEST_COST });
    const res = await fetch(`${a.httpUrl}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'op', password: 'op-pass-123' }) });
    expect(res.status).toBe(200);
    const cookie = res.headers.getSetCookie().find((c) => c.startsWith('wf_session='))!.split(';')[0]!;
    const onB = await fetch(`${b.httpUrl}/api/session`, { headers: { cookie } });
    expect(await onB.json()).toMatchObject({ user: { username: 'op', role: 'operator', centerId: 'fc-1' } });
    // The rows are on PostgreSQL only; each node's SQLite file keeps its own (alarm-path) tables.
    for (const n of nodes) expect(n.wf.db.prepare('SELECT COUNT(*) AS n FROM users').get()).toEqual({ n: 0 });
  });

  it('an alarm on node A is an incident node B lists and acknowledges; A sees it acknowledged; no SQLite file holds it', async () => {
    const [a, b] = nodes as [TestSystem, TestSystem];
    await createUser(b.wf.users, { username: 'op-b', role: 'operator', password: 'op-pass-456', centerId: 'fc-1' }, { cost: TEST_COST });
    const login = await fetch(`${b.httpUrl}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'op-b', password: 'op-pass-456' }) });
    const cookie = login.headers.getSetCookie().find((c) => c.startsWith('wf_session='))!.split(';')[0]!;
    const { csrf } = await login.json() as { csrf: string };
    // Both nodes provisioned the county at start on the one registry they share: the secret is the last one made.
    const { secret } = await a.wf.registry.provision('sd-1');
    const detector = await a.connectDevice('sd-1', { password: secret });
    try {
      await detector.publishAsync(topics.events('sd-1'), JSON.stringify({ type: 'alarm', seq: 1 }), { qos: 1 });
      // The PUBACK came once the incident was committed on PostgreSQL (a crash after it cannot
      // lose an alarm the device will not send again): read there, at once, past every node.
      const direct = new pg.Client({ connectionString: url });
      await direct.connect();
      try {
        expect((await direct.query(`SELECT level FROM alert_incidents WHERE device_id = 'sd-1'`)).rows).toEqual([{ level: 'red' }]);
      } finally {
        await direct.end();
      }
      const listed = await b.waitFor(async () => {
        const r = await fetch(`${b.httpUrl}/api/incidents?state=open`, { headers: { cookie } });
        const body = await r.json() as { incidents: Array<{ id: string; level: string; deviceId: string }> };
        return body.incidents.find((i) => i.deviceId === 'sd-1');
      }, { what: "node A's incident listed by node B" });
      expect(listed.level).toBe('red');
      const ack = await fetch(`${b.httpUrl}/api/incidents/${listed.id}/acknowledge`, { method: 'POST', headers: { cookie, 'x-csrf-token': csrf, 'content-type': 'application/json' }, body: '{}' });
      expect(ack.status).toBe(200);
      const onA = await a.wf.alerts.service.get(listed.id);
      expect(onA).toMatchObject({ state: 'acknowledged', deviceId: 'sd-1' });
      expect((await a.wf.alerts.service.timeline(listed.id)).map((e) => `${e.action}:${e.actor}`)).toEqual(['opened:system', 'acknowledge:op-b']);
      // Node A opened the incident and scheduled its escalation; node B's acknowledgement cancelled
      // it and scheduled the next (nobody on site), on the shared rows.
      expect((await a.wf.alerts.escalations.of(listed.id)).map((s) => `${s.step}:${s.status}`)).toEqual(['unacknowledged:cancelled', 'not_on_site:pending']);
      for (const n of nodes) expect(n.wf.db.prepare('SELECT COUNT(*) AS n FROM alert_incidents').get()).toEqual({ n: 0 });
    } finally {
      await detector.endAsync();
    }
  });

  it("garbage a device sends to node A is a dead letter node B's console lists with its code; no SQLite file holds it", async () => {
    const [a, b] = nodes as [TestSystem, TestSystem];
    await createUser(b.wf.users, { username: 'admin-b', role: 'admin', password: 'admin-pass-789' }, { cost: TEST_COST });
    const login = await fetch(`${b.httpUrl}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin-b', password: 'admin-pass-789' }) });
    expect(login.status).toBe(200);
    const cookie = login.headers.getSetCookie().find((c) => c.startsWith('wf_session='))!.split(';')[0]!;
    const { secret } = await a.wf.registry.provision('sd-2');
    const device = await a.connectDevice('sd-2', { password: secret });
    try {
      // PROTOCOL.md "What the gateway does with bad input": acknowledged, dead-lettered with WF_INGEST_NOT_JSON.
      await device.publishAsync(topics.telemetry('sd-2'), 'smoke=0.3', { qos: 1 });
      const listed = await b.waitFor(async () => {
        const r = await fetch(`${b.httpUrl}/api/rejects?deviceId=sd-2`, { headers: { cookie } });
        const body = await r.json() as { total: number; rejects: Array<{ code: string; topic: string; payload: string }> };
        return body.total > 0 && body;
      }, { what: "node A's dead letter listed by node B" });
      expect(listed).toMatchObject({ total: 1, rejects: [{ code: 'WF_INGEST_NOT_JSON', topic: topics.telemetry('sd-2'), payload: 'smoke=0.3' }] });
      expect(await a.wf.deadLetters.count({ deviceId: 'sd-2' })).toBe(1);
      for (const n of nodes) expect(n.wf.db.prepare('SELECT COUNT(*) AS n FROM dead_letters').get()).toEqual({ n: 0 });
    } finally {
      await device.endAsync();
    }
  });
});
