// Readings stored late still reach long_term (issue 18 point 6): the continuous query recomputes
// only the last 15 minutes, so readings of an hour ago shipped from the journal after an InfluxDB
// outage would be missing from the 5-minute aggregates the long charts read. The writer reports
// what it stored late and Watchfire aggregates that period again (here at stop, at the latest).
import { afterAll, describe, expect, it } from 'vitest';
import { startTestSystem } from './support/system.ts';
import { startTestInfluxd } from './support/influxd.ts';
import { smallCounty } from './support/registries.ts';
import { topics } from '../contracts/protocol.ts';
import { CQ_REACH_MS, createLateDownsampler, MAX_NAMED_DEVICES } from '../ingest/store/late-downsample.ts';
import pino from 'pino';

const influx = await startTestInfluxd();
afterAll(() => influx.stop());

describe('late readings and long_term', () => {
  it('finds the span of a batch from its nanosecond timestamps, torn lines left out', async () => {
    const now = 1_700_000_000_123 + 3_600_000;
    const runs: Array<[number, number, readonly string[] | undefined]> = [];
    const late = createLateDownsampler({ run: async (from, to, devices) => void runs.push([from, to, devices]), rawKeptMs: null, logger: pino({ level: 'silent' }), now: () => now, delayMs: 60_000 });
    late.addLines(['telemetry,device=a smoke=1 1700000000123456789', 'telemetry,device=a smoke=2 1699999999000000000', 'torn', 'telemetry,device=b smoke=3']);
    late.addLines([]);
    await late.stop();
    expect(runs).toEqual([[1699999999000, 1700000000124, ['a']]]);
  });

  it('leaves to the continuous query what its next run still reaches, and aggregates only the older readings', async () => {
    const now = Date.UTC(2026, 11, 7, 23, 42, 17);
    const runs: Array<[number, number, readonly string[] | undefined]> = [];
    const make = () => createLateDownsampler({ run: async (from, to, devices) => void runs.push([from, to, devices]), rawKeptMs: null, logger: pino({ level: 'silent' }), now: () => now, delayMs: 60_000 });
    const late = make();
    // A segment's tail read back a second after it was written, and a reading just within the
    // query's reach: the continuous query has them.
    late.addLines([`telemetry,center=c,device=sd-1 smoke=0.01 ${now - 2_000}000123`, `telemetry,center=c,device=sd-1 smoke=0.01 ${now - CQ_REACH_MS}000124`]);
    await late.stop();
    expect(runs).toEqual([]);
    // An outage's readings beside new ones: only the old one is aggregated.
    const again = make();
    again.addLines([`telemetry,center=c,device=sd-1 smoke=0.01 ${now - 3_600_000}000001`, `telemetry,center=c,device=sd-2 smoke=0.01 ${now - 1_000}000002`]);
    await again.stop();
    expect(runs).toEqual([[now - 3_600_000, now - 3_600_000 + 1, ['sd-1']]]);
  });

  it('takes every stored batch: its old telemetry lines are aggregated for their devices only, events and new lines left out', async () => {
    const now = Date.UTC(2026, 11, 7, 23, 42, 17);
    const hour = now - 3_600_000;
    const runs: Array<[number, number, readonly string[] | undefined]> = [];
    const make = () => createLateDownsampler({ run: async (from, to, devices) => void runs.push([from, to, devices]), rawKeptMs: null, logger: pino({ level: 'silent' }), now: () => now, delayMs: 60_000 });
    const late = make();
    late.addLines([
      `telemetry,center=c,device=sd-1,site=h smoke=0.01,score=0i ${hour}000007`,
      `telemetry,center=c,device=sd-1,site=h smoke=0.02,score=0i ${hour + 60_000}000008`,
      // An escaped device id (line protocol escapes comma, equals and space in tags).
      `telemetry,center=c,device=a\\,b\\=c\\ d,site=h smoke=0.03,score=0i ${hour + 120_000}000001`,
      `event,center=c,device=sd-9,event=alarm,site=h score=100i ${hour - 60_000}000001`,
      `telemetry,center=c,device=sd-2,site=h smoke=0.04,score=0i ${now - 1_000}000001`,
    ]);
    await late.stop();
    expect(runs).toEqual([[hour, hour + 120_001, ['a,b=c d', 'sd-1']]]);
    // Past MAX_NAMED_DEVICES the period is aggregated for every device.
    runs.length = 0;
    const many = make();
    many.addLines(Array.from({ length: MAX_NAMED_DEVICES + 1 }, (_, i) => `telemetry,device=sd-${i} smoke=0.01 ${hour + i}000000`));
    await many.stop();
    expect(runs).toEqual([[hour, hour + MAX_NAMED_DEVICES + 1, undefined]]);
  });

  it('scan() only looks (the writer scans before its POST); add() after InfluxDB stored the batch gathers it', async () => {
    const now = Date.UTC(2026, 11, 8, 2, 0, 0);
    const hour = now - 3_600_000;
    const runs: Array<[number, number, readonly string[] | undefined]> = [];
    const late = createLateDownsampler({ run: async (from, to, devices) => void runs.push([from, to, devices]), rawKeptMs: null, logger: pino({ level: 'silent' }), now: () => now, delayMs: 60_000 });
    expect(late.scan([`telemetry,device=sd-1 smoke=0.01 ${now - 1_000}000000`, `event,device=sd-1,event=alarm score=100i ${hour}000000`])).toBeUndefined();
    const a = late.scan([`telemetry,device=sd-1 smoke=0.01 ${hour}000000`, `telemetry,device=sd-2 smoke=0.01 ${hour + 60_000}000000`]);
    expect(a).toEqual({ from: hour, to: hour + 60_000, devices: new Set(['sd-1', 'sd-2']) });
    // A batch that was scanned but never stored (InfluxDB away, the run stopped) aggregates nothing.
    late.scan([`telemetry,device=sd-3 smoke=0.01 ${hour - 60_000}000000`]);
    late.add(a!);
    late.add(late.scan([`telemetry,device=sd-4 smoke=0.01 ${hour + 120_000}000000`])!);
    await late.stop();
    expect(runs).toEqual([[hour, hour + 120_001, ['sd-1', 'sd-2', 'sd-4']]]);
  });

  it('aggregates readings of an hour ago shipped after an outage', { timeout: 120_000 }, async () => {
    const sys = await startTestSystem({ registry: smallCounty(), smtp: false, influx });
    try {
      // Watchfire's own setup of the policies and the continuous query, done before the outage.
      await sys.waitFor(async () => (await influx.query('SHOW CONTINUOUS QUERIES')).some((r) => r.name === 'wf_telemetry_5m'), { what: 'the continuous query' });
      await influx.down();
      const base = Math.floor((Date.now() - 3_600_000) / 300_000) * 300_000;
      const smoke = Array.from({ length: 20 }, (_, i) => Math.round((0.01 + i * 0.002) * 1000) / 1000);
      const c = await sys.connectDevice('sd-2');
      // 20 readings 30 s apart: buckets base, base+5m; acknowledged from the journal while InfluxDB is down.
      await c.publishAsync(topics.telemetry('sd-2'), JSON.stringify(smoke.map((v, i) => ({ ts: base + i * 30_000, seq: i + 1, smoke: v }))), { qos: 1 });
      await influx.up();
      await sys.waitFor(async () => (await sys.count('telemetry', `"device" = 'sd-2'`)) >= 20, { what: 'the journal shipped', timeoutMs: 60_000 });
    } finally {
      await sys.stop();
    }
    const rows = await influx.query(`SELECT max_smoke, min_smoke FROM "long_term"."telemetry_5m" WHERE "device" = 'sd-2'`);
    expect(rows.map((r) => [r.max_smoke, r.min_smoke])).toEqual([[0.028, 0.01], [0.048, 0.03]]);
  });

  it("aggregates a device's upload of readings it buffered an hour ago, with InfluxDB up all along", { timeout: 120_000 }, async () => {
    const sys = await startTestSystem({ registry: smallCounty(), smtp: false, influx });
    try {
      await sys.waitFor(async () => (await influx.query('SHOW CONTINUOUS QUERIES')).some((r) => r.name === 'wf_telemetry_5m'), { what: 'the continuous query' });
      const base = Math.floor((Date.now() - 3_600_000) / 300_000) * 300_000;
      const c = await sys.connectDevice('sd-3');
      // Shipped at once, never retried or read back: before, only such batches were taken as late.
      await c.publishAsync(topics.telemetry('sd-3'), JSON.stringify([0.01, 0.03, 0.02].map((v, i) => ({ ts: base + i * 150_000, seq: i + 1, smoke: v }))), { qos: 1 });
      await sys.waitFor(async () => (await sys.count('telemetry', `"device" = 'sd-3'`)) >= 3, { what: 'stored' });
    } finally {
      await sys.stop();
    }
    const rows = await influx.query(`SELECT max_smoke, min_smoke FROM "long_term"."telemetry_5m" WHERE "device" = 'sd-3'`);
    expect(rows.map((r) => [r.max_smoke, r.min_smoke])).toEqual([[0.03, 0.01], [0.02, 0.02]]);
  });
});
