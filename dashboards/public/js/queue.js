// The live queue and the incident detail beside it. Red first with a pulsing border until
// acknowledged; each card says site, resident, device, level, age and state, and acknowledging
// is one click on the card itself.
import { h, clear, $ } from './dom.js';
import { t, tr, fieldErrors, errorText } from './i18n.js';
import { api } from './api.js';
import { age, dateTime, time } from './fmt.js';

const LEVEL_RANK = { red: 0, yellow: 1, green: 2 };
const STATE_RANK = { open: 0, acknowledged: 1, dispatched: 2, on_site: 3, resolved: 4, reviewed: 5 };
/**
 * Issue 17 point 2: the newest unacknowledged red comes first, so a fresh fire is never below the
 * fold behind older ones; the rest keep "red first, unacknowledged first, longest waiting first".
 */
export const order = (a, b) => LEVEL_RANK[a.level] - LEVEL_RANK[b.level] || STATE_RANK[a.state] - STATE_RANK[b.state]
  || (a.level === 'red' && a.state === 'open' ? b.openedAt - a.openedAt : a.openedAt - b.openedAt);
const RESOLVABLE = new Set(['acknowledged', 'dispatched', 'on_site']);
export { DISPOSITIONS, actionLabel, timelineItem, timelineItems, levelBadge, stateChip, residentLine } from './parts.js';
import { DISPOSITIONS, timelineItems, levelBadge, stateChip, residentLine } from './parts.js';
import { callButtons, noteForm } from './shift.js';
import { createGroups } from './group.js';

export function createQueue({ state, rerender, toast }) {
  let selected = null;
  let detail = null; // { incident, timeline, site }
  let draft = null; // resolve form { disposition, feedback, errors }
  let people = null;
  const fresh = new Set();
  let root = null;
  /** Card elements by incident id, and the other keyed nodes of the list (headers, empty note). */
  const cards = new Map();
  const fixed = new Map();
  /** The incident a link or a click asked for: kept selected even when not in the live queue. */
  let pinned = null;
  const groups = createGroups({ keyed: (k, make) => keyed(k, make), patchCard: (i) => patchCard(i), reconcile: (p, w) => reconcile(p, w), canAct: () => canAct(), acknowledgeAll: (ids) => acknowledgeAll(ids), rerender });

  function canAct() {
    return state.me && (state.me.role === 'operator' || state.me.role === 'supervisor');
  }

  async function acknowledgeAll(ids) {
    try {
      const r = await api('POST', '/api/incidents/bulk/acknowledge', { ids });
      for (const inc of r.acknowledged) state.active.set(inc.id, inc);
      if (r.refused.length) toast(t('group.refused', { n: r.refused.length }), 'error');
      rerender();
    } catch (err) {
      toast(errorText(err), 'error');
    }
  }

  /** Puts exactly these nodes, in this order, under the parent, moving only what is out of place. */
  function reconcile(parent, want) {
    want.forEach((node, i) => {
      if (parent.children[i] !== node) parent.insertBefore(node, parent.children[i] ?? null);
    });
    while (parent.children.length > want.length) parent.lastElementChild.remove();
  }

  async function act(inc, action, body = {}) {
    try {
      const updated = await api('POST', `/api/incidents/${encodeURIComponent(inc.id)}/${action}`, body);
      if (updated.state === 'resolved' || updated.state === 'reviewed') state.active.delete(updated.id);
      else state.active.set(updated.id, updated);
      if (action === 'resolve') draft = null;
      if (action === 'review') state.review = state.review.filter((i) => i.id !== updated.id);
      rerender();
      if (selected === inc.id) void loadDetail(inc.id);
      return updated;
    } catch (err) {
      if (action === 'resolve' && err.status === 400 && draft) {
        draft.errors = fieldErrors(err.errors);
        renderDetail();
      } else toast(errorText(err), 'error');
      // A 409 means someone else moved it first: show what is true now.
      if (err.status === 409 || err.status === 404) void reload(inc.id);
      return null;
    }
  }

  async function reload(id) {
    try {
      const d = await api('GET', `/api/incidents/${encodeURIComponent(id)}`);
      const inc = d.incident;
      if (inc.state === 'resolved' || inc.state === 'reviewed') state.active.delete(id);
      else state.active.set(id, inc);
    } catch {
      state.active.delete(id);
    }
    rerender();
  }

  function actions(inc, compact) {
    const btns = [];
    const stop = (fn) => (e) => {
      e.stopPropagation();
      fn();
    };
    if (inc.state === 'open') {
      btns.push(h('button', { type: 'button', class: `btn ${inc.level === 'red' ? 'danger' : 'primary'}`, dataset: { action: 'acknowledge' }, onclick: stop(() => act(inc, 'acknowledge')) }, t('action.acknowledge')));
    }
    // The lifecycle (alerts module): acknowledge first, then dispatch or resolve.
    if (inc.state === 'acknowledged' && inc.context.gridWorkerId) {
      btns.push(h('button', { type: 'button', class: 'btn', dataset: { action: 'dispatch' }, onclick: stop(() => act(inc, 'dispatch', {})) }, t('action.dispatchTo', { name: inc.context.gridWorkerName })));
    }
    if (!compact && RESOLVABLE.has(inc.state)) {
      btns.push(h('button', { type: 'button', class: 'btn ghost', dataset: { action: 'resolve-open' }, onclick: stop(() => { select(inc.id); draft = draft && draft.id === inc.id ? draft : { id: inc.id, disposition: null, feedback: '', errors: {} }; renderDetail(); $('#feedback')?.focus(); }) }, t('action.resolve')));
    }
    return btns;
  }

  function card(inc) {
    const c = inc.context;
    return h('article', {
      class: `card level-${inc.level} state-${inc.state}${selected === inc.id ? ' selected' : ''}${fresh.has(inc.id) ? ' new' : ''}`,
      tabindex: 0,
      dataset: { incidentId: inc.id, level: inc.level, state: inc.state },
      onclick: () => select(inc.id),
      onkeydown: (e) => e.key === 'Enter' && select(inc.id),
    },
    h('div', { class: 'card-head' },
      levelBadge(inc.level),
      h('span', { class: 'title' }, tr(inc.title)),
      inc.confirmed ? h('span', { class: 'tag confirmed' }, t('field.confirmed')) : null,
      inc.recurrenceOf ? h('span', { class: 'tag' }, t('field.recurrence')) : null,
      h('span', { class: 'age', dataset: { since: inc.openedAt }, title: dateTime(inc.openedAt, c.timezone) }, age(inc.openedAt))),
    h('div', { class: 'card-body' },
      h('div', { class: 'site' }, c.siteName),
      h('div', { class: 'meta' },
        residentLine(c) ? h('span', { class: 'resident' }, residentLine(c)) : null,
        h('span', { class: 'device' }, `${t(`device.${c.deviceType}`)}${c.deviceLocation ? ` · ${c.deviceLocation}` : ''}${inc.zone ? ` · ${t('field.zone', { z: inc.zone })}` : ''}`),
        inc.findingCount > 1 ? h('span', {}, t('field.findings', { n: inc.findingCount })) : null)),
    h('div', { class: 'card-foot' },
      stateChip(inc.state),
      c.assigneeName ? h('span', { class: 'assignee' }, `→ ${c.assigneeName}`) : null,
      h('span', { class: 'opened' }, time(inc.openedAt, c.timezone)),
      h('div', { class: 'actions' }, actions(inc, false))));
  }

  function select(id) {
    if (selected !== id) draft = draft && draft.id === id ? draft : null;
    selected = id;
    for (const el of document.querySelectorAll('.card')) el.classList.toggle('selected', el.dataset.incidentId === id);
    void loadDetail(id);
  }

  async function loadDetail(id) {
    try {
      const d = await api('GET', `/api/incidents/${encodeURIComponent(id)}`);
      const site = await api('GET', `/api/sites/${encodeURIComponent(d.incident.siteId)}`).catch(() => null);
      if (selected !== id) return;
      detail = { ...d, site };
      renderDetail();
    } catch (err) {
      if (err.status === 404) {
        if (pinned === id) toast(t('error.notFound'), 'error');
        if (pinned === id) pinned = null;
        selected = null;
        detail = null;
        renderDetail();
      }
    }
  }

  function resolveForm(inc) {
    const d = draft;
    const err = d.errors || {};
    const options = inc.level === 'yellow' ? [...DISPOSITIONS, 'condition_cleared'] : DISPOSITIONS;
    return h('form', { class: 'resolve', onsubmit: (e) => { e.preventDefault(); void act(inc, 'resolve', { disposition: d.disposition, feedback: d.feedback }); } },
      h('fieldset', { class: err.disposition ? 'invalid' : '' },
        h('legend', {}, t('disposition')),
        h('div', { class: 'choices' }, options.map((o) => h('label', { class: `choice${d.disposition === o ? ' on' : ''}` },
          h('input', { type: 'radio', name: 'disposition', value: o, checked: d.disposition === o, onchange: () => { d.disposition = o; d.errors = { ...d.errors, disposition: undefined }; renderDetail(); } }),
          t(`disposition.${o}`)))),
        err.disposition ? h('p', { class: 'field-error' }, err.disposition) : null),
      h('label', { class: `field${err.feedback ? ' invalid' : ''}` }, h('span', {}, t('feedback')),
        h('textarea', { id: 'feedback', name: 'feedback', rows: 3, placeholder: t('feedback.placeholder'), oninput: (e) => { d.feedback = e.target.value; } }, d.feedback),
        err.feedback ? h('p', { class: 'field-error' }, err.feedback) : null),
      h('div', { class: 'row' },
        h('button', { type: 'submit', class: 'btn primary', dataset: { action: 'resolve' } }, t('action.resolveSubmit')),
        h('button', { type: 'button', class: 'btn ghost', onclick: () => { draft = null; renderDetail(); } }, t('action.cancel'))));
  }

  async function dispatchPicker() {
    people ??= (await api('GET', '/api/people?role=grid_worker').catch(() => ({ people: [] }))).people;
    return people;
  }

  /** Rebuilds the detail pane only when what it shows changed (no rebuild under the pointer). */
  function renderDetail() {
    const pane = $('#detail');
    if (!pane) return;
    const d = detail;
    const shown = d && d.incident.id === selected ? (state.active.get(d.incident.id) || d.incident) : null;
    const sig = JSON.stringify([shown, d && d.timeline.length, d && d.deliveries?.map((x) => x.outcome), d && d.notes?.length, draft && { ...draft, feedback: undefined }, document.documentElement.lang]);
    if (pane.dataset.sig === sig && pane.firstChild) return;
    pane.dataset.sig = sig;
    const focused = document.activeElement && pane.contains(document.activeElement) ? document.activeElement.id : null;
    clear(pane);
    if (!shown) {
      pane.append(h('div', { class: 'placeholder' }, t('queue.select')));
      return;
    }
    renderDetailInto(pane, d, shown);
    if (focused) document.getElementById(focused)?.focus();
  }

  /** After a note or a call: the timeline shows it (the detail is read again). */
  const logged = (err) => (err ? toast(errorText(err), 'error') : void loadDetail(selected));

  function renderDetailInto(pane, d, inc) {
    const c = inc.context;
    const site = d.site;
    const pick = h('select', { class: 'picker', 'aria-label': t('action.dispatch') });
    void dispatchPicker().then((list) => {
      for (const p of list) pick.append(h('option', { value: p.id, selected: p.id === (inc.assignee || c.gridWorkerId) }, `${p.name}${p.id === c.gridWorkerId ? ` (${c.gridName || t('field.grid')})` : ''}`));
    });
    const canDispatch = inc.state === 'acknowledged';
    pane.append(h('div', { class: `detail level-${inc.level}`, dataset: { incidentId: inc.id } },
      h('div', { class: 'detail-head' },
        h('div', { class: 'row' }, levelBadge(inc.level), stateChip(inc.state), inc.confirmed ? h('span', { class: 'tag confirmed' }, t('field.confirmed')) : null),
        h('h2', {}, tr(inc.title)),
        h('div', { class: 'site-name' }, c.siteName),
        h('div', { class: 'address' }, c.address),
        h('a', { class: 'btn ghost small', href: `#/site/${encodeURIComponent(inc.siteId)}?incident=${encodeURIComponent(inc.id)}` }, t('action.site'))),
      h('div', { class: 'people' },
        c.resident ? h('div', { class: 'person main' },
          h('div', { class: 'label' }, t('field.resident')),
          h('div', { class: 'name' }, residentLine(c)),
          c.resident.phone ? h('a', { class: 'phone', href: `tel:${c.resident.phone}` }, `☎ ${c.resident.phone}`) : null,
          c.resident.phone ? callButtons(inc, { contact: c.resident.name, phone: c.resident.phone }, logged) : null) : null,
        site && site.site.contacts.length ? h('div', { class: 'person' },
          h('div', { class: 'label' }, t('field.contacts')),
          site.site.contacts.map((p) => [h('div', { class: 'contact' }, h('span', {}, `${p.name}${p.relation ? ` (${p.relation})` : ''}`), p.phone ? h('a', { class: 'phone', href: `tel:${p.phone}` }, `☎ ${p.phone}`) : null),
            p.phone ? callButtons(inc, { contact: p.name, phone: p.phone }, logged) : null])) : null),
      h('dl', { class: 'facts' },
        h('dt', {}, t('field.device')), h('dd', {}, `${t(`device.${c.deviceType}`)} · ${inc.deviceId}${c.deviceLocation ? ` · ${c.deviceLocation}` : ''}`),
        h('dt', {}, t('field.opened')), h('dd', {}, `${dateTime(inc.openedAt, c.timezone)} · `, h('span', { dataset: { since: inc.openedAt } }, age(inc.openedAt))),
        h('dt', {}, t('field.grid')), h('dd', {}, c.gridName || '—'),
        h('dt', {}, t('field.assignee')), h('dd', {}, c.assigneeName || '—')),
      inc.state === 'resolved' || inc.state === 'reviewed' ? null : h('div', { class: 'detail-actions' },
        inc.state === 'open' ? h('button', { type: 'button', class: `btn big ${inc.level === 'red' ? 'danger' : 'primary'}`, dataset: { action: 'acknowledge' }, onclick: () => act(inc, 'acknowledge') }, t('action.acknowledge')) : null,
        canDispatch ? h('div', { class: 'row dispatch' }, pick, h('button', { type: 'button', class: 'btn', dataset: { action: 'dispatch-to' }, onclick: () => act(inc, 'dispatch', { assignee: pick.value }) }, t('action.dispatch'))) : null,
        !RESOLVABLE.has(inc.state) ? null : draft && draft.id === inc.id ? resolveForm(inc) : h('button', { type: 'button', class: 'btn ghost', dataset: { action: 'resolve-open' }, onclick: () => { draft = { id: inc.id, disposition: null, feedback: '', errors: {} }; renderDetail(); } }, t('action.resolve'))),
      noteForm(inc, logged),
      h('section', { class: 'timeline' },
        h('h3', {}, t('field.timeline')),
        h('ol', {}, timelineItems(d.timeline, d.deliveries, c.timezone, time)))));
  }

  /** What a card shows; the card is rebuilt only when this changes. */
  function signature(inc) {
    const c = inc.context;
    return JSON.stringify([inc.level, inc.state, inc.title, inc.confirmed, inc.recurrenceOf, inc.findingCount, c.assigneeName, c.siteName, c.deviceLocation, fresh.has(inc.id), document.documentElement.lang]);
  }

  /**
   * Issue 17 point 2: updates patch the queue in place. Each card keeps its element for as long as
   * its incident is listed (only its contents change when what it shows changes), and nodes are
   * moved only when the order changes, so a click never lands on a card that was just replaced.
   */
  function patchCard(inc) {
    const sig = signature(inc);
    let had = cards.get(inc.id);
    if (!had) cards.set(inc.id, (had = { el: card(inc), sig }));
    else if (had.sig !== sig) {
      const built = card(inc);
      had.el.className = built.className;
      Object.assign(had.el.dataset, built.dataset);
      had.el.replaceChildren(...built.childNodes);
      had.sig = sig;
    }
    had.el.classList.toggle('selected', selected === inc.id);
    return had.el;
  }

  function keyed(key, make, update) {
    let el = fixed.get(key);
    if (!el) fixed.set(key, (el = make()));
    update?.(el);
    return el;
  }

  function header(kind, n) {
    return keyed(`h:${kind}`, () => h('h2', { class: `section ${kind}` }, h('span', { class: 't' }), h('span', { class: 'n' })), (el) => {
      el.querySelector('.t').textContent = t(`queue.${kind}`);
      el.querySelector('.n').textContent = String(n);
    });
  }

  function render(el) {
    root = el;
    const list = [...state.active.values()].sort(order);
    if (!selected && list.length) selected = list[0].id;
    if (selected && selected !== pinned && !state.active.has(selected) && !(detail && detail.incident.id === selected)) selected = list[0]?.id ?? null;
    for (const i of list) if (fresh.has(i.id) && i.state !== 'open') fresh.delete(i.id);
    const reds = list.filter((i) => i.level === 'red');
    const others = list.filter((i) => i.level !== 'red');
    if (!el.querySelector('.queue-layout')) {
      cards.clear();
      fixed.clear();
      clear(el).append(h('div', { class: 'queue-layout' }, h('section', { class: 'queue-col', 'aria-live': 'polite' }), h('aside', { class: 'detail-col', id: 'detail' })));
    }
    const col = el.querySelector('.queue-col');
    const want = [];
    if (list.length === 0) want.push(keyed('empty', () => h('div', { class: 'empty' }, h('div', { class: 'empty-icon' }, '✓'), h('span', { class: 't' })), (x) => { x.querySelector('.t').textContent = t('queue.empty'); }));
    if (reds.length) want.push(header('red', reds.length), ...groups.groupsOf(reds, 'red'));
    if (others.length) want.push(header('yellow', others.length), ...groups.groupsOf(others, 'yellow'));
    const listed = new Set(list.map((i) => i.id));
    for (const id of cards.keys()) if (!listed.has(id)) cards.delete(id);
    reconcile(col, want);
    if (selected && (!detail || detail.incident.id !== selected)) void loadDetail(selected);
    else renderDetail();
  }

  function renderReview(el) {
    root = el;
    const canReview = state.me.role === 'supervisor';
    clear(el).append(h('section', { class: 'review' },
      h('div', { class: 'row' }, h('h2', {}, t('review.title')), h('a', { class: 'btn small', href: '#/history', dataset: { action: 'history' } }, t('history.open')), h('a', { class: 'btn small ghost', href: '/api/history?format=csv', download: 'watchfire-history.csv', dataset: { action: 'history-csv' } }, t('history.csv'))),
      state.review.length === 0 ? h('div', { class: 'empty' }, t('review.empty')) : h('table', { class: 'table' },
        h('thead', {}, h('tr', {}, [t('field.level'), t('field.site'), '', t('disposition'), t('feedback'), t('state.resolved'), ''].map((x) => h('th', {}, x)))),
        h('tbody', {}, state.review.map((i) => h('tr', { dataset: { incidentId: i.id } },
          h('td', {}, levelBadge(i.level)),
          h('td', {}, h('a', { href: `#/site/${encodeURIComponent(i.siteId)}?incident=${encodeURIComponent(i.id)}` }, i.context.siteName)),
          h('td', {}, tr(i.title)),
          h('td', {}, i.disposition ? t(`disposition.${i.disposition}`) : '—'),
          h('td', { class: 'feedback' }, i.feedback || ''),
          h('td', {}, i.resolvedAt ? dateTime(i.resolvedAt, i.context.timezone) : ''),
          h('td', {}, canReview ? h('button', { type: 'button', class: 'btn small', dataset: { action: 'review' }, onclick: () => act(i, 'review', {}) }, t('action.review')) : null)))))));
  }

  return {
    render,
    renderReview,
    /** Marked until acknowledged (issue 17: a 4 s highlight was too easy to miss). */
    markNew(id) {
      fresh.add(id);
    },
    /** Opens exactly this incident (links from emails and webhooks), live or not. */
    focus(id) {
      pinned = id;
      const inc = state.active.get(id);
      if (inc) groups.expand(inc.siteId);
      select(id);
      if (root) render(root);
      const el = cards.get(id)?.el;
      if (el) el.scrollIntoView({ block: 'center' });
    },
    onEvent(inc) {
      if (root) render(root);
      if (inc.id === selected) void loadDetail(inc.id);
    },
    tick() {
      for (const el of document.querySelectorAll('[data-since]')) el.textContent = age(Number(el.dataset.since));
    },
    act,
  };
}
