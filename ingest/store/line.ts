// A scored reading as one InfluxDB point (DESIGN.md "Storage"): measurement `telemetry` or `event`;
// tags device, type, site, center, grid (+ event); fields: the measured values, score, level,
// seq, clock_bad.
//
// Formatted here rather than through the client's Point builder: Point sorts its tag and field
// keys and builds intermediate strings for every reading, which made line formatting the largest
// allocator of the whole process at 10,000 readings/s (bench/results/profile-*.txt). A device's
// tags change only with the registry, so its series key is built once and reused; escaping is
// still the client library's own (`escape`), so the output is what Point would write.
import { escape } from '@influxdata/influxdb-client';
import type { ScoredReading } from '../../contracts/reading.ts';

/**
 * The point's timestamp in nanoseconds: ts_ms × 10⁶ + (seq mod 10⁶).
 *
 * InfluxDB keeps one point per (series, timestamp): a second write with the same tags and time
 * overwrites the first. At millisecond precision two different messages of one device in the same
 * millisecond (a panel's alarm storm, a buffered upload stamped with one time) would silently
 * replace each other. Spreading them over the sub-millisecond nanoseconds by their seq keeps them
 * apart, while an exact re-send — same seq, same ts, from a device retry, a replayed spool segment
 * or a batch written again after a crash — lands on the very same timestamp and overwrites itself.
 * That makes every write idempotent, and at-least-once delivery becomes exactly-once storage.
 * (Readings without a seq share offset 0: same-millisecond ones of one series still collide.)
 *
 * A string, because the value exceeds 2⁵³ and must not pass through a float.
 */
export function nanos(tsMs: number, seq: number | undefined): string {
  const sub = seq === undefined ? 0 : seq % 1_000_000;
  return `${Math.trunc(tsMs)}${String(sub).padStart(6, '0')}`;
}

/** A device's tags, escaped, in key order around the `event` tag: center, device | event | grid, site, type. */
interface SeriesKey {
  type: string;
  site: string;
  center: string;
  grid: string | undefined;
  head: string;
  tail: string;
}

const tagPair = (k: string, v: string | undefined): string => (v ? `,${k}=${escape.tag(v)}` : '');

/** Formats scored readings as line protocol; remembers each device's series key. */
export class LineFormatter {
  private readonly keys = new Map<string, SeriesKey>();
  private readonly fieldKeys = new Map<string, string>();

  private keyOf(r: ScoredReading['reading']): SeriesKey {
    const k = this.keys.get(r.deviceId);
    // A registry edit (site, grid, …) changes the reading's tags: rebuild the key then.
    if (k && k.type === r.deviceType && k.site === r.siteId && k.center === r.centerId && k.grid === r.gridId) return k;
    const fresh: SeriesKey = {
      type: r.deviceType, site: r.siteId, center: r.centerId, grid: r.gridId,
      head: tagPair('center', r.centerId) + tagPair('device', r.deviceId),
      tail: tagPair('grid', r.gridId) + tagPair('site', r.siteId) + tagPair('type', r.deviceType),
    };
    this.keys.set(r.deviceId, fresh);
    return fresh;
  }

  private field(key: string): string {
    let f = this.fieldKeys.get(key);
    if (f === undefined) {
      f = escape.tag(key);
      // Field names come from device payloads; only the known few are worth remembering.
      if (this.fieldKeys.size < 1000) this.fieldKeys.set(key, f);
    }
    return f;
  }

  /** Line protocol of one scored reading. Measured numbers are floats always, so a field never changes type. */
  format(s: ScoredReading): string {
    const r = s.reading;
    const key = this.keyOf(r);
    let line = r.kind === 'telemetry' ? 'telemetry' : 'event';
    line += key.head;
    if (r.kind === 'event') line += tagPair('event', r.event.type);
    line += key.tail;
    let sep = ' ';
    for (const name in r.values) {
      const v = r.values[name];
      if (typeof v === 'number') {
        if (!Number.isFinite(v)) throw new Error(`invalid float value for field '${name}': ${v}`);
        line += `${sep}${this.field(name)}=${v}`;
      } else if (typeof v === 'string') line += `${sep}${this.field(name)}=${escape.quoted(v)}`;
      else continue;
      sep = ',';
    }
    line += `${sep}score=${Math.round(s.score)}i,level="${s.level}"`;
    if (r.seq !== undefined) line += `,seq=${Math.floor(r.seq)}i`;
    if (r.flags.includes('clock_bad')) line += ',clock_bad=T';
    if (r.flags.includes('out_of_range')) line += ',out_of_range=T';
    return `${line} ${nanos(r.ts, r.seq)}`;
  }
}

const shared = new LineFormatter();

/** Line protocol of one scored reading (a module-wide formatter; the store keeps its own). */
export function toLine(s: ScoredReading): string {
  return shared.format(s);
}
