// Issue 17 point 6, the map of sites (#/map): every site of the center in its live colour (red,
// yellow, green, grey while a device is offline) on tiles from http.map.tileUrl, or without one on a
// plain grid of their coordinates (SVG, nothing fetched). The open incidents are listed beside it,
// each a link to the incident. Live events patch the points and the list in place.
import { h, clear } from './dom.js';
import { t, tr } from './i18n.js';
import { api } from './api.js';
import { age } from './fmt.js';
import { levelBadge, stateChip } from './parts.js';

const SVG = 'http://www.w3.org/2000/svg';
const TILE = 256;
const ACTIVE = new Set(['open', 'acknowledged', 'dispatched', 'on_site']);

function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  for (const c of children) if (c) el.append(typeof c === 'string' ? document.createTextNode(c) : c);
  return el;
}

/** Web Mercator (EPSG:3857) world pixels at zoom z: the slippy-map tiles' own projection. */
function project(lat, lon, z) {
  const n = TILE * 2 ** z;
  const r = (Math.max(-85.05, Math.min(85.05, lat)) * Math.PI) / 180;
  return [((lon + 180) / 360) * n, ((1 - Math.log(Math.tan(r) + 1 / Math.cos(r)) / Math.PI) / 2) * n];
}

/** The map's state between live events: sites by id, the site of each device, the drawn nodes. */
let m = null;

function colourOf(site) {
  if (site.open.some((i) => i.level === 'red')) return 'red';
  if (site.devices.some((d) => d.online === false)) return 'grey';
  if (site.open.some((i) => i.level === 'yellow')) return 'yellow';
  return 'green';
}

function paint(site) {
  const g = m.points.get(site.id);
  site.colour = colourOf(site);
  if (!g) return;
  g.setAttribute('data-colour', site.colour);
  g.setAttribute('class', `site c-${site.colour}${site.id === m.selected ? ' selected' : ''}`);
  g.querySelector('circle').setAttribute('r', site.colour === 'red' ? 10 : site.colour === 'yellow' ? 8 : 6);
}

function drawMap(sites, tiles, box) {
  const placed = sites.filter((x) => x.lat !== null && x.lon !== null);
  const W = Math.max(320, Math.round(box.width));
  const H = Math.max(280, Math.round(box.height));
  const svg = s('svg', { class: 'map-svg', role: 'img', 'aria-label': t('map.title'), viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'xMidYMid meet' });
  if (!placed.length) return svg;
  // The highest zoom at which every site fits with a margin (one site: a street-level zoom).
  let z = Math.min(tiles.maxZoom, 18);
  const bounds = (zz) => {
    const pts = placed.map((x) => project(x.lat, x.lon, zz));
    const xs = pts.map((p) => p[0]);
    const ys = pts.map((p) => p[1]);
    return { x0: Math.min(...xs), x1: Math.max(...xs), y0: Math.min(...ys), y1: Math.max(...ys) };
  };
  let b = bounds(z);
  while (z > 0 && (b.x1 - b.x0 > W * 0.86 || b.y1 - b.y0 > H * 0.86)) b = bounds(--z);
  const ox = (b.x0 + b.x1) / 2 - W / 2;
  const oy = (b.y0 + b.y1) / 2 - H / 2;
  const layer = s('g', { transform: `translate(${-ox} ${-oy})` });
  if (tiles.url) {
    const n = 2 ** z;
    for (let ty = Math.floor(oy / TILE); ty <= Math.floor((oy + H) / TILE); ty++) {
      for (let tx = Math.floor(ox / TILE); tx <= Math.floor((ox + W) / TILE); tx++) {
        if (ty < 0 || ty >= n) continue;
        const x = ((tx % n) + n) % n;
        const href = tiles.url.replace('{z}', z).replace('{x}', x).replace('{y}', ty).replace('{s}', 'abc'[(x + ty) % 3]);
        layer.append(s('image', { class: 'tile', href, x: tx * TILE, y: ty * TILE, width: TILE, height: TILE }));
      }
    }
  } else {
    // No tile source: a plain grid, one line per 100 px, under the sites.
    const grid = s('g', { class: 'map-grid' });
    for (let x = Math.ceil(ox / 100) * 100; x <= ox + W; x += 100) grid.append(s('line', { x1: x, y1: oy, x2: x, y2: oy + H }));
    for (let y = Math.ceil(oy / 100) * 100; y <= oy + H; y += 100) grid.append(s('line', { x1: ox, y1: y, x2: ox + W, y2: y }));
    layer.append(grid);
  }
  const labelAll = placed.length <= 40;
  // Green first, red last: a fire is never under a quiet neighbour.
  const rank = { green: 0, grey: 1, yellow: 2, red: 3 };
  for (const site of [...placed].sort((a, c) => rank[a.colour] - rank[c.colour])) {
    const [x, y] = project(site.lat, site.lon, z);
    const g = s('g', { class: 'site', 'data-site-id': site.id, tabindex: 0, transform: `translate(${x.toFixed(1)} ${y.toFixed(1)})` },
      s('circle', { r: 6 }), s('title', {}, site.name),
      labelAll || site.colour === 'red' || site.colour === 'yellow' ? s('text', { x: 12, y: 4 }, site.name) : null);
    g.addEventListener('click', () => select(site.id));
    g.addEventListener('keydown', (e) => e.key === 'Enter' && select(site.id));
    m.points.set(site.id, g);
    layer.append(g);
    paint(site);
  }
  svg.append(layer);
  if (tiles.url && tiles.attribution) svg.append(s('text', { class: 'attribution', x: W - 6, y: H - 6, 'text-anchor': 'end' }, tiles.attribution));
  return svg;
}

/** One line of the open incidents list, kept by id and patched in place. */
function incidentItem(site, inc) {
  const key = inc.id;
  let li = m.items.get(key);
  const sig = JSON.stringify([inc.level, inc.state, inc.title, document.documentElement.lang]);
  if (!li || li.dataset.sig !== sig) {
    const fresh = h('li', { class: `map-incident level-${inc.level}`, dataset: { incidentId: inc.id, siteId: site.id, sig } },
      levelBadge(inc.level), h('a', { href: `#/incidents/${encodeURIComponent(inc.id)}` }, tr(inc.title)),
      h('span', { class: 'where' }, site.name), stateChip(inc.state), h('span', { class: 'age', dataset: { since: inc.openedAt } }, age(inc.openedAt)));
    if (li) {
      li.replaceChildren(...fresh.childNodes);
      Object.assign(li.dataset, fresh.dataset);
      li.className = fresh.className;
    } else li = fresh;
    m.items.set(key, li);
  }
  return li;
}

function renderList() {
  const all = [...m.sites.values()].flatMap((site) => site.open.map((inc) => ({ site, inc })))
    .sort((a, b) => (a.inc.level === 'red' ? 0 : 1) - (b.inc.level === 'red' ? 0 : 1) || b.inc.openedAt - a.inc.openedAt);
  const want = all.map(({ site, inc }) => incidentItem(site, inc));
  const ul = m.list;
  want.forEach((node, i) => {
    if (ul.children[i] !== node) ul.insertBefore(node, ul.children[i] ?? null);
  });
  while (ul.children.length > want.length) ul.lastElementChild.remove();
  const shown = new Set(all.map((x) => x.inc.id));
  for (const id of m.items.keys()) if (!shown.has(id)) m.items.delete(id);
  m.empty.hidden = want.length > 0;
  m.count.textContent = String(want.length);
  renderSelected();
}

function renderSelected() {
  const site = m.selected ? m.sites.get(m.selected) : null;
  clear(m.detail);
  if (!site) return;
  m.detail.append(h('div', { class: `map-site c-${site.colour}`, dataset: { siteId: site.id } },
    h('div', { class: 'name' }, h('a', { href: `#/site/${encodeURIComponent(site.id)}` }, site.name)),
    h('div', { class: 'muted' }, site.address),
    site.devices.some((d) => d.online === false) ? h('div', { class: 'tag' }, t('map.offline')) : null,
    site.open.length ? h('ul', { class: 'mini-list' }, site.open.map((i) => h('li', {}, levelBadge(i.level), h('a', { href: `#/incidents/${encodeURIComponent(i.id)}` }, tr(i.title))))) : null));
}

function select(id) {
  const prev = m.selected;
  m.selected = id;
  for (const x of [prev, id]) if (x && m.sites.get(x)) paint(m.sites.get(x));
  renderSelected();
}

export async function renderMap(el) {
  const data = await api('GET', '/api/map');
  const sites = new Map(data.sites.map((x) => [x.id, x]));
  const deviceSite = new Map(data.sites.flatMap((x) => x.devices.map((d) => [d.id, x.id])));
  const canvas = h('div', { class: 'map-canvas' });
  const list = h('ul', { class: 'map-list' });
  const empty = h('div', { class: 'muted' }, t('map.none'));
  const count = h('span', { class: 'count' });
  const detail = h('div', { class: 'map-detail' });
  const missing = data.sites.filter((x) => x.lat === null || x.lon === null).length;
  clear(el).append(h('div', { class: 'map-view' },
    h('div', { class: 'map-main' }, canvas,
      h('div', { class: 'map-legend' }, ['red', 'yellow', 'green', 'grey'].map((c) => h('span', { class: `dot c-${c}` })), h('span', {}, t('map.legend')),
        h('span', { class: 'muted' }, t('map.sites', { n: data.sites.length })), missing ? h('span', { class: 'muted', dataset: { missing } }, t('map.noCoords', { n: missing })) : null)),
    h('aside', { class: 'map-side' }, detail, h('h3', {}, `${t('map.open')} `, count), empty, list)));
  m = { sites, deviceSite, points: new Map(), items: new Map(), list, empty, count, detail, selected: null };
  canvas.append(drawMap(data.sites, data.tiles, canvas.getBoundingClientRect()));
  renderList();
}

/** A live event while the map is shown: an incident changed, or a device came or went. */
export function patchMap({ incident, presence }) {
  if (!m || !document.body.contains(m.list)) return;
  if (incident) {
    const site = m.sites.get(incident.siteId);
    if (!site) return;
    site.open = site.open.filter((i) => i.id !== incident.id);
    if (ACTIVE.has(incident.state) && incident.level !== 'green') site.open.push({ id: incident.id, level: incident.level, state: incident.state, title: incident.title, openedAt: incident.openedAt });
    paint(site);
    renderList();
  }
  if (presence) {
    const site = m.sites.get(m.deviceSite.get(presence.deviceId));
    const d = site?.devices.find((x) => x.id === presence.deviceId);
    if (!d) return;
    d.online = presence.online;
    paint(site);
    if (m.selected === site.id) renderSelected();
  }
}
