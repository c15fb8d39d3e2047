// The registry on SQLite (through the storage seam, as app/ wires it without storage.postgresUrl):
// survives a restart, keeps secrets only hashed, answers the hot path from
// memory, and tells listeners what changed.
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { openDatabase, type Db } from '../app/db.ts';
import { createRegistry, loadRegistryFile, parseRegistryCsv, parseRegistryYaml, type Registry } from '../registry/index.ts';
import { sqliteRegistryStorage } from './support/registries.ts';
import { WatchfireError } from '../contracts/errors.ts';
import type { RegistryChange } from '../contracts/ports.ts';

const EXAMPLE = fileURLToPath(new URL('../config/registry.example.yaml', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'wf-registry-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
const logger = pino({ level: 'silent' });

async function open(file: string): Promise<{ db: Db; registry: Registry; close(): Promise<void> }> {
  const db = openDatabase(file);
  const registry = createRegistry({ storage: sqliteRegistryStorage(db), logger, clock: { now: () => 1_700_000_000_000 } });
  await registry.start();
  return { db, registry, close: async () => { await registry.stop(); db.close(); } };
}

async function codeOf(fn: () => Promise<unknown>): Promise<string> {
  try {
    await fn();
  } catch (err) {
    expect(err).toBeInstanceOf(WatchfireError);
    return (err as WatchfireError).code;
  }
  throw new Error('expected a WatchfireError');
}

describe('registry store', () => {
  let file: string;
  beforeEach(() => {
    file = join(dir, `r${++n}.db`);
  });

  it('imports the example and resolves each device\'s center, grid and default interval', async () => {
    const { registry, close } = await open(file);
    const { upserted } = await registry.importFile(loadRegistryFile(EXAMPLE));
    expect(upserted).toEqual({ centers: 1, grids: 2, sites: 5, devices: 9, people: 9, rosters: 1 });
    expect(registry.get('sd-xf3301-kitchen')).toMatchObject({ type: 'smoke_detector', siteId: 'h-xf-3-301', centerId: 'fc-gulou', gridId: 'g-xingfu', intervalSec: 300, enabled: true, location: '厨房吊顶' });
    expect(registry.get('sd-xf5502-living')!.intervalSec).toBe(86_400);
    expect(registry.get('fp-icbc-gulou')).toMatchObject({ intervalSec: 60, gridId: undefined, meta: { model: 'JB-QB-GST200', loops: 2 } });
    expect(registry.get('ss-hx7-ne')).toMatchObject({ intervalSec: 3600, gridId: 'g-hongxing' });
    expect(registry.devicesOfSite('h-hx-1-104').map((d) => d.id).sort()).toEqual(['sd-hx1104-bedroom', 'sd-hx1104-hall', 'sd-hx1104-kitchen']);
    expect([...registry.all()]).toHaveLength(9);
    expect(registry.roster('fc-gulou')!.shifts).toHaveLength(2);
    expect(registry.person('p-gw-wang')!.role).toBe('grid_worker');
    await close();
  });

  it('keeps everything across close and reopen', async () => {
    const a = await open(file);
    await a.registry.importFile(loadRegistryFile(EXAMPLE));
    const { secret } = await a.registry.provision('fp-icbc-gulou');
    await a.registry.setDeviceEnabled('ss-hx7-sw', false);
    const before = { centers: a.registry.centers(), grids: a.registry.grids(), sites: a.registry.sites(), people: a.registry.people(), devices: [...a.registry.all()], roster: a.registry.roster('fc-gulou') };
    await a.close();

    const b = await open(file);
    expect({ centers: b.registry.centers(), grids: b.registry.grids(), sites: b.registry.sites(), people: b.registry.people(), devices: [...b.registry.all()], roster: b.registry.roster('fc-gulou') }).toEqual(before);
    expect(b.registry.get('ss-hx7-sw')!.enabled).toBe(false);
    expect(b.registry.verifySecret('fp-icbc-gulou', secret)).toBe('ok');
    await b.close();
  });

  it('provisions a ≥128-bit secret and stores only its hash', async () => {
    const { db, registry, close } = await open(file);
    await registry.importFile(loadRegistryFile(EXAMPLE));
    const { deviceId, secret } = await registry.provision('sd-xf3301-kitchen');
    expect(deviceId).toBe('sd-xf3301-kitchen');
    expect(Buffer.from(secret, 'base64url').length * 8).toBeGreaterThanOrEqual(128);
    expect((await registry.provision('sd-xf3301-kitchen')).secret).not.toBe(secret);
    const second = (await registry.provision('sd-xf3301-kitchen')).secret;
    const row = db.prepare('SELECT secret_hash, json FROM registry_devices WHERE id = ?').get('sd-xf3301-kitchen') as { secret_hash: string; json: string };
    expect(row.secret_hash).toMatch(/^sha256\$[0-9a-f]{32}\$[0-9a-f]{64}$/);
    expect(row.json).not.toContain('sha256');
    await close();
    // After close the WAL is checkpointed into the file; read every file SQLite may have written.
    // The file does hold the device and its hash, so the search below is not vacuous.
    expect(readFileSync(file).includes(Buffer.from(row.secret_hash))).toBe(true);
    for (const f of [file, `${file}-wal`, `${file}-shm`]) {
      if (!existsSync(f)) continue;
      const bytes = readFileSync(f);
      for (const s of [secret, second]) {
        expect(bytes.includes(Buffer.from(s))).toBe(false);
        expect(bytes.includes(Buffer.from(s, 'utf16le'))).toBe(false);
      }
    }
  });

  it('verifies secrets: ok, bad_secret, unknown, disabled', async () => {
    const { registry, close } = await open(file);
    await registry.importFile(loadRegistryFile(EXAMPLE));
    const { secret } = await registry.provision('ss-hx7-ne');
    expect(registry.verifySecret('ss-hx7-ne', secret)).toBe('ok');
    expect(registry.verifySecret('ss-hx7-ne', Buffer.from(secret))).toBe('ok');
    expect(registry.verifySecret('ss-hx7-ne', `${secret}x`)).toBe('bad_secret');
    expect(registry.verifySecret('ss-hx7-ne', undefined)).toBe('bad_secret');
    expect(registry.verifySecret('ss-hx7-sw', secret)).toBe('bad_secret'); // never provisioned
    expect(registry.verifySecret('no-such-device', secret)).toBe('unknown');
    await registry.setDeviceEnabled('ss-hx7-ne', false);
    expect(registry.verifySecret('ss-hx7-ne', secret)).toBe('disabled');
    // Without the secret nobody learns that the device is merely disabled.
    expect(registry.verifySecret('ss-hx7-ne', 'guess')).toBe('bad_secret');
    await registry.setDeviceEnabled('ss-hx7-ne', true);
    expect(registry.verifySecret('ss-hx7-ne', secret)).toBe('ok');
    expect(await codeOf(() => registry.provision('no-such-device'))).toBe('WF_REGISTRY_NOT_FOUND');
    expect(await codeOf(() => registry.setDeviceEnabled('no-such-device', false))).toBe('WF_REGISTRY_NOT_FOUND');
    await close();
  });

  it('keeps secret hashes on re-import unless the file carries one', async () => {
    const { registry, close } = await open(file);
    const example = loadRegistryFile(EXAMPLE);
    await registry.importFile(example);
    const { secret } = await registry.provision('sd-hx1104-hall');
    await registry.importFile(example);
    expect(registry.verifySecret('sd-hx1104-hall', secret)).toBe('ok');
    const other = (await registry.provision('sd-hx1104-bedroom')).secret;
    // A file carrying a hash (a migration from another installation) replaces the stored one.
    const { hashSecret } = await import('../contracts/secrets.ts');
    await registry.importFile(parseRegistryYaml(`devices:\n  - { id: sd-hx1104-hall, type: smoke_detector, siteId: h-hx-1-104, secretHash: '${hashSecret('from-file-secret')}' }\n`, { registered: registry.snapshot() }));
    expect(registry.verifySecret('sd-hx1104-hall', secret)).toBe('bad_secret');
    expect(registry.verifySecret('sd-hx1104-hall', 'from-file-secret')).toBe('ok');
    expect(registry.verifySecret('sd-hx1104-bedroom', other)).toBe('ok');
    await close();
  });

  it('moves devices with their site and tells listeners what changed', async () => {
    const { registry, close } = await open(file);
    await registry.importFile(loadRegistryFile(EXAMPLE));
    const seen: RegistryChange[][] = [];
    const off = registry.onChange((c) => seen.push([...c]));
    registry.onChange(() => {
      throw new Error('a failing listener must not stop the others');
    });
    const site = registry.site('h-xf-5-502')!;
    await registry.importFile({ centers: [], grids: [], devices: [], people: [], rosters: [], sites: [{ ...site, gridId: 'g-hongxing' }] });
    expect(registry.get('sd-xf5502-living')!.gridId).toBe('g-hongxing');
    expect(seen[0]).toEqual([{ kind: 'site', id: 'h-xf-5-502', op: 'upsert' }, { kind: 'device', id: 'sd-xf5502-living', op: 'upsert' }]);
    await registry.setDeviceEnabled('sd-xf5502-living', false);
    expect(seen[1]).toEqual([{ kind: 'device', id: 'sd-xf5502-living', op: 'upsert' }]);
    off();
    await registry.setDeviceEnabled('sd-xf5502-living', true);
    expect(seen).toHaveLength(2);
    await close();
  });

  it('imports a CSV of devices for registered sites, and refuses dangling references whole', async () => {
    const { registry, close } = await open(file);
    await registry.importFile(loadRegistryFile(EXAMPLE));
    const ok = parseRegistryCsv('devices', 'id,type,siteId,location\nsd-new-1,smoke_detector,h-xf-5-502,卧室\n');
    await registry.importFile(ok);
    expect(registry.get('sd-new-1')).toMatchObject({ centerId: 'fc-gulou', gridId: 'g-xingfu', intervalSec: 300 });
    const bad = parseRegistryCsv('devices', 'id,type,siteId\nsd-new-2,smoke_detector,h-xf-5-502\nsd-new-3,smoke_detector,h-99\n');
    let err: WatchfireError | undefined;
    try {
      await registry.importFile(bad);
    } catch (e) {
      err = e as WatchfireError;
    }
    expect(err?.details).toEqual(['devices.1.siteId: no site "h-99"']);
    // Nothing of a refused import is written, not even its valid rows.
    expect(registry.get('sd-new-2')).toBeUndefined();
    await close();
    const again = await open(file);
    expect(again.registry.get('sd-new-2')).toBeUndefined();
    expect(again.registry.get('sd-new-1')).toBeDefined();
    await again.close();
  });

  it('upserts single devices, and removes entries only when nothing refers to them', async () => {
    const { registry, close } = await open(file);
    await registry.importFile(loadRegistryFile(EXAMPLE));
    await registry.upsertDevice({ id: 'sd-extra', type: 'smoke_detector', siteId: 'h-xf-3-301', location: '书房', enabled: true, intervalSec: 600 });
    expect(registry.get('sd-extra')).toMatchObject({ intervalSec: 600, centerId: 'fc-gulou' });
    expect(await codeOf(() => registry.upsertDevice({ id: 'sd-x', type: 'smoke_detector', siteId: 'h-99', location: '', enabled: true }))).toBe('WF_REGISTRY_INVALID');
    expect(await codeOf(() => registry.remove('site', 'h-xf-3-301'))).toBe('WF_REGISTRY_IN_USE');
    expect(await codeOf(() => registry.remove('person', 'p-gw-wang'))).toBe('WF_REGISTRY_IN_USE');
    expect(await codeOf(() => registry.remove('device', 'nope'))).toBe('WF_REGISTRY_NOT_FOUND');
    for (const d of registry.devicesOfSite('h-xf-3-301')) await registry.remove('device', d.id);
    await registry.remove('site', 'h-xf-3-301');
    expect(registry.site('h-xf-3-301')).toBeUndefined();
    expect(registry.get('sd-extra')).toBeUndefined();
    expect(registry.verifySecret('sd-extra', 'x')).toBe('unknown');
    await close();
    const again = await open(file);
    expect(again.registry.site('h-xf-3-301')).toBeUndefined();
    expect([...again.registry.all()]).toHaveLength(7);
    await again.close();
  });
});
