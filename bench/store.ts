// Write throughput of the InfluxDB writer into a local influxd (Debian's 1.6.7), end to end:
// from write() until InfluxDB confirms every line. Run: npx tsx bench/store.ts [points] [concurrent requests]
// It lives in bench/ because it wires the journal, which ingest/ may not import (eslint.config.js).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Registry } from 'prom-client';
import { Config } from '../contracts/config.ts';
import type { ScoredReading } from '../contracts/reading.ts';
import { startLocalInfluxd } from '../ingest/influxd.ts';
import { createInfluxStore } from '../ingest/store/influx-store.ts';
import { createJournal } from '../journal/index.ts';
import { createInfluxQuery } from '../ingest/store/query.ts';

async function main(): Promise<void> {
  const total = Number(process.argv[2] ?? 200_000);
  const dir = await mkdtemp(join(tmpdir(), 'wf-bench-'));
  const influxd = await startLocalInfluxd({ dataDir: join(dir, 'influxdb'), database: 'bench' });
  const logger = pino({ level: 'warn' });
  const metrics = new Registry();
  const config = { ...Config.parse({}).influx, url: influxd.url, database: 'bench', ...(process.argv[3] ? { concurrency: Number(process.argv[3]) } : {}) };
  const journal = createJournal({ dir: join(dir, 'journal'), fsync: true, maxBytes: config.spoolMaxBytes, warnRatio: config.spoolWarnRatio, logger, metrics });
  const store = createInfluxStore({ config, journal, logger, metrics });
  await journal.start();
  await store.start();
  const t0 = Date.now();
  const base = Date.UTC(2026, 10, 23);
  let handOffNs = 0n;
  for (let i = 0; i < total; i++) {
    const d = i % 1000;
    const seq = Math.floor(i / 1000);
    const r: ScoredReading = {
      reading: {
        kind: 'telemetry', deviceId: `sd-${d}`, deviceType: 'smoke_detector', siteId: `site-${d}`, centerId: 'c1', gridId: `g${d % 20}`,
        ts: base + seq * 1000, receivedAt: base + seq * 1000, seq, flags: [], values: { smoke: (i % 50) / 1000, temp: 21, battery: 90, rssi: -70 },
      },
      score: 0,
      level: 'green',
    };
    const h = process.hrtime.bigint();
    store.write(r);
    handOffNs += process.hrtime.bigint() - h;
    // Yield now and then, as a live gateway does between socket reads.
    if (i % 5000 === 4999) await new Promise((res) => setImmediate(res));
  }
  await store.flush();
  // flush() returns early while InfluxDB fails; the throughput counts lines once they are in InfluxDB.
  while (store.stats().spooledLines > 0) await new Promise((res) => setTimeout(res, 20));
  const secs = (Date.now() - t0) / 1000;
  const [row] = await createInfluxQuery({ url: influxd.url, database: 'bench' }).query('SELECT count(score) FROM telemetry');
  console.log(JSON.stringify({
    points: total,
    stored: row?.count,
    seconds: secs,
    pointsPerSecond: Math.round(total / secs),
    writeCallNs: Number(handOffNs / BigInt(total)),
    batchSize: Config.parse({}).influx.batchSize,
    ...store.stats(),
  }));
  await store.stop();
  await journal.stop();
  await influxd.stop();
  await rm(dir, { recursive: true, force: true });
}

void main();
