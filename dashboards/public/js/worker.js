// The grid worker's page: phone-sized, one card per assigned task, three big steps —
// on my way (出发), arrived (到场), resolved (处置完毕) with what was found.
import { wireSwitch, onLocale, t, tr, fieldErrors, errorText } from './i18n.js';
import { api, session, logout, loginUrl } from './api.js';
import { connect } from './live.js';
import { h, clear, $ } from './dom.js';
import { age, time } from './fmt.js';
import { DISPOSITIONS, levelBadge, stateChip, residentLine } from './queue.js';
import * as alarm from './alarm.js';

const state = { me: null, tasks: new Map(), timelines: new Map(), sites: new Map(), drafts: new Map() };
const root = $('#tasks');

function toast(msg, kind = 'info') {
  const el = $('#toast');
  el.textContent = msg;
  el.dataset.kind = kind;
  el.classList.add('show');
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => el.classList.remove('show'), 4000);
}

async function load() {
  const { incidents } = await api('GET', '/api/incidents?active=true');
  state.tasks = new Map(incidents.map((i) => [i.id, i]));
  await Promise.all(incidents.map((i) => details(i)));
  render();
}

async function details(inc) {
  const d = await api('GET', `/api/incidents/${encodeURIComponent(inc.id)}`);
  state.timelines.set(inc.id, d.timeline);
  if (!state.sites.has(inc.siteId)) state.sites.set(inc.siteId, await api('GET', `/api/sites/${encodeURIComponent(inc.siteId)}`).catch(() => null));
}

async function step(inc, action, body = {}) {
  try {
    const updated = await api('POST', `/api/incidents/${encodeURIComponent(inc.id)}/${action}`, body);
    if (updated.state === 'resolved' || updated.state === 'reviewed') {
      state.tasks.delete(updated.id);
      state.drafts.delete(updated.id);
      toast(`${t('worker.sent')} ✓`);
    } else {
      state.tasks.set(updated.id, updated);
      await details(updated);
    }
    render();
  } catch (err) {
    if (err.status === 400 && action === 'resolve') {
      const d = state.drafts.get(inc.id);
      if (d) d.errors = fieldErrors(err.errors);
      render();
      return;
    }
    toast(errorText(err), 'error');
    if (err.status === 409 || err.status === 404) await load();
  }
}

function resolveSheet(inc) {
  const d = state.drafts.get(inc.id);
  const err = d.errors || {};
  const options = inc.level === 'yellow' ? [...DISPOSITIONS, 'condition_cleared'] : DISPOSITIONS;
  return h('form', { class: 'sheet', onsubmit: (e) => { e.preventDefault(); void step(inc, 'resolve', { disposition: d.disposition, feedback: d.feedback }); } },
    h('div', { class: 'sheet-label' }, t('disposition')),
    h('div', { class: 'choices' }, options.map((o) => h('label', { class: `choice${d.disposition === o ? ' on' : ''}` },
      h('input', { type: 'radio', name: `disp-${inc.id}`, value: o, checked: d.disposition === o, onchange: () => { d.disposition = o; render(); } }), t(`disposition.${o}`)))),
    err.disposition ? h('p', { class: 'field-error' }, err.disposition) : null,
    h('label', { class: 'sheet-label', for: `fb-${inc.id}` }, t('feedback')),
    h('textarea', { id: `fb-${inc.id}`, name: 'feedback', rows: 4, placeholder: t('feedback.placeholder'), oninput: (e) => { d.feedback = e.target.value; } }, d.feedback),
    err.feedback ? h('p', { class: 'field-error' }, err.feedback) : null,
    h('button', { type: 'submit', class: 'btn primary huge', dataset: { action: 'resolve' } }, `✓ ${t('action.resolveSubmit')}`),
    h('button', { type: 'button', class: 'btn ghost huge', onclick: () => { state.drafts.delete(inc.id); render(); } }, t('action.cancel')));
}

function taskCard(inc) {
  const c = inc.context;
  const tl = state.timelines.get(inc.id) || [];
  const site = state.sites.get(inc.siteId);
  const enRoute = tl.some((e) => e.action === 'en_route');
  const arrived = inc.state === 'on_site';
  const drafting = state.drafts.has(inc.id);
  const stepBtn = (key, action, done, enabled, onclick) => h('button', {
    type: 'button', class: `btn step${done ? ' done' : ''}`, disabled: !enabled || done, dataset: { action }, onclick,
  }, done ? `✓ ${t(key)}` : t(key));
  return h('article', { class: `task level-${inc.level}`, dataset: { incidentId: inc.id, state: inc.state } },
    h('div', { class: 'task-head' }, levelBadge(inc.level), h('span', { class: 'title' }, tr(inc.title)), h('span', { class: 'age', dataset: { since: inc.openedAt } }, age(inc.openedAt))),
    h('div', { class: 'addr' }, c.address || c.siteName),
    h('div', { class: 'site-name' }, c.siteName),
    c.resident ? h('div', { class: 'who' },
      h('div', {}, h('div', { class: 'label' }, t('field.resident')), h('div', { class: 'name' }, residentLine(c))),
      c.resident.phone ? h('a', { class: 'btn call', href: `tel:${c.resident.phone}` }, `☎ ${t('action.call')}`) : null) : null,
    site && site.site.contacts.length ? h('div', { class: 'contacts' }, site.site.contacts.map((p) => h('div', { class: 'who small' },
      h('div', {}, h('div', { class: 'label' }, t('field.contacts')), h('div', { class: 'name' }, `${p.name}${p.relation ? ` · ${p.relation}` : ''}`)),
      p.phone ? h('a', { class: 'btn call', href: `tel:${p.phone}` }, `☎ ${t('action.call')}`) : null))) : null,
    h('div', { class: 'device' }, `${t(`device.${c.deviceType}`)}${c.deviceLocation ? ` · ${c.deviceLocation}` : ''}`),
    h('div', { class: 'status-row' }, stateChip(inc.state), h('span', { class: 'muted' }, `${t('field.opened')} ${time(inc.openedAt, c.timezone)}`), c.assigneeName ? h('span', { class: 'muted' }, `· ${c.assigneeName}`) : null),
    drafting ? resolveSheet(inc) : h('div', { class: 'steps' },
      stepBtn('action.enRoute', 'en-route', enRoute || arrived, inc.state === 'dispatched', () => step(inc, 'en-route')),
      stepBtn('action.onSite', 'on-site', arrived, inc.state === 'dispatched' || inc.state === 'acknowledged', () => step(inc, 'on-site')),
      h('button', { type: 'button', class: 'btn step primary', dataset: { action: 'resolve-open' }, onclick: () => { state.drafts.set(inc.id, { disposition: null, feedback: '', errors: {} }); render(); } }, t('action.resolved'))));
}

function render() {
  const tasks = [...state.tasks.values()].sort((a, b) => (a.level === b.level ? a.openedAt - b.openedAt : a.level === 'red' ? -1 : 1));
  // Keep the cursor in the feedback box while re-rendering around it.
  const focused = document.activeElement && document.activeElement.id;
  clear(root).append(...(tasks.length ? tasks.map(taskCard) : [h('div', { class: 'empty' }, h('div', { class: 'empty-icon' }, '✓'), t('worker.empty'))]));
  if (focused) document.getElementById(focused)?.focus();
}

/**
 * Issue 17 point 4: a task given to me while the page is open sounds, vibrates and shows a system
 * notification (seen with the phone in a pocket or another app in front). <body data-task-alert>
 * names the last task announced, for people debugging and for tests.
 */
function announce(inc) {
  const title = `${t('worker.newTask')} · ${tr(inc.title)}`;
  const body = `${inc.context.siteName}${inc.context.address ? ` · ${inc.context.address}` : ''}`;
  alarm.taskTone();
  if (navigator.vibrate) navigator.vibrate([400, 200, 400, 200, 400]);
  if ('Notification' in window && window.Notification.permission === 'granted') {
    try {
      const n = new window.Notification(title, { body, tag: inc.id, requireInteraction: true });
      n.onclick = () => {
        window.focus();
        window.location.hash = `#/incidents/${encodeURIComponent(inc.id)}`;
      };
    } catch {
      // Some phone browsers only notify from a service worker: sound and vibration still ran.
    }
  }
  document.body.dataset.taskAlert = inc.id;
  toast(title, 'alarm');
}

/** Sound needs a first tap and notifications a permission: one button asks for both. */
function alertsButton() {
  const b = $('#enable-alerts');
  const update = () => {
    const sound = document.body.dataset.sound === 'enabled';
    const notify = !('Notification' in window) || window.Notification.permission !== 'default';
    b.hidden = sound && notify;
  };
  alarm.onSoundState(update);
  b.addEventListener('click', async () => {
    alarm.unlock();
    if ('Notification' in window && window.Notification.permission === 'default') await window.Notification.requestPermission().catch(() => undefined);
    update();
  });
  update();
}

/** #/incidents/ID (the link in a dispatch message) scrolls to that task and marks it. */
function focusLinked() {
  const m = /^#\/incidents\/([^/?]+)/.exec(window.location.hash);
  if (!m) return;
  const id = decodeURIComponent(m[1]);
  const el = document.querySelector(`.task[data-incident-id="${window.CSS.escape(id)}"]`);
  if (!el) return toast(t('error.notFound'), 'error');
  for (const x of document.querySelectorAll('.task.linked')) x.classList.remove('linked');
  el.classList.add('linked');
  el.scrollIntoView({ block: 'start' });
}

async function boot() {
  wireSwitch();
  alarm.init();
  alertsButton();
  $('#logout').addEventListener('click', () => void logout());
  const s = await session();
  if (!s.user) return window.location.replace(loginUrl());
  // An operator who follows a link meant for the field lands on the same incident in the console.
  if (s.user.role !== 'grid_worker') return window.location.replace(`/${window.location.hash}`);
  state.me = s.user;
  $('#me').textContent = s.displayName || s.user.username;
  onLocale(() => {
    render();
    void api('PUT', '/api/session/locale', { locale: document.documentElement.lang }).catch(() => undefined);
  });
  await load();
  focusLinked();
  window.addEventListener('hashchange', focusLinked);
  connect('/api/stream', {
    reset: () => void load(),
    incident: async (ev) => {
      const inc = ev.incident;
      const isNew = !state.tasks.has(inc.id);
      if (inc.state === 'resolved' || inc.state === 'reviewed') state.tasks.delete(inc.id);
      else {
        state.tasks.set(inc.id, inc);
        await details(inc);
        if (isNew) announce(inc);
      }
      if (!document.querySelector('.sheet textarea:focus')) render();
    },
  }, (st) => {
    $('#live').dataset.state = st;
  });
  setInterval(() => {
    for (const el of document.querySelectorAll('[data-since]')) el.textContent = age(Number(el.dataset.since));
  }, 1000);
}

void boot();
