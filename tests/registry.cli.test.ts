// The registry commands, run through commander exactly as the `watchfire` binary runs them, over a
// real SQLite file.
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import pino from 'pino';
import { openDatabase } from '../app/db.ts';
import { createRegistry } from '../registry/index.ts';
import { sqliteRegistryStorage } from './support/registries.ts';
import { registerRegistryCommands } from '../app/commands/registry.ts';

const EXAMPLE = fileURLToPath(new URL('../config/registry.example.yaml', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'wf-registry-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const dbFile = join(dir, 'watchfire.db');
let opened = 0;
let closed = 0;

async function run(...args: string[]): Promise<{ out: string; err: string; exitCode: number }> {
  let out = '';
  let err = '';
  const program = new Command().name('watchfire').exitOverride().configureOutput({
    writeOut: (s) => { out += s; },
    writeErr: (s) => { err += s; },
  });
  registerRegistryCommands(program, async () => {
    opened++;
    const db = openDatabase(dbFile);
    const registry = createRegistry({ storage: sqliteRegistryStorage(db), logger: pino({ level: 'silent' }) });
    await registry.start();
    return { registry, close: async () => { await registry.stop(); db.close(); closed++; } };
  });
  try {
    await program.parseAsync(args, { from: 'user' });
    return { out, err, exitCode: 0 };
  } catch (e) {
    if (!(e instanceof CommanderError)) throw e;
    return { out, err, exitCode: e.exitCode };
  }
}

describe('registry commands', () => {
  it('checks a file with problems: lists every one and exits 1, writing nothing', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'centers: [{ id: c1, name: 中心 }]\nsites: [{ id: h1, kind: home, centerId: c2, name: 家 }]\ndevices: [{ id: d1, type: smoke_detector, siteId: h9 }]\n');
    const r = await run('registry', 'check', bad);
    expect(r.exitCode).toBe(1);
    expect(r.err).toContain('WF_REGISTRY_INVALID');
    expect(r.err).toContain('sites.0.centerId: no center "c2"');
    expect(r.err).toContain('devices.0.siteId: no site "h9"');
    const list = await run('device', 'list');
    expect(list.out).toContain('No devices.');
  });

  it('checks and imports the example file', async () => {
    const check = await run('registry', 'check', EXAMPLE);
    expect(check.exitCode).toBe(0);
    expect(check.out).toContain('is valid: 1 centers, 2 grids, 5 sites, 9 devices, 9 people, 1 rosters');
    const imp = await run('registry', 'import', EXAMPLE);
    expect(imp.exitCode).toBe(0);
    expect(imp.out).toContain('Imported');
    const list = await run('device', 'list', '--site', 'h-hx-1-104');
    expect(list.out.split('\n').filter((l) => l.startsWith('sd-hx1104-'))).toHaveLength(3);
    expect(list.out).toMatch(/sd-hx1104-hall\s+smoke_detector\s+h-hx-1-104\s+fc-gulou\s+g-hongxing\s+300s\s+yes\s+门厅/);
  });

  it('imports a CSV sheet with --kind, and refuses a CSV without it', async () => {
    const csv = join(dir, 'devices.csv');
    writeFileSync(csv, 'id,type,siteId,location,intervalSec,enabled\nsd-csv-1,smoke_detector,h-xf-5-502,卧室,,yes\n');
    expect((await run('registry', 'import', csv)).err).toMatch(/--kind devices\|sites\|people/);
    const r = await run('registry', 'import', csv, '--kind', 'devices');
    expect(r.exitCode).toBe(0);
    expect(r.out).toContain('1 devices');
    const badCsv = join(dir, 'bad.csv');
    writeFileSync(badCsv, 'id,type,siteId\nsd-csv-2,toaster,h-xf-5-502\n');
    const bad = await run('registry', 'check', badCsv, '--kind', 'devices');
    expect(bad.exitCode).toBe(1);
    expect(bad.err).toContain('row 2, column type (B)');
  });

  it('provisions a new device, printing its secret once with a warning', async () => {
    const missing = await run('device', 'provision', 'sd-cli-1');
    expect(missing.exitCode).toBe(1);
    expect(missing.err).toContain('give --type and --site');
    const r = await run('device', 'provision', 'sd-cli-1', '--type', 'smoke_detector', '--site', 'h-xf-3-301', '--location', '阳台', '--interval', '600');
    expect(r.exitCode).toBe(0);
    const secret = /^ {2}(\S+)$/m.exec(r.out)?.[1];
    expect(secret).toBeDefined();
    expect(r.out).toMatch(/shown once/);
    const list = await run('device', 'list', '--json');
    const dev = (JSON.parse(list.out) as Array<{ id: string; intervalSec: number; location: string; centerId: string }>).find((d) => d.id === 'sd-cli-1');
    expect(dev).toMatchObject({ intervalSec: 600, location: '阳台', centerId: 'fc-gulou' });
    expect(list.out).not.toContain(secret!);
    // The secret works against the stored registry.
    const db = openDatabase(dbFile);
    const registry = createRegistry({ storage: sqliteRegistryStorage(db), logger: pino({ level: 'silent' }) });
    await registry.start();
    expect(registry.verifySecret('sd-cli-1', secret!)).toBe('ok');
    await registry.stop();
    db.close();
    // Provisioning again rotates: a different secret.
    const again = await run('device', 'provision', 'sd-cli-1');
    expect(/^ {2}(\S+)$/m.exec(again.out)?.[1]).not.toBe(secret);
    expect(again.out).toContain('it no longer works');
    const badType = await run('device', 'provision', 'sd-cli-2', '--type', 'toaster', '--site', 'h-xf-3-301');
    expect(badType.exitCode).not.toBe(0);
    expect(badType.err).toMatch(/toaster/);
  });

  it('disables and enables devices, and names unknown ones', async () => {
    expect((await run('device', 'disable', 'ss-hx7-ne')).out).toContain('disabled');
    expect((await run('device', 'list', '--site', 'b-hx-7')).out).toMatch(/ss-hx7-ne\s.*\sNO\s/);
    expect((await run('device', 'enable', 'ss-hx7-ne')).out).toContain('enabled');
    expect((await run('device', 'list', '--site', 'b-hx-7')).out).toMatch(/ss-hx7-ne\s.*\syes\s/);
    const unknown = await run('device', 'disable', 'nope');
    expect(unknown.exitCode).toBe(1);
    expect(unknown.err).toContain('WF_REGISTRY_NOT_FOUND');
    expect((await run('device', 'list', '--site', 'nowhere')).err).toContain('No site "nowhere"');
    // Every command closed what it opened, failures included.
    expect(closed).toBe(opened);
  });
});
