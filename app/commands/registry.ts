// Registry commands: import and check registry files (YAML, or the installers' CSV), provision
// devices (the secret is printed once and never stored), enable, disable and list them.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { Option } from 'commander';
import type { RegistryReader, RegistryWriter } from '../../contracts/ports.ts';
import type { Device, DeviceInfo, RegistryFile } from '../../contracts/registry.ts';
import { DEFAULT_INTERVAL_SEC } from '../../contracts/registry.ts';
import { DeviceType } from '../../contracts/protocol.ts';
import { WatchfireError } from '../../contracts/errors.ts';
import { checkDeviceRules, DEFAULT_RULE_SET } from '../../rules/index.ts';
import { CSV_KINDS, parseRegistryCsv, parseRegistryYaml, snapshotOf, validateRegistry, type CsvKind } from '../../registry/index.ts';
import { out, root } from './output.ts';

export type OpenRegistry = () => Promise<{ registry: RegistryReader & RegistryWriter; close(): Promise<void> }>;



/** Opens the registry, runs `fn`, always closes; a WatchfireError becomes exit code 1 with its problems. */
async function withRegistry(cmd: Command, open: OpenRegistry, fn: (registry: RegistryReader & RegistryWriter) => void | Promise<void>): Promise<void> {
  let failure: WatchfireError | undefined;
  const { registry, close } = await open();
  try {
    await fn(registry);
  } catch (err) {
    if (!(err instanceof WatchfireError)) throw err;
    failure = err;
  } finally {
    await close();
  }
  if (failure) root(cmd).error(`${failure.code}: ${failure.message}`, { exitCode: 1, code: failure.code });
}

function readFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new WatchfireError('WF_REGISTRY_INVALID', `Cannot read ${path}: ${(err as Error).message}`);
  }
}

/** YAML, or CSV when --kind says which sheet it is; references are checked against `registered`. */
/** Per-device rule overrides are checked with the rule engine's own schema (issue 14): refused here, never dropped at run time. */
const checkRules = (type: DeviceType, override: unknown): string[] => checkDeviceRules(DEFAULT_RULE_SET, type, override);

function parseFile(path: string, kind: CsvKind | undefined, registered: RegistryFile): RegistryFile {
  const text = readFile(path);
  if (kind) {
    const partial = parseRegistryCsv(kind, text, { source: path });
    // Rows are valid on their own; now their references, against what is registered.
    return validateRegistry(partial, { registered, source: path, checkRules });
  }
  if (/\.csv$/i.test(path)) throw new WatchfireError('WF_REGISTRY_INVALID', `${path} looks like CSV: say which sheet it is with --kind ${CSV_KINDS.join('|')}`);
  return parseRegistryYaml(text, { registered, source: path, checkRules });
}

function summary(counts: Record<string, number>): string {
  return Object.entries(counts).filter(([, n]) => n > 0).map(([k, n]) => `${n} ${k}`).join(', ') || 'nothing';
}

function countsOf(file: RegistryFile): Record<keyof RegistryFile, number> {
  return {
    centers: file.centers.length, grids: file.grids.length, sites: file.sites.length,
    devices: file.devices.length, people: file.people.length, rosters: file.rosters.length,
  };
}

function deviceOf(info: DeviceInfo): Device {
  return {
    id: info.id, type: info.type, siteId: info.siteId, location: info.location, enabled: info.enabled,
    // An interval equal to the type's default stays implicit, so it follows a changed default.
    ...(info.intervalSec !== DEFAULT_INTERVAL_SEC[info.type] ? { intervalSec: info.intervalSec } : {}),
    ...(info.rules ? { rules: { ...info.rules } } : {}),
    ...(info.meta ? { meta: { ...info.meta } } : {}),
  };
}

function parseInterval(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new WatchfireError('WF_REGISTRY_INVALID', `--interval: expected a positive whole number of seconds, got "${v}"`);
  return n;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => [...(r[c] ?? '')].length)));
  return rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell + ' '.repeat(widths[c]! - [...cell].length))).join('  ')).join('\n');
}

export function registerRegistryCommands(program: Command, open: OpenRegistry): void {
  const kindOption = () => new Option('--kind <kind>', 'the file is CSV of this sheet').choices(CSV_KINDS);

  const reg = program.command('registry').description('import and check registry files (YAML or CSV)');
  reg
    .command('import <file>')
    .description('validate a registry file and upsert everything in it (existing device secrets are kept)')
    .addOption(kindOption())
    .option('--json', 'print {"file","upserted"} as JSON')
    .action(async (file: string, opts: { kind?: CsvKind; json?: boolean }, cmd: Command) => {
      await withRegistry(cmd, open, async (registry) => {
        const parsed = parseFile(file, opts.kind, snapshotOf(registry));
        const { upserted } = await registry.importFile(parsed);
        if (opts.json) return out(cmd, JSON.stringify({ file, upserted }));
        out(cmd, `Imported ${file}: ${summary(upserted)}.`);
      });
    });
  reg
    .command('check <file>')
    .description('validate a registry file against the registry without changing anything; lists every problem')
    .addOption(kindOption())
    .option('--json', 'print {"file","valid","counts"} as JSON (an invalid file still fails with its problems on stderr)')
    .action(async (file: string, opts: { kind?: CsvKind; json?: boolean }, cmd: Command) => {
      await withRegistry(cmd, open, (registry) => {
        const parsed = parseFile(file, opts.kind, snapshotOf(registry));
        if (opts.json) return out(cmd, JSON.stringify({ file, valid: true, counts: countsOf(parsed) }));
        out(cmd, `${file} is valid: ${summary(countsOf(parsed))}.`);
      });
    });

  const dev = program.command('device').description('provision, enable, disable and list devices');
  dev
    .command('provision <id>')
    .description('issue a new secret for a device (creating it when new); the secret is printed once')
    .addOption(new Option('--type <type>', 'device type (needed for a new device)').choices(DeviceType.options))
    .option('--site <siteId>', 'site the device belongs to (needed for a new device)')
    .option('--location <text>', 'where it hangs, e.g. 厨房吊顶')
    .option('--interval <seconds>', 'expected reporting interval in seconds (default by type)')
    .option('--json', 'print {"id","username","secret"} as JSON only (issue 18: for installers\' tools)')
    .action(async (id: string, opts: { type?: DeviceType; site?: string; location?: string; interval?: string; json?: boolean }, cmd: Command) => {
      await withRegistry(cmd, open, async (registry) => {
        const existing = registry.get(id);
        const changes = {
          ...(opts.type ? { type: opts.type } : {}),
          ...(opts.site ? { siteId: opts.site } : {}),
          ...(opts.location !== undefined ? { location: opts.location } : {}),
          ...(opts.interval !== undefined ? { intervalSec: parseInterval(opts.interval) } : {}),
        };
        if (!existing) {
          const missing = [!opts.type && '--type', !opts.site && '--site'].filter(Boolean);
          if (missing.length) throw new WatchfireError('WF_REGISTRY_NOT_FOUND', `No device "${id}"; to create it give ${missing.join(' and ')}`);
          await registry.upsertDevice({ id, location: '', enabled: true, ...changes } as Device);
          if (!opts.json) out(cmd, `Created device ${id} (${opts.type}) at site ${opts.site}.`);
        } else if (Object.keys(changes).length) {
          await registry.upsertDevice({ ...deviceOf(existing), ...changes });
          if (!opts.json) out(cmd, `Updated device ${id}.`);
        }
        const { secret } = await registry.provision(id);
        if (opts.json) return out(cmd, JSON.stringify({ id, username: id, secret, created: !existing }));
        out(cmd, `Device ${id} provisioned. Its MQTT user name is ${id}; its secret:`);
        out(cmd, '');
        out(cmd, `  ${secret}`);
        out(cmd, '');
        out(cmd, 'WARNING: this secret is shown once and is not stored anywhere (only its hash is). Write it into');
        out(cmd, 'the device now. Provisioning again issues a new secret, and the old one stops working.');
        if (existing) out(cmd, `If a secret was issued to ${id} before, it no longer works.`);
      });
    });
  for (const [name, enabled] of [['enable', true], ['disable', false]] as const) {
    dev
      .command(`${name} <id>`)
      .description(enabled ? 'let the device connect again' : 'refuse the device\'s connections (CONNACK 5) until enabled again')
      .option('--json', 'print {"id","enabled"} as JSON')
      .action(async (id: string, opts: { json?: boolean }, cmd: Command) => {
        await withRegistry(cmd, open, async (registry) => {
          await registry.setDeviceEnabled(id, enabled);
          if (opts.json) return out(cmd, JSON.stringify({ id, enabled }));
          out(cmd, `Device ${id} ${enabled ? 'enabled' : 'disabled'}.`);
        });
      });
  }
  dev
    .command('list')
    .description('list devices with their site, center, grid and expected interval')
    .option('--site <siteId>', 'only the devices of this site')
    .option('--json', 'print JSON')
    .action(async (opts: { site?: string; json?: boolean }, cmd: Command) => {
      await withRegistry(cmd, open, (registry) => {
        if (opts.site !== undefined && !registry.site(opts.site)) throw new WatchfireError('WF_REGISTRY_NOT_FOUND', `No site "${opts.site}"`);
        const list = [...(opts.site !== undefined ? registry.devicesOfSite(opts.site) : registry.all())].sort((a, b) => a.id.localeCompare(b.id));
        if (opts.json) {
          out(cmd, JSON.stringify(list, null, 2));
          return;
        }
        if (!list.length) {
          out(cmd, 'No devices.');
          return;
        }
        out(cmd, table([
          ['ID', 'TYPE', 'SITE', 'CENTER', 'GRID', 'INTERVAL', 'ENABLED', 'LOCATION'],
          ...list.map((d) => [d.id, d.type, d.siteId, d.centerId, d.gridId ?? '-', `${d.intervalSec}s`, d.enabled ? 'yes' : 'NO', d.location]),
        ]));
        out(cmd, `${list.length} device${list.length === 1 ? '' : 's'}.`);
      });
    });
}
