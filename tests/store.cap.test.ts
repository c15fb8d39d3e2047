// The cap of the journal's unshipped tail and its warnings, with InfluxDB unreachable (a loopback
// port nobody listens on): nothing handed over is dropped; at the cap the writer reports a full
// backlog, which makes the gateway hold telemetry unacknowledged (alarms still pass).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { Registry } from 'prom-client';
import { Config } from '../contracts/config.ts';
import { freePort } from '../ingest/influxd.ts';
import { sampleTelemetry } from './support/influxd.ts';
import { createJournaledStore } from './support/store.ts';

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'wf-cap-'));
});
afterAll(() => rm(tmp, { recursive: true, force: true }));

describe('unshipped journal cap', () => {
  it('warns loudly past the warning ratio, holds telemetry at the cap, and drops nothing', async () => {
    const logs: Array<{ code?: string; level: number; msg: string }> = [];
    const logger = pino({ level: 'warn' }, new Writable({ write(chunk, _enc, cb) { logs.push(JSON.parse(String(chunk))); cb(); } }));
    const metrics = new Registry();
    const deadUrl = `http://127.0.0.1:${await freePort()}`;
    const store = createJournaledStore({
      config: { ...Config.parse({}).influx, url: deadUrl, batchSize: 100, flushIntervalMs: 50, maxRetries: 0, spoolMaxBytes: 64 * 1024, spoolWarnRatio: 0.5 },
      dir: join(tmp, 'journal'),
      logger,
      metrics,
      retry: { minDelayMs: 50, maxDelayMs: 200, requestTimeoutMs: 1000 },
    });
    await store.start();
    let i = 0;
    for (; i < 200; i++) store.write(sampleTelemetry(i));
    await store.flush();
    expect(store.backlog()).toBe(0);
    for (; i < 1000; i++) store.write(sampleTelemetry(i));
    await store.flush();
    const s = store.stats();
    expect(s.spoolBytes).toBeGreaterThan(64 * 1024);
    expect(store.droppedLines).toBe(0);
    expect(s.spooledLines).toBe(1000);
    // At the cap: admission control (gateway/flow.ts) sees a backlog above any high-water mark.
    expect(store.backlog()).toBe(Number.MAX_SAFE_INTEGER);
    expect(logs.filter((l) => l.code === 'WF_STORE_SPOOL_WARN')).toHaveLength(1);
    expect(logs.filter((l) => l.code === 'WF_STORE_SPOOL_FULL')).toHaveLength(1);
    expect(logs.find((l) => l.code === 'WF_STORE_SPOOL_FULL')!.level).toBe(50);
    const text = await metrics.metrics();
    expect(text).toContain(`watchfire_store_spool_lines ${s.spooledLines}`);
    expect(text).toContain(`watchfire_store_spool_bytes ${s.spoolBytes}`);
    expect(text).toMatch(/watchfire_store_write_failures_total [1-9]/);
    await store.stop();
  });
});
