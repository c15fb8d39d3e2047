// Issue 2: InfluxDB goes away for 20 s in the middle of a live MQTT stream, and Watchfire itself is
// restarted while it is still away. Every reading a device had acknowledged lands exactly once.
import { afterAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { startTestSystem, type TestSystem } from './support/system.ts';
import { startTestInfluxd, type TestInfluxd } from './support/influxd.ts';
import { smallCounty } from './support/registries.ts';
import { topics } from '../contracts/protocol.ts';

const OUTAGE_MS = 20_000;
let influx: TestInfluxd | undefined;
let sys: TestSystem | undefined;

afterAll(async () => {
  await sys?.stop();
  await influx?.stop();
});

/**
 * Two detectors publishing batches of 5 readings every 100 ms at QoS 1; counts what was PUBACKed.
 * quiesce() stops publishing and waits for every publish in flight to settle, so a connection is
 * never ended under a publish (that one would be neither acknowledged nor reliably lost).
 */
function stream(clients: () => Map<string, MqttClient>) {
  let seq = 0;
  let acked = 0;
  let failed = 0;
  let paused = false;
  const inflight = new Set<Promise<void>>();
  const t0 = Date.now() - 600_000;
  const timer = setInterval(() => {
    if (paused) return;
    for (const [id, client] of clients()) {
      if (!client.connected) continue;
      const batch = Array.from({ length: 5 }, () => {
        seq++;
        return { ts: t0 + seq, seq, smoke: 0.001, temp: 21 };
      });
      const p: Promise<void> = client.publishAsync(topics.telemetry(id), JSON.stringify(batch), { qos: 1 }).then(
        () => { acked += batch.length; },
        () => { failed += batch.length; },
      ).finally(() => inflight.delete(p));
      inflight.add(p);
    }
  }, 100);
  return {
    async quiesce() {
      paused = true;
      await Promise.all([...inflight]);
    },
    resume() {
      paused = false;
    },
    async stop() {
      clearInterval(timer);
      await Promise.all([...inflight]);
    },
    get acked() { return acked; },
    get failed() { return failed; },
  };
}

describe('InfluxDB outage during a live stream, and a Watchfire restart during it', () => {
  it('lands every acknowledged reading exactly once', async () => {
    influx = await startTestInfluxd();
    sys = await startTestSystem({ registry: smallCounty(), influx, smtp: false });
    const ids = ['sd-1', 'sd-3'];
    const clients = new Map<string, MqttClient>();
    for (const id of ids) clients.set(id, await sys.connectDevice(id));
    const s = stream(() => clients);
    await sys.waitFor(async () => (await sys!.count('telemetry')) > 50, { what: 'stream flowing into InfluxDB' });

    await influx.down();
    const downAt = Date.now();
    // Half the outage with Watchfire running: batches fail and stay in the journal, unshipped.
    await sys.waitFor(() => Date.now() - downAt >= OUTAGE_MS / 2 && sys!.wf.store.stats().spooledLines > 0, { what: 'an unshipped journal during the outage', timeoutMs: OUTAGE_MS });

    // Restart Watchfire on the same data directory while InfluxDB is still down.
    const dataDir = sys.dataDir;
    const secrets = sys.secrets;
    await s.quiesce();
    for (const c of clients.values()) await c.endAsync();
    clients.clear();
    await sys.wf.stop();
    const ackedBeforeRestart = s.acked;
    sys = await startTestSystem({ registry: smallCounty(), influx, smtp: false, dataDir });
    // Provisioning again issued new secrets; the devices use the new ones.
    expect(sys.secrets['sd-1']).not.toBe(secrets['sd-1']);
    for (const id of ids) clients.set(id, await sys.connectDevice(id));
    s.resume();
    await sys.waitFor(() => s.acked > ackedBeforeRestart + 50 && Date.now() - downAt >= OUTAGE_MS, { what: 'the rest of the outage', timeoutMs: OUTAGE_MS * 2 });

    await influx.up();
    await sys.waitFor(async () => (await sys!.count('telemetry')) > ackedBeforeRestart, { what: 'the journal shipped' });
    await s.stop();
    for (const c of clients.values()) await c.endAsync();
    await sys.wf.store.flush();
    const acked = s.acked;
    expect(s.failed).toBe(0);
    const stored = await sys.waitFor(async () => {
      const n = await sys!.count('telemetry');
      return n >= acked ? n : undefined;
    }, { what: `all ${acked} acknowledged readings stored`, timeoutMs: 60_000 });
    // Exactly once: distinct seq values equal the count, and nothing beyond what was acknowledged.
    expect(stored).toBe(acked);
    const [distinct] = await influx.query('SELECT COUNT(DISTINCT("seq")) AS n FROM "telemetry"');
    expect(distinct?.n).toBe(acked);
    // The restarted Watchfire found the first instance's journal on disk and shipped it.
    expect(sys.wf.store.stats().replayedLines).toBeGreaterThan(0);
  });
});
