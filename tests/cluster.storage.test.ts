// Issue 21 point 2, "the product running on PostgreSQL": two whole Watchfire nodes, each with its
// own data directory (its own SQLite file), both given one storage.postgresUrl. The console's
// users and sessions are on that PostgreSQL: a session signed in on node A opens on node B, and
// neither SQLite file holds a user. The alarm path's stores stay on each node's SQLite.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUser } from '../dashboards/users.ts';
import { smallCounty } from './support/registries.ts';
import { startTestInfluxd, type TestInfluxd } from './support/influxd.ts';
import { startTestPostgres, type TestPostgres } from './support/postgres.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';
import { TEST_COST } from './dashboards.fixture.ts';

let pg: TestPostgres;
let influx: TestInfluxd;
const nodes: TestSystem[] = [];

beforeAll(async () => {
  [pg, influx] = await Promise.all([startTestPostgres(), startTestInfluxd()]);
  const url = await pg.createDatabase({ name: 'wf_cluster' });
  // Started together: both migrate the empty database at once (one does, the other waits).
  nodes.push(...await Promise.all([1, 2].map(() => startTestSystem({ registry: smallCounty(), influx, smtp: false, config: { 'storage.postgresUrl': url } }))));
});

afterAll(async () => {
  for (const n of nodes.splice(0)) await n.stop();
  await influx?.stop();
  await pg?.stop();
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
});
