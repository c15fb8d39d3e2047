// The storage seam's contract (issue 21 point 2): the same cases against the embedded SQLite file
// and a real PostgreSQL server, so a store behaves the same whichever database cluster mode or the
// embedded default hands it. Each case opens a database of its own.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import pino from 'pino';
import { WatchfireError } from '../contracts/errors.ts';
import type { RegistryChange, RejectRecord } from '../contracts/ports.ts';
import { RegistryFile } from '../contracts/registry.ts';
import type { RegistryEntity } from '../contracts/storage.ts';
import { createDeadLetterStore } from '../ingest/dead-letters.ts';
import { freePort } from '../ingest/influxd.ts';
import { createDeadLetterStorage, createRegistryStorage, migratePostgres, postgresRunner, POSTGRES_MIGRATIONS } from '../storage/index.ts';
import type { Tables } from '../storage/tables.ts';
import { sqlBackends, type SqlBackend, rejection } from './support/sql-backends.ts';
import { waitFor } from './support/wait.ts';
import { smallCounty } from './support/registries.ts';
import { registryEntities } from '../registry/registry.ts';

function rec(i: number, over: Partial<RejectRecord> = {}): RejectRecord {
  return {
    at: 1_700_000_000_000 + i, deviceId: i % 2 ? 'odd' : 'even', topic: `v1/devices/d${i}/telemetry`,
    code: i % 3 ? 'WF_INGEST_SCHEMA' : 'WF_INGEST_NOT_JSON', reason: `reason ${i}`, index: i % 5 ? i : undefined, payload: `{"i":${i}}`, ...over,
  };
}

const county = RegistryFile.parse(smallCounty());
function entities(file = county): RegistryEntity[] {
  return registryEntities(file);
}

const backends = sqlBackends();
beforeAll(() => Promise.all(backends.map((b) => b.setup())));
afterAll(() => Promise.all(backends.map((b) => b.teardown())));

describe.each(backends)('storage contract on $name', (backend) => {
  describe('dead letters', () => {
    it('stores every field, lists newest first with growing ids, and counts', async () => {
      const { runner } = await backend.open();
      const store = createDeadLetterStorage({ sql: runner });
      await store.append([rec(1), rec(2), rec(3, { deviceId: undefined, index: undefined, payload: '中文 "quoted" \'text\' \\ %_' })], 100);
      await store.append([rec(4)], 100);
      const rows = await store.list();
      expect(rows.map((r) => r.reason)).toEqual(['reason 4', 'reason 3', 'reason 2', 'reason 1']);
      expect(rows[1]).toEqual({ ...rec(3, { deviceId: undefined, index: undefined, payload: '中文 "quoted" \'text\' \\ %_' }), id: rows[1]!.id });
      expect(rows[3]).toEqual({ ...rec(1), id: rows[3]!.id });
      const ids = rows.map((r) => r.id!);
      expect(ids).toEqual([...ids].sort((a, b) => b - a));
      expect(new Set(ids).size).toBe(4);
      expect(typeof rows[0]!.at).toBe('number');
      expect(await store.count()).toBe(4);
      await store.append([], 100);
      expect(await store.count()).toBe(4);
    });

    it('stores a garbage payload\'s U+0000 as U+FFFD (PostgreSQL text cannot hold it) without failing the batch', async () => {
      const { runner } = await backend.open();
      const store = createDeadLetterStorage({ sql: runner });
      const garbage = Buffer.from([0x7b, 0x00, 0xff, 0x41, 0x00]).toString('utf8');
      await store.append([rec(1), rec(2, { payload: garbage, reason: `bad byte \u0000 in ${garbage}` })], 100);
      const [row] = await store.list({ limit: 1 });
      expect(row!.payload).toBe('{\uFFFD\uFFFDA\uFFFD');
      expect(row!.reason).toBe('bad byte \uFFFD in {\uFFFD\uFFFDA\uFFFD');
      expect(await store.count()).toBe(2);
    });

    it('filters by device, a list of devices, code and time, the same in list and count', async () => {
      const { runner } = await backend.open();
      const store = createDeadLetterStorage({ sql: runner });
      await store.append(Array.from({ length: 30 }, (_, i) => rec(i, i === 7 ? { deviceId: undefined } : {})), 1_000);
      const cases = [
        [{ deviceId: 'odd' }, 14],
        [{ deviceIds: ['even'] }, 15],
        [{ deviceIds: ['even', 'odd', 'nobody'] }, 29],
        [{ deviceIds: [] }, 0],
        [{ code: 'WF_INGEST_NOT_JSON' as const }, 10],
        [{ before: 1_700_000_000_000 + 10 }, 10],
        [{ deviceId: 'even', code: 'WF_INGEST_NOT_JSON' as const, before: 1_700_000_000_000 + 20 }, 4],
      ] as const;
      for (const [filter, n] of cases) {
        expect(await store.count(filter), JSON.stringify(filter)).toBe(n);
        const rows = await store.list({ ...filter, limit: 1_000 });
        expect(rows, JSON.stringify(filter)).toHaveLength(n);
        if ('deviceId' in filter) expect(rows.every((r) => r.deviceId === filter.deviceId)).toBe(true);
        if ('code' in filter) expect(rows.every((r) => r.code === filter.code)).toBe(true);
      }
      // A device id that looks like SQL is a value, not SQL.
      expect(await store.count({ deviceIds: ["odd') OR 1=1 --"] })).toBe(0);
    });

    it('pages back through older rejects with `before` and clamps the limit', async () => {
      const { runner } = await backend.open();
      const store = createDeadLetterStorage({ sql: runner });
      await store.append(Array.from({ length: 25 }, (_, i) => rec(i)), 1_000);
      const seen: string[] = [];
      let before: number | undefined;
      for (;;) {
        const page = await store.list({ limit: 10, ...(before === undefined ? {} : { before }) });
        if (!page.length) break;
        seen.push(...page.map((r) => r.reason));
        before = page.at(-1)!.at;
      }
      expect(seen).toEqual(Array.from({ length: 25 }, (_, i) => `reason ${24 - i}`));
      expect(await store.list({ limit: 0 })).toHaveLength(1);
      expect(await store.list({ limit: -5 })).toHaveLength(1);
    });

    it('writes a batch larger than one statement may carry, and lists at most 10,000', async () => {
      const { runner } = await backend.open();
      const store = createDeadLetterStorage({ sql: runner });
      // 10,005 rows × 7 parameters would pass PostgreSQL's 65,535 in one INSERT.
      await store.append(Array.from({ length: 10_005 }, (_, i) => rec(i)), 100_000);
      expect(await store.count()).toBe(10_005);
      const rows = await store.list({ limit: 20_000 });
      expect(rows).toHaveLength(10_000);
      expect(rows[0]!.reason).toBe('reason 10004');
    });

    it('keeps only the newest `keep` rows', async () => {
      const { runner } = await backend.open();
      const store = createDeadLetterStorage({ sql: runner });
      await store.append(Array.from({ length: 8 }, (_, i) => rec(i)), 5);
      expect((await store.list()).map((r) => r.reason)).toEqual(['reason 7', 'reason 6', 'reason 5', 'reason 4', 'reason 3']);
      await store.append([rec(8), rec(9)], 5);
      expect((await store.list()).map((r) => r.reason)).toEqual(['reason 9', 'reason 8', 'reason 7', 'reason 6', 'reason 5']);
      await store.append([rec(10)], 0);
      expect(await store.count()).toBe(0);
      expect(await rejection(store.append([rec(11)], -1))).toBeInstanceOf(RangeError);
      expect(await store.count()).toBe(0);
    });

    it('writes a batch all or nothing', async () => {
      const { runner } = await backend.open();
      const store = createDeadLetterStorage({ sql: runner });
      await store.append([rec(1)], 100);
      // The third record has no topic (NOT NULL): the first two must not stay behind.
      const bad = [rec(2), rec(3), { ...rec(4), topic: null } as unknown as RejectRecord];
      expect(await rejection(store.append(bad, 100))).toBeInstanceOf(Error);
      expect((await store.list()).map((r) => r.reason)).toEqual(['reason 1']);
    });

    it('two writers on two connections lose nothing and share one id sequence', async () => {
      const db = await backend.open();
      const a = createDeadLetterStorage({ sql: db.runner });
      const b = createDeadLetterStorage({ sql: db.another() });
      const batches = (who: string) => Array.from({ length: 20 }, (_, n) => Array.from({ length: 10 }, (_, i) => rec(n * 10 + i, { deviceId: who, reason: `${who} ${n * 10 + i}` })));
      await Promise.all([
        (async () => { for (const batch of batches('a')) await a.append(batch, 1_000_000); })(),
        (async () => { for (const batch of batches('b')) await b.append(batch, 1_000_000); })(),
      ]);
      expect(await a.count()).toBe(400);
      const rows = await b.list({ limit: 1_000 });
      expect(new Set(rows.map((r) => r.id)).size).toBe(400);
      for (const who of ['a', 'b']) {
        // Each writer's own rows, oldest first, come in the order it wrote them.
        const mine = rows.filter((r) => r.deviceId === who).reverse().map((r) => Number(r.reason.split(' ')[1]));
        expect(mine).toEqual(Array.from({ length: 200 }, (_, i) => i));
      }
    });
  });

  describe('registry', () => {
    it('stores the registry and loads it back, each kind in the order first stored, secret hashes apart', async () => {
      const { runner } = await backend.open();
      const store = createRegistryStorage({ sql: runner });
      const withHash = entities().map((e) => (e.kind === 'device' && e.value.id === 'sd-1' ? { ...e, value: { ...e.value, secretHash: 'sha256$aa$bb' } } : e));
      await store.upsert(withHash, 1_000);
      const loaded = await store.load();
      expect(loaded.file).toEqual(county);
      expect(loaded.file.devices.some((d) => 'secretHash' in d)).toBe(false);
      expect([...loaded.hashes]).toEqual([['sd-1', 'sha256$aa$bb']]);
      expect(await store.load()).toEqual(loaded);
    });

    it('upserts in place: a second write replaces, keeps the position and counts once', async () => {
      const { runner } = await backend.open();
      const store = createRegistryStorage({ sql: runner });
      await store.upsert(entities(), 1_000);
      await store.upsert(entities(), 2_000);
      const moved = { ...county.devices[0]!, location: '阳台', enabled: false };
      await store.upsert([{ kind: 'device', value: moved }, { kind: 'center', value: { ...county.centers[0]!, name: '新名字' } }], 3_000);
      const { file } = await store.load();
      expect(file.devices.map((d) => d.id)).toEqual(county.devices.map((d) => d.id));
      expect(file.devices[0]).toEqual(moved);
      expect(file.centers).toEqual([{ ...county.centers[0]!, name: '新名字' }]);
      expect(file.sites).toEqual(county.sites);
    });

    it('keeps a stored secret hash when a device is written without one; setSecret sets it', async () => {
      const { runner } = await backend.open();
      const store = createRegistryStorage({ sql: runner });
      await store.upsert(entities(), 1_000);
      expect(await store.setSecret('sd-2', 'sha256$01$02', 2_000)).toBe(true);
      expect(await store.setSecret('no-such-device', 'sha256$01$02', 2_000)).toBe(false);
      await store.upsert([{ kind: 'device', value: { ...county.devices[1]!, location: 'elsewhere' } }], 3_000);
      expect((await store.load()).hashes).toEqual(new Map([['sd-2', 'sha256$01$02']]));
      await store.upsert([{ kind: 'device', value: { ...county.devices[1]!, secretHash: 'sha256$03$04' } }], 4_000);
      expect((await store.load()).hashes).toEqual(new Map([['sd-2', 'sha256$03$04']]));
    });

    it('removes one entity of each kind by its key, and says when there was none', async () => {
      const { runner } = await backend.open();
      const store = createRegistryStorage({ sql: runner });
      await store.upsert(entities(), 1_000);
      expect(await store.remove('device', 'sd-3')).toBe(true);
      expect(await store.remove('device', 'sd-3')).toBe(false);
      expect(await store.remove('roster', 'fc-1')).toBe(true);
      expect(await store.remove('person', 'p-op2')).toBe(true);
      expect(await store.remove('site', 'fc-1')).toBe(false);
      const { file } = await store.load();
      expect(file.devices.map((d) => d.id)).toEqual(['sd-1', 'sd-2', 'sd-off', 'fp-1', 'st-1']);
      expect(file.rosters).toEqual([]);
      expect(file.people.map((p) => p.id)).toEqual(['p-op', 'p-sup', 'p-grid']);
    });

    it('writes a batch all or nothing', async () => {
      const { runner } = await backend.open();
      const store = createRegistryStorage({ sql: runner });
      const bad = { kind: 'grid', value: { id: 'g-bad', name: 'no center' } } as unknown as RegistryEntity;
      expect(await rejection(store.upsert([...entities(), bad], 1_000))).toBeInstanceOf(Error);
      expect((await store.load()).file).toEqual(RegistryFile.parse({}));
    });

    it('refuses to load a stored row that no longer parses, naming it', async () => {
      const db = await backend.open();
      const store = createRegistryStorage({ sql: db.runner });
      await store.upsert(entities(), 1_000);
      await db.exec(`UPDATE registry_devices SET json = '{"id":"sd-2","type":"toaster","siteId":"h-1"}' WHERE id = 'sd-2'`);
      const err = await rejection(store.load());
      expect(err).toBeInstanceOf(WatchfireError);
      expect((err as WatchfireError).code).toBe('WF_REGISTRY_INVALID');
      expect((err as WatchfireError).details.join('\n')).toMatch(/registry_devices\["sd-2"\]\.type/);
    });

    it('two writers upserting the same entities at once: no conflict error, one row each', async () => {
      const db = await backend.open();
      const a = createRegistryStorage({ sql: db.runner });
      const b = createRegistryStorage({ sql: db.another() });
      const devices = (who: string) => Array.from({ length: 50 }, (_, i) => ({
        kind: 'device' as const, value: { ...county.devices[0]!, id: `sd-x${i}`, location: who },
      }));
      await a.upsert(entities().filter((e) => e.kind !== 'device'), 1_000);
      await Promise.all(Array.from({ length: 10 }, (_, n) => (n % 2 ? a : b).upsert(devices(n % 2 ? 'a' : 'b'), 2_000 + n)));
      const { file } = await b.load();
      expect(file.devices).toHaveLength(50);
      // Each row is one writer's whole value, never a mix.
      for (const d of file.devices) expect(['a', 'b']).toContain(d.location);
    });

    it('gets the entities asked for, in the order first stored, absent ones left out, with their secret hashes', async () => {
      const { runner } = await backend.open();
      const store = createRegistryStorage({ sql: runner });
      await store.upsert(entities(), 1_000);
      await store.setSecret('sd-3', 'sha256$05$06', 2_000);
      const got = await store.get({ device: ['sd-3', 'sd-1', 'nope', 'sd-3'], site: ['h-2'], roster: ['fc-1'], center: [] });
      expect(got.file).toEqual({ ...RegistryFile.parse({}), devices: [county.devices[0], county.devices[2]], sites: [county.sites[1]], rosters: county.rosters });
      expect(got.hashes).toEqual(new Map([['sd-3', 'sha256$05$06']]));
      // More ids than one query takes: every one is read.
      const many = Array.from({ length: 2_500 }, (_, i) => ({ kind: 'device' as const, value: { ...county.devices[0]!, id: `sd-m${i}` } }));
      await store.upsert(many, 3_000);
      const all = await store.get({ device: many.map((e) => e.value.id).reverse() });
      expect(all.file.devices.map((d) => d.id)).toEqual(many.map((e) => e.value.id));
      expect((await store.get({})).file).toEqual(RegistryFile.parse({}));
    });

    it('announces each committed write to the other writers\' watchers (PostgreSQL), never a rolled-back one, never to the writer itself', async () => {
      const db = await backend.open();
      const a = createRegistryStorage({ sql: db.runner });
      const b = createRegistryStorage({ sql: db.another() });
      const heardByA: RegistryChange[] = [];
      const heardByB: RegistryChange[] = [];
      const gaps: string[] = [];
      const stopA = await a.watch({ changed: (c) => heardByA.push(...c), gap: () => gaps.push('a') });
      const stopB = await b.watch({ changed: (c) => heardByB.push(...c), gap: () => gaps.push('b') });
      await a.upsert(entities().filter((e) => e.kind !== 'device'), 1_000);
      await a.upsert([{ kind: 'device', value: county.devices[0]! }], 1_000);
      await a.setSecret('sd-1', 'sha256$01$02', 2_000);
      await a.setSecret('nope', 'sha256$01$02', 2_000);
      await a.remove('roster', 'fc-1');
      await a.remove('roster', 'fc-1');
      const bad = { kind: 'grid', value: { id: 'g-bad', name: 'no center' } } as unknown as RegistryEntity;
      await rejection(a.upsert([{ kind: 'center', value: { ...county.centers[0]!, name: 'rolled back' } }, bad], 3_000));
      // A write of 2,000 devices: more than one NOTIFY payload holds.
      const many = Array.from({ length: 2_000 }, (_, i) => ({ kind: 'device' as const, value: { ...county.devices[0]!, id: `sd-长的名字-${i}` } }));
      await a.upsert(many, 4_000);
      if (backend.name === 'SQLite') {
        // One node owns the file: there is no one to hear, and nothing is heard.
        expect(heardByB).toEqual([]);
      } else {
        const expected: RegistryChange[] = [
          ...entities().filter((e) => e.kind !== 'device').map((e) => ({ kind: e.kind, id: e.kind === 'roster' ? e.value.centerId : e.value.id, op: 'upsert' as const })),
          { kind: 'device', id: 'sd-1', op: 'upsert' },
          { kind: 'device', id: 'sd-1', op: 'upsert' },
          { kind: 'roster', id: 'fc-1', op: 'remove' },
          ...many.map((e) => ({ kind: 'device' as const, id: e.value.id, op: 'upsert' as const })),
        ];
        await waitFor(() => heardByB.length >= expected.length, { what: 'every announcement' });
        expect(heardByB).toEqual(expected);
      }
      expect(heardByA).toEqual([]);
      expect(gaps).toEqual([]);
      await stopA();
      await stopB();
      // Stopped: heard no more.
      const before = heardByB.length;
      await a.remove('device', 'sd-1');
      await b.upsert([{ kind: 'center', value: county.centers[0]! }], 5_000);
      await a.upsert([{ kind: 'center', value: county.centers[0]! }], 5_000);
      expect(heardByB).toHaveLength(before);
    });
  });
});

describe('the two schemas and the embedded stores', () => {
  const [sqlite, postgres] = backends as [SqlBackend, SqlBackend];
  // Every table behind the seam (storage/tables.ts), listed so that adding one means adding it here.
  const TABLES: ReadonlyArray<keyof Tables> = [
    'dead_letters', 'registry_centers', 'registry_grids', 'registry_sites', 'registry_devices', 'registry_people', 'registry_rosters',
    'alert_outbox', 'alert_outbox_attempts', 'users', 'sessions', 'wf_leases', 'alert_reports', 'alert_escalations',
    'alert_incidents', 'alert_audit', 'privacy_erasures', 'privacy_redactions', 'read_audit', 'wf_meta',
  ];

  it('PostgreSQL\'s tables mirror SQLite\'s: the same columns, the same nullability, the same indexes', async () => {
    const a = await sqlite.open();
    const b = await postgres.open();
    for (const table of TABLES) {
      const lite = Object.fromEntries(await a.columns(table));
      const pgCols = Object.fromEntries(await b.columns(table));
      // `pos` stands in for SQLite's rowid (storage/postgres-migrations.ts).
      delete pgCols.pos;
      expect(lite, table).not.toEqual({});
      expect(pgCols, table).toEqual(lite);
      expect(await b.indexes(table), table).toEqual(await a.indexes(table));
    }
  });

  it('PostgreSQL migrations: two nodes starting at once migrate once; a newer schema is refused', async () => {
    const { runner, another, exec } = await postgres.open();
    // open() migrated already: a second run has nothing to do.
    expect(await migratePostgres(runner)).toEqual({ from: POSTGRES_MIGRATIONS.length, to: POSTGRES_MIGRATIONS.length, applied: [] });
    // The trigger functions (the audit trail's, privacy's) outlive their tables.
    await exec(`DROP TABLE wf_schema, privacy_key, ${TABLES.join(', ')}; DROP FUNCTION alert_audit_append_only, alert_audit_redaction_only, privacy_append_only, privacy_erasures_counts_once`);
    const results = await Promise.all([migratePostgres(runner), migratePostgres(another())]);
    expect(results.map((r) => r.applied.length).sort()).toEqual([0, POSTGRES_MIGRATIONS.length]);
    await exec('UPDATE wf_schema SET version = 99');
    const err = await rejection(migratePostgres(runner));
    expect((err as WatchfireError).code).toBe('WF_DB_TOO_NEW');
    // A migration that fails leaves nothing behind: not its first statement, not the version.
    const latest = POSTGRES_MIGRATIONS.length;
    await exec(`UPDATE wf_schema SET version = ${latest}`);
    const next = (sql: string) => [...POSTGRES_MIGRATIONS, { version: latest + 1, name: 'test: half', sql }];
    expect((await rejection(migratePostgres(runner, next('CREATE TABLE half (x INT); SELECT no_such_column FROM half;'))) as WatchfireError).code).toBe('WF_DB_MIGRATION');
    expect(await migratePostgres(runner, next('CREATE TABLE half (x INT);'))).toEqual({ from: latest, to: latest + 1, applied: [`${latest + 1}: test: half`] });
  });

  it('on SQLite the seam reads and writes the very rows of the embedded file', async () => {
    const { runner, sqlite: db } = await sqlite.open();
    // Dead letters: queued by ingest/dead-letters.ts, written through the seam into the file's table.
    const embedded = createDeadLetterStore({ storage: createDeadLetterStorage({ sql: runner }), logger: pino({ level: 'silent' }) });
    embedded.add(rec(1, { deviceId: undefined }));
    embedded.add(rec(2));
    await embedded.flush();
    expect(db!.prepare('SELECT device_id, reason FROM dead_letters ORDER BY id').all()).toEqual([{ device_id: null, reason: 'reason 1' }, { device_id: 'even', reason: 'reason 2' }]);
    expect(await embedded.count({ deviceId: 'even' })).toBe(1);
  });

  it('a snapshot\'s reads agree on PostgreSQL although another node commits between them', async () => {
    const db = await postgres.open();
    const store = createDeadLetterStorage({ sql: db.another() });
    await store.append([rec(1)], 100);
    const count = db.runner.q.selectFrom('dead_letters').select((eb) => eb.fn.countAll<number>().as('n'));
    // The middle read sleeps; the other node commits while it does (seen in pg_stat_activity).
    const reads = db.runner.snapshot([count, sql`SELECT pg_sleep(0.5) AS slept`.compile(db.runner.q), count]);
    await waitFor(async () => (await db.query<{ n: number }>("SELECT COUNT(*)::int AS n FROM pg_stat_activity WHERE wait_event = 'PgSleep'"))[0]!.n > 0, { what: 'the snapshot to be between its reads' });
    await store.append([rec(2)], 100);
    const [before, , after] = (await reads) as Array<Array<{ n: number }>>;
    expect(after![0]!.n).toBe(before![0]!.n);
    expect(await store.count()).toBe(2);
  });

  it('a PostgreSQL connection dropped while idle is an event, and the next query gets a new one', async () => {
    const db = await postgres.open();
    let dropped: (err: Error) => void = () => {};
    const gone = new Promise<Error>((resolve) => { dropped = resolve; });
    const runner = postgresRunner({ connectionString: db.url, max: 1, onIdleError: (err) => dropped(err) });
    const store = createDeadLetterStorage({ sql: runner });
    await store.append([rec(1)], 10);
    await db.exec(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`);
    expect(String(await gone)).toMatch(/terminat/);
    expect(await store.count()).toBe(1);
    await runner.close();
  });

  it('a registry watcher whose PostgreSQL connection drops listens again and is told of the gap; it hears what follows', async () => {
    const db = await postgres.open();
    const writer = createRegistryStorage({ sql: db.another() });
    const heard: RegistryChange[] = [];
    let gaps = 0;
    const stop = await createRegistryStorage({ sql: db.runner }).watch({ changed: (c) => heard.push(...c), gap: () => { gaps++; } });
    const listening = () => db.query<{ n: number }>("SELECT COUNT(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'");
    expect((await listening())[0]!.n).toBe(1);
    await db.exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'");
    await waitFor(() => gaps === 1, { what: 'the gap after the listening connection came back' });
    expect((await listening())[0]!.n).toBe(1);
    await writer.upsert([{ kind: 'center', value: county.centers[0]! }], 1_000);
    await waitFor(() => heard.length === 1, { what: 'the write after the gap' });
    expect(heard).toEqual([{ kind: 'center', id: 'fc-1', op: 'upsert' }]);
    await stop();
    await waitFor(async () => (await listening())[0]!.n === 0, { what: 'the listening connection closed' });
  });

  it('a PostgreSQL runner that cannot reach its server rejects, it does not hang or throw', async () => {
    const port = await freePort(); // free: nobody listens there
    const dead = postgresRunner({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres` });
    const err = await rejection(createDeadLetterStorage({ sql: dead }).count());
    expect(String(err)).toMatch(/ECONNREFUSED/);
    await dead.close();
  });
});
