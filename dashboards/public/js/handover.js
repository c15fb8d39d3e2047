// Issue 17 point 6, the shift handover (交接班, #/handover): what the shift saw and did (by default
// the roster's shift on duty), the outgoing operator's remark, and the incoming operator's receipt.
// Printable (the page's print style) and exportable as text or CSV from the same API.
import { h, clear } from './dom.js';
import { t, tr, locale, errorText } from './i18n.js';
import { api } from './api.js';
import { duration, dateTime, shortTime } from './fmt.js';
import { levelBadge, stateChip } from './parts.js';

const RANGES = [
  { key: 'current', query: 'shift=current', label: 'handover.current' },
  { key: 'previous', query: 'shift=previous', label: 'handover.previous' },
  { key: 'last8', query: 'hours=8', label: 'handover.last8' },
  { key: 'last12', query: 'hours=12', label: 'handover.last12' },
];
const COUNTS = ['opened', 'acknowledged', 'dispatched', 'resolved', 'stillOpen', 'offline', 'maintenance', 'calls', 'notes'];

let range = 'current';

const link = (id, text) => h('a', { href: `#/incidents/${encodeURIComponent(id)}` }, text);
const when = (ms, tz) => (ms ? dateTime(ms, tz) : '—');
const kind = (k) => (k === 'note' ? t('timeline.note') : t(`call.${k}`));

function incidents(list, tz, at) {
  if (!list.length) return h('div', { class: 'muted' }, t('overview.none'));
  return h('table', { class: 'table' }, h('tbody', {}, list.map((i) => h('tr', { dataset: { incidentId: i.id } },
    h('td', { class: 'mono' }, when(at(i), tz)), h('td', {}, levelBadge(i.level)), h('td', {}, link(i.id, tr(i.title))),
    h('td', {}, i.siteName), h('td', {}, stateChip(i.state)), h('td', {}, i.assigneeName || '')))));
}

function remarks(list, tz) {
  if (!list.length) return h('div', { class: 'muted' }, t('overview.none'));
  return h('ul', { class: 'mini-list remarks' }, list.map((r) => h('li', {},
    h('span', { class: 'mono' }, shortTime(r.at, tz)), link(r.incidentId, r.siteName), h('span', { class: `tag call-${r.kind}` }, kind(r.kind)),
    h('span', {}, r.text), h('span', { class: 'muted' }, r.actorName))));
}

function section(key, n, body) {
  return h('section', { class: 'panel', dataset: { section: key } }, h('h3', {}, `${t(`handover.${key}`)} `, h('span', { class: 'count' }, n)), body);
}

function summaryView(s) {
  const tz = s.timezone;
  return h('div', { class: 'handover-summary' },
    h('div', { class: 'handover-range' },
      h('span', {}, `${t('handover.range')}: ${dateTime(s.from, tz)} — ${dateTime(s.to, tz)}`),
      s.shift ? h('span', { class: 'muted' }, `${t('handover.shift')}: ${s.shift.names.join('、')} · ${[...s.shift.operators, ...s.shift.supervisors].join('、')}`) : null),
    h('div', { class: 'tiles handover-counts' }, COUNTS.map((k) => h('div', { class: `tile${k === 'stillOpen' && s.counts[k] ? ' alert' : ''}`, dataset: { count: k } },
      h('div', { class: 'label' }, t(`handover.${k}`)), h('div', { class: 'value' }, s.counts[k])))),
    section('stillOpen', s.counts.stillOpen, s.stillOpen.length ? h('table', { class: 'table' }, h('tbody', {}, s.stillOpen.map((i) => h('tr', { dataset: { incidentId: i.id } },
      h('td', {}, levelBadge(i.level)), h('td', {}, link(i.id, tr(i.title))), h('td', {}, i.siteName), h('td', {}, stateChip(i.state)),
      h('td', { class: 'age' }, duration(i.ageMs / 1000)),
      h('td', { class: 'last-note' }, i.lastNote ? `${kind(i.lastNote.kind)}: ${i.lastNote.text} (${i.lastNote.actorName} ${shortTime(i.lastNote.at, tz)})` : '—'))))) : h('div', { class: 'muted' }, t('overview.none'))),
    h('div', { class: 'handover-grid' },
      section('opened', s.counts.opened, incidents(s.opened, tz, (i) => i.openedAt)),
      section('acknowledged', s.counts.acknowledged, incidents(s.acknowledged, tz, (i) => i.acknowledgedAt)),
      section('dispatched', s.counts.dispatched, incidents(s.dispatched, tz, (i) => i.dispatchedAt)),
      section('resolved', s.counts.resolved, incidents(s.resolved, tz, (i) => i.resolvedAt)),
      section('maintenance', s.counts.maintenance, incidents(s.maintenance, tz, (i) => i.openedAt)),
      section('offline', s.counts.offline, s.offline.length ? h('ul', { class: 'mini-list' }, s.offline.map((d) => h('li', {}, h('span', {}, d.siteName), h('span', { class: 'muted' }, d.location || d.deviceId), h('span', { class: 'mono muted' }, d.lastSeen ? dateTime(d.lastSeen, tz) : '')))) : h('div', { class: 'muted' }, t('overview.none'))),
      section('calls', s.counts.calls, remarks(s.calls, tz)),
      section('notes', s.counts.notes, remarks(s.notes, tz))));
}

/** A handed-over shift: the remark, who handed over and when, and the receipt or the button for it. */
function handedView(ho, me, done, toast) {
  const tz = ho.summary.timezone;
  const mine = ho.outgoing.user === me.username;
  const note = h('input', { type: 'text', class: 'receipt-note', maxlength: 2000, placeholder: t('handover.receiptPlaceholder'), 'aria-label': t('handover.receiptPlaceholder') });
  return h('article', { class: `handed${ho.incoming ? ' received' : ' waiting'}`, dataset: { handoverId: ho.id } },
    h('div', { class: 'handed-head' },
      h('b', {}, `${t('handover.handedBy')}: ${ho.outgoing.name}`), h('span', { class: 'mono' }, dateTime(ho.outgoing.at, tz)),
      h('span', { class: 'muted' }, `${t('handover.range')}: ${dateTime(ho.from, tz)} — ${dateTime(ho.to, tz)}`),
      h('a', { class: 'btn small ghost', href: `/api/handovers/${ho.id}?format=text&lang=${locale()}`, target: '_blank', dataset: { action: 'handover-text' } }, t('handover.text'))),
    h('blockquote', { class: 'remark' }, ho.remark),
    ho.incoming
      ? h('div', { class: 'receipt' }, `✓ ${t('handover.receivedBy')}: ${ho.incoming.name} · ${dateTime(ho.incoming.at, tz)}${ho.incoming.note ? ` — ${ho.incoming.note}` : ''}`)
      : h('form', { class: 'row receive', onsubmit: (e) => {
        e.preventDefault();
        void api('POST', `/api/handovers/${ho.id}/receive`, { note: note.value.trim() || undefined }).then(() => { toast(t('handover.receivedToast')); done(); }, (err) => toast(errorText(err), 'error'));
      } }, h('span', { class: 'waiting-text' }, t('handover.waiting')), mine ? null : note,
      mine ? null : h('button', { type: 'submit', class: 'btn primary', dataset: { action: 'receive' } }, t('handover.receive'))));
}

export async function renderHandover(el, { state, toast }) {
  const r = RANGES.find((x) => x.key === range);
  const [s, { handovers }] = await Promise.all([api('GET', `/api/handover?${r.query}`), api('GET', '/api/handovers?limit=5')]);
  const again = () => void renderHandover(el, { state, toast }).catch((err) => toast(errorText(err), 'error'));
  const remark = h('textarea', { id: 'handover-remark', rows: 3, maxlength: 4000, placeholder: t('handover.remarkPlaceholder') });
  const canHand = state.me.role === 'operator' || state.me.role === 'supervisor';
  const exportUrl = (format) => `/api/handover?${r.query}&format=${format}&lang=${locale()}`;
  clear(el).append(h('div', { class: 'handover' },
    h('div', { class: 'row handover-bar' },
      h('h2', {}, t('handover.title')),
      h('div', { class: 'seg', role: 'group' }, RANGES.map((x) => h('button', { type: 'button', class: `btn small${x.key === range ? ' on' : ' ghost'}`, 'aria-pressed': String(x.key === range), dataset: { range: x.key }, onclick: () => { range = x.key; again(); } }, t(x.label)))),
      h('div', { class: 'row exports' },
        h('button', { type: 'button', class: 'btn small ghost', dataset: { action: 'print' }, onclick: () => window.print() }, t('handover.print')),
        h('a', { class: 'btn small ghost', href: exportUrl('text'), target: '_blank', dataset: { action: 'export-text' } }, t('handover.text')),
        h('a', { class: 'btn small ghost', href: exportUrl('csv'), download: 'watchfire-handover.csv', dataset: { action: 'export-csv' } }, t('handover.csv')))),
    handovers.length ? h('section', { class: 'panel handed-list' }, h('h3', {}, t('handover.recent')), handovers.map((ho) => handedView(ho, state.me, again, toast))) : null,
    summaryView(s),
    canHand ? h('form', { class: 'panel hand-over', onsubmit: (e) => {
      e.preventDefault();
      const text = remark.value.trim();
      if (!text) return void remark.focus();
      void api('POST', '/api/handovers', { from: s.from, to: s.to, remark: text }).then(() => { toast(t('handover.handedToast')); again(); }, (err) => toast(errorText(err), 'error'));
    } }, h('label', { class: 'field' }, h('span', {}, t('handover.remark')), remark),
    h('button', { type: 'submit', class: 'btn primary big', dataset: { action: 'hand-over' } }, t('handover.handOver'))) : null));
}
