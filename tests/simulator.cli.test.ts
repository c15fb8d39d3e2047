// The `sim` commands as a user types them: a county written to files (the same bytes for a seed),
// and the scenario list with what each must produce.
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { registerSimulatorCommands } from '../app/commands/simulator.ts';
import { readRegistry } from '../simulator/county-io.ts';
import { SCENARIOS } from '../simulator/scenarios/index.ts';

async function cli(...args: string[]): Promise<string> {
  let out = '';
  const program = new Command().exitOverride().configureOutput({ writeOut: (s) => (out += s), writeErr: (s) => (out += s) });
  registerSimulatorCommands(program);
  await program.parseAsync(['node', 'watchfire', ...args]);
  return out;
}

describe('sim commands', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wf-sim-cli-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('sim county writes a valid registry and credentials, byte-identical for the same seed', async () => {
    const out = await cli('sim', 'county', '--seed', '9', '--homes', '20', '--out', join(dir, 'a'));
    expect(out).toMatch(/\d+ centers, \d+ grids, \d+ sites, \d+ devices/);
    await cli('sim', 'county', '--seed', '9', '--homes', '20', '--out', join(dir, 'b'));
    await cli('sim', 'county', '--seed', '10', '--homes', '20', '--out', join(dir, 'c'));
    const read = (d: string, f: string) => readFileSync(join(dir, d, f), 'utf8');
    expect(read('b', 'registry.yaml')).toBe(read('a', 'registry.yaml'));
    expect(read('b', 'credentials.json')).toBe(read('a', 'credentials.json'));
    expect(read('c', 'registry.yaml')).not.toBe(read('a', 'registry.yaml'));
    const registry = readRegistry(join(dir, 'a', 'registry.yaml'));
    expect(registry.sites.filter((s) => s.kind === 'home')).toHaveLength(20);
    expect(Object.keys(JSON.parse(read('a', 'credentials.json')) as object).sort()).toEqual(registry.devices.map((d) => d.id).sort());
  });

  it('sim scenarios lists every scenario with its expectations, in English and Chinese', async () => {
    const en = await cli('sim', 'scenarios');
    const zh = await cli('sim', 'scenarios', '--lang', 'zh');
    for (const s of SCENARIOS) {
      expect(en).toContain(`${s.name} — ${s.title.en}`);
      expect(zh).toContain(`${s.name} — ${s.title.zh}`);
      for (const e of s.expects.incidents) expect(en).toContain(e.text.en);
    }
    expect(en).toContain('WF_INGEST_NOT_JSON');
  });

  it('refuses a bad number with the option named', async () => {
    await expect(cli('sim', 'county', '--homes', 'many', '--out', join(dir, 'x'))).rejects.toThrow(/--homes/);
  });
});
