// Backup and restore (issue 18 point 4): `wf backup` of a running system under load, restored into
// a fresh data directory with its own local influxd, finds every incident, audit entry and
// reading the system had when the backup began; retention keeps the newest `keep` backups.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { startTestSystem, type TestSystem } from './support/system.ts';
import { smallCounty } from './support/registries.ts';
import { topics } from '../contracts/protocol.ts';
import { WatchfireError } from '../contracts/errors.ts';
import { loadConfig } from '../app/config.ts';
import { openDatabase } from '../app/db.ts';
import { backup, listBackups, restore } from '../app/backup.ts';
import { registerBackupCommands } from '../app/commands/backup.ts';
import { rpcAddressOf, startLocalInfluxd } from '../ingest/influxd.ts';
import { createInfluxQuery } from '../ingest/store/query.ts';

const work = mkdtempSync(join(tmpdir(), 'wf-backup-'));
let sys: TestSystem;
beforeAll(async () => {
  sys = await startTestSystem({ registry: smallCounty(), smtp: false });
});
afterAll(async () => {
  await sys?.stop();
  rmSync(work, { recursive: true, force: true });
});

/** Two detectors each publish a batch of 20 readings every few milliseconds until stopped. */
function startLoad(): { stop(): Promise<number> } {
  let running = true;
  let sent = 0;
  const base = Date.now() - 3_600_000;
  const loop = async (id: string) => {
    const c = await sys.connectDevice(id);
    let seq = 0;
    while (running) {
      const batch = Array.from({ length: 20 }, () => ({ ts: base + ++seq * 10, seq, smoke: 0.01 }));
      await c.publishAsync(topics.telemetry(id), JSON.stringify(batch), { qos: 1 });
      sent += batch.length;
    }
  };
  const loops = [loop('sd-2'), loop('sd-3')];
  return { async stop() { running = false; await Promise.all(loops); return sent; } };
}

const readingKeys = async (q: (s: string) => Promise<Array<Record<string, unknown>>>) =>
  new Set((await q('SELECT "seq", "device", "score" FROM "telemetry"')).map((r) => `${String(r.device)}#${String(r.seq)}`));

describe('wf backup and wf restore', () => {
  it('backs up a running system under load and restores every incident, audit entry and reading', { timeout: 180_000 }, async () => {
    const load = startLoad();
    const detector = await sys.connectDevice('sd-1');
    await detector.publishAsync(topics.events('sd-1'), JSON.stringify({ type: 'alarm', seq: 1 }), { qos: 1 });
    await sys.waitFor(() => sys.wf.alerts.service.list({}).length >= 1, { what: 'an incident' });
    const first = sys.wf.alerts.service.list({})[0]!;
    sys.wf.alerts.service.acknowledge(first.id, 'p-op', '收到');
    await sys.waitFor(async () => (await sys.count('telemetry')) >= 2000, { what: '2,000 readings stored' });

    // What the system holds when the backup begins; the load goes on during it.
    const incidents = sys.wf.alerts.service.list({});
    const timelines = new Map(incidents.map((i) => [i.id, sys.wf.alerts.service.timeline(i.id)]));
    const stored = await readingKeys((q) => sys.influx.query(q));
    const influx = { rpc: rpcAddressOf(readFileSync(join(sys.influx.dataDir, 'influxd.conf'), 'utf8'))!, database: sys.influx.database };
    const result = await backup({ dbFile: join(sys.dataDir, 'watchfire.db'), dir: join(work, 'backups'), influx });
    const sent = await load.stop();
    expect(sent).toBeGreaterThan(stored.size); // the backup really ran under load
    expect(result.manifest).toMatchObject({ format: 1, influx: { database: 'watchfire', format: 'portable' } });
    expect(result.manifest.sqlite.incidents).toBeGreaterThanOrEqual(incidents.length);

    // Restore into a fresh data directory, readings into its own (new) local influxd.
    const dataDir = join(work, 'restored');
    const local = await startLocalInfluxd({ dataDir: join(dataDir, 'influxdb'), database: 'watchfire', createDatabase: false });
    try {
      const r = await restore({ from: join(work, 'backups'), dataDir, influx: { rpc: local.rpcAddress, database: 'watchfire' }, influxUrl: local.url });
      expect(r).toMatchObject({ path: result.path, readings: true });
    } finally {
      // As `wf restore` does: the restored shards are loaded when influxd starts next (with Watchfire).
      await local.stop();
    }
    const again = await startLocalInfluxd({ dataDir: join(dataDir, 'influxdb'), database: 'watchfire' });
    try {
      const restored = await readingKeys((q) => createInfluxQuery({ url: again.url, database: 'watchfire', epoch: 'ms' }).query(q));
      expect([...stored].filter((k) => !restored.has(k))).toEqual([]);
      expect(restored.size).toBeGreaterThanOrEqual(stored.size);
    } finally {
      await again.stop();
    }
    const db = openDatabase(join(dataDir, 'watchfire.db'));
    try {
      for (const i of incidents) {
        expect(db.prepare('SELECT id, state FROM alert_incidents WHERE id = ?').get(i.id)).toEqual({ id: i.id, state: i.state });
        const audit = db.prepare('SELECT action, actor, at FROM alert_audit WHERE incident_id = ? ORDER BY id').all(i.id);
        expect(audit).toEqual(timelines.get(i.id)!.map((e) => ({ action: e.action, actor: e.actor, at: e.at })));
      }
      expect(db.prepare("SELECT COUNT(*) AS n FROM registry_devices").get()).toEqual({ n: 6 });
    } finally {
      db.close();
    }

    // A second restore into the same directory is refused: nothing is overwritten.
    await expect(restore({ from: join(work, 'backups'), dataDir })).rejects.toMatchObject({ code: 'WF_RESTORE_REFUSED' });
  });

  it('keeps the newest `keep` complete backups and ignores an incomplete one', async () => {
    const dir = join(work, 'retention');
    mkdirSync(join(dir, 'watchfire-20260101T000000000Z.partial'), { recursive: true });
    let t = Date.UTC(2026, 11, 1);
    const made: string[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await backup({ dbFile: join(sys.dataDir, 'watchfire.db'), dir, keep: 2, now: () => (t += 86_400_000) });
      made.push(r.path);
      expect(r.manifest.influx).toBeNull();
    }
    expect(listBackups(dir).map((b) => b.path)).toEqual(made.slice(2));
    expect(readdirSync(dir).filter((n) => !n.endsWith('.partial'))).toHaveLength(2);
  });

  it('wf backup --json from the command line, a failed one leaves no partial directory', async () => {
    const cfg = loadConfig({ env: {}, overrides: { dataDir: sys.dataDir, 'influx.url': sys.influx.url, 'backup.keep': 3 } });
    let printed = '';
    const program = new Command().exitOverride().configureOutput({ writeOut: (s) => { printed += s; }, writeErr: () => undefined });
    registerBackupCommands(program, () => cfg);
    await program.parseAsync(['node', 'wf', 'backup', join(work, 'cli'), '--json']);
    const r = JSON.parse(printed) as { path: string; manifest: { influx: unknown } };
    expect(existsSync(join(r.path, 'watchfire.db'))).toBe(true);
    expect(r.manifest.influx).toBeNull(); // influx.url without backup.influxRpc: said, not pretended

    const bad = backup({ dbFile: join(sys.dataDir, 'watchfire.db'), dir: join(work, 'bad'), influx: { rpc: '127.0.0.1:1', database: 'watchfire' } });
    await expect(bad).rejects.toBeInstanceOf(WatchfireError);
    await expect(bad).rejects.toMatchObject({ code: 'WF_BACKUP_FAILED' });
    expect(readdirSync(join(work, 'bad'))).toEqual([]);
  });
});
