// Pseudonyms and the personal strings of one site. A pseudonym is `P-` and the first 10 hex
// digits of HMAC-SHA256(privacy_key, "site:" + id): stable (every copy of one resident gets the
// same one, so statistics still group), and not computable from a site id without the key
// (migration 11 draws the key at random per installation, wf_meta.privacy_key).
import { createHmac } from 'node:crypto';
import type { Database } from 'better-sqlite3';
import type { Site } from '../contracts/registry.ts';

export function privacyKey(db: Database): string {
  const row = db.prepare("SELECT value FROM wf_meta WHERE key = 'privacy_key'").get() as { value: string } | undefined;
  if (!row) throw new Error('wf_meta.privacy_key is missing: the database predates migration 11');
  return row.value;
}

export function hmac(key: string, text: string): string {
  return createHmac('sha256', Buffer.from(key, 'hex')).update(text).digest('hex');
}

export function pseudonymOf(key: string, siteId: string): string {
  return `P-${hmac(key, `site:${siteId}`).slice(0, 10)}`;
}

export interface Term {
  /** The literal as held (a phone: its digits), for the leftover scan and a cheap test before any regex. */
  readonly literal: string;
  readonly to: string;
  /** A phone: matched with or without spaces or dashes between its digits. */
  readonly phone?: true;
}

/** A phone as written anywhere: its digits, with or without spaces or dashes between them. */
function phoneTerm(phone: string, to: string): Term | undefined {
  const digits = phone.replace(/\D/g, '');
  return digits.length < 5 ? undefined : { literal: digits, to, phone: true };
}

export function textTerm(text: string | undefined, to: string, min = 2): Term | undefined {
  const t = text?.trim();
  if (!t || [...t].length < min) return undefined;
  return { literal: t, to };
}

// Compiled once per phone, and only for a text that holds its digits (issue 18 bench: compiling a
// regex per term per row cost 1 ms of CPU per incident).
const phoneRes = new Map<string, RegExp>();
function phoneRe(digits: string): RegExp {
  let re = phoneRes.get(digits);
  if (!re) {
    re = new RegExp(`(?<!\\d)${digits.split('').join('[\\s-]?')}(?!\\d)`, 'g');
    if (phoneRes.size > 10_000) phoneRes.clear();
    phoneRes.set(digits, re);
  }
  return re;
}

/**
 * The personal strings of a site and what each becomes: for a home, the resident (name, phone,
 * notes), the home's name (张桂英家) and address; for every site, its emergency contacts (names,
 * phones, e-mail addresses, webhook targets). Longest first, so 张桂英家 goes before 张桂英.
 */
export function termsOf(site: Site, p: string): Term[] {
  const out: Array<Term | undefined> = [];
  if (site.kind === 'home') {
    out.push(textTerm(site.name, `[${p}]`), textTerm(site.address, `[${p}:address]`, 4));
  }
  const r = site.resident;
  if (r) {
    out.push(textTerm(r.name, `[${p}]`), textTerm(r.notes, `[${p}:notes]`, 4));
    if (r.phone) out.push(phoneTerm(r.phone, `[${p}:phone]`));
  }
  site.contacts.forEach((c, i) => {
    const who = `${p}:contact${i}`;
    out.push(textTerm(c.name, `[${who}]`), textTerm(c.email, `[${who}:email]`, 4), textTerm(c.webhook, `[${who}:webhook]`, 4));
    if (c.phone) out.push(phoneTerm(c.phone, `[${who}:phone]`));
  });
  return out.filter((t): t is Term => t !== undefined).sort((a, b) => b.literal.length - a.literal.length);
}

/** A mainland mobile number (1[3-9] and 9 digits) anywhere in free text, whoever it belongs to. */
const MOBILE = /(?<!\d)1[3-9]\d(?:[\s-]?\d){8}(?!\d)/g;

/** Replaces every term, then any mobile number left; null stays null. */
export function scrub<T extends string | null>(text: T, terms: readonly Term[]): T {
  if (text === null || text === '') return text;
  let s: string = text;
  let digits: string | undefined;
  for (const t of terms) {
    if (t.phone) {
      digits ??= s.replace(/\D/g, '');
      if (!digits.includes(t.literal)) continue;
      s = s.replace(phoneRe(t.literal), t.to);
      digits = undefined;
    } else if (s.includes(t.literal)) {
      s = s.split(t.literal).join(t.to);
    }
  }
  return s.replace(MOBILE, '[phone]') as T;
}
