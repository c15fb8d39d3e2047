// Every command of `wf` can print JSON (issue 18 point 7). The tree is walked as app/cli.ts builds
// it, so a command added later (by anyone) without --json fails here by name; a few are run in
// process against a temporary data directory and their output must parse and carry the data.
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { stringify } from 'yaml';
import { createProgram } from '../app/cli.ts';
import { verifySecret } from '../contracts/secrets.ts';
import { smallCounty } from './support/registries.ts';

const work = mkdtempSync(join(tmpdir(), 'wf-cli-json-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const dataDir = join(work, 'data');
const configFile = join(work, 'watchfire.yaml');
writeFileSync(configFile, stringify({ dataDir }));

function leaves(cmd: Command, path: string[] = []): Array<{ name: string; cmd: Command }> {
  if (!cmd.commands.length) return [{ name: path.join(' '), cmd }];
  return cmd.commands.flatMap((c) => leaves(c, [...path, c.name()]));
}

/** Runs `wf --config FILE …args` in process; what it printed to stdout. */
async function wf(...args: string[]): Promise<string> {
  let printed = '';
  const program = createProgram().exitOverride().configureOutput({ writeOut: (s) => { printed += s; }, writeErr: () => undefined });
  await program.parseAsync(['node', 'wf', '--config', configFile, ...args]);
  return printed;
}
const json = async <T>(...args: string[]): Promise<T> => JSON.parse(await wf(...args, '--json')) as T;

describe('wf --json', () => {
  it('every leaf command of the tree takes --json', () => {
    const all = leaves(createProgram());
    expect(all.length).toBeGreaterThan(25);
    const without = all.filter(({ cmd }) => !cmd.options.some((o) => o.long === '--json')).map((l) => l.name);
    expect(without, 'commands without --json').toEqual([]);
  });

  it('prints JSON that carries the data: config, secrets, users, registry, devices, simulator, backups', { timeout: 60_000 }, async () => {
    expect((await json<{ dataDir: string }>('config')).dataDir).toBe(dataDir);
    const token = await json<{ token: string; metricsTokenHash: string }>('metrics-token');
    expect(verifySecret(token.token, token.metricsTokenHash)).toBe(true);
    const observer = await json<{ username: string; password: string; secretHash: string }>('observer-secret', 'maint');
    expect(observer.username).toBe('maint');
    expect(verifySecret(observer.password, observer.secretHash)).toBe(true);

    const registryFile = join(work, 'registry.yaml');
    writeFileSync(registryFile, stringify(smallCounty()));
    expect(await json('registry', 'check', registryFile)).toMatchObject({ valid: true, counts: { devices: 6, sites: expect.any(Number) } });
    expect(await json('registry', 'import', registryFile)).toMatchObject({ file: registryFile, upserted: { devices: 6 } });
    expect(await json('device', 'disable', 'sd-1')).toEqual({ id: 'sd-1', enabled: false });
    const devices = await json<Array<{ id: string; enabled: boolean }>>('device', 'list');
    expect(devices.find((d) => d.id === 'sd-1')).toMatchObject({ enabled: false });

    const op = await json<{ username: string; role: string; password?: string }>('user', 'add', 'op1', '--role', 'operator');
    expect(op).toMatchObject({ username: 'op1', role: 'operator', password: expect.stringMatching(/^[\w-]{24}$/) });
    const users = await json<Array<Record<string, unknown>>>('user', 'list');
    expect(users).toEqual([expect.objectContaining({ username: 'op1', role: 'operator', disabled: false })]);
    expect(JSON.stringify(users)).not.toMatch(/hash|password/i);

    const scenarios = await json<Array<{ name: string; title: { en: string; zh: string } }>>('sim', 'scenarios');
    expect(scenarios.length).toBeGreaterThan(3);
    expect(scenarios[0]!.title.zh).toMatch(/\p{Script=Han}/u);
    expect(await json('sim', 'county', '--out', join(work, 'county'), '--homes', '5')).toMatchObject({ sites: expect.any(Number), devices: expect.any(Number), registryFile: join(work, 'county', 'registry.yaml') });

    const b = await json<{ path: string; manifest: { sqlite: { incidents: number }; journal?: unknown } }>('backup', join(work, 'backups'));
    expect(b.manifest.sqlite.incidents).toBe(0);
    // The command backs up the journal's unshipped tail too (none here: nothing was received).
    expect(b.manifest.journal).toEqual({ dir: 'journal', segments: 0, lines: 0, bytes: 0 });
    expect((await json<Array<{ path: string }>>('backups', join(work, 'backups'))).map((x) => x.path)).toEqual([b.path]);
  });
});
