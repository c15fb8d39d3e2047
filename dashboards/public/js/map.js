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

/** Web Mercator (EPSG:3857) at zoom 0: 0..256 across the world, the slippy-map tiles' own projection. */
function project(lat, lon) {
  const r = (Math.max(-85.05, Math.min(85.05, lat)) * Math.PI) / 180;
  return [((lon + 180) / 360) * TILE, ((1 - Math.log(Math.tan(r) + 1 / Math.cos(r)) / Math.PI) / 2) * TILE];
}

/** The map's state between live events: sites by id, the site of each device, the drawn nodes, the view. */
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
  // A fire is drawn over its quiet neighbours (the same node, moved last).
  if (site.colour === 'red' && g.parentNode && g.parentNode.lastChild !== g) g.parentNode.append(g);
}

/**
 * The view that shows every placed site with a margin: scale S (screen px per zoom-0 px) and the
 * centre (zoom-0 px). One site alone: street level.
 */
function fitView(placed, W, H, maxZoom) {
  const pts = placed.map((x) => project(x.lat, x.lon));
  const xs = pts.map((p) => p[0]);
  const ys = pts.map((p) => p[1]);
  const bw = Math.max(...xs) - Math.min(...xs);
  const bh = Math.max(...ys) - Math.min(...ys);
  const S = Math.min(2 ** Math.min(maxZoom, 17), bw ? (W * 0.86) / bw : Infinity, bh ? (H * 0.86) / bh : Infinity);
  return { S, cx: (Math.max(...xs) + Math.min(...xs)) / 2, cy: (Math.max(...ys) + Math.min(...ys)) / 2 };
}

/** Draws the tiles (or the plain grid) and the sites for the current view into the layer. */
function drawLayer() {
  const { layer, W, H, view: v, tiles } = m;
  const screen = (p) => [(p[0] - v.cx) * v.S + W / 2, (p[1] - v.cy) * v.S + H / 2];
  layer.replaceChildren();
  m.points.clear();
  if (tiles.url) {
    const z = Math.max(0, Math.min(tiles.maxZoom, Math.floor(Math.log2(v.S))));
    const n = 2 ** z;
    const size = (TILE * v.S) / n;
    const [x0, y0] = screen([0, 0]);
    for (let ty = Math.floor(-y0 / size); ty <= Math.floor((H - y0) / size); ty++) {
      for (let tx = Math.floor(-x0 / size); tx <= Math.floor((W - x0) / size); tx++) {
        if (ty < 0 || ty >= n) continue;
        const x = ((tx % n) + n) % n;
        const href = tiles.url.replace('{z}', z).replace('{x}', x).replace('{y}', ty).replace('{s}', 'abc'[(x + ty) % 3]);
        layer.append(s('image', { class: 'tile', href, x: x0 + tx * size, y: y0 + ty * size, width: size + 0.5, height: size + 0.5 }));
      }
    }
  } else {
    // No tile source: a plain grid, one line per 100 px, moving with the sites.
    const grid = s('g', { class: 'map-grid' });
    const [ox, oy] = screen([0, 0]);
    for (let x = ((ox % 100) + 100) % 100; x <= W; x += 100) grid.append(s('line', { x1: x, y1: 0, x2: x, y2: H }));
    for (let y = ((oy % 100) + 100) % 100; y <= H; y += 100) grid.append(s('line', { x1: 0, y1: y, x2: W, y2: y }));
    layer.append(grid);
  }
  const placed = [...m.sites.values()].filter((x) => x.lat !== null && x.lon !== null);
  const labelAll = placed.length <= 40 || v.S > m.fit.S * 6;
  // Green first, red last: a fire is never under a quiet neighbour.
  const rank = { green: 0, grey: 1, yellow: 2, red: 3 };
  for (const site of placed.sort((a, c) => rank[colourOf(a)] - rank[colourOf(c)])) {
    const [x, y] = screen(project(site.lat, site.lon));
    if (x < -20 || y < -20 || x > W + 20 || y > H + 20) continue;
    const hot = colourOf(site) === 'red' || colourOf(site) === 'yellow';
    const g = s('g', { class: 'site', 'data-site-id': site.id, tabindex: 0, transform: `translate(${x.toFixed(1)} ${y.toFixed(1)})` },
      s('circle', { r: 6 }), s('title', {}, site.name), labelAll || hot ? s('text', { x: 12, y: 4 }, site.name) : null);
    g.addEventListener('click', () => select(site.id));
    g.addEventListener('keydown', (e) => e.key === 'Enter' && select(site.id));
    m.points.set(site.id, g);
    layer.append(g);
    paint(site);
  }
}

/** At most one redraw per task however many wheel or move events arrive (no animation frame: it pauses in a hidden tab). */
let pending = false;
function redraw() {
  if (pending) return;
  pending = true;
  setTimeout(() => { pending = false; drawLayer(); }, 0);
}

/** Wheel zooms around the pointer, a drag pans, a double click or the button fits every site again. */
function wire(svg) {
  const toView = (e) => {
    const r = svg.getBoundingClientRect();
    return [((e.clientX - r.left) / r.width) * m.W, ((e.clientY - r.top) / r.height) * m.H];
  };
  svg.addEventListener('wheel', (e) => {
    e.preventDefault();
    const v = m.view;
    const [mx, my] = toView(e);
    const wx = v.cx + (mx - m.W / 2) / v.S;
    const wy = v.cy + (my - m.H / 2) / v.S;
    const S = Math.max(m.fit.S / 4, Math.min(2 ** m.tiles.maxZoom * 4, v.S * (e.deltaY < 0 ? 1.25 : 0.8)));
    m.view = { S, cx: wx - (mx - m.W / 2) / S, cy: wy - (my - m.H / 2) / S };
    redraw();
  }, { passive: false });
  let drag = null;
  svg.addEventListener('pointerdown', (e) => {
    if (e.target.closest('.site')) return;
    drag = { p: toView(e), v: m.view };
    svg.setPointerCapture(e.pointerId);
  });
  svg.addEventListener('pointermove', (e) => {
    if (!drag) return;
    const [x, y] = toView(e);
    m.view = { ...drag.v, cx: drag.v.cx - (x - drag.p[0]) / drag.v.S, cy: drag.v.cy - (y - drag.p[1]) / drag.v.S };
    redraw();
  });
  svg.addEventListener('pointerup', () => { drag = null; });
  svg.addEventListener('dblclick', () => { m.view = m.fit; redraw(); });
}

function drawMap(tiles, box) {
  const W = Math.max(320, Math.round(box.width));
  const H = Math.max(280, Math.round(box.height));
  const svg = s('svg', { class: 'map-svg', role: 'img', 'aria-label': t('map.title'), viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'xMidYMid meet' });
  const layer = s('g', {});
  svg.append(layer);
  if (tiles.url && tiles.attribution) svg.append(s('text', { class: 'attribution', x: W - 6, y: H - 6, 'text-anchor': 'end' }, tiles.attribution));
  const placed = [...m.sites.values()].filter((x) => x.lat !== null && x.lon !== null);
  m.fit = placed.length ? fitView(placed, W, H, tiles.maxZoom) : { S: 1, cx: 128, cy: 128 };
  Object.assign(m, { layer, W, H, tiles, view: m.fit });
  drawLayer();
  wire(svg);
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
        h('span', { class: 'muted' }, t('map.sites', { n: data.sites.length })), h('span', { class: 'muted' }, t('map.hint')), missing ? h('span', { class: 'muted', dataset: { missing } }, t('map.noCoords', { n: missing })) : null)),
    h('aside', { class: 'map-side' }, detail, h('h3', {}, `${t('map.open')} `, count), empty, list)));
  m = { sites, deviceSite, points: new Map(), items: new Map(), list, empty, count, detail, selected: null };
  canvas.append(drawMap(data.tiles, canvas.getBoundingClientRect()));
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
