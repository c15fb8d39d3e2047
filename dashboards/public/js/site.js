// The site view: who lives there and whom to call, the devices with their live state, a chart of
// recent readings (InfluxDB through the server), and the incident's timeline.
import { h, clear } from './dom.js';
import { t, tr } from './i18n.js';
import { api } from './api.js';
import { age, dateTime, time, num } from './fmt.js';
import { chartsFor } from './chart.js';
import { levelBadge, stateChip, residentLine, timelineItems } from './queue.js';

let current = null; // { siteId, data, el }

function deviceRow(d, tz) {
  const online = d.online === null ? 'unknown' : d.online ? 'online' : 'offline';
  const last = Object.entries(d.last || {}).filter(([k]) => k !== 'battery' && k !== 'rssi').slice(0, 4);
  return h('tr', { dataset: { deviceId: d.id } },
    h('td', {}, h('div', { class: 'strong' }, t(`device.${d.type}`)), h('div', { class: 'muted mono' }, d.id)),
    h('td', {}, d.location || '—'),
    h('td', {}, h('span', { class: `presence ${online}` }, h('span', { class: 'dot' }), t(`field.${online}`))),
    h('td', {}, d.battery === null ? '—' : h('span', { class: `battery${d.battery <= 20 ? ' low' : ''}` }, h('span', { class: 'bar', style: { '--pct': Math.max(0, Math.min(100, d.battery)) } }), `${Math.round(d.battery)}%`)),
    h('td', { class: 'mono' }, last.length ? last.map(([k, v]) => `${t(`metric.${k}`) === `metric.${k}` ? k : t(`metric.${k}`)} ${num(v)}`).join(' · ') : '—'),
    h('td', {}, d.lastSeen ? h('span', { title: dateTime(d.lastSeen, tz) }, time(d.lastSeen, tz)) : '—'));
}

function devicesTable(data) {
  return h('table', { class: 'table devices' },
    h('thead', {}, h('tr', {}, [t('field.device'), t('field.location'), t('field.state'), t('field.battery'), t('field.last'), t('field.lastSeen')].map((x) => h('th', {}, x)))),
    h('tbody', {}, data.devices.map((d) => deviceRow(d, data.center.timezone))));
}

export async function renderSite(el, { siteId, incidentId, toast, queue }) {
  const data = await api('GET', `/api/sites/${encodeURIComponent(siteId)}`);
  const tz = data.center.timezone;
  const incident = data.incidents.find((i) => i.id === incidentId) || data.incidents.find((i) => i.state !== 'resolved' && i.state !== 'reviewed') || data.incidents[0];
  const detail = incident ? await api('GET', `/api/incidents/${encodeURIComponent(incident.id)}`) : { timeline: [], deliveries: [] };
  const s = data.site;
  const charts = h('div', { class: 'charts' }, h('div', { class: 'muted' }, '…'));
  current = { siteId, data, el };
  clear(el).append(h('div', { class: 'site-view', dataset: { siteId } },
    h('div', { class: 'site-head' },
      h('a', { class: 'btn ghost small', href: '#/queue' }, `← ${t('action.back')}`),
      h('div', {},
        h('h1', {}, s.name),
        h('div', { class: 'address' }, s.address, data.grid ? ` · ${t('field.grid')} ${data.grid.name}` : '', ` · ${data.center.name}`)),
      incident ? h('div', { class: 'head-incident' }, levelBadge(incident.level), h('span', { class: 'title' }, tr(incident.title)), stateChip(incident.state)) : null),
    h('div', { class: 'site-grid' },
      h('div', { class: 'site-left' },
        s.resident ? h('section', { class: 'panel resident' },
          h('h3', {}, t('field.resident')),
          h('div', { class: 'big-name' }, residentLine({ resident: s.resident })),
          s.resident.phone ? h('a', { class: 'phone big', href: `tel:${s.resident.phone}` }, `☎ ${s.resident.phone}`) : null,
          s.resident.notes ? h('p', { class: 'notes' }, s.resident.notes) : null) : null,
        h('section', { class: 'panel' },
          h('h3', {}, t('field.contacts')),
          s.contacts.length ? s.contacts.map((c) => h('div', { class: 'contact' }, h('span', {}, c.name, c.relation ? h('span', { class: 'muted' }, ` · ${c.relation}`) : null), c.phone ? h('a', { class: 'phone', href: `tel:${c.phone}` }, `☎ ${c.phone}`) : null)) : h('div', { class: 'muted' }, '—'),
          data.grid && data.grid.workerName ? h('div', { class: 'contact worker' }, h('span', {}, `${t('field.assignee')}: ${data.grid.workerName}`), data.grid.workerPhone ? h('a', { class: 'phone', href: `tel:${data.grid.workerPhone}` }, `☎ ${data.grid.workerPhone}`) : null) : null),
        h('section', { class: 'panel' }, h('h3', {}, t('field.devices')), h('div', { id: 'devices' }, devicesTable(data)))),
      h('div', { class: 'site-right' },
        incident ? h('section', { class: 'panel timeline' },
          h('h3', {}, `${t('field.timeline')} · ${tr(incident.title)}`),
          incident.state === 'open' ? h('button', { type: 'button', class: `btn ${incident.level === 'red' ? 'danger' : 'primary'}`, dataset: { action: 'acknowledge' }, onclick: async () => { await queue.act(incident, 'acknowledge'); } }, t('action.acknowledge')) : null,
          h('ol', {}, timelineItems(detail.timeline, detail.deliveries, tz, dateTime))) : null,
        h('section', { class: 'panel' },
          h('h3', {}, t('field.incidents')),
          data.incidents.length ? h('ul', { class: 'mini-list' }, data.incidents.map((i) => h('li', {},
            levelBadge(i.level),
            h('a', { href: `#/site/${encodeURIComponent(siteId)}?incident=${encodeURIComponent(i.id)}` }, tr(i.title)),
            stateChip(i.state),
            h('span', { class: 'muted' }, `${dateTime(i.openedAt, tz)} · ${age(i.openedAt)}`),
            i.disposition ? h('span', { class: 'muted' }, t(`disposition.${i.disposition}`)) : null))) : h('div', { class: 'muted' }, '—')))),
    // Issue 17 point 6: the readings across the full width, one chart per quantity, alarms marked.
    h('section', { class: 'panel readings-wide' }, h('h3', {}, t('field.readings')), charts)));
  try {
    const readings = await api('GET', `/api/sites/${encodeURIComponent(siteId)}/readings?hours=24`);
    const labels = Object.fromEntries(data.devices.map((d) => [d.id, d.location || d.id]));
    clear(charts).append(...(readings.series.length ? chartsFor(readings, labels, tz, data.incidents.filter((i) => i.level !== 'green').map((i) => ({ at: i.openedAt, level: i.level, label: t('chart.alarm') }))) : [h('div', { class: 'muted' }, t('chart.none'))]));
  } catch {
    clear(charts).append(h('div', { class: 'muted warn' }, t('chart.error')));
    void toast;
  }
}

/** Live readings and presence for the open site, without reloading the page. */
export function updateSiteLive({ reading, presence }) {
  if (!current || !document.body.contains(current.el.querySelector('.site-view'))) return;
  const ev = reading || presence;
  const d = current.data.devices.find((x) => x.id === ev.deviceId);
  if (!d) return;
  if (presence) d.online = presence.online;
  if (reading) {
    d.online = true;
    d.lastSeen = reading.ts;
    if (reading.kind === 'telemetry') {
      d.last = { ...d.last, ...reading.values };
      if (typeof reading.values.battery === 'number') d.battery = reading.values.battery;
    }
  }
  const host = current.el.querySelector('#devices');
  if (host) clear(host).append(devicesTable(current.data));
}
