// Calendar arithmetic in a named time zone with Intl only: the wall-clock parts of an instant, and
// the instant of a wall-clock time (shift, day and month boundaries of a center).

const formatters = new Map<string, Intl.DateTimeFormat>();
function fmt(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: tz, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' });
    formatters.set(tz, f);
  }
  return f;
}

export interface WallClock { year: number; month: number; day: number; hour: number; minute: number; second: number }

export function wallClock(ms: number, tz: string): WallClock {
  const p: Record<string, number> = {};
  for (const part of fmt(tz).formatToParts(new Date(ms))) if (part.type !== 'literal') p[part.type] = Number(part.value);
  return { year: p.year!, month: p.month!, day: p.day!, hour: p.hour!, minute: p.minute!, second: p.second! };
}

function offsetAt(ms: number, tz: string): number {
  const w = wallClock(ms, tz);
  return Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second) - Math.floor(ms / 1000) * 1000;
}

/** The instant when the wall clock in `tz` shows the given time (month may overflow: 13 → next January). */
export function zonedInstant(tz: string, year: number, month: number, day = 1, hour = 0, minute = 0): number {
  const guess = Date.UTC(year, month - 1, day, hour, minute);
  const first = guess - offsetAt(guess, tz);
  // Second pass for instants near an offset change (DST zones).
  return guess - offsetAt(first, tz);
}

const pad = (n: number) => String(n).padStart(2, '0');

export function dayString(ms: number, tz: string): string {
  const w = wallClock(ms, tz);
  return `${w.year}-${pad(w.month)}-${pad(w.day)}`;
}

export function monthString(ms: number, tz: string): string {
  const w = wallClock(ms, tz);
  return `${w.year}-${pad(w.month)}`;
}

export function dayRange(day: string, tz: string): [number, number] {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(day);
  if (!m) throw new RangeError(`expected YYYY-MM-DD, got ${day}`);
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  return [zonedInstant(tz, y, mo, d), zonedInstant(tz, y, mo, d + 1)];
}

export function monthRange(month: string, tz: string): [number, number] {
  const m = /^(\d{4})-(\d{2})$/.exec(month);
  if (!m) throw new RangeError(`expected YYYY-MM, got ${month}`);
  const [y, mo] = [Number(m[1]), Number(m[2])];
  return [zonedInstant(tz, y, mo, 1), zonedInstant(tz, y, mo + 1, 1)];
}

export function formatLocal(ms: number, tz: string): string {
  const w = wallClock(ms, tz);
  return `${w.year}-${pad(w.month)}-${pad(w.day)} ${pad(w.hour)}:${pad(w.minute)}`;
}
