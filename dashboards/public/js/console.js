// The operator console: live queue, incident detail, site view, overview and review. One page,
// hash routes (#/queue, #/site/ID?incident=ID, #/overview, #/review), updates pushed over SSE.
import { wireSwitch, onLocale, t, tr } from './i18n.js';
import { api, session, logout, loginUrl } from './api.js';
import { connect } from './live.js';
import * as alarm from './alarm.js';
import { time } from './fmt.js';
import { $ } from './dom.js';
import { createQueue } from './queue.js';
import { renderSite, updateSiteLive } from './site.js';
import { renderOverview } from './overview.js';
import { renderHandover } from './handover.js';
import { renderMap, patchMap } from './map.js';
import { renderHistory } from './history.js';

const state = {
  me: null,
  tz: 'Asia/Shanghai',
  /** Active incidents by id (views from the API: incident + context). */
  active: new Map(),
  review: [],
  route: { view: 'queue', id: null, incident: null },
  stream: null,
  streamSite: undefined,
};

const view = $('#view');
const queue = createQueue({ state, rerender: () => render(), toast });

function toast(msg, kind = 'info') {
  const el = $('#toast');
  el.textContent = msg;
  el.dataset.kind = kind;
  el.classList.add('show');
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => el.classList.remove('show'), 4000);
}

function parseRoute() {
  const [path, query] = window.location.hash.replace(/^#/, '').split('?');
  const parts = path.split('/').filter(Boolean);
  const params = new URLSearchParams(query || '');
  if (parts[0] === 'site' && parts[1]) return { view: 'site', id: decodeURIComponent(parts[1]), incident: params.get('incident') };
  if (parts[0] === 'overview') return { view: 'overview' };
  if (parts[0] === 'review') return { view: 'review' };
  if (parts[0] === 'handover') return { view: 'handover' };
  if (parts[0] === 'map') return { view: 'map' };
  if (parts[0] === 'history') return { view: 'history' };
  // #/incidents/ID is what emails, webhooks and texts link to (alerts/messages.ts incidentLink).
  if (parts[0] === 'incidents' && parts[1]) return { view: 'queue', incident: decodeURIComponent(parts[1]) };
  return { view: 'queue', incident: null };
}

async function loadActive() {
  const { incidents } = await api('GET', '/api/incidents?active=true&limit=500');
  state.active = new Map(incidents.map((i) => [i.id, i]));
  updateAlarm();
}

async function loadReview() {
  const { incidents } = await api('GET', '/api/incidents?state=resolved&limit=200');
  state.review = incidents;
  $('#review-count').textContent = incidents.length ? String(incidents.length) : '';
}

/** Newest first: the one the banner names and the queue puts on top. */
function unacknowledgedReds() {
  return [...state.active.values()].filter((i) => i.level === 'red' && i.state === 'open').sort((a, b) => b.openedAt - a.openedAt);
}

/**
 * Issue 17 point 2: while a red waits for acknowledgement the sound repeats, the favicon turns red,
 * the title counts and blinks (seen from another tab or window), and the banner on every view names
 * the newest one and links to it.
 */
function updateAlarm() {
  const unacked = unacknowledgedReds();
  alarm.setAlarm(unacked.length > 0);
  const reds = [...state.active.values()].filter((i) => i.level === 'red').length;
  const el = $('#queue-count');
  el.textContent = state.active.size ? String(state.active.size) : '';
  el.classList.toggle('red', reds > 0);
  const icon = unacked.length ? '/favicon-alarm.svg' : '/favicon.svg';
  if ($('#favicon').getAttribute('href') !== icon) $('#favicon').setAttribute('href', icon);
  const newest = unacked[0];
  const link = $('#alarm-newest');
  link.textContent = newest ? `${tr(newest.title)} — ${newest.context.siteName}` : '';
  link.setAttribute('href', newest ? `#/incidents/${encodeURIComponent(newest.id)}` : '#/queue');
  titleTick();
}

let blink = false;
function titleTick() {
  const n = unacknowledgedReds().length;
  blink = n > 0 && !blink;
  document.title = n ? `(${n}) ${blink ? '🔴' : '⚪'} ${t('title.alarm')} · ${t('app.name')}` : 'Watchfire · 守望';
}

function ensureStream() {
  const site = state.route.view === 'site' ? state.route.id : undefined;
  if (state.stream && state.streamSite === site) return;
  state.stream?.close();
  state.streamSite = site;
  state.stream = connect(`/api/stream${site ? `?site=${encodeURIComponent(site)}` : ''}`, {
    reset: () => void refreshAll(),
    incident: (ev) => onIncident(ev),
    presence: (p) => {
      updateSiteLive({ presence: p });
      if (state.route.view === 'map') patchMap({ presence: p });
    },
    reading: (r) => updateSiteLive({ reading: r }),
  }, (s) => {
    const live = $('#live');
    live.dataset.state = s;
    $('#live-text').textContent = t(`live.${s}`);
  });
}

function onIncident(ev) {
  const inc = ev.incident;
  const isActive = inc.state !== 'resolved' && inc.state !== 'reviewed';
  const known = state.active.has(inc.id);
  if (isActive) state.active.set(inc.id, inc);
  else state.active.delete(inc.id);
  if (!known && isActive && ev.kind === 'opened') {
    queue.markNew(inc.id);
    if (inc.level === 'yellow') alarm.chime();
    // A new red goes to the top of the queue; the operator's view goes there too.
    if (inc.level === 'red' && state.route.view === 'queue') window.scrollTo({ top: 0 });
  }
  updateAlarm();
  if (inc.state === 'resolved' || inc.state === 'reviewed') void loadReview().then(() => state.route.view === 'review' && render());
  if (state.route.view === 'queue') queue.onEvent(inc);
  else if (state.route.view === 'site' && inc.siteId === state.route.id) void render();
  else if (state.route.view === 'overview') scheduleOverview();
  else if (state.route.view === 'map') patchMap({ incident: inc });
}

let overviewTimer;
function scheduleOverview() {
  clearTimeout(overviewTimer);
  overviewTimer = setTimeout(() => state.route.view === 'overview' && render(), 1500);
}

async function refreshAll() {
  await Promise.all([loadActive(), loadReview()]);
  render();
}

async function render() {
  const r = state.route;
  document.body.dataset.view = r.view;
  for (const a of document.querySelectorAll('#tabs a')) a.classList.toggle('active', a.dataset.tab === r.view || (r.view === 'site' && a.dataset.tab === 'queue') || (r.view === 'history' && a.dataset.tab === 'review'));
  try {
    if (r.view === 'queue') queue.render(view);
    else if (r.view === 'site') await renderSite(view, { state, siteId: r.id, incidentId: r.incident, toast, queue });
    else if (r.view === 'overview') await renderOverview(view, { state });
    else if (r.view === 'review') queue.renderReview(view);
    else if (r.view === 'handover') await renderHandover(view, { state, toast });
    else if (r.view === 'map') await renderMap(view);
    else if (r.view === 'history') await renderHistory(view, { state });
  } catch (err) {
    toast(t('error.generic', { msg: err.message }), 'error');
  }
}

/** A link to one incident opens exactly that one, whether it is in the live queue or not. */
function focusRoute() {
  if (state.route.view === 'queue' && state.route.incident) queue.focus(state.route.incident);
}

function tick() {
  $('#clock').textContent = time(Date.now(), state.tz);
  titleTick();
  queue.tick();
}

function soundButton({ sounding, enabled }) {
  const b = $('#sound');
  b.dataset.enabled = String(enabled);
  b.dataset.sounding = String(sounding);
  b.textContent = enabled ? (sounding ? t('sound.alarm') : t('sound.on')) : t('sound.off');
  $('#alarm-banner').classList.toggle('show', sounding);
}

async function boot() {
  wireSwitch();
  alarm.init();
  alarm.onSoundState(soundButton);
  $('#sound').addEventListener('click', () => alarm.unlock());
  $('#sound-blocker-button').addEventListener('click', () => alarm.unlock());
  $('#logout').addEventListener('click', () => void logout());
  const s = await session();
  if (!s.user) return window.location.replace(loginUrl());
  // A grid worker who follows a link to an incident sees it as their task.
  if (s.user.role === 'grid_worker') return window.location.replace(`/worker.html${window.location.hash}`);
  state.me = s.user;
  state.tz = s.timezone;
  if (s.centerName) {
    $('#center-name').removeAttribute('data-i18n');
    $('#center-name').textContent = s.centerName;
  }
  const me = () => {
    $('#me').textContent = `${s.displayName || s.user.username} · ${t(`role.${s.user.role}`)}`;
  };
  me();
  onLocale(() => {
    me();
    soundButton({ sounding: document.body.dataset.alarm === 'on', enabled: document.body.dataset.sound === 'enabled' });
    void render();
    void api('PUT', '/api/session/locale', { locale: document.documentElement.lang }).catch(() => undefined);
  });
  window.addEventListener('hashchange', () => {
    state.route = parseRoute();
    ensureStream();
    void render().then(focusRoute);
  });
  state.route = parseRoute();
  await refreshAll();
  focusRoute();
  ensureStream();
  tick();
  setInterval(tick, 1000);
  // A safety net under the live stream: the queue is also re-read every minute.
  setInterval(() => void loadActive().then(() => state.route.view === 'queue' && queue.render(view)), 60_000);
}

void boot();
