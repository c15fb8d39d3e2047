// Backups carry the journal's unshipped tail (issue 18 point 4): readings acknowledged while
// InfluxDB is down live only in the journal; a backup taken then, restored into a fresh data
// directory, has them shipped by the restored Watchfire to its own InfluxDB, every one.
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestSystem, type TestSystem } from './support/system.ts';
import { startTestInfluxd, type TestInfluxd } from './support/influxd.ts';
import { smallCounty } from './support/registries.ts';
import { topics } from '../contracts/protocol.ts';
import { backup, restore } from '../app/backup.ts';

const work = mkdtempSync(join(tmpdir(), 'wf-backup-journal-'));
const running: Array<{ stop(): Promise<void> }> = [];
afterAll(async () => {
  for (const r of running.reverse()) await r.stop().catch(() => undefined);
  rmSync(work, { recursive: true, force: true });
});

const keysIn = async (influx: TestInfluxd) =>
  new Set((await influx.query('SELECT "seq", "device", "score" FROM "telemetry"')).map((r) => `${String(r.device)}#${String(r.seq)}`));

describe('the journal\'s unshipped tail in backups', () => {
  it('restores readings InfluxDB never confirmed, and the restored Watchfire ships them', { timeout: 120_000 }, async () => {
    const sys: TestSystem = await startTestSystem({ registry: smallCounty(), smtp: false });
    running.push({ stop: () => sys.stop() });
    await sys.influx.down(); // the outage: PUBACKs still come (the journal), nothing is shipped
    const sent = new Set<string>();
    const base = Date.now() - 600_000;
    for (const id of ['sd-2', 'sd-3']) {
      const c = await sys.connectDevice(id);
      for (let b = 0; b < 10; b++) {
        const batch = Array.from({ length: 20 }, (_, i) => ({ ts: base + (b * 20 + i) * 1000, seq: b * 20 + i + 1, smoke: 0.01 }));
        await c.publishAsync(topics.telemetry(id), JSON.stringify(batch), { qos: 1 }); // resolves on PUBACK
        for (const r of batch) sent.add(`${id}#${r.seq}`);
      }
    }
    expect(sys.wf.journal.stats().unshippedLines).toBeGreaterThanOrEqual(sent.size);

    const result = await backup({ dbFile: join(sys.dataDir, 'watchfire.db'), journalDir: join(sys.dataDir, 'journal'), dir: join(work, 'backups') });
    expect(result.manifest.influx).toBeNull();
    expect(result.manifest.journal!.lines).toBeGreaterThanOrEqual(sent.size);
    expect(readdirSync(join(result.path, 'journal')).every((n) => /^\d{12}\.lp$/.test(n))).toBe(true);

    const dataDir = join(work, 'restored');
    const r = await restore({ from: join(work, 'backups'), dataDir });
    expect(r.journalLines).toBe(result.manifest.journal!.lines);
    // A second restore into the same data directory is still refused.
    await expect(restore({ from: join(work, 'backups'), dataDir })).rejects.toMatchObject({ code: 'WF_RESTORE_REFUSED' });

    // The restored system with its own InfluxDB, up: it ships the tail it found.
    const influx = await startTestInfluxd();
    running.push({ stop: () => influx.stop() });
    const restored = await startTestSystem({ registry: smallCounty(), smtp: false, dataDir, influx });
    running.push({ stop: () => restored.stop() });
    await restored.waitFor(async () => (await keysIn(influx)).size >= sent.size, { what: 'every journaled reading stored', timeoutMs: 60_000 });
    const stored = await keysIn(influx);
    expect([...sent].filter((k) => !stored.has(k))).toEqual([]);
    await restored.waitFor(() => restored.wf.journal.stats().unshippedLines === 0, { what: 'the tail confirmed' });
  });
});
