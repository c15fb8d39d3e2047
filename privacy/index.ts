// The privacy module (issue 18 point 8, PIPL): residents' personal data is pseudonymised after
// privacy.pseudonymiseAfterDays, exported and erased on request, and its reads are recorded.
// createPrivacy does no I/O; statements are prepared on first use. See privacy/README.md.
import type { Database } from 'better-sqlite3';
import type { Logger } from 'pino';
import type { Clock, Lifecycle, RegistryReader, RegistryWriter } from '../contracts/ports.ts';
import type { Site } from '../contracts/registry.ts';
import type { PrivacyService, RetentionResult } from '../contracts/privacy.ts';
import { WatchfireError } from '../contracts/errors.ts';
import { privacyKey } from './terms.ts';
import { prepareSql, type Sql } from './sql.ts';
import { createReadAudit } from './reads.ts';
import { createRetention } from './retention.ts';
import { erase } from './erase.ts';
import { exportSite } from './export.ts';
import { verifyAuditTrail } from './verify.ts';
import { createGuard } from './guard.ts';

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
  db: Database;
  registry: RegistryReader & Pick<RegistryWriter, 'importFile'>;
  clock: Clock;
  logger: Logger;
  config: PrivacyConfig;
}

export type Privacy = PrivacyService & Lifecycle & {
  /** Pseudonymises what is older than the retention (or `days`), yielding between batches. */
  pseudonymise(days?: number): Promise<RetentionResult>;
  /** The same, synchronously (the command line, where nothing else waits on the event loop). */
  pseudonymiseSync(days?: number): RetentionResult;
};

export function createPrivacy(deps: PrivacyDeps): Privacy {
  const { db, registry, clock, config } = deps;
  const reads = createReadAudit({ db, clock, dedupMs: config.readAuditDedupMinutes * 60_000 });
  let ready: { sql: Sql; key: string } | undefined;
  const must = () => (ready ??= { sql: prepareSql(db), key: privacyKey(db) });
  const guard = createGuard({ db, key: () => must().key, registry, logger: deps.logger });

  function site(subject: string): Site {
    const s = registry.site(subject);
    if (s) return s;
    const digits = subject.replace(/\D/g, '');
    const hits = registry.sites().filter((x) => x.resident && (x.resident.name === subject.trim() || (digits.length >= 5 && x.resident.phone?.replace(/\D/g, '') === digits)));
    if (hits.length === 1) return hits[0]!;
    if (hits.length > 1) throw new WatchfireError('WF_PRIVACY_NOT_FOUND', `"${subject}" names ${hits.length} residents: give the site id`, hits.map((h) => `${h.id} (${h.address || h.name})`));
    throw new WatchfireError('WF_PRIVACY_NOT_FOUND', `No site ${subject}, and no resident with that exact name or phone`);
  }

  function retentionOf(days: number | undefined) {
    const now = clock.now();
    const cutoff = now - (days ?? config.pseudonymiseAfterDays) * DAY;
    const { sql, key } = must();
    return { now, cutoff, r: createRetention({ db, sql, key, registry }) };
  }
  const pruneReads = (now: number) => reads.prune(now - config.readAuditKeepDays * DAY);

  return {
    /** Watches registry imports so that an erasure is not undone by a stale registry file. */
    start: () => guard.start(),
    stop() {
      guard.stop();
      return Promise.resolve();
    },
    reads,
    resolve(subject) {
      const s = site(subject);
      return { siteId: s.id, centerId: s.centerId };
    },
    export(subject, reader) {
      const s = site(subject);
      const now = clock.now();
      const { sql, key } = must();
      reads.record(reader, 'export', s.id, s.id, s.centerId);
      return exportSite({ db, sql, key, registry, reads }, s, now);
    },
    async erase(subject, actor, reason) {
      const s = site(subject);
      const { sql, key } = must();
      const r = await erase({ db, sql, key, registry }, s, actor, reason, clock.now());
      deps.logger.warn({ erasure: r.erasureId, site: r.siteId, actor, counts: r.counts, leftovers: r.leftovers.length }, 'personal data of a resident erased');
      return r;
    },
    verify: () => verifyAuditTrail(db),
    async pseudonymise(days) {
      const { now, cutoff, r } = retentionOf(days);
      const c = await r.run(now, cutoff);
      return { cutoff, ...c, readAuditDeleted: pruneReads(now) };
    },
    pseudonymiseSync(days) {
      const { now, cutoff, r } = retentionOf(days);
      const c = r.runSync(now, cutoff);
      return { cutoff, ...c, readAuditDeleted: pruneReads(now) };
    },
  };
}
