// A scored reading as one InfluxDB point (DESIGN.md "Storage"): measurement `telemetry` or `event`;
// tags device, type, site, center, grid (+ event); fields: the measured values, score, level,
// seq, clock_bad.
import { Point } from '@influxdata/influxdb-client';
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

/** Line protocol of one scored reading. Measured numbers are floats always, so a field never changes type. */
export function toLine(s: ScoredReading): string {
  const r = s.reading;
  const p = new Point(r.kind === 'telemetry' ? 'telemetry' : 'event')
    .tag('device', r.deviceId)
    .tag('type', r.deviceType)
    .tag('site', r.siteId)
    .tag('center', r.centerId);
  if (r.gridId) p.tag('grid', r.gridId);
  if (r.kind === 'event') p.tag('event', r.event.type);
  for (const key in r.values) {
    const v = r.values[key];
    if (typeof v === 'number') p.floatField(key, v);
    else if (typeof v === 'string') p.stringField(key, v);
  }
  p.intField('score', Math.round(s.score)).stringField('level', s.level);
  if (r.seq !== undefined) p.intField('seq', r.seq);
  if (r.flags.includes('clock_bad')) p.booleanField('clock_bad', true);
  p.timestamp(nanos(r.ts, r.seq));
  // No PointSettings: the timestamp is given, and default tags are not used.
  return p.toLineProtocol() ?? '';
}
