// `wf backup DIR` and `wf restore DIR` (issue 18 point 4). A backup is one directory
// DIR/watchfire-<UTC time>/ holding a consistent online copy of the SQL store (VACUUM INTO: one
// read transaction, so WAL writers carry on and the copy is a single moment), a portable
// InfluxDB backup of the readings, the journal's unshipped tail (journal/backup.ts: readings
// acknowledged but not yet confirmed by InfluxDB, e.g. during an outage), and manifest.json, written last: a directory without it is
// incomplete and never restored nor counted. The oldest complete backups beyond `keep` go.
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { WatchfireError } from '../contracts/errors.ts';
import { influxBackup, influxRestore, type InfluxBackupTarget } from '../ingest/index.ts';
import { copyJournalSegments, restoreJournalSegments } from '../journal/index.ts';
import { openDatabase } from './db.ts';
import { schemaVersion } from './migrations/run.ts';

export const DB_FILE = 'watchfire.db';
/** The journal's directory under the data directory (app/watchfire.ts). */
export const JOURNAL_DIR = 'journal';
const NAME = /^watchfire-\d{8}T\d{6}(\d{3})?Z$/;

export const Manifest = z.object({
  format: z.literal(1),
  createdAt: z.number(),
  schemaVersion: z.number().int(),
  sqlite: z.object({ file: z.literal(DB_FILE), bytes: z.number(), incidents: z.number(), auditEntries: z.number() }),
  /** null: readings were not backed up (InfluxDB elsewhere without backup.influxRpc). */
  influx: z.object({ dir: z.literal('influx'), database: z.string(), format: z.literal('portable') }).nullable(),
  /** The journal's unshipped tail at backup time; absent in backups made before it was included. */
  journal: z.object({ dir: z.literal(JOURNAL_DIR), segments: z.number(), lines: z.number(), bytes: z.number() }).optional(),
});
export type Manifest = z.infer<typeof Manifest>;

export interface BackupOptions {
  /** The live database file (DATA_DIR/watchfire.db). */
  dbFile: string;
  /** Where backups live; this one goes into a new subdirectory. */
  dir: string;
  influx?: InfluxBackupTarget | undefined;
  /** The live journal directory (DATA_DIR/journal): its unshipped segments are copied. */
  journalDir?: string | undefined;
  /** Complete backups kept in `dir` (default 7). */
  keep?: number;
  now?: () => number;
}

export interface BackupResult {
  path: string;
  manifest: Manifest;
  /** Older backups deleted by the retention setting. */
  removed: string[];
}

function stamp(ms: number): string {
  return `watchfire-${new Date(ms).toISOString().replace(/[-:]/g, '').replace('.', '')}`;
}

/** Complete backups in `dir`, oldest first. */
export function listBackups(dir: string): Array<{ path: string; manifest: Manifest }> {
  if (!existsSync(dir)) return [];
  const out: Array<{ path: string; manifest: Manifest }> = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (!NAME.test(name) || !existsSync(join(path, 'manifest.json'))) continue;
    const m = Manifest.safeParse(JSON.parse(readFileSync(join(path, 'manifest.json'), 'utf8')));
    if (m.success) out.push({ path, manifest: m.data });
  }
  return out;
}

export async function backup(opts: BackupOptions): Promise<BackupResult> {
  const now = opts.now ?? Date.now;
  const dir = resolve(opts.dir);
  mkdirSync(dir, { recursive: true });
  const createdAt = now();
  const final = join(dir, stamp(createdAt));
  const partial = `${final}.partial`;
  if (existsSync(final)) throw new WatchfireError('WF_BACKUP_FAILED', `${final} already exists`);
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(partial);
  try {
    const copy = join(partial, DB_FILE);
    // migrate: false: a backup copies what is there, whatever release wrote it.
    const live = openDatabase(opts.dbFile, { migrate: false });
    try {
      live.prepare('VACUUM INTO ?').run(copy);
    } finally {
      live.close();
    }
    const check = openDatabase(copy, { migrate: false });
    let sqlite: Manifest['sqlite'];
    let version: number;
    try {
      const ok = check.pragma('quick_check', { simple: true });
      if (ok !== 'ok') throw new Error(`quick_check of the copy: ${String(ok)}`);
      check.pragma('journal_mode = DELETE'); // one self-contained file
      version = schemaVersion(check);
      const n = (t: string) => (check.prepare(`SELECT COUNT(*) AS n FROM ${t}`).get() as { n: number }).n;
      sqlite = { file: DB_FILE, bytes: 0, incidents: n('alert_incidents'), auditEntries: n('alert_audit') };
    } finally {
      check.close();
    }
    sqlite.bytes = statSync(copy).size;
    // The journal before the readings: see journal/backup.ts for why this order loses nothing.
    const journal: Manifest['journal'] = opts.journalDir ? { dir: JOURNAL_DIR, ...(await copyJournalSegments(opts.journalDir, join(partial, JOURNAL_DIR))) } : undefined;
    let influx: Manifest['influx'] = null;
    if (opts.influx) {
      await influxBackup(opts.influx, join(partial, 'influx'));
      influx = { dir: 'influx', database: opts.influx.database, format: 'portable' };
    }
    const manifest: Manifest = { format: 1, createdAt, schemaVersion: version, sqlite, influx, ...(journal ? { journal } : {}) };
    writeFileSync(join(partial, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    renameSync(partial, final);
    const removed: string[] = [];
    const all = listBackups(dir);
    for (const old of all.slice(0, Math.max(0, all.length - (opts.keep ?? 7)))) {
      rmSync(old.path, { recursive: true, force: true });
      removed.push(old.path);
    }
    return { path: final, manifest, removed };
  } catch (err) {
    rmSync(partial, { recursive: true, force: true });
    if (err instanceof WatchfireError) throw err;
    throw new WatchfireError('WF_BACKUP_FAILED', `Backup failed, nothing kept: ${(err as Error).message}`);
  }
}

export interface RestoreOptions {
  /** One backup (DIR/watchfire-…), or a backup directory: its newest complete backup. */
  from: string;
  /** Target data directory: must hold no database yet. */
  dataDir: string;
  /**
   * Where the readings go: a running influxd without the database. The caller starts one (a
   * local influxd under the new data directory with createDatabase: false) or names a server.
   */
  influx?: InfluxBackupTarget | undefined;
  /**
   * HTTP URL of that influxd. influxd 1.6 loads restored shards in the background after
   * `influxd restore` returns (seen here: seconds later); with the URL, restore waits until the
   * point count stops changing, so stopping the server right after loses nothing.
   */
  influxUrl?: string | undefined;
}

async function settledCount(url: string, database: string): Promise<number> {
  const count = async () => {
    const res = await fetch(`${url}/query?db=${encodeURIComponent(database)}&q=${encodeURIComponent('SELECT count(*) FROM /.*/')}`, { signal: AbortSignal.timeout(30_000) });
    const body = (await res.json()) as { results?: Array<{ series?: Array<{ values?: unknown[][] }> }> };
    return (body.results?.[0]?.series ?? []).reduce((n, s) => n + (s.values?.[0]?.slice(1).reduce((a: number, v) => a + (typeof v === 'number' ? v : 0), 0) ?? 0), 0);
  };
  let last = -1;
  let same = 0;
  // Three equal answers a second apart, at most two minutes.
  for (let i = 0; i < 120 && same < 3; i++) {
    const n = await count();
    same = n === last ? same + 1 : 0;
    last = n;
    if (same < 3) await new Promise((r) => setTimeout(r, 1000));
  }
  return last;
}

export function resolveBackup(from: string): { path: string; manifest: Manifest } {
  const path = resolve(from);
  const own = join(path, 'manifest.json');
  if (existsSync(own)) {
    const m = Manifest.safeParse(JSON.parse(readFileSync(own, 'utf8')));
    if (!m.success) throw new WatchfireError('WF_RESTORE_REFUSED', `${own} is not a Watchfire backup manifest`);
    return { path, manifest: m.data };
  }
  const newest = listBackups(path).at(-1);
  if (!newest) throw new WatchfireError('WF_RESTORE_REFUSED', `No complete backup (a directory with manifest.json) in ${path}`);
  return newest;
}

export async function restore(opts: RestoreOptions): Promise<{ path: string; manifest: Manifest; readings: boolean; journalLines: number }> {
  const { path, manifest } = resolveBackup(opts.from);
  const target = join(resolve(opts.dataDir), DB_FILE);
  if (existsSync(target)) throw new WatchfireError('WF_RESTORE_REFUSED', `${target} exists: restore into a fresh data directory (move the old one away first)`);
  mkdirSync(resolve(opts.dataDir), { recursive: true });
  try {
    copyFileSync(join(path, DB_FILE), `${target}.restoring`);
    renameSync(`${target}.restoring`, target);
  } catch (err) {
    throw new WatchfireError('WF_RESTORE_FAILED', `Copying the database: ${(err as Error).message}`);
  }
  // Brings an older backup to this release's schema now; refuses one from a newer release.
  openDatabase(target).close();
  // The unshipped tail goes back into the journal: the next start ships it to InfluxDB.
  let journalLines = 0;
  if (manifest.journal) {
    try {
      journalLines = (await restoreJournalSegments(join(path, manifest.journal.dir), join(resolve(opts.dataDir), JOURNAL_DIR))).lines;
    } catch (err) {
      throw new WatchfireError('WF_RESTORE_FAILED', `Restoring the journal's unshipped tail: ${(err as Error).message}`);
    }
  }
  if (manifest.influx && opts.influx) {
    try {
      await influxRestore(opts.influx, join(path, manifest.influx.dir), manifest.influx.database);
      if (opts.influxUrl) await settledCount(opts.influxUrl, opts.influx.database);
    } catch (err) {
      throw new WatchfireError('WF_RESTORE_FAILED', `Restoring readings: ${(err as Error).message}`);
    }
  }
  return { path, manifest, readings: !!(manifest.influx && opts.influx), journalLines };
}
