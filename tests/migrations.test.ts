// Schema migrations (issue 18 point 3): a database made by release 0.1.0 is upgraded in place and
// keeps everything; a fresh one ends with the same schema; a newer one is refused; a failing
// migration leaves nothing half done.
import { afterAll, describe, expect, it } from 'vitest';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { openDatabase, type Db } from '../app/db.ts';
import { MIGRATIONS, type Migration } from '../app/migrations/index.ts';
import { latestVersion, migrateDatabase, schemaVersion } from '../app/migrations/run.ts';
import { createRegistry } from '../registry/index.ts';
import { sqliteRegistryStorage } from './support/registries.ts';
import { WatchfireError } from '../contracts/errors.ts';

// Made with the code of commit 2c74065 (release 0.1.0): tests/fixtures/README.md.
const FIXTURE = fileURLToPath(new URL('./fixtures/watchfire-0.1.0.db', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'wf-migrations-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

function copyOfFixture(): string {
  const file = join(dir, `old${++n}.db`);
  copyFileSync(FIXTURE, file);
  return file;
}

/** Tables, columns, indexes and triggers: what a schema is, without the rows. */
function schemaOf(db: Db): Record<string, unknown> {
  const objects = db.prepare("SELECT type, name, tbl_name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name").all() as Array<{ type: string; name: string; tbl_name: string }>;
  const out: Record<string, unknown> = {};
  for (const o of objects) {
    out[`${o.type} ${o.name}`] = o.type === 'table'
      ? db.prepare(`SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info(?) ORDER BY cid`).all(o.name)
      : o.tbl_name;
  }
  return out;
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(WatchfireError);
    return (err as WatchfireError).code;
  }
  throw new Error('expected a WatchfireError');
}

describe('schema migrations', () => {
  it('lists migrations 1..n in order, each with SQL or a function', () => {
    expect(MIGRATIONS.map((m) => m.version)).toEqual(MIGRATIONS.map((_, i) => i + 1));
    expect(latestVersion()).toBe(MIGRATIONS.length);
    // Only the baseline adopts existing tables; every later migration says exactly what it changes.
    for (const m of MIGRATIONS.slice(1)) expect(m.sql ?? '', `migration ${m.version}`).not.toMatch(/IF NOT EXISTS/i);
  });

  it('upgrades a database made by release 0.1.0 and keeps every row', async () => {
    const file = copyOfFixture();
    const before = openDatabase(file, { migrate: false });
    expect(schemaVersion(before)).toBe(0);
    const counts = (db: Db) => Object.fromEntries(['alert_incidents', 'alert_audit', 'alert_outbox', 'registry_devices', 'registry_people', 'users', 'dead_letters']
      .map((t) => [t, (db.prepare(`SELECT COUNT(*) AS n FROM ${t}`).get() as { n: number }).n]));
    const had = counts(before);
    before.close();
    expect(had.alert_incidents).toBe(2);
    expect(had.alert_audit).toBe(4);

    let result: unknown;
    const db = openDatabase(file, { onMigrated: (r) => { result = r; } });
    expect(result).toEqual({ from: 0, to: latestVersion(), applied: MIGRATIONS.map((m) => `${m.version}: ${m.name}`) });
    expect(schemaVersion(db)).toBe(latestVersion());
    expect(counts(db)).toEqual(had);
    // The installation began with the oldest thing the old database remembers (2026-11-02).
    expect(Number((db.prepare("SELECT value FROM wf_meta WHERE key = 'installed_at'").get() as { value: string }).value)).toBe(Date.UTC(2026, 10, 2, 8, 0, 0));
    // The audit trail is still append-only after the upgrade.
    expect(() => db.prepare('DELETE FROM alert_audit').run()).toThrow(/append-only/);
    // The registry reads its 0.1.0 rows with today's schemas.
    const registry = createRegistry({ storage: sqliteRegistryStorage(db), logger: pino({ level: 'silent' }) });
    await registry.start();
    expect(registry.get('sd-xf3301-kitchen')).toMatchObject({ siteId: 'h-xf-3-301', centerId: 'fc-gulou' });
    await registry.stop();
    const upgraded = schemaOf(db);
    db.close();

    // A fresh database ends with exactly the same schema as the upgraded one.
    const fresh = openDatabase(':memory:');
    expect(schemaOf(fresh)).toEqual(upgraded);
    fresh.close();

    // Opening again applies nothing.
    let again: unknown;
    openDatabase(file, { onMigrated: (r) => { again = r; } }).close();
    expect(again).toEqual({ from: latestVersion(), to: latestVersion(), applied: [] });
  });

  it('refuses a database from a newer release with WF_DB_TOO_NEW and leaves it untouched', () => {
    const file = join(dir, `new${++n}.db`);
    const db = openDatabase(file);
    db.pragma(`user_version = ${latestVersion() + 1}`);
    db.close();
    expect(codeOf(() => openDatabase(file))).toBe('WF_DB_TOO_NEW');
    const raw = openDatabase(file, { migrate: false });
    expect(schemaVersion(raw)).toBe(latestVersion() + 1);
    raw.close();
  });

  it('rolls a failing migration back whole: version and earlier migrations of the same run included', () => {
    const db = openDatabase(':memory:', { migrate: false });
    const list: Migration[] = [
      ...MIGRATIONS,
      { version: MIGRATIONS.length + 1, name: 'test: a good one', sql: 'CREATE TABLE t_good (x INTEGER);' },
      { version: MIGRATIONS.length + 2, name: 'test: a bad one', sql: 'ALTER TABLE no_such_table ADD COLUMN y INTEGER;' },
    ];
    expect(codeOf(() => migrateDatabase(db, list))).toBe('WF_DB_MIGRATION');
    expect(schemaVersion(db)).toBe(0);
    expect(db.prepare("SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").get()).toEqual({ n: 0 });
    // Without the bad one the same list applies, and a later good migration runs on top.
    expect(migrateDatabase(db, list.slice(0, -1)).to).toBe(MIGRATIONS.length + 1);
    expect(db.prepare("SELECT name FROM sqlite_master WHERE name = 't_good'").get()).toEqual({ name: 't_good' });
    db.close();
  });

  it('refuses a list with a gap or a duplicate version', () => {
    const db = openDatabase(':memory:', { migrate: false });
    expect(() => migrateDatabase(db, [MIGRATIONS[0]!, { version: 3, name: 'gap', sql: 'SELECT 1' }])).toThrow(/out of order/);
    db.close();
  });
});
