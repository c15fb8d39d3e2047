// Issue 17 point 6: a shift handover as plain text (to print, paste into the duty log or a chat) and
// as CSV (one row per item, for Excel), in the reader's language and the center's time zone.
import { CALL_WORDS, HANDOVER_WORDS as W, STATE_WORDS, type Words } from '../contracts/words.ts';
import type { CallOutcome, IncidentState } from '../contracts/incidents.ts';
import type { HandoverSummary } from './handover.ts';
import type { Handover } from './handover-store.ts';

export type Lang = 'zh-CN' | 'en';

type Line = HandoverSummary['opened'][number];
type Remark = HandoverSummary['calls'][number];

export function localTime(ms: number | null, tz: string): string {
  if (ms === null) return '';
  return new Intl.DateTimeFormat('sv-SE', { timeZone: tz, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' }).format(ms);
}

function duration(ms: number, lang: Lang): string {
  const m = Math.round(ms / 60_000);
  const h = Math.floor(m / 60);
  if (lang === 'zh-CN') return h ? `${h}小时${m % 60}分钟` : `${m}分钟`;
  return h ? `${h} h ${m % 60} min` : `${m} min`;
}

const LEVEL: Record<string, Words> = { red: { en: 'red', zh: '红' }, yellow: { en: 'yellow', zh: '黄' }, green: { en: 'green', zh: '绿' } };

function pick(w: Words | undefined, lang: Lang, fallback = ''): string {
  return w ? (lang === 'zh-CN' ? w.zh : w.en) : fallback;
}

const stateWord = (s: string, lang: Lang) => pick(STATE_WORDS[s as IncidentState], lang, s);
const kindWord = (k: string, lang: Lang) => (k === 'note' ? pick(W.notes, lang) : pick(CALL_WORDS[k as CallOutcome], lang, k));

function incidentText(i: Line, lang: Lang): string {
  return `[${pick(LEVEL[i.level], lang, i.level)}] ${lang === 'zh-CN' ? i.title.zh : i.title.en} — ${i.siteName} (${stateWord(i.state, lang)})`;
}

function remarkText(r: Remark, tz: string, lang: Lang): string {
  return `${localTime(r.at, tz)} ${r.siteName} · ${r.actorName} · ${kindWord(r.kind, lang)}: ${r.text}`;
}

/** The handover as text: a header, each section with its count, the remark and the receipt. */
export function handoverText(s: HandoverSummary, lang: Lang, h?: Handover): string {
  const tz = s.timezone;
  const L = (w: Words) => pick(w, lang);
  const out: string[] = [
    `${L(W.title)} · ${s.centerName}`,
    `${L(W.range)}: ${localTime(s.from, tz)} — ${localTime(s.to, tz)} (${tz})`,
  ];
  if (s.shift) out.push(`${L(W.shift)}: ${s.shift.names.join(', ')} · ${[...s.shift.operators, ...s.shift.supervisors].join(', ')}`);
  const section = (w: Words, n: number, lines: string[]) => {
    out.push('', `${L(w)} (${n})`);
    out.push(...(lines.length ? lines.map((x) => `  - ${x}`) : [`  ${L(W.none)}`]));
  };
  section(W.stillOpen, s.counts.stillOpen, s.stillOpen.map((i) => `${incidentText(i, lang)}, ${L(W.age)} ${duration(i.ageMs, lang)}${i.lastNote ? `; ${L(W.lastNote)}: ${i.lastNote.text}` : ''}`));
  section(W.opened, s.counts.opened, s.opened.map((i) => `${localTime(i.openedAt, tz)} ${incidentText(i, lang)}`));
  section(W.acknowledged, s.counts.acknowledged, s.acknowledged.map((i) => `${localTime(i.acknowledgedAt, tz)} ${incidentText(i, lang)}`));
  section(W.dispatched, s.counts.dispatched, s.dispatched.map((i) => `${localTime(i.dispatchedAt, tz)} ${incidentText(i, lang)}${i.assigneeName ? ` → ${i.assigneeName}` : ''}`));
  section(W.resolved, s.counts.resolved, s.resolved.map((i) => `${localTime(i.resolvedAt, tz)} ${incidentText(i, lang)}`));
  section(W.maintenance, s.counts.maintenance, s.maintenance.map((i) => incidentText(i, lang)));
  section(W.offline, s.counts.offline, s.offline.map((d) => `${d.siteName} · ${d.location || d.deviceId}${d.lastSeen ? ` (${localTime(d.lastSeen, tz)})` : ''}`));
  section(W.calls, s.counts.calls, s.calls.map((r) => remarkText(r, tz, lang)));
  section(W.notes, s.counts.notes, s.notes.map((r) => remarkText(r, tz, lang)));
  if (h) {
    out.push('', `${L(W.remark)}: ${h.remark}`, `${L(W.handedBy)}: ${h.outgoing.name} ${localTime(h.outgoing.at, tz)}`);
    out.push(h.incoming ? `${L(W.receivedBy)}: ${h.incoming.name} ${localTime(h.incoming.at, tz)}${h.incoming.note ? ` — ${h.incoming.note}` : ''}` : L(W.notReceived));
  }
  return `${out.join('\n')}\n`;
}

/** RFC 4180 quoting, and a leading ' before = + - @ so a spreadsheet never runs a cell (OWASP CSV injection). */
function cell(v: unknown): string {
  let s = v === null || v === undefined ? '' : String(v);
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** One row per item: section, time, level, what, site, state, who, detail. UTF-8 with BOM (Excel). */
export function handoverCsv(s: HandoverSummary, lang: Lang, h?: Handover): string {
  const tz = s.timezone;
  const L = (w: Words) => pick(w, lang);
  const head = lang === 'zh-CN' ? ['栏目', '时间', '等级', '内容', '地点', '状态', '人员', '说明'] : ['section', 'time', 'level', 'what', 'site', 'state', 'who', 'detail'];
  const rows: unknown[][] = [];
  const inc = (w: Words, xs: Line[], at: (i: Line) => number | null, detail: (i: Line) => string = () => '') => {
    for (const i of xs) rows.push([L(w), localTime(at(i), tz), pick(LEVEL[i.level], lang, i.level), lang === 'zh-CN' ? i.title.zh : i.title.en, i.siteName, stateWord(i.state, lang), i.assigneeName, detail(i)]);
  };
  for (const i of s.stillOpen) {
    inc(W.stillOpen, [i], () => i.openedAt, () => `${L(W.age)} ${duration(i.ageMs, lang)}${i.lastNote ? `; ${L(W.lastNote)}: ${i.lastNote.text}` : ''}`);
  }
  inc(W.opened, s.opened, (i) => i.openedAt);
  inc(W.acknowledged, s.acknowledged, (i) => i.acknowledgedAt);
  inc(W.dispatched, s.dispatched, (i) => i.dispatchedAt);
  inc(W.resolved, s.resolved, (i) => i.resolvedAt);
  inc(W.maintenance, s.maintenance, (i) => i.openedAt);
  for (const d of s.offline) rows.push([L(W.offline), localTime(d.lastSeen, tz), '', d.location || d.deviceId, d.siteName, '', '', d.deviceId]);
  for (const r of s.calls) rows.push([L(W.calls), localTime(r.at, tz), '', kindWord(r.kind, lang), r.siteName, '', r.actorName, r.text]);
  for (const r of s.notes) rows.push([L(W.notes), localTime(r.at, tz), '', kindWord(r.kind, lang), r.siteName, '', r.actorName, r.text]);
  if (h) {
    rows.push([L(W.handedBy), localTime(h.outgoing.at, tz), '', L(W.remark), s.centerName, '', h.outgoing.name, h.remark]);
    if (h.incoming) rows.push([L(W.receivedBy), localTime(h.incoming.at, tz), '', '', s.centerName, '', h.incoming.name, h.incoming.note]);
  }
  return `\uFEFF${[head, ...rows].map((r) => r.map(cell).join(',')).join('\r\n')}\r\n`;
}
