// `wf privacy …` (issue 18 point 8, PIPL): export everything held about one resident, erase it,
// pseudonymise what is past the retention now, verify the audit trail, list who read what.
// The subject is a site id, or a resident's exact name or phone when it names exactly one site.
// These commands open the database directly: on a running server, erase through the API
// (POST /api/privacy/erase/:id) so the server's in-memory registry forgets at once; here the
// running server would keep its copy until restarted. With storage.postgresUrl they work on the
// shared PostgreSQL, as the server's alerts do (app/stores.ts), and on this node's file for the
// registry, shift handovers and read audit.
import { userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import pino from 'pino';
import type { Config } from '../../contracts/config.ts';
import { WatchfireError } from '../../contracts/errors.ts';
import { createRegistry } from '../../registry/index.ts';
import { createPrivacy, type Privacy } from '../../privacy/index.ts';
import { openDatabase } from '../db.ts';
import { openSharedStores } from '../stores.ts';
import { out, root } from './output.ts';

function cliUser(): string {
  try {
    return `cli:${userInfo().username}`;
  } catch {
    return 'cli';
  }
}

async function withPrivacy(cmd: Command, config: () => Config, fn: (p: Privacy, cfg: Config) => void | Promise<void>): Promise<void> {
  const cfg = config();
  const db = openDatabase(join(resolve(cfg.dataDir), 'watchfire.db'));
  const logger = pino({ level: 'silent' });
  const registry = createRegistry({ db, logger });
  let failure: WatchfireError | undefined;
  let stores: Awaited<ReturnType<typeof openSharedStores>> | undefined;
  try {
    stores = await openSharedStores({ config: cfg, db, logger });
    await registry.start();
    await fn(createPrivacy({ db, sql: stores.runner, registry, clock: { now: () => Date.now() }, logger, config: cfg.privacy }), cfg);
  } catch (err) {
    if (!(err instanceof WatchfireError)) throw err;
    failure = err;
  } finally {
    await registry.stop();
    await stores?.close();
    db.close();
  }
  if (failure) root(cmd).error(`${failure.code}: ${failure.message}`, { exitCode: 1, code: failure.code });
}

export function registerPrivacyCommands(program: Command, config: () => Config): void {
  const privacy = program.command('privacy').description("residents' personal data (PIPL): export, erase, pseudonymise, verify the audit trail, reads");

  privacy.command('export <subject>')
    .description('print everything held about one resident as JSON (site id, or the exact name or phone of a resident); recorded as a read')
    .option('--json', 'one line of JSON instead of indented')
    .action((subject: string, o: { json?: boolean }, cmd: Command) => withPrivacy(cmd, config, async (p) => {
      const e = await p.export(subject, { username: cliUser(), role: 'cli' });
      out(cmd, o.json ? JSON.stringify(e) : JSON.stringify(e, null, 2));
    }));

  privacy.command('erase <subject>')
    .description("erase the personal data of a site's resident and contacts from every table; the audit trail keeps every entry and records the erasure")
    .requiredOption('--reason <text>', 'the request this answers, e.g. "PIPL request of 2026-12-01, ticket 17" (not the person\'s name)')
    .option('--by <name>', 'who erases (default cli:<your login>)')
    .option('--json', 'print the result as JSON')
    .action((subject: string, o: { reason: string; by?: string; json?: boolean }, cmd: Command) => withPrivacy(cmd, config, async (p, cfg) => {
      const r = await p.erase(subject, o.by ?? cliUser(), o.reason);
      const warnings = [
        ...(r.walCleared ? [] : ['another process holds the database open (or PostgreSQL could not VACUUM): old copies of the rewritten rows may remain until the next checkpoint or autovacuum']),
        ...(cfg.registryFile ? [`${cfg.registryFile} is loaded at every start: remove the resident and contacts of ${r.siteId} there too, or they come back`] : []),
        'backups taken before now still hold the data until they are rotated out (backup.keep)',
      ];
      if (o.json) {
        out(cmd, JSON.stringify({ ...r, warnings }));
        return;
      }
      out(cmd, `erasure #${r.erasureId}: site ${r.siteId} is now ${r.pseudonym}; changed ${Object.entries(r.counts).map(([t, n]) => `${t} ${n}`).join(', ')}`);
      out(cmd, r.leftovers.length ? `still found in: ${r.leftovers.map((l) => `${l.table}.${l.column} (${l.rows})`).join(', ')}: review these rows` : 'nothing of it is left in any table');
      for (const w of warnings) out(cmd, `WARNING: ${w}`);
    }));

  privacy.command('pseudonymise')
    .description('pseudonymise now what the nightly job would: incidents closed more than privacy.pseudonymiseAfterDays ago, their notes and sent notifications')
    .option('--days <n>', 'closed more than this many days ago (default privacy.pseudonymiseAfterDays)')
    .option('--json', 'print the result as JSON')
    .action((o: { days?: string; json?: boolean }, cmd: Command) => withPrivacy(cmd, config, async (p) => {
      const days = o.days === undefined ? undefined : Number(o.days);
      if (days !== undefined && !(Number.isInteger(days) && days >= 1)) throw new WatchfireError('WF_CONFIG_INVALID', `--days: expected a whole number of days ≥ 1, got "${o.days}"`);
      const r = await p.pseudonymise(days);
      out(cmd, o.json ? JSON.stringify(r) : `closed before ${new Date(r.cutoff).toISOString()}: ${r.incidents} incidents, ${r.auditEntries} timeline entries, ${r.outboxRows} notifications, ${r.attempts} attempts, ${r.reports} reports pseudonymised; ${r.readAuditDeleted} old read-audit rows deleted`);
    }));

  privacy.command('verify')
    .description('check the audit trail: no entry missing, the triggers in place, every rewrite matching its redaction record')
    .option('--json', 'print the result as JSON')
    .action((o: { json?: boolean }, cmd: Command) => withPrivacy(cmd, config, async (p) => {
      const v = await p.verify();
      out(cmd, o.json ? JSON.stringify(v) : `${v.ok ? 'audit trail OK' : 'audit trail BROKEN'}: ${v.entries} entries, ${v.redacted} pseudonymised, ${v.erasures} erasures${v.problems.map((x) => `\n  - ${x}`).join('')}`);
      if (!v.ok) process.exitCode = 1;
    }));

  privacy.command('reads')
    .description("who read residents' personal data, newest first")
    .option('--site <id>', 'only reads of this site')
    .option('--user <name>', 'only reads by this user')
    .option('--limit <n>', 'at most this many', '100')
    .option('--json', 'print JSON lines, one read per line')
    .action((o: { site?: string; user?: string; limit: string; json?: boolean }, cmd: Command) => withPrivacy(cmd, config, async (p) => {
      const rows = await p.reads.list({ siteId: o.site, username: o.user, limit: Number(o.limit) || 100 });
      for (const r of rows) out(cmd, o.json ? JSON.stringify(r) : `${new Date(r.at).toISOString()}  ${r.username} (${r.role})  ${r.resource}${r.resourceId ? ` ${r.resourceId}` : ''}${r.siteId && r.siteId !== r.resourceId ? ` site ${r.siteId}` : ''}`);
      if (!o.json && !rows.length) out(cmd, 'No reads recorded.');
    }));
}
