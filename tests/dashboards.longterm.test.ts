// Charts for years (issue 18 point 6): a site chart over a long range is served from the 5-minute
// aggregates in `long_term` (max of the maxes, battery's min of mins), with the newest minutes
// read raw, against a real influxd holding aggregates older than the raw retention keeps readings.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestInfluxd, type TestInfluxd } from './support/influxd.ts';
import { login, makeServer } from './dashboards.fixture.ts';
import { ensureRetention } from '../ingest/store/retention.ts';
import { createInfluxQuery } from '../ingest/store/query.ts';
import { durationMs, LONG_RANGE_HOURS } from '../contracts/downsampling.ts';

const DAY = 86_400_000;
let influx: TestInfluxd;
let ctx: Awaited<ReturnType<typeof makeServer>> | undefined;
// A year's chart has steps of about 3 days (dashboards/routes/sites.ts: ~120 points on whole
// 5-minute buckets), aligned on the epoch. `now` sits mid-step, so the aggregate of 3 days ago and
// the raw reading of 5 minutes ago never share a step: in one run of 70 they did, and were shown
// as one point, the max of both (a full run, 12:49 UTC on 2026-12-07).
const YEAR_STEP_MS = Math.round((24 * 366 * 3600) / 120 / 300) * 300 * 1000;
const now = Math.floor(Date.now() / YEAR_STEP_MS) * YEAR_STEP_MS + YEAR_STEP_MS / 2;
const write = async (lines: string[], rp?: string) => {
  const res = await fetch(`${influx.url}/write?db=${influx.database}&precision=ms${rp ? `&rp=${rp}` : ''}`, { method: 'POST', body: lines.join('\n') });
  expect(res.status, await res.text()).toBe(204);
};

beforeAll(async () => {
  influx = await startTestInfluxd();
  await ensureRetention({ url: influx.url, database: influx.database, raw: '180d', longTerm: 'INF', downsample: true });
  // Aggregates as the continuous query writes them: one from 200 days ago (raw readings of then
  // are gone: autogen keeps 180 days), one from 3 days ago.
  await write([
    `telemetry_5m,device=sd-1,site=s1,type=smoke_detector min_smoke=0.1,max_smoke=0.5,mean_smoke=0.2,min_battery=40,max_battery=60,mean_battery=50 ${now - 200 * DAY}`,
    `telemetry_5m,device=sd-1,site=s1,type=smoke_detector min_smoke=0.01,max_smoke=0.3,mean_smoke=0.05,min_battery=80,max_battery=81,mean_battery=80.5 ${now - 3 * DAY}`,
  ], 'long_term');
  // Raw readings: one 3 days ago with a value no aggregate has (a long chart must not read it),
  // one 5 minutes ago (not aggregated yet: the long chart reads it raw), and a detector that has
  // no aggregates at all (InfluxDB 2 without the task, or readings from before the continuous query).
  await write([
    `telemetry,device=sd-1,site=s1,type=smoke_detector smoke=0.9,battery=99 ${now - 3 * DAY}`,
    `telemetry,device=sd-1,site=s1,type=smoke_detector smoke=0.04,battery=90 ${now - 5 * 60_000}`,
    `telemetry,device=sd-2,site=s1,type=smoke_detector smoke=0.07,battery=70 ${now - 3 * DAY}`,
  ]);
  ctx = await makeServer({
    influx: createInfluxQuery({ url: influx.url, database: influx.database }),
    longTerm: { rawKeptMs: durationMs('180d') },
    clock: { now: () => now },
  });
});
afterAll(async () => {
  await ctx?.close();
  await influx?.stop();
});

interface Chart { source: string; stepSec: number; series: Array<{ device: string; field: string; points: Array<[number, number]> }> }
const chart = async (hours: number): Promise<Chart> => {
  const op = await login(ctx!.app, 'op');
  const r = await ctx!.app.inject({ method: 'GET', url: `/api/sites/s1/readings?hours=${hours}`, headers: { cookie: op.cookie } });
  expect(r.statusCode, r.body).toBe(200);
  return r.json() as Chart;
};
const values = (c: Chart, device: string, field: string) => c.series.find((s) => s.device === device && s.field === field)?.points.map((p) => p[1]) ?? [];

describe('long-range charts', () => {
  it('reads a year from long_term: aggregates older than the raw retention, max of maxes, min battery, the newest minutes raw', async () => {
    const year = await chart(24 * 366);
    expect(year.source).toBe('long_term');
    expect(year.stepSec % 300).toBe(0);
    expect(values(year, 'sd-1', 'smoke')).toEqual([0.5, 0.3, 0.04]);
    expect(values(year, 'sd-1', 'battery')).toEqual([40, 80, 90]);
    // No aggregates for this one: its raw readings, not nothing.
    expect(values(year, 'sd-2', 'smoke')).toEqual([0.07]);
  });

  it('switches at 48 hours: longer from long_term, shorter from raw readings', async () => {
    const long = await chart(LONG_RANGE_HOURS * 2);
    expect(long.source).toBe('long_term');
    expect(values(long, 'sd-1', 'smoke')).toEqual([0.3, 0.04]);
    const short = await chart(LONG_RANGE_HOURS);
    expect(short.source).toBe('raw');
    expect(short.stepSec % 60).toBe(0);
    expect(values(short, 'sd-1', 'smoke')).toEqual([0.04]);
  });
});
