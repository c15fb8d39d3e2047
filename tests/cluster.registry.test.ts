// Issue 21, "beyond one machine": two whole Watchfire nodes, each with its own data directory,
// both given one storage.postgresUrl. The registry's durable copy is that PostgreSQL, and each
// node's in-memory registry follows it: a device provisioned on node A authenticates on node B,
// a device disabled on A (or by `wf` on the command line) is refused and disconnected on B, a site
// renamed on B shows on A, and a restarted node loads everything from PostgreSQL. Real MQTT
// clients, a real PostgreSQL.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import mqtt, { type MqttClient } from 'mqtt';
import pg from 'pg';
import { createProgram } from '../app/cli.ts';
import type { RegistryChange } from '../contracts/ports.ts';
import type { RegistryFile } from '../contracts/registry.ts';
import { smallCounty } from './support/registries.ts';
import { startTestInfluxd, type TestInfluxd } from './support/influxd.ts';
import { startTestPostgres, type TestPostgres } from './support/postgres.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';
import { waitFor } from './support/wait.ts';
import { connackRefusal } from './support/mqtt-raw.ts';

let pgServer: TestPostgres;
let influx: TestInfluxd;
let url: string;
let a: TestSystem;
let b: TestSystem;
const clients: MqttClient[] = [];
const EMPTY: RegistryFile = { centers: [], grids: [], sites: [], devices: [], people: [], rosters: [] };

/** Node B: it brings no registry of its own (an empty import), so all it knows comes from PostgreSQL. */
const nodeB = (dataDir?: string) => startTestSystem({ registry: EMPTY, influx, smtp: false, config: { 'storage.postgresUrl': url }, ...(dataDir ? { dataDir } : {}) });

beforeAll(async () => {
  [pgServer, influx] = await Promise.all([startTestPostgres(), startTestInfluxd()]);
  url = await pgServer.createDatabase({ name: 'wf_cluster_registry' });
  // Node A imports the county and provisions its devices (tests/support/system.ts).
  a = await startTestSystem({ registry: smallCounty(), influx, smtp: false, config: { 'storage.postgresUrl': url } });
  b = await nodeB();
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
  await a?.stop();
  await b?.stop();
  await influx?.stop();
  await pgServer?.stop();
});

function connect(node: TestSystem, id: string, password: string): Promise<MqttClient> {
  return mqtt.connectAsync(node.mqttUrl, { clientId: `${id}-${Math.random().toString(36).slice(2, 8)}`, username: id, password, reconnectPeriod: 0, connectTimeout: 5_000 })
    .then((c) => (clients.push(c), c));
}

const refusal = connackRefusal;

/** Resolves when the node's registry reports a change that `match` accepts (subscribe before the write). */
function heard(node: TestSystem, match: (c: RegistryChange) => boolean): Promise<readonly RegistryChange[]> {
  return new Promise((resolve) => {
    const off = node.wf.registry.onChange((changes) => {
      if (!changes.some(match)) return;
      off();
      resolve(changes);
    });
  });
}

describe('the registry on one PostgreSQL shared by two nodes (storage.postgresUrl)', () => {
  it('node B started after A knows A\'s registry and secrets, and holds none of it in its SQLite file', async () => {
    expect(b.wf.registry.snapshot()).toEqual(a.wf.registry.snapshot());
    const c = await connect(b, 'sd-1', a.secrets['sd-1']!);
    expect(c.connected).toBe(true);
    await c.endAsync();
    for (const n of [a, b]) expect(n.wf.db.prepare('SELECT COUNT(*) AS n FROM registry_devices').get()).toEqual({ n: 0 });
  });

  it('a device created and provisioned on node A connects with its new secret to node B; the old secret no longer works there', async () => {
    const created = heard(b, (c) => c.kind === 'device' && c.id === 'sd-new');
    await a.wf.registry.upsertDevice({ id: 'sd-new', type: 'smoke_detector', siteId: 'h-2', location: '厨房', enabled: true });
    const { secret } = await a.wf.registry.provision('sd-new');
    await created;
    await waitFor(() => b.wf.registry.verifySecret('sd-new', secret) === 'ok', { what: 'the new secret on node B' });
    expect(b.wf.registry.get('sd-new')).toMatchObject({ siteId: 'h-2', centerId: 'fc-1', gridId: 'g-1', location: '厨房' });
    const c = await connect(b, 'sd-new', secret);
    expect(c.connected).toBe(true);
    await c.endAsync();

    // Provisioning again on A rotates: B refuses the old secret (CONNACK 4) and takes the new one.
    const rotated = heard(b, (c) => c.kind === 'device' && c.id === 'sd-new');
    const again = await a.wf.registry.provision('sd-new');
    await rotated;
    expect(await refusal(connect(b, 'sd-new', secret))).toBe(4);
    expect((await connect(b, 'sd-new', again.secret)).connected).toBe(true);
  });

  it('a device disabled on node A is disconnected on node B and refused there (CONNACK 5) until enabled again', async () => {
    const c = await connect(b, 'sd-2', a.secrets['sd-2']!);
    const closed = new Promise<void>((resolve) => c.once('close', () => resolve()));
    await a.wf.registry.setDeviceEnabled('sd-2', false);
    await closed;
    expect(b.wf.registry.get('sd-2')?.enabled).toBe(false);
    expect(await refusal(connect(b, 'sd-2', a.secrets['sd-2']!))).toBe(5);
    const enabled = heard(b, (x) => x.kind === 'device' && x.id === 'sd-2');
    await a.wf.registry.setDeviceEnabled('sd-2', true);
    await enabled;
    expect((await connect(b, 'sd-2', a.secrets['sd-2']!)).connected).toBe(true);
  });

  it('a site renamed on node B shows on node A, and so does a removal', async () => {
    const renamed = heard(a, (c) => c.kind === 'site' && c.id === 'b-1');
    const site = b.wf.registry.site('b-1')!;
    await b.wf.registry.importFile({ ...EMPTY, sites: [{ ...site, name: '幸福小区3栋（改名）' }] });
    expect(await renamed).toEqual([{ kind: 'site', id: 'b-1', op: 'upsert' }]);
    expect(a.wf.registry.site('b-1')?.name).toBe('幸福小区3栋（改名）');

    const removed = heard(a, (c) => c.kind === 'person' && c.id === 'p-op2');
    await b.wf.registry.remove('person', 'p-op2');
    expect(await removed).toEqual([{ kind: 'person', id: 'p-op2', op: 'remove' }]);
    expect(a.wf.registry.person('p-op2')).toBeUndefined();
  });

  it('a site moved to another grid on node B moves its devices on node A, and A tells its listeners so', async () => {
    const site = b.wf.registry.site('h-2')!;
    const moved = heard(a, (c) => c.kind === 'device' && c.id === 'sd-3');
    await b.wf.registry.importFile({ ...EMPTY, grids: [{ id: 'g-2', centerId: 'fc-1', name: '红星网格' }], sites: [{ ...site, gridId: 'g-2' }] });
    expect(await moved).toEqual(expect.arrayContaining([{ kind: 'grid', id: 'g-2', op: 'upsert' }, { kind: 'site', id: 'h-2', op: 'upsert' }, { kind: 'device', id: 'sd-3', op: 'upsert' }]));
    expect(a.wf.registry.get('sd-3')?.gridId).toBe('g-2');
    expect(a.wf.registry.devicesOfSite('h-2').map((d) => d.gridId)).toEqual(['g-2', 'g-2', 'g-2']);
  });

  it('wf device disable on the command line, against the shared PostgreSQL, reaches both running nodes', async () => {
    const work = mkdtempSync(join(tmpdir(), 'wf-cli-pg-'));
    try {
      const config = join(work, 'watchfire.yaml');
      writeFileSync(config, stringify({ dataDir: join(work, 'data'), storage: { postgresUrl: url } }));
      const wf = async (...args: string[]) => {
        let printed = '';
        await createProgram().exitOverride().configureOutput({ writeOut: (x) => { printed += x; }, writeErr: () => undefined })
          .parseAsync(['node', 'wf', '-c', config, ...args, '--json']);
        return JSON.parse(printed) as unknown;
      };
      const c = await connect(a, 'fp-1', a.secrets['fp-1']!);
      const closed = new Promise<void>((resolve) => c.once('close', () => resolve()));
      const onB = heard(b, (x) => x.kind === 'device' && x.id === 'fp-1');
      expect(await wf('device', 'disable', 'fp-1')).toEqual({ id: 'fp-1', enabled: false });
      await closed;
      await onB;
      for (const n of [a, b]) expect(await refusal(connect(n, 'fp-1', a.secrets['fp-1']!))).toBe(5);
      const back = heard(b, (x) => x.kind === 'device' && x.id === 'fp-1');
      await wf('device', 'enable', 'fp-1');
      await back;
      expect((await connect(b, 'fp-1', a.secrets['fp-1']!)).connected).toBe(true);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });

  it('a node whose listening connection drops re-reads the registry and still follows what changed meanwhile', async () => {
    // B's LISTEN connection is cut, and A writes at once: B may hear it only by re-reading everything.
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      const disabled = heard(b, (c) => c.kind === 'device' && c.id === 'st-1');
      await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'");
      await a.wf.registry.setDeviceEnabled('st-1', false);
      await disabled;
      expect(b.wf.registry.get('st-1')?.enabled).toBe(false);
      // Listening again: the next change arrives as a notice.
      const enabled = heard(b, (c) => c.kind === 'device' && c.id === 'st-1');
      await a.wf.registry.setDeviceEnabled('st-1', true);
      await enabled;
      expect(b.wf.registry.get('st-1')?.enabled).toBe(true);
    } finally {
      await admin.end();
    }
  });

  it('node B restarted has everything from PostgreSQL: what A wrote while B was down, secrets included', async () => {
    await b.stop({ keepData: true });
    const site = a.wf.registry.site('h-1')!;
    await a.wf.registry.importFile({ ...EMPTY, sites: [{ ...site, name: '张桂英家（B 停机时改）' }] });
    const { secret } = await a.wf.registry.provision('sd-3');
    b = await nodeB(b.dataDir);
    expect(b.wf.registry.snapshot()).toEqual(a.wf.registry.snapshot());
    expect(b.wf.registry.site('h-1')?.name).toBe('张桂英家（B 停机时改）');
    expect((await connect(b, 'sd-3', secret)).connected).toBe(true);
  });
});
