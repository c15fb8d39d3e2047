// The demo county generator: a valid registry, the same county for the same seed, a different one
// for another seed, and a working credential for every device.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RegistryFile } from '../contracts/registry.ts';
import { verifySecret } from '../contracts/secrets.ts';
import { generateCounty } from '../simulator/county.ts';
import { readCredentials, readRegistry, writeCounty } from '../simulator/county-io.ts';
import { createRng } from '../simulator/prng.ts';

describe('generateCounty', () => {
  const a = generateCounty({ seed: 7, homes: 400 });

  it('is identical for the same seed, credentials included', () => {
    const b = generateCounty({ seed: 7, homes: 400 });
    expect(JSON.stringify(b)).toBe(JSON.stringify(a));
  });

  it('differs for a different seed', () => {
    const c = generateCounty({ seed: 8, homes: 400 });
    expect(JSON.stringify(c.registry.sites)).not.toBe(JSON.stringify(a.registry.sites));
    expect(c.credentials['sd-00001-1']).not.toBe(a.credentials['sd-00001-1']);
  });

  it('is a valid registry file with references that resolve', () => {
    const parsed = RegistryFile.parse(a.registry);
    const sites = new Set(parsed.sites.map((s) => s.id));
    const grids = new Set(parsed.grids.map((g) => g.id));
    const centers = new Set(parsed.centers.map((c) => c.id));
    const people = new Set(parsed.people.map((p) => p.id));
    for (const d of parsed.devices) expect(sites.has(d.siteId), d.id).toBe(true);
    for (const s of parsed.sites) {
      expect(centers.has(s.centerId)).toBe(true);
      if (s.gridId) expect(grids.has(s.gridId)).toBe(true);
    }
    for (const g of parsed.grids) expect(people.has(g.workerId!)).toBe(true);
    for (const r of parsed.rosters) for (const sh of r.shifts) for (const op of sh.operators) expect(people.has(op)).toBe(true);
    for (const c of parsed.centers) for (const member of c.consortium) expect(sites.has(member)).toBe(true);
    expect(new Set(parsed.devices.map((d) => d.id)).size).toBe(parsed.devices.length);
  });

  it('has the county the issue describes', () => {
    const r = a.registry;
    const homes = r.sites.filter((s) => s.kind === 'home');
    expect(homes).toHaveLength(400);
    for (const h of homes) {
      expect(h.resident!.age).toBeGreaterThanOrEqual(70);
      expect(h.resident!.age).toBeLessThanOrEqual(95);
      expect(h.contacts.length).toBeGreaterThanOrEqual(1);
      const n = r.devices.filter((d) => d.siteId === h.id).length;
      expect(n).toBeGreaterThanOrEqual(1);
      expect(n).toBeLessThanOrEqual(3);
    }
    expect(homes[0]!.name).toMatch(/\d+栋\d单元\d+$/);
    const panels = r.devices.filter((d) => d.type === 'fire_panel');
    expect(panels.length).toBeGreaterThan(0);
    for (const p of panels) expect(Number(p.meta!.loops) * Number(p.meta!.pointsPerLoop)).toBeGreaterThanOrEqual(100);
    expect(r.devices.some((d) => d.type === 'settlement_sensor')).toBe(true);
    expect(r.centers.some((c) => c.consortium.some((id) => id.startsWith('biz-')) && c.consortium.filter((id) => id.startsWith('cmp-')).length >= 2)).toBe(true);
    for (const role of ['operator', 'supervisor', 'grid_worker', 'manager', 'liaison'] as const) expect(r.people.some((p) => p.role === role)).toBe(true);
    expect(r.rosters).toHaveLength(r.centers.length);
  });

  it('issues a ≥128-bit secret per device that verifies against its stored hash', () => {
    for (const d of a.registry.devices) {
      const secret = a.credentials[d.id]!;
      expect(Buffer.from(secret, 'base64url').length * 8).toBeGreaterThanOrEqual(128);
      expect(verifySecret(secret, d.secretHash)).toBe(true);
    }
    expect(verifySecret('wrong', a.registry.devices[0]!.secretHash)).toBe(false);
    expect(new Set(Object.values(a.credentials)).size).toBe(a.registry.devices.length);
  });

  it('writes a registry YAML and credentials file that read back the same', () => {
    const dir = mkdtempSync(join(tmpdir(), 'wf-county-'));
    try {
      const { registryFile, credentialsFile } = writeCounty(a, dir);
      expect(readRegistry(registryFile)).toEqual(RegistryFile.parse(a.registry));
      expect(readCredentials(credentialsFile)).toEqual(a.credentials);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('createRng', () => {
  it('repeats for a seed, and forks do not depend on how much of the parent was used', () => {
    const x = createRng(1);
    const y = createRng(1);
    expect([x.next(), x.next(), x.int(1, 6)]).toEqual([y.next(), y.next(), y.int(1, 6)]);
    const used = createRng(3);
    used.next();
    expect(used.fork('a').next()).toBe(createRng(3).fork('a').next());
    const n = Array.from({ length: 20_000 }, () => x.normal(2));
    const mean = n.reduce((s, v) => s + v, 0) / n.length;
    const sd = Math.sqrt(n.reduce((s, v) => s + (v - mean) ** 2, 0) / n.length);
    expect(Math.abs(mean)).toBeLessThan(0.1);
    expect(sd).toBeGreaterThan(1.9);
    expect(sd).toBeLessThan(2.1);
  });
});
