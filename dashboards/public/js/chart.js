// A small SVG line chart, one per measured field, a line per device. No library: the console
// loads with no build step and nothing from outside the server.
import { shortTime, num } from './fmt.js';
import { t } from './i18n.js';

const NS = 'http://www.w3.org/2000/svg';
const COLOURS = ['#5cc8ff', '#f5b14c', '#9be38f', '#d79bff', '#ff8f8f'];
const UNITS = { smoke: 'dB/m', temp: '°C', co: 'ppm', battery: '%', settlement: 'mm', tiltX: '‰', tiltY: '‰', crack: 'mm' };

function s(tag, attrs, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) el.append(c);
  return el;
}

/** Thresholds worth drawing (DESIGN.md default rule set). */
const LIMITS = { smoke: [[0.08, 'yellow'], [0.15, 'red']], temp: [[57, 'red']], co: [[50, 'yellow'], [150, 'red']], battery: [[20, 'yellow']] };

/**
 * Issue 17 point 6: drawn for the full width of the view (1200 units wide, labels 13–15 units, so
 * about 14 px on a 1440-px screen) with the alarm moments marked by a vertical line.
 */
export function lineChart({ field, lines, from: windowFrom, to, tz, marks = [], width = 1200, height = 240 }) {
  // A device installed (or a server started) a few hours ago: show the hours there are, not a
  // mostly empty day. At least an hour, so a handful of points is not stretched edge to edge.
  let first = to;
  for (const l of lines) if (l.points.length) first = Math.min(first, l.points[0][0]);
  const from = Math.max(windowFrom, Math.min(first, to - 3600_000));
  const pad = { l: 64, r: 16, t: 30, b: 28 };
  const w = width - pad.l - pad.r;
  const hgt = height - pad.t - pad.b;
  let min = Infinity;
  let max = -Infinity;
  for (const l of lines) for (const [, v] of l.points) { min = Math.min(min, v); max = Math.max(max, v); }
  for (const [v] of LIMITS[field] || []) if (v <= max * 1.6) { max = Math.max(max, v); min = Math.min(min, v); }
  if (min === max) { min -= 1; max += 1; }
  const span = max - min;
  min -= span * 0.08;
  max += span * 0.08;
  const x = (t) => pad.l + ((t - from) / (to - from)) * w;
  const y = (v) => pad.t + (1 - (v - min) / (max - min)) * hgt;
  const svg = s('svg', { viewBox: `0 0 ${width} ${height}`, class: 'chart', role: 'img', 'aria-label': field });
  svg.append(s('text', { x: pad.l, y: 18, class: 'chart-title' }, `${t(`metric.${field}`)}${UNITS[field] ? ` (${UNITS[field]})` : ''}`));
  for (let i = 0; i <= 3; i++) {
    const v = min + ((max - min) * i) / 3;
    svg.append(s('line', { x1: pad.l, x2: pad.l + w, y1: y(v), y2: y(v), class: 'grid' }));
    svg.append(s('text', { x: pad.l - 6, y: y(v) + 4, class: 'axis', 'text-anchor': 'end' }, num(v, span < 1 ? 3 : 1)));
  }
  for (let i = 0; i <= 4; i++) {
    const t = from + ((to - from) * i) / 4;
    svg.append(s('text', { x: x(t), y: height - 6, class: 'axis', 'text-anchor': i === 0 ? 'start' : i === 4 ? 'end' : 'middle' }, shortTime(t, tz)));
  }
  for (const [v, level] of LIMITS[field] || []) {
    if (v < min || v > max) continue;
    svg.append(s('line', { x1: pad.l, x2: pad.l + w, y1: y(v), y2: y(v), class: `limit ${level}` }));
  }
  for (const m of marks) {
    if (m.at < from || m.at > to) continue;
    svg.append(s('line', { x1: x(m.at), x2: x(m.at), y1: pad.t, y2: pad.t + hgt, class: `mark ${m.level || 'red'}` }));
    // Near the right edge the label goes to the left of the line, so it is not cut off.
    const right = x(m.at) > pad.l + w * 0.8;
    svg.append(s('text', { x: x(m.at) + (right ? -6 : 6), y: pad.t + 14, 'text-anchor': right ? 'end' : 'start', class: `mark-label ${m.level || 'red'}` }, `${m.label} ${shortTime(m.at, tz)}`));
  }
  lines.forEach((l, i) => {
    if (!l.points.length) return;
    const d = l.points.map(([t, v], j) => `${j ? 'L' : 'M'}${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
    svg.append(s('path', { d, class: 'line', stroke: COLOURS[i % COLOURS.length] }));
    const [lt, lv] = l.points[l.points.length - 1];
    svg.append(s('circle', { cx: x(lt), cy: y(lv), r: 3, fill: COLOURS[i % COLOURS.length] }));
  });
  if (lines.length > 1) {
    lines.forEach((l, i) => svg.append(s('text', { x: pad.l + w - 4, y: 14 + i * 12, class: 'legend', 'text-anchor': 'end', fill: COLOURS[i % COLOURS.length] }, l.label)));
  }
  return svg;
}

/** Groups the API's series by field: one chart per field. */
export function chartsFor(readings, labels, tz, marks = []) {
  const byField = new Map();
  for (const s of readings.series) {
    const list = byField.get(s.field) || [];
    list.push({ label: labels[s.device] || s.device, points: s.points });
    byField.set(s.field, list);
  }
  return [...byField].map(([field, lines]) => lineChart({ field, lines, from: readings.from, to: readings.to, tz, marks }));
}
