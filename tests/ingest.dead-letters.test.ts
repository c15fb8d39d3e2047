// The dead-letter store on a real SQLite file: queued off the hot path, listed and counted with
// filters, bounded retention, and nothing queued lost at stop. On a real PostgreSQL (issue 21:
// storage.postgresUrl): one write out at a time, batches in order, stop() waiting for the write
// out; and a database that cannot be reached costs the batch, logged and counted, never a throw.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { openDatabase } from '../app/db.ts';
import type { RejectRecord } from '../contracts/ports.ts';
import { createDeadLetterStore } from '../ingest/dead-letters.ts';
import { freePort } from '../ingest/influxd.ts';
import { createDeadLetterStorage, migratePostgres, postgresRunner, sqliteRunner } from '../storage/index.ts';
import { startTestPostgres, type TestPostgres } from './support/postgres.ts';

const logger = pino({ level: 'silent' });
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'wf-dl-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function rec(i: number, over: Partial<RejectRecord> = {}): RejectRecord {
  return { at: 1_000_000 + i, deviceId: i % 2 ? 'odd' : 'even', topic: 'v1/devices/x/telemetry', code: i % 3 ? 'WF_INGEST_SCHEMA' : 'WF_INGEST_NOT_JSON', reason: `reason ${i}`, index: i % 5 ? i : undefined, payload: `{"i":${i}}`, ...over };
}

describe('dead-letter store', () => {
  it('queues add() in memory and writes it in one transaction on the next tick', async () => {
    const db = openDatabase(join(dir, 'a.db'));
    const store = createDeadLetterStore({ storage: createDeadLetterStorage({ sql: sqliteRunner(db) }), logger });
    await store.start();
    store.add(rec(1));
    store.add(rec(2));
    // Not yet on disk: add() never waits on SQLite.
    expect((db.prepare('SELECT COUNT(*) AS n FROM dead_letters').get() as { n: number }).n).toBe(0);
    await new Promise((r) => setImmediate(r));
    expect((db.prepare('SELECT COUNT(*) AS n FROM dead_letters').get() as { n: number }).n).toBe(2);
    // On SQLite the write commits inside flush() (app/watchfire.ts's journal participant relies on it).
    store.add(rec(3));
    const written = store.flush();
    expect((db.prepare('SELECT COUNT(*) AS n FROM dead_letters').get() as { n: number }).n).toBe(3);
    await written;
    await store.stop();
    db.close();
  });

  it('lists newest first and filters by device, code and time; list/count see what was just added', async () => {
    const db = openDatabase(join(dir, 'b.db'));
    const store = createDeadLetterStore({ storage: createDeadLetterStorage({ sql: sqliteRunner(db) }), logger });
    await store.start();
    for (let i = 0; i < 30; i++) store.add(rec(i));
    expect((await store.count())).toBe(30);
    expect((await store.count({ deviceId: 'odd' }))).toBe(15);
    expect((await store.count({ code: 'WF_INGEST_NOT_JSON' }))).toBe(10);
    expect((await store.count({ deviceId: 'odd', code: 'WF_INGEST_NOT_JSON' }))).toBe(5);
    const newest = (await store.list({ limit: 3 }));
    expect(newest.map((r) => r.reason)).toEqual(['reason 29', 'reason 28', 'reason 27']);
    expect(newest[0]).toMatchObject({ at: 1_000_029, deviceId: 'odd', topic: 'v1/devices/x/telemetry', code: 'WF_INGEST_SCHEMA', index: 29, payload: '{"i":29}' });
    expect((await store.list({ limit: 1, before: 1_000_025 }))[0]!.reason).toBe('reason 24');
    expect((await store.list({ deviceId: 'even', code: 'WF_INGEST_NOT_JSON' })).map((r) => r.reason)).toEqual(['reason 24', 'reason 18', 'reason 12', 'reason 6', 'reason 0']);
    expect((await store.list({ limit: 100 })).find((r) => r.reason === 'reason 5')!.index).toBeUndefined();
    store.add(rec(99, { deviceId: undefined }));
    expect((await store.list({ limit: 1 }))[0]!.deviceId).toBeUndefined();
    await store.stop();
    db.close();
  });

  it('keeps only the newest maxRows', async () => {
    const db = openDatabase(join(dir, 'c.db'));
    const store = createDeadLetterStore({ storage: createDeadLetterStorage({ sql: sqliteRunner(db) }), logger, maxRows: 50 });
    await store.start();
    for (let i = 0; i < 120; i++) {
      store.add(rec(i));
      if (i % 7 === 0) await store.flush();
    }
    expect((await store.count())).toBe(50);
    const all = (await store.list({ limit: 1000 }));
    expect(all[0]!.reason).toBe('reason 119');
    expect(all.at(-1)!.reason).toBe('reason 70');
    await store.stop();
    db.close();
  });

  it('writes what is queued at stop, and finds it again after a restart', async () => {
    const file = join(dir, 'd.db');
    let db = openDatabase(file);
    let store = createDeadLetterStore({ storage: createDeadLetterStorage({ sql: sqliteRunner(db) }), logger });
    await store.start();
    for (let i = 0; i < 10; i++) store.add(rec(i));
    await store.stop();
    db.close();
    db = openDatabase(file);
    store = createDeadLetterStore({ storage: createDeadLetterStorage({ sql: sqliteRunner(db) }), logger });
    await store.start();
    expect((await store.count())).toBe(10);
    await store.stop();
    db.close();
  });

  it('bounds the memory queue and counts what it had to drop', async () => {
    const db = openDatabase(join(dir, 'e.db'));
    const store = createDeadLetterStore({ storage: createDeadLetterStorage({ sql: sqliteRunner(db) }), logger, maxQueued: 5 });
    await store.start();
    for (let i = 0; i < 8; i++) store.add(rec(i));
    expect(store.dropped).toBe(3);
    expect((await store.count())).toBe(5);
    await store.stop();
    db.close();
  });
});

describe('dead-letter store on PostgreSQL', () => {
  let pg: TestPostgres;
  beforeAll(async () => {
    pg = await startTestPostgres();
  });
  afterAll(async () => {
    await pg?.stop();
  });

  it('writes one batch at a time, in order: what arrives while a write is out goes whole as the next; stop() waits for it', async () => {
    const runner = postgresRunner({ connectionString: await pg.createDatabase() });
    await migratePostgres(runner);
    const store = createDeadLetterStore({ storage: createDeadLetterStorage({ sql: runner }), logger });
    await store.start();
    for (let i = 0; i < 5; i++) store.add(rec(i));
    const first = store.flush();
    // The round trip is out: these wait in memory, and every flush now is the one next batch.
    for (let i = 5; i < 12; i++) store.add(rec(i));
    expect(store.pending).toBe(true);
    expect(store.queued).toBe(7);
    const next = store.flush();
    expect(store.flush()).toBe(next);
    await first;
    await next;
    expect(store.pending).toBe(false);
    expect((await store.list({ limit: 100 })).map((r) => r.reason).reverse()).toEqual(Array.from({ length: 12 }, (_, i) => `reason ${i}`));
    // Queued, and a write out, when stop() is called: both are written before it resolves.
    for (let i = 12; i < 15; i++) store.add(rec(i));
    void store.flush();
    for (let i = 15; i < 20; i++) store.add(rec(i));
    await store.stop();
    expect(store.pending).toBe(false);
    expect(await createDeadLetterStorage({ sql: runner }).count()).toBe(20);
    await runner.close();
  });

  it('a write that fails is logged with the number lost and counted; later ones go on', async () => {
    const lines: string[] = [];
    const metrics = new Registry();
    const port = await freePort(); // nobody listens there
    const runner = postgresRunner({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres` });
    const store = createDeadLetterStore({ storage: createDeadLetterStorage({ sql: runner }), logger: pino({ level: 'error' }, { write: (l: string) => void lines.push(l) }), metrics });
    for (let i = 0; i < 3; i++) store.add(rec(i));
    await store.flush();
    store.add(rec(3));
    await store.stop();
    expect(store.lost).toBe(4);
    expect(lines.map((l) => JSON.parse(l) as Record<string, unknown>)).toMatchObject([{ lost: 3, msg: 'dead-letter write failed' }, { lost: 1, msg: 'dead-letter write failed' }]);
    expect(await metrics.getSingleMetricAsString('watchfire_dead_letters_lost_total')).toMatch(/reason="write_failed"} 4$/m);
    await runner.close();
  });
});
