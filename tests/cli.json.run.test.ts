// Every command of `wf` honours --json (issue 18 point 7), run, not only declared: tests/cli.json.test.ts
// checks that every leaf of the tree takes the option; this suite runs every leaf with it, against
// a running system where the command needs one, and requires its standard output to be JSON and
// nothing else (one document, or JSON lines). The table below must name every leaf of the tree as
// app/cli.ts builds it, so a command added later without a row here fails by name. Commands that
// run until a signal (start, demo, sim record) run as their own process, as a user starts them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import pino from 'pino';
import { stringify } from 'yaml';
import { createProgram } from '../app/cli.ts';
import { hashSecret } from '../contracts/secrets.ts';
import { createRefusedStore } from '../ingest/store/refused.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';
import { smallCounty } from './support/registries.ts';

const ROOT = resolve(import.meta.dirname, '..');
const OBSERVER = { username: 'maint', password: 'observer-password-0123456789' };
const work = mkdtempSync(join(tmpdir(), 'wf-cli-json-run-'));
let sys: TestSystem;
let configFile: string;

beforeAll(async () => {
  sys = await startTestSystem({ registry: smallCounty(), smtp: false, config: { 'gateway.observers': [{ username: OBSERVER.username, secretHash: hashSecret(OBSERVER.password) }] } });
  configFile = writeYaml('watchfire.yaml', { dataDir: sys.dataDir, influx: { url: sys.influx.url, database: sys.influx.database } });
  writeYaml('registry.yaml', smallCounty());
  writeFileSync(join(work, 'credentials.json'), JSON.stringify(sys.secrets));
  writeFileSync(join(work, 'install.csv'), 'id,type,siteId,location\nsd-csv-1,smoke_detector,h-2,厨房\n');
}, 120_000);
afterAll(async () => {
  await sys?.stop();
  rmSync(work, { recursive: true, force: true });
});

function writeYaml(name: string, value: unknown): string {
  const file = join(work, name);
  writeFileSync(file, stringify(value));
  return file;
}
const file = (name: string) => join(work, name);

function leaves(cmd: Command, path: string[] = []): string[] {
  if (!cmd.commands.length) return [path.join(' ')];
  return cmd.commands.flatMap((c) => leaves(c, [...path, c.name()]));
}

/** Runs `wf -c CONFIG …args --json` in this process; what it wrote to stdout. */
async function inProcess(config: string, args: string[]): Promise<string> {
  let printed = '';
  const program = createProgram().exitOverride().configureOutput({ writeOut: (s) => { printed += s; }, writeErr: () => undefined });
  await program.parseAsync(['node', 'wf', '-c', config, ...args, '--json']);
  return printed;
}

/**
 * Runs `wf -c CONFIG …args --json` as its own process until `ready` sees a line (on either stream),
 * then sends SIGTERM (SIGINT for the simulator's recorder, as Ctrl-C); its stdout once it exited 0.
 */
function asProcess(config: string, args: string[], ready: (line: string) => boolean, env: Record<string, string> = {}): Promise<string> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'app/main.ts', '-c', config, ...args, '--json'], {
    cwd: ROOT,
    env: { ...process.env, WF_CONFIG: undefined, WF_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  const tail: string[] = [];
  let signalled = false;
  const see = (line: string) => {
    tail.push(line);
    if (tail.length > 40) tail.shift();
    if (!signalled && ready(line)) {
      signalled = true;
      child.kill(args[0] === 'sim' ? 'SIGINT' : 'SIGTERM');
    }
  };
  child.stdout.on('data', (b: Buffer) => { stdout += b.toString(); });
  createInterface({ input: child.stdout }).on('line', see);
  createInterface({ input: child.stderr }).on('line', see);
  return new Promise((res, rej) => {
    child.once('exit', (code, signal) => {
      if (signalled && code === 0) res(stdout);
      else rej(new Error(`wf ${args.join(' ')} --json exited (${String(signal ?? code)}) ${signalled ? 'after' : 'before'} it was ready:\n${tail.join('\n')}`));
    });
  });
}

/** Standard output that is JSON and nothing else: one document, or one per line. */
function parsed(stdout: string): unknown[] {
  const text = stdout.trim();
  expect(text, 'printed nothing').not.toBe('');
  try {
    return [JSON.parse(text) as unknown];
  } catch {
    return text.split('\n').map((line) => {
      try {
        return JSON.parse(line) as unknown;
      } catch {
        throw new Error(`not JSON: ${line.slice(0, 200)}`);
      }
    });
  }
}

/**
 * One row per leaf command: how it is run here, and what its JSON must carry. Rows run in order
 * (registry before devices, export before reads, a recording before its replay).
 */
type Row = readonly [name: string, run: () => Promise<string>, check: (values: unknown[]) => void];
const has = (key: string) => (values: unknown[]) => expect(values.some((v) => typeof v === 'object' && v !== null && key in v), `a JSON value with "${key}"`).toBe(true);

const ROWS: readonly Row[] = [
  ['config', () => inProcess(configFile, ['config']), has('dataDir')],
  ['metrics-token', () => inProcess(configFile, ['metrics-token']), has('token')],
  ['observer-secret', () => inProcess(configFile, ['observer-secret', 'maint2']), has('secretHash')],
  ['registry check', () => inProcess(configFile, ['registry', 'check', file('registry.yaml')]), has('valid')],
  ['registry import', () => inProcess(configFile, ['registry', 'import', file('registry.yaml')]), has('upserted')],
  ['device provision', () => inProcess(configFile, ['device', 'provision', 'sd-new', '--type', 'smoke_detector', '--site', 'h-2']), has('secret')],
  ['device provision-csv', () => inProcess(configFile, ['device', 'provision-csv', file('install.csv'), '--out', file('sheet')]), has('provisioned')],
  ['device disable', () => inProcess(configFile, ['device', 'disable', 'sd-new']), has('enabled')],
  ['device enable', () => inProcess(configFile, ['device', 'enable', 'sd-new']), has('enabled')],
  ['device list', () => inProcess(configFile, ['device', 'list']), (v) => expect(v[0]).toEqual(expect.arrayContaining([expect.objectContaining({ id: 'sd-new' })]))],
  ['user create-admin', () => inProcess(configFile, ['user', 'create-admin', 'root1']), has('password')],
  ['user add', () => inProcess(configFile, ['user', 'add', 'op9', '--role', 'operator']), has('password')],
  ['user set-password', () => inProcess(configFile, ['user', 'set-password', 'op9']), has('password')],
  ['user list', () => inProcess(configFile, ['user', 'list']), (v) => expect(v[0]).toHaveLength(2)],
  ['sim county', () => inProcess(configFile, ['sim', 'county', '--out', file('county'), '--homes', '3']), has('registryFile')],
  ['sim scenarios', () => inProcess(configFile, ['sim', 'scenarios']), (v) => expect((v[0] as unknown[]).length).toBeGreaterThan(3)],
  // The malformed device: dead letters for `rejects`, and a recording for `sim replay`.
  ['sim run', () => inProcess(configFile, ['sim', 'run', '--registry', file('registry.yaml'), '--credentials', file('credentials.json'), '--url', sys.mqttUrl, '--scenario', 'malformed', '--speed', '200', '--record', file('rec.jsonl')]), has('run')],
  ['sim replay', () => inProcess(configFile, ['sim', 'replay', file('rec.jsonl'), '--credentials', file('credentials.json'), '--url', sys.mqttUrl, '--speed', 'max']), has('published')],
  ['sim load', () => inProcess(configFile, ['sim', 'load', '--devices', '2', '--rate', '2', '--duration', '1', '--workers', '1', '--credentials', file('credentials.json'), '--url', sys.mqttUrl]), has('acked')],
  ['sim record', () => asProcess(configFile, ['sim', 'record', '--url', sys.mqttUrl, '--user', OBSERVER.username, '--password', OBSERVER.password, '--out', file('live.jsonl')], (l) => l.includes('"msg":"recording"')), has('messages')],
  ['rejects', () => inProcess(configFile, ['rejects']), has('code')],
  ['store refused', () => {
    createRefusedStore({ dir: join(sys.dataDir, 'refused'), logger: pino({ level: 'silent' }) }).add([`telemetry,device=sd-1 score=1i ${Date.now()}000000`], 'field type conflict (then fixed)');
    return inProcess(configFile, ['store', 'refused']);
  }, has('reason')],
  ['store replay-refused', () => inProcess(configFile, ['store', 'replay-refused']), (v) => expect(v[0]).toMatchObject({ replayed: 1, stillRefused: 0 })],
  ['store downsample', () => inProcess(configFile, ['store', 'downsample', '--since', '1h']), has('buckets')],
  ['privacy export', () => inProcess(configFile, ['privacy', 'export', 'h-1']), has('subject')],
  ['privacy reads', () => inProcess(configFile, ['privacy', 'reads', '--site', 'h-1']), has('resource')],
  ['privacy pseudonymise', () => inProcess(configFile, ['privacy', 'pseudonymise']), has('cutoff')],
  ['privacy verify', () => inProcess(configFile, ['privacy', 'verify']), (v) => expect(v[0]).toMatchObject({ ok: true })],
  ['privacy erase', () => inProcess(configFile, ['privacy', 'erase', 'h-2', '--reason', 'PIPL request, ticket 1']), has('erasureId')],
  ['backup', () => inProcess(configFile, ['backup', file('backups')]), has('manifest')],
  ['backups', () => inProcess(configFile, ['backups', file('backups')]), (v) => expect(v[0]).toHaveLength(1)],
  ['restore', () => {
    const fresh = writeYaml('restored.yaml', { dataDir: file('restored'), influx: { url: sys.influx.url, database: 'wf_restored' } });
    return inProcess(fresh, ['restore', file('backups')]);
  }, has('journalLines')],
  ['start', () => {
    const cfg = writeYaml('start.yaml', {
      dataDir: file('start'), log: { level: 'warn' },
      gateway: { host: '127.0.0.1', port: 0 }, http: { host: '127.0.0.1', port: 0 },
      influx: { url: sys.influx.url, database: 'wf_start' },
    });
    return asProcess(cfg, ['start'], (l) => l.includes('"started":true'));
  }, has('started')],
  ['demo', () => {
    const cfg = writeYaml('demo.yaml', {
      dataDir: file('demo'), log: { level: 'warn' },
      gateway: { host: '127.0.0.1', port: 0 }, http: { host: '127.0.0.1', port: 0 },
      ingress: { gbt26875: { host: '127.0.0.1', port: 0 } },
      influx: { url: sys.influx.url, database: 'wf_demo' },
    });
    return asProcess(cfg, ['demo', '--homes', '5'], (l) => l.includes('"accounts"'), { WF_DEMO_MAIL_PORT: '0', WF_LOG_LEVEL: 'warn' });
  }, has('accounts')],
];

describe('every wf command with --json prints JSON alone', () => {
  it('the table names every leaf command of the tree, once', () => {
    expect(ROWS.map(([name]) => name).sort()).toEqual(leaves(createProgram()).sort());
  });

  it('runs each and parses its standard output', { timeout: 300_000 }, async () => {
    for (const [name, run, check] of ROWS) {
      let values: unknown[];
      try {
        values = parsed(await run());
        check(values);
      } catch (err) {
        throw new Error(`wf ${name} --json: ${(err as Error).message}`, { cause: err });
      }
    }
  });
});
