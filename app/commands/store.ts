// `wf rejects` (dead letters from the command line, issue 18 point 7) and `wf store refused|
// replay-refused` (lines InfluxDB refused, kept for replay, issue 18 point 6).
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import pino from 'pino';
import type { Config } from '../../contracts/config.ts';
import type { ErrorCode } from '../../contracts/errors.ts';
import { createRefusedStore, downsampleRange, type PostLines } from '../../ingest/index.ts';
import { durationMs } from '../../contracts/downsampling.ts';
import { openDatabase } from '../db.ts';
import { openSharedStores, type SharedStores } from '../stores.ts';
import { createDeadLetterStorage } from '../../storage/index.ts';
import { out } from './output.ts';

/** The URL of the InfluxDB Watchfire writes to: influx.url, or the running local influxd's. */
function influxUrl(cfg: Config): string {
  if (cfg.influx.url) return cfg.influx.url;
  const conf = join(resolve(cfg.dataDir), 'influxdb', 'influxd.conf');
  const text = existsSync(conf) ? readFileSync(conf, 'utf8') : '';
  const http = /\[http\][^[]*?bind-address\s*=\s*"([^"]+)"/.exec(text)?.[1];
  if (!http) throw new Error('No influx.url and no local influxd config under the data directory: start Watchfire first (its local influxd), or set influx.url');
  return `http://${http}`;
}

export function registerStoreCommands(program: Command, config: () => Config): void {
  program
    .command('rejects')
    .description('list dead letters: rejected messages and elements with their code and reason, newest first')
    .option('--device <id>', 'only this device')
    .option('--code <code>', 'only this code (WF_INGEST_SCHEMA, …)')
    .option('--limit <n>', 'at most this many', '50')
    .option('--json', 'print JSON lines, one reject per line')
    .action(async (o: { device?: string; code?: string; limit: string; json?: boolean }, cmd: Command) => {
      const cfg = config();
      const db = openDatabase(join(resolve(cfg.dataDir), 'watchfire.db'));
      let stores: SharedStores | undefined;
      try {
        // Where the nodes keep them: the SQLite file, or storage.postgresUrl's PostgreSQL (every node's rejects).
        stores = await openSharedStores({ config: cfg, db, logger: pino({ level: 'warn' }) });
        const store = createDeadLetterStorage({ sql: stores.runner });
        const filter = { ...(o.device ? { deviceId: o.device } : {}), ...(o.code ? { code: o.code as ErrorCode } : {}) };
        const rows = await store.list({ ...filter, limit: Number(o.limit) });
        if (o.json) {
          for (const r of rows) out(cmd, JSON.stringify(r));
          return;
        }
        out(cmd, `${await store.count(filter)} dead letters${o.device ? ` of ${o.device}` : ''}${o.code ? ` with ${o.code}` : ''}; newest ${rows.length}:`);
        for (const r of rows) out(cmd, `${new Date(r.at).toISOString()}  ${r.code}  ${r.deviceId ?? '-'}  ${r.topic}${r.index !== undefined ? `[${r.index}]` : ''}  ${r.reason}`);
      } finally {
        await stores?.close();
        db.close();
      }
    });

  const store = program.command('store').description('the readings store: lines InfluxDB refused, the 5-minute aggregates');
  const refusedOf = (cfg: Config) => createRefusedStore({ dir: join(resolve(cfg.dataDir), 'refused'), logger: pino({ level: 'silent' }) });
  store
    .command('refused')
    .description('list the lines InfluxDB refused (HTTP 400), kept with its reason')
    .option('--json', 'print JSON lines, one refused batch per line')
    .action((o: { json?: boolean }, cmd: Command) => {
      const batches = refusedOf(config()).list();
      if (o.json) {
        for (const b of batches) out(cmd, JSON.stringify(b));
        return;
      }
      out(cmd, `${batches.reduce((n, b) => n + b.lines.length, 0)} refused lines in ${batches.length} batches`);
      for (const b of batches) out(cmd, `${new Date(b.at).toISOString()}  ${b.lines.length} lines  ${b.reason.slice(0, 300)}`);
    });
  store
    .command('replay-refused')
    .description('write the refused lines to InfluxDB again, after fixing the cause; what is still refused stays')
    .option('--json', 'print the result as JSON')
    .action(async (o: { json?: boolean }, cmd: Command) => {
      const cfg = config();
      const url = influxUrl(cfg);
      const auth = cfg.influx.username !== undefined ? `&u=${encodeURIComponent(cfg.influx.username)}&p=${encodeURIComponent(cfg.influx.password ?? '')}` : '';
      const post: PostLines = async (lines) => {
        const res = await fetch(`${url}/write?db=${encodeURIComponent(cfg.influx.database)}${auth}`, { method: 'POST', body: lines.join('\n'), signal: AbortSignal.timeout(30_000) });
        return res.ok ? { ok: true } : { ok: false, status: res.status, reason: await res.text() };
      };
      const r = await refusedOf(cfg).replay(post);
      out(cmd, o.json ? JSON.stringify(r) : `replayed ${r.replayed} lines; ${r.stillRefused} still refused (wf store refused)`);
    });
  store
    .command('downsample')
    .description('write the 5-minute aggregates (long_term) again from the raw readings of a period: readings that reached InfluxDB late (after an outage) or before downsampling existed (InfluxDB 1.x)')
    .option('--since <duration>', 'the last period, e.g. 12h, 7d, 4w', '1d')
    .option('--from <time>', 'start (ISO 8601); with --to instead of --since')
    .option('--to <time>', 'end (ISO 8601; default now)')
    .option('--json', 'print {"from","to","buckets","written"} as JSON')
    .action(async (o: { since: string; from?: string; to?: string; json?: boolean }, cmd: Command) => {
      const cfg = config();
      const to = o.to ? Date.parse(o.to) : Date.now();
      const from = o.from ? Date.parse(o.from) : to - (durationMs(o.since) ?? 0);
      if (!Number.isFinite(from) || !Number.isFinite(to) || from >= to) throw new Error('--from/--to/--since: expected a period that ends after it starts');
      const c = { url: influxUrl(cfg), database: cfg.influx.database, username: cfg.influx.username, password: cfg.influx.password, ...cfg.influx.retention };
      const r = await downsampleRange(c, from, to);
      const result = { from: new Date(from).toISOString(), to: new Date(to).toISOString(), ...r };
      out(cmd, o.json ? JSON.stringify(result) : `wrote ${r.written} aggregate points for ${r.buckets} 5-minute buckets from ${result.from} to ${result.to}`);
    });
}
