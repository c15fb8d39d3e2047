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
// Refused while the site has an open incident. The registry's site is rewritten once that
// transaction has committed: the registry may be on PostgreSQL (storage.postgresUrl), which no
// SQLite transaction spans. Should that write fail, the erasure is recorded already with what it
// erased (as HMACs), so the guard (guard.ts) erases the site again at the next start or import,
// and erasing again finishes it. Then the WAL is checkpointed and truncated, and every text
// column of every table is searched for what was erased (the leftovers are listed).
import type { Database } from 'better-sqlite3';
import type { RegistryReader, RegistryWriter } from '../contracts/ports.ts';
import type { Site } from '../contracts/registry.ts';
import type { ErasureResult } from '../contracts/privacy.ts';
import { WatchfireError } from '../contracts/errors.ts';
import { hmac, pseudonymOf, scrub, termsOf, textTerm, type Term } from './terms.ts';
import { clearWal, contactIndex, rewriteHandover, rewriteNote, withSecureDelete, withSecureDeleteAsync, type AuditRow, type HandoverRaw, type IncidentRaw, type OutboxRaw, type Sql } from './sql.ts';

export interface EraseDeps {
  db: Database;
  sql: Sql;
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

export async function erase(deps: EraseDeps, site: Site, actor: string, reason: string, now: number): Promise<ErasureResult> {
  const { db, sql, key, registry } = deps;
  const why = reason.trim();
  if (!why) throw new WatchfireError('WF_PRIVACY_REASON', 'Say why (--reason): the request this erasure answers is recorded in the audit trail');
  const p = pseudonymOf(key, site.id);
  const terms: Term[] = termsOf(site, p);
  const result = withSecureDelete(db, () => db.transaction(() => {
    const open = sql.openOfSite.all(site.id) as string[];
    if (open.length) throw new WatchfireError('WF_PRIVACY_OPEN_INCIDENT', `Site ${site.id} has open incidents; close them before erasing`, open);
    const counts: Record<string, number> = { registry_sites: 0, alert_incidents: 0, alert_audit: 0, alert_outbox: 0, alert_outbox_attempts: 0, alert_reports: 0, shift_handovers: 0 };
    const incidents = sql.incidentsOfSite.all(site.id) as IncidentRaw[];
    // The erasure's own record comes first: the redactions below name it.
    const id = Number(db.prepare("INSERT INTO privacy_erasures (at, actor, reason, site_id, pseudonym, counts, erased) VALUES (?, ?, ?, ?, ?, 'pending', ?)")
      .run(now, actor, why, site.id, p, JSON.stringify(erasedMarks(key, terms))).lastInsertRowid);
    const cause = `erasure:${id}`;
    const outboxRows = new Map<number, OutboxRaw>();
    for (const i of incidents) {
      sql.updateIncident.run(scrub(i.title_en, terms), scrub(i.title_zh, terms), scrub(i.last_reading, terms), i.feedback === null ? null : `[${p}: erased]`, now, i.id);
      counts.alert_incidents!++;
      for (const a of sql.auditOf.all(i.id) as AuditRow[]) {
        const person = personText(a, p);
        const note = person ? person.note : scrub(a.note, terms);
        const zh = person ? scrub(person.zh, terms) : scrub(a.note_zh, terms);
        if (rewriteNote(sql, key, now, cause, a, note, zh)) counts.alert_audit!++;
      }
      sql.appendAudit.run(i.id, now, actor, 'privacy_erase', i.state, i.state,
        `personal data of site ${site.id} erased (erasure #${id}, pseudonym ${p}): ${why}`,
        `已删除地点 ${site.id} 的个人信息（删除记录 #${id}，化名 ${p}）：${why}`);
      for (const o of sql.outboxOfIncident.all(i.id) as OutboxRaw[]) outboxRows.set(o.id, o);
    }
    for (const o of sql.outboxToContacts.all(site.id, site.id) as OutboxRaw[]) outboxRows.set(o.id, o);
    for (const o of outboxRows.values()) {
      const contact = contactIndex(o.recipient_id);
      const mine = contact?.siteId === site.id;
      const own = mine ? [textTerm(o.address, `[${p}:contact${contact.index}:address]`, 4)].filter((t): t is Term => t !== undefined) : [];
      const all = [...own, ...terms];
      const name = mine ? `[${p}:contact${contact.index}]` : o.recipient_name;
      const address = mine ? `[${p}:contact${contact.index}:address]` : o.address;
      sql.updateOutbox.run(name, address, scrub(o.last_error, all), now, o.id);
      counts.alert_outbox!++;
      for (const a of sql.attemptsOf.all(o.id) as Array<{ id: number; error: string | null; receipt_detail: string | null }>) {
        const e = scrub(a.error, all);
        const d = scrub(a.receipt_detail ?? null, all);
        if (e !== a.error || d !== (a.receipt_detail ?? null)) {
          sql.updateAttempt.run(e, d, a.id);
          counts.alert_outbox_attempts!++;
        }
      }
    }
    for (const r of sql.reports.all() as Array<{ id: number; body: string }>) {
      const body = scrub(r.body, terms);
      if (body !== r.body) {
        db.prepare('UPDATE alert_reports SET body = ? WHERE id = ?').run(body, r.id);
        counts.alert_reports!++;
      }
    }
    // The center's shift handovers: their summaries list its homes' incidents, notes and calls.
    for (const h of sql.handoversOfCenter.all(site.centerId) as HandoverRaw[]) {
      if (rewriteHandover(sql, key, now, cause, h, (t) => scrub(t, terms))) counts.shift_handovers!++;
    }
    counts.registry_sites = 1;
    db.prepare('UPDATE privacy_erasures SET counts = ? WHERE id = ?').run(JSON.stringify(counts), id);
    return { id, counts };
  })());
  // After the commit, so that a refusal or failure above leaves the registry (and its in-memory maps) untouched.
  await withSecureDeleteAsync(db, () => registry.importFile({ centers: [], grids: [], sites: [erasedSite(site, p)], devices: [], people: [], rosters: [] }));
  // The old pages of the rows rewritten above may still sit in the WAL: copy it back and empty it.
  const walCleared = clearWal(db);
  const leftovers = findLeftovers(db, terms.map((t) => t.literal));
  return { erasureId: result.id, siteId: site.id, pseudonym: p, at: now, actor, reason: why, counts: result.counts, leftovers, walCleared };
}
