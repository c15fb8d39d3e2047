// The nightly pseudonymisation (issue 18 point 8): incidents closed more than
// privacy.pseudonymiseAfterDays ago, their timeline, the notifications sent about them and old
// reports lose the residents' personal strings (termsOf) and any mobile number, replaced by the
// resident's pseudonym. Open incidents are never touched (the query and the UPDATE both say
// active = 0). Notes and call logs keep their words otherwise: what happened stays reviewable.
// Work goes in batches of BATCH rows, one transaction each, yielding to the event loop between
// them, so an alarm waits at most one batch (bench/privacy.ts measures the longest stall): the
// shared rows through the runner alerts/ run on (SQLite, or the PostgreSQL nodes share), then
// this node's shift handovers in its own SQLite file.
import type { Database } from 'better-sqlite3';
import type { RegistryReader } from '../contracts/ports.ts';
import type { RetentionResult } from '../contracts/privacy.ts';
import { pseudonymOf, scrub, termsOf, textTerm, type Term } from './terms.ts';
import {
  contactIndex, handoverSql, rewriteHandover, rewriteNote, sharedSql, tx, withSecureDelete,
  type AuditRow, type HandoverRaw, type IncidentRaw, type OutboxRaw, type SqlRunner,
} from './sql.ts';

export const BATCH = 20;
/** Reports are checked against every home of their center: fewer per transaction. */
export const REPORT_BATCH = 5;

export interface RetentionDeps {
  /** This node's SQLite file: its shift handovers (and secure_delete). */
  db: Database;
  /** Where alerts/ runs: incidents, audit trail, outbox and reports, on SQLite or the shared PostgreSQL. */
  sql: SqlRunner;
  key: string;
  registry: RegistryReader;
}

type Counts = Omit<RetentionResult, 'cutoff' | 'readAuditDeleted'>;

export function createRetention(deps: RetentionDeps) {
  const { db, key, registry } = deps;

  function siteTerms(cache: Map<string, Term[]>, siteId: string): Term[] {
    let t = cache.get(siteId);
    if (!t) {
      const site = registry.site(siteId);
      t = site ? termsOf(site, pseudonymCached(siteId)) : [];
      cache.set(siteId, t);
    }
    return t;
  }

  const pseudonyms = new Map<string, string>();
  const pseudonymCached = (siteId: string): string => {
    let p = pseudonyms.get(siteId);
    if (p === undefined) {
      if (pseudonyms.size > 100_000) pseudonyms.clear();
      pseudonyms.set(siteId, (p = pseudonymOf(key, siteId)));
    }
    return p;
  };

  /** A center's sites' terms, for its reports (which name any home of the center); built once per run. */
  function centerTerms(centerId: string): Term[] {
    return registry.sites().filter((s) => s.centerId === centerId && (s.resident || s.contacts.length)).flatMap((s) => termsOf(s, pseudonymOf(key, s.id)))
      .sort((a, b) => b.literal.length - a.literal.length);
  }

  const s = sharedSql(deps.sql);
  const hs = handoverSql(db);

  /**
   * One batch of each kind of the shared rows, in one runner transaction; all zero when nothing
   * is left. On PostgreSQL the rows are locked as read and rows another transaction holds are
   * skipped (an erasure in progress; it sets pseudonymised_at itself).
   */
  function step(now: number, cutoff: number, cache: Map<string, Term[]>, reportTerms: (centerId: string) => Term[]): Promise<Counts> {
    return deps.sql.transaction(function* () {
      const c: Counts = { incidents: 0, auditEntries: 0, outboxRows: 0, attempts: 0, reports: 0, handovers: 0 };
      const incidents: IncidentRaw[] = yield* tx.all(s.oldClosed(cutoff, BATCH));
      for (const i of incidents) {
        const terms = siteTerms(cache, i.site_id);
        yield* tx.run(s.updateIncident(i.id, { title_en: scrub(i.title_en, terms), title_zh: scrub(i.title_zh, terms), last_reading: scrub(i.last_reading, terms), feedback: scrub(i.feedback, terms) }, now));
        c.incidents++;
        const audit: AuditRow[] = yield* tx.all(s.auditOf(i.id));
        for (const a of audit) {
          if (yield* rewriteNote(s, key, now, 'retention', a, scrub(a.note, terms), scrub(a.note_zh, terms))) c.auditEntries++;
        }
      }
      const outbox: OutboxRaw[] = yield* tx.all(s.oldOutbox(cutoff, BATCH));
      for (const o of outbox) {
        const contact = contactIndex(o.recipient_id);
        const terms = [...(o.site_id ? siteTerms(cache, o.site_id) : []), ...(contact ? siteTerms(cache, contact.siteId) : [])];
        const addressTerm = [textTerm(o.address, '[address]', 4)].filter((t): t is Term => t !== undefined);
        let name = o.recipient_name;
        let address = o.address;
        if (contact) {
          const p = `${pseudonymCached(contact.siteId)}:contact${contact.index}`;
          name = `[${p}]`;
          address = `[${p}:address]`;
        }
        yield* tx.run(s.updateOutbox(o.id, { recipient_name: name, address, last_error: scrub(o.last_error, [...addressTerm, ...terms]) }, now));
        c.outboxRows++;
        for (const a of yield* tx.all(s.attemptsOf(o.id))) {
          const e = scrub(a.error, [...addressTerm, ...terms]);
          const d = scrub(a.receipt_detail ?? null, [...addressTerm, ...terms]);
          if (e !== a.error || d !== (a.receipt_detail ?? null)) {
            yield* tx.run(s.updateAttempt(a.id, e, d));
            c.attempts++;
          }
        }
      }
      for (const r of yield* tx.all(s.oldReports(cutoff, REPORT_BATCH))) {
        yield* tx.run(s.updateReport(r.id, scrub(r.body, reportTerms(r.center_id)), now));
        c.reports++;
      }
      return c;
    });
  }

  /**
   * One batch of this node's shift handovers (SQLite only: dashboards/handover-store.ts keeps
   * them in the node's file). They name any home of their center, like reports; each is marked
   * done once.
   */
  function handoverStep(now: number, cutoff: number, reportTerms: (centerId: string) => Term[]): number {
    return db.transaction(() => {
      let n = 0;
      for (const h of hs.oldHandovers.all(cutoff, REPORT_BATCH) as HandoverRaw[]) {
        // Forced: a received handover is marked done through its redaction record even when no
        // text changed (its trigger lets nothing else touch it).
        rewriteHandover(hs, key, now, 'retention', h, (t) => scrub(t, reportTerms(h.center_id)), true);
        n++;
      }
      return n;
    }).immediate();
  }

  function add(a: Counts, b: Counts): Counts {
    return { incidents: a.incidents + b.incidents, auditEntries: a.auditEntries + b.auditEntries, outboxRows: a.outboxRows + b.outboxRows, attempts: a.attempts + b.attempts, reports: a.reports + b.reports, handovers: a.handovers + b.handovers };
  }
  const empty = (c: Counts) => c.incidents + c.outboxRows + c.reports + c.handovers === 0;

  function context() {
    const cache = new Map<string, Term[]>();
    const byCenter = new Map<string, Term[]>();
    const reportTerms = (centerId: string) => {
      let t = byCenter.get(centerId);
      if (!t) byCenter.set(centerId, (t = centerTerms(centerId)));
      return t;
    };
    return { cache, reportTerms };
  }

  return {
    /** All of it, yielding to the event loop between batches (the nightly job in the server; the CLI). */
    async run(now: number, cutoff: number): Promise<Counts> {
      const ctx = context();
      let total: Counts = { incidents: 0, auditEntries: 0, outboxRows: 0, attempts: 0, reports: 0, handovers: 0 };
      for (;;) {
        const c = await withSecureDelete(db, async () => ({ ...await step(now, cutoff, ctx.cache, ctx.reportTerms), handovers: handoverStep(now, cutoff, ctx.reportTerms) }));
        if (empty(c)) return total;
        total = add(total, c);
        await new Promise((r) => setImmediate(r));
      }
    },
  };
}
