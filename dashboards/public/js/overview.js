// The three-colour overview (三色动态管理) per center and grid.
import { h, clear } from './dom.js';
import { t } from './i18n.js';
import { api } from './api.js';
import { duration, time } from './fmt.js';

function colours(c) {
  const total = c.red + c.yellow + c.green || 1;
  return h('div', { class: 'tri' },
    h('div', { class: 'tri-bar' }, ['red', 'yellow', 'green'].map((k) => h('span', { class: k, style: { '--w': (c[k] / total) * 100 } }))),
    h('div', { class: 'tri-nums' }, ['red', 'yellow', 'green'].map((k) => h('span', { class: `n ${k}` }, h('b', {}, c[k]), ` ${t(`level.${k}`)}`))));
}

function secs(a, b) {
  if (a === null) return '—';
  return `${duration(a)} / ${duration(b)}`;
}

export async function renderOverview(el) {
  const o = await api('GET', '/api/overview');
  clear(el).append(h('div', { class: 'overview' },
    o.centers.map((c) => {
      const maxAge = Math.max(1, ...c.openByAge.map((b) => b.red + b.yellow));
      return h('section', { class: 'center-block' },
        h('h2', {}, c.name, h('span', { class: 'muted' }, ` · ${time(o.generatedAt, c.timezone)} ${c.timezone}`)),
        h('div', { class: 'tiles' },
          h('div', { class: 'tile wide' }, h('div', { class: 'label' }, t('overview.sites')), colours(c.sites)),
          h('div', { class: `tile${c.open.red ? ' alert' : ''}` }, h('div', { class: 'label' }, t('overview.open')), h('div', { class: 'value' }, h('span', { class: 'red' }, c.open.red), ' / ', h('span', { class: 'yellow' }, c.open.yellow))),
          h('div', { class: 'tile' }, h('div', { class: 'label' }, t('overview.offline')), h('div', { class: 'value' }, c.devicesOffline, h('small', {}, ` / ${c.devices}`))),
          h('div', { class: 'tile' }, h('div', { class: 'label' }, t('overview.battery')), h('div', { class: 'value' }, c.batteriesLow)),
          h('div', { class: 'tile wide' }, h('div', { class: 'label' }, `${t('overview.today')}: ${c.today.opened} ${t('overview.opened')}`),
            h('dl', { class: 'facts' },
              h('dt', {}, t('overview.ackMedian')), h('dd', {}, secs(c.today.ackMedianSec, c.today.ackP90Sec)),
              h('dt', {}, t('overview.siteMedian')), h('dd', {}, secs(c.today.siteMedianSec, c.today.siteP90Sec))))),
        h('div', { class: 'tile ages' }, h('div', { class: 'label' }, t('overview.byAge')),
          h('div', { class: 'age-bars' }, c.openByAge.map((b) => h('div', { class: `age-bar${b.red + b.yellow ? '' : ' zero'}` },
            h('div', { class: 'stack', style: { '--h': ((b.red + b.yellow) / maxAge) * 100, '--f': b.red / Math.max(1, b.red + b.yellow) } },
              h('span', { class: 'red' }),
              h('span', { class: 'yellow' })),
            h('div', { class: 'n' }, b.red + b.yellow),
            h('div', { class: 'k' }, t(`age.${b.key}`)))))));
    }),
    h('div', { class: 'overview-grid' },
      h('section', { class: 'panel' }, h('h3', {}, t('overview.grids')),
        h('table', { class: 'table' },
          h('thead', {}, h('tr', {}, [t('field.grid'), t('overview.worker'), t('level.red'), t('level.yellow'), t('level.green'), t('overview.open')].map((x) => h('th', {}, x)))),
          h('tbody', {}, o.grids.map((g) => h('tr', { class: g.sites.red ? 'row-red' : g.sites.yellow ? 'row-yellow' : '' },
            h('td', {}, g.name), h('td', {}, g.workerName || '—'),
            h('td', { class: 'num red' }, g.sites.red), h('td', { class: 'num yellow' }, g.sites.yellow), h('td', { class: 'num green' }, g.sites.green), h('td', { class: 'num' }, g.open)))))),
      h('section', { class: 'panel' }, h('h3', {}, t('overview.offlineList')),
        o.offline.length ? h('ul', { class: 'mini-list' }, o.offline.map((d) => h('li', {}, h('a', { href: `#/site/${encodeURIComponent(d.siteId)}` }, d.siteName), h('span', { class: 'mono muted' }, d.deviceId)))) : h('div', { class: 'muted' }, t('overview.none')),
        h('h3', {}, t('overview.batteryList')),
        o.lowBattery.length ? h('ul', { class: 'mini-list' }, o.lowBattery.map((d) => h('li', {}, h('a', { href: `#/site/${encodeURIComponent(d.siteId)}` }, d.siteName), h('span', { class: 'mono muted' }, d.deviceId), d.battery !== null ? h('span', { class: 'yellow' }, `${Math.round(d.battery)}%`) : null))) : h('div', { class: 'muted' }, t('overview.none'))))));
}
