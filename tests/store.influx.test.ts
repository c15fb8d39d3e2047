// The InfluxDB writer against a real influxd 1.6.7: schema, idempotent re-writes, and a Watchfire
// restart while InfluxDB is down (the journal on disk carries the readings over).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import pino from 'pino';
import { Registry } from 'prom-client';
import { Config } from '../contracts/config.ts';
import { createJournaledStore } from './support/store.ts';
import { createInfluxQuery } from '../ingest/store/query.ts';
import { startTestInfluxd, sampleTelemetry, samplePanelEvent } from './support/influxd.ts';
import type { TestInfluxd } from './support/influxd.ts';
import { waitFor } from './support/wait.ts';

const logger = pino({ level: 'silent' });
let influx: TestInfluxd;
let tmp: string;

beforeAll(async () => {
  influx = await startTestInfluxd();
  tmp = await mkdtemp(join(tmpdir(), 'wf-store-'));
});
afterAll(async () => {
  await influx?.stop();
  await rm(tmp, { recursive: true, force: true });
});

function makeStore(database: string, dir: string, over: Partial<Config['influx']> = {}) {
  const config = { ...Config.parse({}).influx, database, batchSize: 500, flushIntervalMs: 100, maxRetries: 2, ...over, url: influx.url };
  return createJournaledStore({
    dir, config, logger, metrics: new Registry(),
    retry: { minDelayMs: 100, maxDelayMs: 500, requestTimeoutMs: 2000 },
  });
}
const count = async (database: string, q: string): Promise<number> =>
  Number((await createInfluxQuery({ url: influx.url, database }).query(q))[0]?.count ?? 0);

describe('InfluxDB writer', () => {
  it('lets go of every batch it has shipped while it runs (the soak\'s ~0.7 KiB per reading, issue 15)', async () => {
    const store = makeStore('retain', join(tmp, 'spool-retain'), { batchSize: 100 });
    const shipped: Array<WeakRef<readonly string[]>> = [];
    const read = store.journal.read.bind(store.journal);
    store.journal.read = async (max) => {
      const b = await read(max);
      if (b) shipped.push(new WeakRef(b.lines));
      return b;
    };
    await store.start();
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 200; i++) store.write(sampleTelemetry(round * 200 + i));
      await store.flush();
    }
    expect(store.stats()).toMatchObject({ written: 1000, spooledLines: 0 });
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    await new Promise((r) => setImmediate(r));
    gc();
    expect(shipped.length).toBeGreaterThanOrEqual(10);
    // At most what each of the two workers' suspended frames still names; before, every batch.
    expect(shipped.filter((w) => w.deref() !== undefined).length).toBeLessThanOrEqual(2);
    await store.stop();
  });

  it('stores 1,000 readings and 20 events with their tags and fields, and a re-write stores none twice', async () => {
    const db = 'schema';
    const store = makeStore(db, join(tmp, 'spool-schema'));
    await store.start();
    for (let i = 0; i < 1000; i++) store.write(sampleTelemetry(i));
    for (let i = 0; i < 20; i++) store.write(samplePanelEvent(i));
    expect(store.backlog()).toBe(1020);
    await store.flush();
    expect(store.backlog()).toBe(0);
    expect(store.stats()).toMatchObject({ written: 1020, spooledLines: 0, failedBatches: 0 });

    expect(await count(db, 'SELECT count(score) FROM telemetry')).toBe(1000);
    expect(await count(db, 'SELECT count(score) FROM event')).toBe(20);
    expect(await count(db, "SELECT count(score) FROM telemetry WHERE device = 'sd-3' AND site = 'site-3' AND center = 'c1' AND grid = 'g0' AND type = 'smoke_detector'")).toBe(100);
    // A device without a grid has no grid tag at all (InfluxQL: '' matches a missing tag).
    expect(await count(db, "SELECT count(score) FROM telemetry WHERE device = 'sd-6' AND grid = ''")).toBe(100);
    expect(await count(db, "SELECT count(score) FROM telemetry WHERE level = 'yellow'")).toBe(20);
    expect(await count(db, 'SELECT count(clock_bad) FROM telemetry')).toBe(Array.from({ length: 1000 }, (_, i) => i % 97 === 5).filter(Boolean).length);
    expect(await count(db, "SELECT count(point) FROM event WHERE event = 'fire' AND device = 'fp-1' AND type = 'fire_panel'")).toBe(20);

    const q = createInfluxQuery({ url: influx.url, database: db });
    const [row] = await q.query("SELECT * FROM telemetry WHERE device = 'sd-1' AND seq = 49");
    const r = sampleTelemetry(491).reading;
    expect(row).toMatchObject({ time: r.ts, device: 'sd-1', site: 'site-1', center: 'c1', grid: 'g1', type: 'smoke_detector', smoke: 0.041, temp: 21, battery: 90, humidity: 41.5, score: 0, level: 'green', seq: 49 });
    const [ev] = await q.query("SELECT * FROM event WHERE point = 7");
    expect(ev).toMatchObject({ event: 'fire', loop: 1, point: 7, zone: '3', label: '3F corridor', score: 90, level: 'red', seq: 5007 });

    // Exactly once: the same readings again (a device retry, a replay after a crash) overwrite themselves.
    for (let i = 0; i < 1000; i++) store.write(sampleTelemetry(i));
    for (let i = 0; i < 20; i++) store.write(samplePanelEvent(i));
    await store.flush();
    expect(await count(db, 'SELECT count(score) FROM telemetry')).toBe(1000);
    expect(await count(db, 'SELECT count(score) FROM event')).toBe(20);
    await store.stop();
  });

  it('stores text in any script byte for byte: a write body is built as UTF-8 bytes, line by line', async () => {
    const db = 'utf8';
    const store = makeStore(db, join(tmp, 'spool-utf8'));
    await store.start();
    // Two-, three- and four-byte UTF-8 (and a quote and a backslash the line protocol escapes), in one batch with plain lines.
    const labels = ['三楼走廊 东侧', 'Été «1»', 'gauge 𝄞 and ☃', 'a "quoted" back\\slash'];
    for (let i = 0; i < 100; i++) store.write(sampleTelemetry(i));
    labels.forEach((label, i) => {
      const ev = samplePanelEvent(100 + i);
      store.write({ ...ev, reading: { ...ev.reading, values: { ...ev.reading.values, label } } } as typeof ev);
    });
    await store.flush();
    const q = createInfluxQuery({ url: influx.url, database: db });
    const rows = await q.query('SELECT label, point FROM event ORDER BY time');
    expect(rows.map((r) => [r.point, r.label])).toEqual(labels.map((label, i) => [100 + i, label]));
    expect(await count(db, 'SELECT count(score) FROM telemetry')).toBe(100);
    await store.stop();
  });

  it('keeps what it could not write across a Watchfire restart while InfluxDB is down, then lands every reading once', async () => {
    const db = 'restart';
    const spoolDir = join(tmp, 'spool-restart');
    let store = makeStore(db, spoolDir);
    await store.start();
    for (let i = 0; i < 300; i++) store.write(sampleTelemetry(i));
    await store.flush();
    expect(await count(db, 'SELECT count(score) FROM telemetry')).toBe(300);

    await influx.down();
    for (let i = 300; i < 1500; i++) store.write(sampleTelemetry(i));
    // Watchfire stops while InfluxDB is still down: everything it was handed is in the journal.
    await store.stop();
    expect(store.backlog()).toBe(0);
    expect(store.stats().spooledLines).toBe(1200);
    expect((await readdir(spoolDir)).filter((f) => f.endsWith('.lp')).length).toBeGreaterThan(0);

    // The next Watchfire finds the journal's unshipped tail, keeps taking readings (behind it),
    // and ships it all once InfluxDB is back.
    // The segment that holds them also holds the 300 shipped before the outage: a segment is
    // deleted only when all of it is confirmed, so those 300 are shipped again, and overwrite
    // themselves (line.ts).
    store = makeStore(db, spoolDir);
    await store.start();
    expect(store.stats().spooledLines).toBe(1500);
    for (let i = 1500; i < 2000; i++) store.write(sampleTelemetry(i));
    await store.flush();
    expect(store.stats().spooledLines).toBe(2000);
    await influx.up();
    await waitFor(async () => (await count(db, 'SELECT count(score) FROM telemetry')) === 2000 || undefined, { timeoutMs: 30_000, what: '2,000 readings in InfluxDB' });
    await waitFor(() => store.stats().spooledLines === 0 || undefined, { what: 'the journal to be shipped' });
    // Read back from disk: the earlier run's segment (the 500 since came from memory).
    expect(store.stats().replayedLines).toBe(1500);
    expect(await count(db, 'SELECT count(seq) FROM telemetry')).toBe(2000);
    // The earlier run's segment is deleted; the one being appended to stays until it is sealed.
    expect((await readdir(spoolDir)).filter((f) => f.endsWith('.lp'))).toEqual(['000000000002.lp']);
    await store.stop();
    expect((await readdir(spoolDir)).filter((f) => f.endsWith('.lp'))).toEqual([]);
  });

  it('stores every line when write bodies are gzipped (influx.gzipThresholdBytes)', async () => {
    const db = 'gzip';
    const store = makeStore(db, join(tmp, 'journal-gzip'), { gzipThresholdBytes: 1 });
    await store.start();
    for (let i = 0; i < 300; i++) store.write(sampleTelemetry(i));
    await store.flush();
    expect(store.stats()).toMatchObject({ written: 300, failedBatches: 0 });
    expect(await count(db, 'SELECT count(score) FROM telemetry')).toBe(300);
    await store.stop();
  });
});
