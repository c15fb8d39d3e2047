// `wf privacy erase` (issue 18 point 8): one resident's personal data out of every table that
// holds a copy, in one transaction, with the trail kept whole:
// - registry: the home's name becomes the pseudonym, its address, resident and contacts go;
// - incidents of the site: titles and last readings scrubbed, on-site feedback replaced;
// - their timeline: notes and call logs written by people replaced (they may say anything about
//   the person), system notes scrubbed, each rewrite with its privacy_redactions record; and one
//   new entry per incident, `privacy_erase`, saying who erased, when, why (nothing is deleted);
// - outbox rows to the contacts: name and address replaced; errors and attempts scrubbed;
// - reports naming the home or resident: scrubbed;
// - privacy_erasures: who, when, why, the counts per table.
// Refused while the site has an open incident. Then the WAL is checkpointed and truncated (on
// PostgreSQL the touched tables vacuumed), and every text column of every table of both
// databases is searched for what was erased (the leftovers are listed).
import type { Database } from 'better-sqlite3';
import type { RegistryReader, RegistryWriter } from '../contracts/ports.ts';
import type { Site } from '../contracts/registry.ts';
import type { ErasureResult } from '../contracts/privacy.ts';
import { WatchfireError } from '../contracts/errors.ts';
import { hmac, pseudonymOf, scrub, termsOf, textTerm, type Term } from './terms.ts';
import {
  clearWal, contactIndex, handoverSql, rewriteHandover, rewriteNote, scrubbedHandover, sharedLeftovers, sharedSql, tx, vacuumShared, withSecureDelete,
  type AuditRow, type HandoverRaw, type IncidentRaw, type OutboxRaw, type SqlRunner,
} from './sql.ts';

export interface EraseDeps {
  /** This node's SQLite file: registry, shift handovers, secure_delete and the WAL. */
  db: Database;
  /** Where alerts/ runs: on SQLite a runner on `db` itself, or the PostgreSQL every node shares. */
  sql: SqlRunner;
  key: string;
  registry: RegistryReader & Pick<RegistryWriter, 'importFile'>;
}

/** A timeline note written by a person: replaced whole, since it may say anything about the resident. */
function personText(a: AuditRow, p: string): { note: string | null; zh: string | null } | undefined {
  if (a.actor === 'system' || a.note === null) return undefined;
  const erased = `[${p}: erased]`;
  // Notes, call logs, SMS replies from a contact (issue 19: `reply:sms`, actor `<site>#contact<n>`).
  if (a.action === 'note' || a.action.startsWith('call:') || a.action.startsWith('reply:')) return { note: erased, zh: a.note_zh === null ? null : erased };
  // `disposition: feedback` keeps its disposition.
  if (a.action === 'resolve') {
    const cut = a.note.indexOf(': ');
    return { note: cut > 0 ? `${a.note.slice(0, cut)}: ${erased}` : erased, zh: a.note_zh };
  }
  return undefined;
}

/** The site as kept after an erasure: devices still watch the home, under its pseudonym. */
export function erasedSite(site: Site, p: string): Site {
  const kept: Site = { ...site, contacts: [], ...(site.kind === 'home' ? { name: p, address: '' } : {}) };
  delete (kept as { resident?: unknown }).resident;
  return kept;
}

/** What an erasure remembers of the strings it erased: their HMACs, enough to recognise them, not to read them. */
export function erasedMarks(key: string, terms: readonly Term[]): string[] {
  return terms.map((t) => hmac(key, `erased:${t.literal}`));
}

function textColumns(db: Database): Array<{ table: string; column: string }> {
  const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").pluck().all() as string[];
  return tables.flatMap((t) => (db.prepare(`PRAGMA table_info("${t}")`).all() as Array<{ name: string; type: string }>)
    .filter((c) => c.type === '' || /TEXT|CHAR|CLOB/i.test(c.type))
    .map((c) => ({ table: t, column: c.name })));
}

/** Where any of `literals` still occurs: one scan per text column. */
export function findLeftovers(db: Database, literals: readonly string[]): ErasureResult['leftovers'] {
  if (!literals.length) return [];
  const out: ErasureResult['leftovers'] = [];
  for (const { table, column } of textColumns(db)) {
    const where = literals.map(() => `instr("${column}", ?) > 0`).join(' OR ');
    const rows = db.prepare(`SELECT COUNT(*) FROM "${table}" WHERE ${where}`).pluck().get(...literals) as number;
    if (rows > 0) out.push({ table, column, rows });
  }
  return out;
}

/**
 * The part of an erasure in this node's SQLite file: the center's shift handovers (their
 * summaries list its homes' incidents, notes and calls), then the registry (last, so that a
 * failure before leaves it and its in-memory maps untouched). Synchronous: on SQLite it runs
 * inside the erasure's one transaction.
 */
function eraseLocal(deps: EraseDeps, site: Site, p: string, terms: readonly Term[], cause: string, now: number): number {
  const hs = handoverSql(deps.db);
  let n = 0;
  for (const h of hs.handoversOfCenter.all(site.centerId) as HandoverRaw[]) {
    if (rewriteHandover(hs, deps.key, now, cause, h, (t) => scrub(t, terms))) n++;
  }
  deps.registry.importFile({ centers: [], grids: [], sites: [erasedSite(site, p)], devices: [], people: [], rosters: [] });
  return n;
}

export async function erase(deps: EraseDeps, site: Site, actor: string, reason: string, now: number): Promise<ErasureResult> {
  const { db, sql, key } = deps;
  const why = reason.trim();
  if (!why) throw new WatchfireError('WF_PRIVACY_REASON', 'Say why (--reason): the request this erasure answers is recorded in the audit trail');
  const p = pseudonymOf(key, site.id);
  const terms: Term[] = termsOf(site, p);
  const s = sharedSql(sql);
  // On SQLite the runner works on this very file: the handovers and the registry join the
  // erasure's one transaction. On PostgreSQL no transaction spans both databases: the shared rows
  // commit first, with the handovers counted ahead, then this node's file in a transaction of
  // its own. Should that fail, the erasure is recorded and the registry still holds the person:
  // erasing again finishes it (and the guard, privacy/guard.ts, erases the registry part again
  // at the next start or import, from the erasure's marks).
  const together = sql.dialect === 'sqlite';
  const plannedHandovers = together ? 0
    : (handoverSql(db).handoversOfCenter.all(site.centerId) as HandoverRaw[]).filter((h) => scrubbedHandover(h, (t) => scrub(t, terms)) !== undefined).length;
  const result = await withSecureDelete(db, async () => {
    const r = await sql.transaction(function* () {
      const open = yield* tx.all(s.openOfSite(site.id));
      if (open.length) throw new WatchfireError('WF_PRIVACY_OPEN_INCIDENT', `Site ${site.id} has open incidents; close them before erasing`, open.map((o) => o.id));
      const counts: Record<string, number> = { registry_sites: 0, alert_incidents: 0, alert_audit: 0, alert_outbox: 0, alert_outbox_attempts: 0, alert_reports: 0, shift_handovers: 0 };
      const incidents: IncidentRaw[] = yield* tx.all(s.incidentsOfSite(site.id));
      // The erasure's own record comes first: the redactions below name it.
      const [made] = yield* tx.all(s.insertErasure({ at: now, actor, reason: why, site_id: site.id, pseudonym: p, erased: JSON.stringify(erasedMarks(key, terms)) }));
      const id = Number(made!.id);
      const cause = `erasure:${id}`;
      const outboxRows = new Map<number, OutboxRaw>();
      for (const i of incidents) {
        yield* tx.run(s.updateIncident(i.id, { title_en: scrub(i.title_en, terms), title_zh: scrub(i.title_zh, terms), last_reading: scrub(i.last_reading, terms), feedback: i.feedback === null ? null : `[${p}: erased]` }, now));
        counts.alert_incidents!++;
        const audit: AuditRow[] = yield* tx.all(s.auditOf(i.id));
        for (const a of audit) {
          const person = personText(a, p);
          const note = person ? person.note : scrub(a.note, terms);
          const zh = person ? scrub(person.zh, terms) : scrub(a.note_zh, terms);
          if (yield* rewriteNote(s, key, now, cause, a, note, zh)) counts.alert_audit!++;
        }
        yield* tx.run(s.appendAudit({
          incident_id: i.id, at: now, actor, action: 'privacy_erase', from_state: i.state, to_state: i.state,
          note: `personal data of site ${site.id} erased (erasure #${id}, pseudonym ${p}): ${why}`,
          note_zh: `已删除地点 ${site.id} 的个人信息（删除记录 #${id}，化名 ${p}）：${why}`,
        }));
        for (const o of (yield* tx.all(s.outboxOfIncident(i.id))) as OutboxRaw[]) outboxRows.set(o.id, o);
      }
      for (const o of (yield* tx.all(s.outboxToContacts(site.id))) as OutboxRaw[]) outboxRows.set(o.id, o);
      for (const o of outboxRows.values()) {
        const contact = contactIndex(o.recipient_id);
        const mine = contact?.siteId === site.id;
        const own = mine ? [textTerm(o.address, `[${p}:contact${contact.index}:address]`, 4)].filter((t): t is Term => t !== undefined) : [];
        const all = [...own, ...terms];
        const name = mine ? `[${p}:contact${contact.index}]` : o.recipient_name;
        const address = mine ? `[${p}:contact${contact.index}:address]` : o.address;
        yield* tx.run(s.updateOutbox(o.id, { recipient_name: name, address, last_error: scrub(o.last_error, all) }, now));
        counts.alert_outbox!++;
        for (const a of yield* tx.all(s.attemptsOf(o.id))) {
          const e = scrub(a.error, all);
          const d = scrub(a.receipt_detail ?? null, all);
          if (e !== a.error || d !== (a.receipt_detail ?? null)) {
            yield* tx.run(s.updateAttempt(a.id, e, d));
            counts.alert_outbox_attempts!++;
          }
        }
      }
      for (const rep of yield* tx.all(s.reports())) {
        const body = scrub(rep.body, terms);
        if (body !== rep.body) {
          yield* tx.run(s.updateReport(rep.id, body, undefined));
          counts.alert_reports!++;
        }
      }
      counts.shift_handovers = together ? eraseLocal(deps, site, p, terms, cause, now) : plannedHandovers;
      counts.registry_sites = 1;
      yield* tx.run(s.finishErasure(id, JSON.stringify(counts)));
      return { id, counts };
    });
    if (!together) {
      try {
        db.transaction(() => eraseLocal(deps, site, p, terms, `erasure:${r.id}`, now))();
      } catch (err) {
        throw new Error(`erasure #${r.id} is recorded on the shared database, but this node's registry and shift handovers were not erased (${(err as Error).message}): erase ${site.id} again`, { cause: err });
      }
    }
    return r;
  });
  // The old pages of the rows rewritten above may still sit in the WAL: copy it back and empty
  // it. On PostgreSQL the rewritten rows' old versions stay in their pages until VACUUM.
  const walCleared = clearWal(db) && await vacuumShared(sql);
  const literals = terms.map((t) => t.literal);
  const leftovers = [...findLeftovers(db, literals), ...await sharedLeftovers(sql, literals)];
  return { erasureId: result.id, siteId: site.id, pseudonym: p, at: now, actor, reason: why, counts: result.counts, leftovers, walCleared };
}
