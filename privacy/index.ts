// The privacy module (issue 18 point 8, PIPL): residents' personal data is pseudonymised after
// privacy.pseudonymiseAfterDays, exported and erased on request, and its reads are recorded.
// createPrivacy does no I/O; statements are prepared and the key read on first use. See privacy/README.md.
//
// Where: the incidents, audit trail, outbox, reports, erasures and redactions are read and
// rewritten through `sql`, the runner alerts/ runs on (this node's SQLite file, or with
// storage.postgresUrl the PostgreSQL every node shares), so an erasure or the nightly run reaches
// every copy, and the read audit with them; the registry and shift handovers stay in this node's
// file (`db`).
import type { Database } from 'better-sqlite3';
import type { Logger } from 'pino';
import type { Clock, Lifecycle, RegistryReader, RegistryWriter } from '../contracts/ports.ts';
import type { Site } from '../contracts/registry.ts';
import type { PrivacyService, RetentionResult } from '../contracts/privacy.ts';
import { WatchfireError } from '../contracts/errors.ts';
import { keyOf, sqliteRunner, type SqlRunner } from './sql.ts';
import { createReadAudit } from './reads.ts';
import { createRetention } from './retention.ts';
import { erase, erasedMarks } from './erase.ts';
import { exportSite } from './export.ts';
import { verifyAuditTrail } from './verify.ts';
import { createGuard } from './guard.ts';

import { termsOf } from './terms.ts';

export { pseudonymOf, termsOf, scrub } from './terms.ts';
export { verifyAuditTrail } from './verify.ts';
export { findLeftovers } from './erase.ts';

const DAY = 86_400_000;

export interface PrivacyConfig {
  readonly pseudonymiseAfterDays: number;
  readonly readAuditDedupMinutes: number;
  readonly readAuditKeepDays: number;
}

export interface PrivacyDeps {
  /** This node's SQLite file: registry, shift handovers, wf_meta.privacy_key. */
  db: Database;
  /**
   * Where alerts/ runs its SQL (default: sqliteRunner(db)). A SQLite runner must be on `db`
   * itself: an erasure then changes both in one transaction.
   */
  sql?: SqlRunner;
  registry: RegistryReader & Pick<RegistryWriter, 'importFile'>;
  clock: Clock;
  logger: Logger;
  config: PrivacyConfig;
}

export type Privacy = PrivacyService & Lifecycle & {
  /** Pseudonymises what is older than the retention (or `days`), yielding between batches. */
  pseudonymise(days?: number): Promise<RetentionResult>;
};

export function createPrivacy(deps: PrivacyDeps): Privacy {
  const { db, registry, clock, config } = deps;
  const sql = deps.sql ?? sqliteRunner(db);
  const reads = createReadAudit({ sql, clock, dedupMs: config.readAuditDedupMinutes * 60_000 });
  let key: Promise<string> | undefined;
  const keyNow = () => (key ??= keyOf(sql, db).catch((err: unknown) => {
    key = undefined;
    throw err;
  }));
  const guard = createGuard({ db, sql, key: keyNow, registry, logger: deps.logger });

  function site(subject: string): Site {
    const s = registry.site(subject);
    if (s) return s;
    const digits = subject.replace(/\D/g, '');
    const hits = registry.sites().filter((x) => x.resident && (x.resident.name === subject.trim() || (digits.length >= 5 && x.resident.phone?.replace(/\D/g, '') === digits)));
    if (hits.length === 1) return hits[0]!;
    if (hits.length > 1) throw new WatchfireError('WF_PRIVACY_NOT_FOUND', `"${subject}" names ${hits.length} residents: give the site id`, hits.map((h) => `${h.id} (${h.address || h.name})`));
    throw new WatchfireError('WF_PRIVACY_NOT_FOUND', `No site ${subject}, and no resident with that exact name or phone`);
  }

  const pruneReads = (now: number) => reads.prune(now - config.readAuditKeepDays * DAY);

  return {
    /** Watches registry imports so that an erasure is not undone by a stale registry file. */
    async start() {
      await guard.start();
    },
    stop() {
      guard.stop();
      return Promise.resolve();
    },
    reads,
    resolve(subject) {
      const s = site(subject);
      return { siteId: s.id, centerId: s.centerId };
    },
    async export(subject, reader) {
      const s = site(subject);
      const now = clock.now();
      const k = await keyNow();
      // Recorded before anything is handed out: an export whose read cannot be recorded fails.
      await reads.record(reader, 'export', s.id, s.id, s.centerId);
      return exportSite({ sql, key: k, registry, reads }, s, now);
    },
    async erase(subject, actor, reason) {
      const s = site(subject);
      const k = await keyNow();
      const r = await erase({ db, sql, key: k, registry }, s, actor, reason, clock.now());
      guard.remember(s.id, erasedMarks(k, termsOf(s, '')), k);
      deps.logger.warn({ erasure: r.erasureId, site: r.siteId, actor, counts: r.counts, leftovers: r.leftovers.length }, 'personal data of a resident erased');
      return r;
    },
    verify: () => verifyAuditTrail(sql),
    async pseudonymise(days) {
      const now = clock.now();
      const cutoff = now - (days ?? config.pseudonymiseAfterDays) * DAY;
      const r = createRetention({ db, sql, key: await keyNow(), registry });
      const c = await r.run(now, cutoff);
      return { cutoff, ...c, readAuditDeleted: await pruneReads(now) };
    },
  };
}
