// Backup and restore (issue 18 point 4): `wf backup` of a running system under load, restored into
// a fresh data directory with its own local influxd, finds every incident, audit entry and
// reading the system had when the backup began; retention keeps the newest `keep` backups.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { startTestSystem, type TestSystem } from './support/system.ts';
import { startTestInfluxd } from './support/influxd.ts';
import { smallCounty } from './support/registries.ts';
import { topics } from '../contracts/protocol.ts';
import { WatchfireError } from '../contracts/errors.ts';
import { loadConfig } from '../app/config.ts';
import { openDatabase } from '../app/db.ts';
import { backup, listBackups, restore } from '../app/backup.ts';
import { registerBackupCommands } from '../app/commands/backup.ts';
import { rpcAddressOf, startLocalInfluxd } from '../ingest/influxd.ts';

const work = mkdtempSync(join(tmpdir(), 'wf-backup-'));
let sys: TestSystem;
beforeAll(async () => {
  sys = await startTestSystem({ registry: smallCounty(), smtp: false });
});
afterAll(async () => {
  await sys?.stop();
  rmSync(work, { recursive: true, force: true });
});

/**
 * Two detectors each publish a batch of 20 readings every few milliseconds until stopped; `acked`
 * holds every reading whose PUBACK came (the journal holds it, InfluxDB may not yet).
 */
function startLoad(): { acked: Set<string>; stop(): Promise<number> } {
  let running = true;
  let sent = 0;
  const acked = new Set<string>();
  const base = Date.now() - 3_600_000;
  const loop = async (id: string) => {
    const c = await sys.connectDevice(id);
    let seq = 0;
    while (running) {
      const batch = Array.from({ length: 20 }, () => ({ ts: base + ++seq * 10, seq, smoke: 0.01 }));
      await c.publishAsync(topics.telemetry(id), JSON.stringify(batch), { qos: 1 });
      sent += batch.length;
      for (const r of batch) acked.add(`${id}#${r.seq}`);
    }
  };
  const loops = [loop('sd-2'), loop('sd-3')];
  return { acked, async stop() { running = false; await Promise.all(loops); return sent; } };
}

/** Operators writing notes on the open incidents, one every few milliseconds, until stopped. */
function startNotes(ids: readonly string[]): { stop(): Promise<number> } {
  let running = true;
  let n = 0;
  const loop = (async () => {
    while (running) {
      await sys.wf.alerts.service.note(ids[n % ids.length]!, 'p-op', `巡查记录 ${++n}`);
      await new Promise<void>((r) => setImmediate(r));
    }
  })();
  return { async stop() { running = false; await loop; return n; } };
}

const readingKeys = async (q: (s: string) => Promise<Array<Record<string, unknown>>>) =>
  new Set((await q('SELECT "seq", "device", "score" FROM "telemetry"')).map((r) => `${String(r.device)}#${String(r.seq)}`));

describe('wf backup and wf restore', () => {
  it('backs up a running system under load and restores every incident, audit entry and reading', { timeout: 180_000 }, async () => {
    const load = startLoad();
    // A home and a building in alarm: two incidents, one acknowledged.
    for (const id of ['sd-1', 'fp-1']) {
      const detector = await sys.connectDevice(id);
      await detector.publishAsync(topics.events(id), JSON.stringify(id === 'fp-1' ? { type: 'fire', seq: 1, loop: 1, point: 12, zone: '3F' } : { type: 'alarm', seq: 1 }), { qos: 1 });
    }
    await sys.waitFor(async () => (await sys.wf.alerts.service.list({})).length >= 2, { what: 'two incidents' });
    const first = (await sys.wf.alerts.service.list({}))[0]!;
    await sys.wf.alerts.service.acknowledge(first.id, 'p-op', '收到');
    await sys.waitFor(async () => (await sys.count('telemetry')) >= 2000, { what: '2,000 readings stored' });
    const notes = startNotes((await sys.wf.alerts.service.list({})).map((i) => i.id));

    // What the system holds when the backup begins (every PUBACKed reading, shipped or still in
    // the journal); readings, notes and their audit entries go on arriving during it.
    const incidents = await sys.wf.alerts.service.list({});
    const timelines = new Map(await Promise.all(incidents.map(async (i) => [i.id, await sys.wf.alerts.service.timeline(i.id)] as const)));
    const acked = new Set(load.acked);
    const influx = { rpc: rpcAddressOf(readFileSync(join(sys.influx.dataDir, 'influxd.conf'), 'utf8'))!, database: sys.influx.database };
    const result = await backup({ dbFile: join(sys.dataDir, 'watchfire.db'), journalDir: join(sys.dataDir, 'journal'), dir: join(work, 'backups'), influx });
    const sent = await load.stop();
    const written = await notes.stop();
    expect(sent).toBeGreaterThan(acked.size); // the backup really ran under load
    expect(written).toBeGreaterThan(0);
    expect(result.manifest).toMatchObject({ format: 1, influx: { database: 'watchfire', format: 'portable' }, journal: { dir: 'journal' } });
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
    const db = openDatabase(join(dataDir, 'watchfire.db'));
    try {
      for (const i of incidents) {
        expect(db.prepare('SELECT id, state FROM alert_incidents WHERE id = ?').get(i.id)).toEqual({ id: i.id, state: i.state });
        // Every entry the trail had when the backup began, in order; notes written during it may follow.
        const audit = db.prepare('SELECT action, actor, at, note FROM alert_audit WHERE incident_id = ? ORDER BY id').all(i.id);
        const before = timelines.get(i.id)!.map((e) => ({ action: e.action, actor: e.actor, at: e.at, note: e.note }));
        expect(audit.slice(0, before.length)).toEqual(before);
      }
      expect(db.prepare("SELECT COUNT(*) AS n FROM registry_devices").get()).toEqual({ n: 6 });
    } finally {
      db.close();
    }

    // The restored Watchfire on the restored influxd ships the journal's tail it found: every
    // reading acknowledged before the backup began is there, whether InfluxDB had it then or not.
    const again = await startTestInfluxd({ dataDir: join(dataDir, 'influxdb') });
    try {
      const restored = await startTestSystem({ registry: smallCounty(), smtp: false, dataDir, influx: again });
      try {
        await restored.waitFor(() => restored.wf.journal.stats().unshippedLines === 0, { what: 'the restored journal shipped', timeoutMs: 60_000 });
        const stored = await readingKeys((q) => again.query(q));
        expect([...acked].filter((k) => !stored.has(k))).toEqual([]);
      } finally {
        await restored.stop({ keepData: true });
      }
    } finally {
      await again.stop();
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
