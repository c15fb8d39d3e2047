// `wf backup DIR`, `wf restore DIR`, `wf backups DIR` (issue 18 point 4). Where the readings are:
// a local influxd (no influx.url) is found through its config under the data directory; another
// server needs backup.influxRpc (its `bind-address`, reachable from here).
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import type { Config } from '../../contracts/config.ts';
import { rpcAddressOf, startLocalInfluxd, type InfluxBackupTarget } from '../../ingest/index.ts';
import { backup, DB_FILE, JOURNAL_DIR, listBackups, restore } from '../backup.ts';
import { out } from './output.ts';

function sourceInflux(cfg: Config): InfluxBackupTarget | undefined {
  const database = cfg.influx.database;
  if (cfg.backup.influxRpc) return { rpc: cfg.backup.influxRpc, database, binary: cfg.influx.local.binary };
  if (cfg.influx.url) return undefined;
  const conf = join(resolve(cfg.dataDir), 'influxdb', 'influxd.conf');
  const rpc = existsSync(conf) ? rpcAddressOf(readFileSync(conf, 'utf8')) : undefined;
  return rpc ? { rpc, database, binary: cfg.influx.local.binary } : undefined;
}

export function registerBackupCommands(program: Command, config: () => Config): void {
  program
    .command('backup <dir>')
    .description('take a consistent online copy of the SQL store and the readings into DIR/watchfire-<time>/, keeping the newest backup.keep')
    .option('--keep <n>', 'complete backups to keep in DIR (default: backup.keep, 7)')
    .option('--json', 'print the result as JSON')
    .action(async (dir: string, o: { keep?: string; json?: boolean }, cmd: Command) => {
      const cfg = config();
      const influx = sourceInflux(cfg);
      const r = await backup({ dbFile: join(resolve(cfg.dataDir), DB_FILE), journalDir: join(resolve(cfg.dataDir), JOURNAL_DIR), dir, influx, keep: o.keep ? Number(o.keep) : cfg.backup.keep });
      if (o.json) return out(cmd, JSON.stringify(r));
      out(cmd, `Backup ${r.path}: ${r.manifest.sqlite.incidents} incidents, ${r.manifest.sqlite.auditEntries} audit entries, schema ${r.manifest.schemaVersion}; ` +
        (r.manifest.influx ? 'readings included' : 'readings NOT included (InfluxDB is elsewhere: set backup.influxRpc, or back it up where it runs)') +
        `; ${r.manifest.journal?.lines ?? 0} readings not yet in InfluxDB from the journal.`);
      for (const p of r.removed) out(cmd, `removed old backup ${p}`);
    });

  program
    .command('backups <dir>')
    .description('list the complete backups in DIR, oldest first')
    .option('--json', 'print the list as JSON')
    .action((dir: string, o: { json?: boolean }, cmd: Command) => {
      const list = listBackups(resolve(dir));
      if (o.json) return out(cmd, JSON.stringify(list));
      for (const b of list) out(cmd, `${b.path}  ${new Date(b.manifest.createdAt).toISOString()}  ${b.manifest.sqlite.incidents} incidents  readings: ${b.manifest.influx ? 'yes' : 'no'}`);
    });

  program
    .command('restore <dir>')
    .description('restore a backup (or the newest in DIR) into the configured data directory, which must hold no database')
    .option('--json', 'print the result as JSON')
    .action(async (dir: string, o: { json?: boolean }, cmd: Command) => {
      const cfg = config();
      const dataDir = resolve(cfg.dataDir);
      let local: Awaited<ReturnType<typeof startLocalInfluxd>> | undefined;
      let influx: InfluxBackupTarget | undefined;
      if (cfg.backup.influxRpc) influx = { rpc: cfg.backup.influxRpc, database: cfg.influx.database, binary: cfg.influx.local.binary };
      else if (!cfg.influx.url && !existsSync(join(dataDir, DB_FILE))) {
        // The local influxd of the new data directory, started only for the restore.
        local = await startLocalInfluxd({ binary: cfg.influx.local.binary, dataDir: join(dataDir, 'influxdb'), port: cfg.influx.local.port, database: cfg.influx.database, createDatabase: false });
        influx = { rpc: local.rpcAddress, database: cfg.influx.database, binary: cfg.influx.local.binary };
      }
      try {
        const r = await restore({ from: dir, dataDir, influx, influxUrl: local?.url });
        if (o.json) return out(cmd, JSON.stringify(r));
        out(cmd, `Restored ${r.path} into ${dataDir}: ${r.manifest.sqlite.incidents} incidents, ${r.manifest.sqlite.auditEntries} audit entries; readings ${r.readings ? 'restored' : 'NOT restored'}; ${r.journalLines} journal lines to ship at the next start.`);
      } finally {
        await local?.stop();
      }
    });
}
