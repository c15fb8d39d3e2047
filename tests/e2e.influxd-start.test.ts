// Issue 15 point 6: a restart meets every device at once, and the local influxd may take long to
// load its index (seconds on a county's data, more on a province's). Watchfire must not wait for
// it: the gateway serves devices, PUBACKs stand on the journal, and the readings ship once
// influxd answers. The influxd here is the real one behind a gate the test opens.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../app/config.ts';
import { createWatchfire } from '../app/watchfire.ts';
import { topics } from '../contracts/protocol.ts';
import { RegistryFile } from '../contracts/registry.ts';
import { freePort } from '../ingest/influxd.ts';
import { smallCounty } from './support/registries.ts';
import { waitFor } from './support/wait.ts';

const dir = mkdtempSync(join(tmpdir(), 'wf-influxd-gate-'));
let wf: ReturnType<typeof createWatchfire> | undefined;
afterAll(async () => {
  await wf?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('start while the local influxd is still loading', () => {
  it('serves devices at once and ships their readings once influxd answers', async () => {
    const influxd = execFileSync('sh', ['-c', 'command -v influxd'], { encoding: 'utf8' }).trim();
    // `influxd config` (the defaults) passes; the server itself waits until the gate opens.
    const gate = join(dir, 'gate');
    execFileSync('mkfifo', [gate]);
    const wrapper = join(dir, 'influxd-gated');
    writeFileSync(wrapper, `#!/bin/sh\nif [ "$1" != "config" ]; then read _ < "${gate}"; fi\nexec "${influxd}" "$@"\n`);
    chmodSync(wrapper, 0o755);
    const port = await freePort();
    const config = loadConfig({
      env: {},
      overrides: {
        dataDir: join(dir, 'data'),
        'log.level': 'silent',
        'gateway.host': '127.0.0.1',
        'gateway.port': 0,
        'http.host': '127.0.0.1',
        'http.port': 0,
        'influx.local': { binary: wrapper, port },
        'influx.flushIntervalMs': 100,
      },
    });
    wf = createWatchfire({ config, logger: pino({ level: 'silent' }) });
    // Resolves with influxd still behind its gate: nothing in start() waits for it.
    await wf.start();
    const registry = RegistryFile.parse(smallCounty());
    await wf.registry.importFile(registry);
    const secret = (await wf.registry.provision('sd-1')).secret;
    const http = `http://127.0.0.1:${wf.addresses().http}`;
    const ready = (await (await fetch(`${http}/readyz`)).json()) as { ready?: boolean; checks?: Record<string, unknown> };
    expect(ready.checks?.influx).toBe('starting');

    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${wf.addresses().mqtt}`, { clientId: 'sd-1', username: 'sd-1', password: secret, reconnectPeriod: 0 });
    const t0 = Date.now() - 60_000;
    for (let seq = 1; seq <= 20; seq++) {
      // PUBACKed while influxd has not even started: the journal holds them.
      await client.publishAsync(topics.telemetry('sd-1'), JSON.stringify({ ts: t0 + seq * 1000, seq, smoke: 0.01, temp: 21 }), { qos: 1 });
    }
    expect(wf.journal.stats().unshippedLines).toBeGreaterThanOrEqual(20);
    await client.endAsync();

    // Open the gate: influxd starts, the store ships what the journal holds.
    writeFileSync(gate, 'go\n');
    const count = async (): Promise<number> => {
      const res = await fetch(`http://127.0.0.1:${port}/query?${new URLSearchParams({ db: config.influx.database, q: 'SELECT COUNT("score") AS n FROM "telemetry"' })}`);
      const body = (await res.json()) as { results?: Array<{ series?: Array<{ values: unknown[][] }> }> };
      return Number(body.results?.[0]?.series?.[0]?.values[0]?.[1] ?? 0);
    };
    await waitFor(async () => (await count()) >= 20, { what: '20 readings in InfluxDB after influxd started', timeoutMs: 60_000 });
    expect(await count()).toBe(20);
    const after = (await (await fetch(`${http}/readyz`)).json()) as { checks?: Record<string, unknown> };
    expect(after.checks?.influx).toBe(true);
  });
});
