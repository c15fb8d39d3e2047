// Times in the center's time zone (Intl), ages and durations in words people read at a glance.
import { locale } from './i18n.js';

const cache = new Map();
function formatter(tz, opts) {
  const key = `${locale()}|${tz}|${JSON.stringify(opts)}`;
  let f = cache.get(key);
  if (!f) {
    f = new Intl.DateTimeFormat(locale(), { timeZone: tz, hourCycle: 'h23', ...opts });
    cache.set(key, f);
  }
  return f;
}

export function time(ms, tz) {
  return formatter(tz, { hour: '2-digit', minute: '2-digit', second: '2-digit' }).format(ms);
}

export function dateTime(ms, tz) {
  return formatter(tz, { month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' }).format(ms);
}

export function shortTime(ms, tz) {
  return formatter(tz, { hour: '2-digit', minute: '2-digit' }).format(ms);
}

/** 42 s, 3 min 12 s, 2 h 05 min, 3 d 4 h — or the Chinese equivalents. */
export function duration(sec) {
  const zh = locale() === 'zh-CN';
  const s = Math.max(0, Math.floor(sec));
  const d = Math.floor(s / 86400);
  const hr = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  if (d) return zh ? `${d}天${hr}小时` : `${d} d ${hr} h`;
  if (hr) return zh ? `${hr}小时${String(m).padStart(2, '0')}分` : `${hr} h ${String(m).padStart(2, '0')} min`;
  if (m) return zh ? `${m}分${String(r).padStart(2, '0')}秒` : `${m} min ${String(r).padStart(2, '0')} s`;
  return zh ? `${r}秒` : `${r} s`;
}

export function age(fromMs) {
  return duration((Date.now() - fromMs) / 1000);
}

export function num(v, digits = 2) {
  if (typeof v !== 'number') return String(v);
  return Number.isInteger(v) ? String(v) : v.toFixed(digits);
}
