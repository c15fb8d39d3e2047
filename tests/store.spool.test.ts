// The spool's cap and its warnings, with InfluxDB unreachable (a loopback port nobody listens on).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { Registry } from 'prom-client';
import { Config } from '../contracts/config.ts';
import { createInfluxStore } from '../ingest/store/influx-store.ts';
import { freePort } from '../ingest/influxd.ts';
import { sampleTelemetry } from './support/influxd.ts';

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'wf-spool-'));
});
afterAll(() => rm(tmp, { recursive: true, force: true }));

describe('spool cap', () => {
  it('warns loudly past the warning ratio, refuses new batches at the cap and counts them', async () => {
    const logs: Array<{ code?: string; level: number; msg: string }> = [];
    const logger = pino({ level: 'warn' }, new Writable({ write(chunk, _enc, cb) { logs.push(JSON.parse(String(chunk))); cb(); } }));
    const metrics = new Registry();
    const deadUrl = `http://127.0.0.1:${await freePort()}`;
    const store = createInfluxStore({
      config: { ...Config.parse({}).influx, url: deadUrl, batchSize: 100, flushIntervalMs: 50, maxRetries: 0, spoolMaxBytes: 64 * 1024, spoolWarnRatio: 0.5 },
      spoolDir: join(tmp, 'spool'),
      logger,
      metrics,
      retry: { minDelayMs: 50, maxDelayMs: 200, requestTimeoutMs: 1000 },
    });
    await store.start();
    let i = 0;
    for (; i < 1000; i++) store.write(sampleTelemetry(i));
    await store.flush();
    const s = store.stats();
    expect(s.spoolBytes).toBeLessThanOrEqual(64 * 1024);
    expect(s.spoolBytes).toBeGreaterThan(32 * 1024);
    expect(store.droppedLines).toBeGreaterThan(0);
    expect(s.spooledLines + store.droppedLines).toBe(1000);
    expect(store.backlog()).toBe(0);
    expect(logs.filter((l) => l.code === 'WF_STORE_SPOOL_WARN')).toHaveLength(1);
    expect(logs.filter((l) => l.code === 'WF_STORE_SPOOL_FULL')).toHaveLength(1);
    expect(logs.find((l) => l.code === 'WF_STORE_SPOOL_FULL')!.level).toBe(50);
    const text = await metrics.metrics();
    expect(text).toContain(`watchfire_store_spool_lines ${s.spooledLines}`);
    expect(text).toContain(`watchfire_store_spool_bytes ${s.spoolBytes}`);
    expect(text).toMatch(/watchfire_store_lines_total\{outcome="dropped_spool_full"\} [1-9]/);
    expect(text).toMatch(/watchfire_store_write_failures_total [1-9]/);
    await store.stop();
  });
});
