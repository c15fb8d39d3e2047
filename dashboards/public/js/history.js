// Issue 17 point 6, incident history (#/history, from the review view): every incident of the
// center searched by text and filtered by days (in the center's clock), grid, level, category and
// disposition, newest first; the CSV link exports exactly what the filters show (the same query
// with format=csv). /api/history had the filters, but the console only offered "export all".
// Not re-rendered by live events: a search being read or typed is never replaced under the pointer.
import { h, clear } from './dom.js';
import { t, tr } from './i18n.js';
import { api } from './api.js';
import { dateTime } from './fmt.js';
import { DISPOSITIONS, levelBadge, stateChip } from './parts.js';

const LEVELS = ['red', 'yellow', 'green'];
const CATEGORIES = ['fire', 'co', 'structural', 'maintenance', 'info'];

/** The last search, kept while the console is open: back from an incident, the same list. */
const form = { q: '', from: '', to: '', gridId: '', level: '', category: '', disposition: '' };

/** Midnight of a YYYY-MM-DD day in a time zone, in ms (the browser's own zone may be another). */
export function dayStart(day, tz) {
  const [y, m, d] = day.split('-').map(Number);
  const guess = Date.UTC(y, m - 1, d);
  const p = Object.fromEntries(new Intl.DateTimeFormat('en-US', { timeZone: tz, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' })
    .formatToParts(guess).map((x) => [x.type, x.value]));
  const wall = Date.UTC(Number(p.year), Number(p.month) - 1, Number(p.day), Number(p.hour), Number(p.minute), Number(p.second));
  return guess - (wall - guess);
}

function query(tz) {
  const q = new URLSearchParams();
  if (form.q.trim()) q.set('q', form.q.trim());
  if (form.from) q.set('from', String(dayStart(form.from, tz)));
  // "To" is a whole day: up to the next midnight.
  if (form.to) q.set('to', String(dayStart(form.to, tz) + 86_400_000));
  for (const k of ['gridId', 'level', 'category', 'disposition']) if (form[k]) q.set(k, form[k]);
  return q;
}

function select(key, values, label) {
  return h('label', {}, h('span', { class: 'label' }, t(`history.${key}`)),
    h('select', { name: key, onchange: (e) => { form[key] = e.target.value; } },
      h('option', { value: '' }, t('history.any')),
      values.map(([v, text]) => h('option', { value: v, selected: form[key] === v ? '' : undefined }, label ? label(v) : text))));
}

function results(list, tz) {
  if (!list.length) return h('div', { class: 'empty' }, t('history.none'));
  return h('table', { class: 'table' },
    h('thead', {}, h('tr', {}, [t('field.opened'), t('field.level'), '', t('field.site'), t('field.grid'), t('field.state'), t('disposition'), t('feedback')].map((x) => h('th', {}, x)))),
    h('tbody', {}, list.map((i) => h('tr', { dataset: { incidentId: i.id } },
      h('td', { class: 'mono' }, dateTime(i.openedAt, i.context.timezone || tz)),
      h('td', {}, levelBadge(i.level)),
      h('td', {}, h('a', { href: `#/incidents/${encodeURIComponent(i.id)}` }, tr(i.title))),
      h('td', {}, i.context.siteName),
      h('td', {}, i.context.gridName || '—'),
      h('td', {}, stateChip(i.state)),
      h('td', {}, i.disposition ? t(`disposition.${i.disposition}`) : '—'),
      h('td', { class: 'feedback' }, i.feedback || '')))));
}

export async function renderHistory(el, { state }) {
  const tz = state.tz;
  const overview = await api('GET', '/api/overview');
  const grids = overview.grids.map((g) => [g.id, g.name]);
  const out = h('div', { class: 'history-results' });
  const count = h('span', { class: 'count' });
  const csv = h('a', { class: 'btn small ghost', dataset: { action: 'history-csv' }, download: 'watchfire-history.csv' }, t('history.csv'));
  const search = async () => {
    const q = query(tz);
    csv.setAttribute('href', `/api/history?${new URLSearchParams([...q, ['format', 'csv']])}`);
    const { incidents } = await api('GET', `/api/history?${q}`);
    count.textContent = String(incidents.length);
    clear(out).append(results(incidents, tz));
  };
  const text = (key, type) => h('label', {}, h('span', { class: 'label' }, t(`history.${key}`)),
    h('input', { type, name: key, id: `history-${key}`, value: form[key], oninput: (e) => { form[key] = e.target.value; } }));
  clear(el).append(h('section', { class: 'history' },
    h('div', { class: 'row' }, h('h2', {}, `${t('history.title')} `, count), csv),
    h('form', { class: 'history-filters', onsubmit: (e) => { e.preventDefault(); void search(); } },
      text('q', 'search'), text('from', 'date'), text('to', 'date'),
      select('gridId', grids), select('level', LEVELS.map((v) => [v]), (v) => t(`level.${v}`)),
      select('category', CATEGORIES.map((v) => [v]), (v) => t(`category.${v}`)),
      select('disposition', DISPOSITIONS.map((v) => [v]), (v) => t(`disposition.${v}`)),
      h('button', { type: 'submit', class: 'btn primary', dataset: { action: 'history-search' } }, t('history.search'))),
    out));
  await search();
}
