// The nightly pseudonymisation (issue 18 point 8): incidents closed more than
// privacy.pseudonymiseAfterDays ago, their timeline, the notifications sent about them and old
// reports lose the residents' personal strings (termsOf) and any mobile number, replaced by the
// resident's pseudonym. Open incidents are never touched (the query and the UPDATE both say
// active = 0). Notes and call logs keep their words otherwise: what happened stays reviewable.
// Work goes in batches of BATCH rows, one transaction each, yielding to the event loop between
// them, so an alarm waits at most one batch (bench/privacy.ts measures the longest stall).
import type { Database } from 'better-sqlite3';
import type { RegistryReader } from '../contracts/ports.ts';
import type { RetentionResult } from '../contracts/privacy.ts';
import { pseudonymOf, scrub, termsOf, textTerm, type Term } from './terms.ts';
import { contactIndex, rewriteHandover, rewriteNote, withSecureDelete, type AuditRow, type HandoverRaw, type IncidentRaw, type OutboxRaw, type Sql } from './sql.ts';

export const BATCH = 20;
/** Reports are checked against every home of their center: fewer per transaction. */
export const REPORT_BATCH = 5;

export interface RetentionDeps {
  db: Database;
  sql: Sql;
  key: string;
  registry: RegistryReader;
}

type Counts = Omit<RetentionResult, 'cutoff' | 'readAuditDeleted'>;

export function createRetention(deps: RetentionDeps) {
  const { db, sql, key, registry } = deps;

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

  /** One batch of each kind; all zero when nothing is left. */
  function step(now: number, cutoff: number, cache: Map<string, Term[]>, reportTerms: (centerId: string) => Term[]): Counts {
    return withSecureDelete(db, () => db.transaction((): Counts => {
      const c: Counts = { incidents: 0, auditEntries: 0, outboxRows: 0, attempts: 0, reports: 0, handovers: 0 };
      for (const i of sql.oldClosed.all(cutoff, BATCH) as IncidentRaw[]) {
        const terms = siteTerms(cache, i.site_id);
        sql.updateIncident.run(scrub(i.title_en, terms), scrub(i.title_zh, terms), scrub(i.last_reading, terms), scrub(i.feedback, terms), now, i.id);
        c.incidents++;
        for (const a of sql.auditOf.all(i.id) as AuditRow[]) {
          if (rewriteNote(sql, key, now, 'retention', a, scrub(a.note, terms), scrub(a.note_zh, terms))) c.auditEntries++;
        }
      }
      for (const o of sql.oldOutbox.all(cutoff, BATCH) as OutboxRaw[]) {
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
        sql.updateOutbox.run(name, address, scrub(o.last_error, [...addressTerm, ...terms]), now, o.id);
        c.outboxRows++;
        for (const a of sql.attemptsOf.all(o.id) as Array<{ id: number; error: string | null; receipt_detail: string | null }>) {
          const e = scrub(a.error, [...addressTerm, ...terms]);
          const d = scrub(a.receipt_detail ?? null, [...addressTerm, ...terms]);
          if (e !== a.error || d !== (a.receipt_detail ?? null)) {
            sql.updateAttempt.run(e, d, a.id);
            c.attempts++;
          }
        }
      }
      for (const r of sql.oldReports.all(cutoff, REPORT_BATCH) as Array<{ id: number; center_id: string; body: string }>) {
        sql.updateReport.run(scrub(r.body, reportTerms(r.center_id)), now, r.id);
        c.reports++;
      }
      // Shift handovers name any home of their center, like reports; each is marked done once.
      for (const h of sql.oldHandovers.all(cutoff, REPORT_BATCH) as HandoverRaw[]) {
        // Forced: a received handover is marked done through its redaction record even when no
        // text changed (its trigger lets nothing else touch it).
        rewriteHandover(sql, key, now, 'retention', h, (t) => scrub(t, reportTerms(h.center_id)), true);
        c.handovers++;
      }
      return c;
    })());
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
    /** All of it now, synchronously (the CLI). */
    runSync(now: number, cutoff: number): Counts {
      const ctx = context();
      let total: Counts = { incidents: 0, auditEntries: 0, outboxRows: 0, attempts: 0, reports: 0, handovers: 0 };
      for (;;) {
        const c = step(now, cutoff, ctx.cache, ctx.reportTerms);
        if (empty(c)) return total;
        total = add(total, c);
      }
    },
    /** All of it, yielding to the event loop between batches (the nightly job in the server). */
    async run(now: number, cutoff: number): Promise<Counts> {
      const ctx = context();
      let total: Counts = { incidents: 0, auditEntries: 0, outboxRows: 0, attempts: 0, reports: 0, handovers: 0 };
      for (;;) {
        const c = step(now, cutoff, ctx.cache, ctx.reportTerms);
        if (empty(c)) return total;
        total = add(total, c);
        await new Promise((r) => setImmediate(r));
      }
    },
  };
}
