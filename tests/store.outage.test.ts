// InfluxDB goes away for 20 s in the middle of a stream of readings and comes back: the readings
// wait in the journal, are shipped when it is back, and every one is stored exactly once. (The 20 s
// are the point.)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Registry } from 'prom-client';
import { Config } from '../contracts/config.ts';
import { createJournaledStore } from './support/store.ts';
import { startTestInfluxd, sampleTelemetry, samplePanelEvent } from './support/influxd.ts';
import type { TestInfluxd } from './support/influxd.ts';
import { waitFor } from './support/wait.ts';

const OUTAGE_MS = 20_000;
const logger = pino({ level: 'silent' });
let influx: TestInfluxd;
let tmp: string;

beforeAll(async () => {
  influx = await startTestInfluxd();
  tmp = await mkdtemp(join(tmpdir(), 'wf-outage-'));
});
afterAll(async () => {
  await influx?.stop();
  await rm(tmp, { recursive: true, force: true });
});

describe('InfluxDB outage', () => {
  it('stops for 20 s mid-stream and starts again: every reading lands exactly once', async () => {
    const metrics = new Registry();
    const store = createJournaledStore({
      config: { ...Config.parse({}).influx, database: influx.database, batchSize: 500, flushIntervalMs: 100, maxRetries: 2, url: influx.url },
      dir: join(tmp, 'journal'),
      // Small segments, so that the outage seals some and they are read back from disk.
      segmentBytes: 256 * 1024,
      logger,
      metrics,
      retry: { minDelayMs: 100, maxDelayMs: 1000, requestTimeoutMs: 2000 },
    });
    await store.start();

    // A steady stream: 100 readings every 100 ms from 10 devices, plus a panel alarm now and then.
    let sent = 0;
    let events = 0;
    const tick = (): void => {
      for (let k = 0; k < 100; k++) store.write(sampleTelemetry(sent++));
      if (sent % 1000 === 0) store.write(samplePanelEvent(events++));
    };
    const timer = setInterval(tick, 100);
    try {
      await waitFor(() => sent >= 2000 || undefined, { what: 'the stream to run' });
      await influx.down();
      const downAt = Date.now();
      await waitFor(async () => (await metrics.getSingleMetric('watchfire_store_write_failures_total')!.get()).values[0]!.value > 0 || undefined, { timeoutMs: OUTAGE_MS, what: 'a write to fail' });
      const failures = (await metrics.getSingleMetric('watchfire_store_write_failures_total')!.get()).values[0]!.value;
      expect(failures).toBeGreaterThan(0);
      // The outage lasts its full 20 s (the scenario is about time passing, not an event).
      await new Promise((r) => setTimeout(r, Math.max(0, OUTAGE_MS - (Date.now() - downAt))));
      expect(store.backlog()).toBeLessThan(2000);
      await influx.up();
      await waitFor(() => sent >= 2000 + (OUTAGE_MS / 100) * 100 + 2000 || undefined, { timeoutMs: 30_000, what: 'the stream to go on after the outage' });
    } finally {
      clearInterval(timer);
    }
    await store.flush();
    await waitFor(() => store.stats().spooledLines === 0 || undefined, { timeoutMs: 30_000, what: 'the journal to be shipped' });
    const stats = store.stats();
    expect(stats.replayedLines).toBeGreaterThan(0);
    expect(stats.written).toBe(sent + events);
    expect(store.droppedLines).toBe(0);
    expect(await influx.count('telemetry', 'seq')).toBe(sent);
    expect(await influx.count('event', 'point')).toBe(events);
    const [byDevice] = await influx.query("SELECT count(seq), min(seq), max(seq) FROM telemetry WHERE device = 'sd-4'");
    expect(byDevice).toMatchObject({ count: sent / 10, min: 0, max: sent / 10 - 1 });
    await store.stop();
  });
});
