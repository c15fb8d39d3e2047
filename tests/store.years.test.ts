// InfluxDB for years (issue 18 point 6): the local influxd takes more devices than Debian's
// defaults allowed, raw readings have a retention policy and a 5-minute downsampling into a
// long-term one, and lines InfluxDB refuses are kept with the reason, counted, and replayed once
// the cause is fixed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Registry } from 'prom-client';
import { Config } from '../contracts/config.ts';
import { startTestInfluxd, sampleTelemetry, SAMPLE_TS, type TestInfluxd } from './support/influxd.ts';
import { createJournaledStore } from './support/store.ts';
import { createRefusedStore, type PostLines } from '../ingest/store/refused.ts';
import { ensureRetention } from '../ingest/store/retention.ts';
import { Command } from 'commander';
import { loadConfig } from '../app/config.ts';
import { registerStoreCommands } from '../app/commands/store.ts';

const logger = pino({ level: 'silent' });
let influx: TestInfluxd;
let tmp: string;
beforeAll(async () => {
  influx = await startTestInfluxd();
  tmp = await mkdtemp(join(tmpdir(), 'wf-years-'));
});
afterAll(async () => {
  await influx?.stop();
  await rm(tmp, { recursive: true, force: true });
});

const ddl = async (q: string, db: string) => {
  const res = await fetch(`${influx.url}/query`, { method: 'POST', body: new URLSearchParams({ q, db }) });
  expect(res.ok).toBe(true);
  return (await res.json()) as { results: Array<{ series?: Array<{ name?: string; values?: unknown[][] }> }> };
};
const post = (db: string): PostLines => async (lines) => {
  const res = await fetch(`${influx.url}/write?db=${db}`, { method: 'POST', body: lines.join('\n') });
  return res.ok ? { ok: true } : { ok: false, status: res.status, reason: await res.text() };
};

describe('InfluxDB for years', () => {
  it('the local influxd runs tsi1 and takes more than Debian\'s 100,000 values of the device tag', { timeout: 120_000 }, async () => {
    const conf = await readFile(join(influx.dataDir, 'influxd.conf'), 'utf8');
    expect(conf).toMatch(/^\s+index-version = "tsi1"$/m);
    expect(conf).toMatch(/^\s+max-values-per-tag = 5000000$/m);
    // 110,000 devices, one reading each: past the old limit, every write answers 204.
    await ddl('CREATE DATABASE wide', 'wide');
    for (let b = 0; b < 110_000; b += 10_000) {
      const lines = Array.from({ length: 10_000 }, (_, i) => `telemetry,device=d${b + i} smoke=0.01 ${SAMPLE_TS + b + i}000000`);
      const res = await fetch(`${influx.url}/write?db=wide`, { method: 'POST', body: lines.join('\n') });
      expect(res.status, await res.text()).toBe(204);
    }
    const r = await ddl('SHOW TAG VALUES CARDINALITY WITH KEY = "device"', 'wide');
    expect(r.results[0]!.series![0]!.values![0]![0]).toBe(110_000);
  });

  it('sets the raw retention, a long-term policy and the 5-minute continuous query, idempotently', async () => {
    const db = 'years';
    await ddl(`CREATE DATABASE ${db}`, db);
    const c = { url: influx.url, database: db, raw: '180d', longTerm: 'INF', downsample: true };
    const first = await ensureRetention(c);
    expect(first.some((s) => s.startsWith('CREATE CONTINUOUS QUERY'))).toBe(true);
    const rps = (await ddl(`SHOW RETENTION POLICIES ON ${db}`, db)).results[0]!.series![0]!.values!;
    expect(rps).toEqual(expect.arrayContaining([['autogen', '4320h0m0s', expect.any(String), 1, true], ['long_term', '0s', expect.any(String), 1, false]]));
    // Started again: nothing dropped or re-created.
    const second = await ensureRetention(c);
    expect(second.filter((s) => /CONTINUOUS/.test(s))).toEqual([]);
    // The continuous query's own SELECT over two 5-minute windows gives min, max and mean per device.
    const lines = [0.1, 0.3, 0.2, 0.6].map((v, i) => `telemetry,device=sd-1,site=h-1 smoke=${v},score=${v / 2} ${SAMPLE_TS + i * 150_000}000000`);
    expect((await post(db)(lines)).ok).toBe(true);
    const cq = (await ddl('SHOW CONTINUOUS QUERIES', db)).results[0]!.series!.find((s) => s.name === db)!.values![0]![1] as string;
    // Each run computes the last bucket again: readings reach InfluxDB a moment after their bucket closed.
    expect(cq).toMatch(/ RESAMPLE EVERY 5m FOR 10m BEGIN /);
    const select = /BEGIN (SELECT .*) GROUP BY (.*) END$/.exec(cq)!;
    await ddl(`${select[1]} WHERE time >= ${SAMPLE_TS}ms AND time < ${SAMPLE_TS + 600_000}ms GROUP BY ${select[2]}`, db);
    const got = (await fetch(`${influx.url}/query?db=${db}&epoch=ms&q=${encodeURIComponent(`SELECT min_smoke, max_smoke, mean_smoke FROM "long_term"."telemetry_5m" WHERE "device" = 'sd-1'`)}`).then((r) => r.json())) as { results: Array<{ series?: Array<{ values: unknown[][] }> }> };
    const values = got.results[0]!.series![0]!.values.map((v) => v.map((x) => (typeof x === 'number' ? Math.round(x * 1000) / 1000 : x)));
    expect(values).toEqual([[SAMPLE_TS, 0.1, 0.3, 0.2], [SAMPLE_TS + 300_000, 0.2, 0.6, 0.4]]);
  });

  it('replaces the continuous query of an earlier release (no RESAMPLE) once, then leaves it', async () => {
    const db = 'upgraded';
    await ddl(`CREATE DATABASE ${db}`, db);
    await ddl(`CREATE RETENTION POLICY "long_term" ON "${db}" DURATION INF REPLICATION 1`, db);
    await ddl(`CREATE CONTINUOUS QUERY "wf_telemetry_5m" ON "${db}" BEGIN SELECT min(*), max(*), mean(*) INTO "${db}"."long_term"."telemetry_5m" FROM "${db}"."autogen"."telemetry" GROUP BY time(5m), * END`, db);
    const c = { url: influx.url, database: db, raw: '180d', longTerm: 'INF', downsample: true };
    expect((await ensureRetention(c)).filter((s) => /CONTINUOUS/.test(s)).map((s) => s.split(' ')[0])).toEqual(['DROP', 'CREATE']);
    expect((await ensureRetention(c)).filter((s) => /CONTINUOUS/.test(s))).toEqual([]);
  });

  it('wf store downsample aggregates readings that arrived after their bucket closed (late, or from before the continuous query)', async () => {
    const db = 'late';
    await ddl(`CREATE DATABASE ${db}`, db);
    await ensureRetention({ url: influx.url, database: db, raw: '180d', longTerm: 'INF', downsample: true });
    // Ten days old, written now: the continuous query never sees them.
    const t0 = Math.floor((Date.now() - 10 * 86_400_000) / 300_000) * 300_000;
    expect((await post(db)([0.1, 0.4, 0.2].map((v, i) => `telemetry,device=sd-7 smoke=${v},battery=${90 - i} ${t0 + i * 60_000}000000`))).ok).toBe(true);
    const longTerm = async () => ((await fetch(`${influx.url}/query?db=${db}&epoch=ms&q=${encodeURIComponent('SELECT max_smoke, min_battery FROM "long_term"."telemetry_5m"')}`).then((r) => r.json())) as { results: Array<{ series?: Array<{ values: unknown[][] }> }> }).results[0]!.series?.[0]?.values ?? [];
    expect(await longTerm()).toEqual([]);
    let printed = '';
    const program = new Command().exitOverride().configureOutput({ writeOut: (s) => { printed += s; }, writeErr: () => undefined });
    const cfg = loadConfig({ env: {}, overrides: { dataDir: tmp, 'influx.url': influx.url, 'influx.database': db } });
    registerStoreCommands(program, () => cfg);
    await program.parseAsync(['node', 'wf', 'store', 'downsample', '--since', '14d', '--json']);
    const r = JSON.parse(printed) as { written: number; buckets: number };
    expect(r.written).toBe(1);
    expect(r.buckets).toBeGreaterThanOrEqual(14 * 288);
    expect(await longTerm()).toEqual([[t0, 0.4, 88]]);
  });

  it('keeps refused lines with InfluxDB\'s reason, counts them, and replays them after the fix', async () => {
    const db = 'refusals';
    await ddl(`CREATE DATABASE ${db}`, db);
    // The cause: `score` already exists as a string in this shard, so the float score is a type conflict.
    expect((await post(db)([`telemetry,device=sd-0 score="odd" ${SAMPLE_TS}000000`])).ok).toBe(true);
    const metrics = new Registry();
    const refused = createRefusedStore({ dir: join(tmp, 'refused'), logger, metrics });
    const config = { ...Config.parse({}).influx, database: db, batchSize: 100, flushIntervalMs: 50, maxRetries: 1, url: influx.url };
    const store = createJournaledStore({ dir: join(tmp, 'journal'), config, logger, metrics: new Registry(), refused, retry: { minDelayMs: 50, maxDelayMs: 200, requestTimeoutMs: 2000 } });
    await store.start();
    store.write(sampleTelemetry(0, 1));
    await store.flush();
    await store.stop();
    // The whole refused batch is kept (1.x writes the good lines of a partial write; a replay of
    // them stores the same points again, which InfluxDB treats as one).
    const [kept, ...more] = refused.list();
    expect(more).toEqual([]);
    expect(kept!.reason).toMatch(/field type conflict/);
    expect(kept!.lines.some((l) => l.startsWith('telemetry,') && l.includes('device=sd-0'))).toBe(true);
    const n0 = kept!.lines.length;
    expect(refused.lines).toBe(n0);
    expect(await metrics.getSingleMetricAsString('watchfire_store_refused_lines')).toMatch(new RegExp(` ${n0}$`, 'm'));

    // Replay before the fix: still refused, still kept.
    expect(await refused.replay(post(db))).toEqual({ replayed: 0, stillRefused: n0 });
    // The fix (drop the odd series), then the replay stores it and empties the store.
    await ddl('DROP MEASUREMENT "telemetry"', db);
    expect(await refused.replay(post(db))).toEqual({ replayed: n0, stillRefused: 0 });
    const n = (await fetch(`${influx.url}/query?db=${db}&q=${encodeURIComponent('SELECT count(score) FROM telemetry')}`).then((r) => r.json())) as { results: Array<{ series?: Array<{ values: unknown[][] }> }> };
    expect(n.results[0]!.series![0]!.values[0]![1]).toBe(1);
    expect(refused.list()).toEqual([]);
  });
});
