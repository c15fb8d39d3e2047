// The store's line formatter against the client library's Point builder as the oracle: same
// measurement, tags, fields and timestamp for any reading (Point sorts fields; the formatter
// keeps the reading's order, so field sets are compared), and a registry edit changes the tags.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Point } from '@influxdata/influxdb-client';
import { LineFormatter, nanos } from '../ingest/store/line.ts';
import type { ScoredReading } from '../contracts/reading.ts';
import { Level } from '../contracts/findings.ts';

function viaPoint(s: ScoredReading): string {
  const r = s.reading;
  const p = new Point(r.kind === 'telemetry' ? 'telemetry' : 'event')
    .tag('device', r.deviceId).tag('type', r.deviceType).tag('site', r.siteId).tag('center', r.centerId);
  if (r.gridId) p.tag('grid', r.gridId);
  if (r.kind === 'event') p.tag('event', r.event.type);
  for (const [k, v] of Object.entries(r.values)) {
    if (typeof v === 'number') p.floatField(k, v);
    else p.stringField(k, v);
  }
  p.intField('score', Math.round(s.score)).stringField('level', s.level);
  if (r.seq !== undefined) p.intField('seq', r.seq);
  if (r.flags.includes('clock_bad')) p.booleanField('clock_bad', true);
  return p.timestamp(nanos(r.ts, r.seq)).toLineProtocol()!;
}

/** Index of the first unescaped `ch` in text (series keys escape spaces and commas, never quote). */
function unescaped(text: string, ch: string, from = 0): number {
  for (let i = from; i < text.length; i++) {
    if (text[i] === '\\') i++;
    else if (text[i] === ch) return i;
  }
  return -1;
}

/** A field set split at its separating commas: string values are quoted and may hold commas. */
function fieldsOf(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  let valueStarts = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    const startsValue = valueStarts;
    valueStarts = false;
    if (c === '\\') {
      cur += c + (text[i + 1] ?? '');
      i++;
      continue;
    }
    if (c === '"' && (quoted || startsValue)) quoted = !quoted;
    else if (c === '=' && !quoted) valueStarts = true;
    else if (c === ',' && !quoted) {
      out.push(cur);
      cur = '';
      continue;
    }
    cur += c;
  }
  out.push(cur);
  return out;
}

function normalise(line: string): { series: string; fields: string[]; ts: string } {
  const a = unescaped(line, ' ');
  const b = line.lastIndexOf(' ');
  return { series: line.slice(0, a), fields: fieldsOf(line.slice(a + 1, b)).sort(), ts: line.slice(b + 1) };
}

// Ids and names with the characters line protocol must escape: space, comma, equals, quote. A
// backslash before a space in a tag is ambiguous in the library's own escaping, so backslashes
// appear only inside quoted string values.
const text = fc.string({ unit: fc.constantFrom('a', 'Z', '7', '-', ' ', ',', '=', '"', '栋'), minLength: 1, maxLength: 8 });
const stringValue = fc.string({ unit: fc.constantFrom('a', ' ', ',', '=', '"', '\\', '栋'), maxLength: 8 });
const reading = fc.record({
  kind: fc.constantFrom('telemetry', 'event'),
  deviceId: text, deviceType: fc.constantFrom('smoke_detector', 'fire_panel', 'settlement_sensor'),
  siteId: text, centerId: text, gridId: fc.option(text, { nil: undefined }),
  ts: fc.integer({ min: 1_577_836_800_000, max: 2_000_000_000_000 }),
  seq: fc.option(fc.nat(), { nil: undefined }),
  clockBad: fc.boolean(),
  values: fc.dictionary(text, fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), stringValue), { maxKeys: 5 }),
  eventType: text,
  score: fc.double({ min: 0, max: 100, noNaN: true }),
  level: fc.constantFrom(...Level.options),
}).map((x): ScoredReading => ({
  reading: {
    kind: x.kind, deviceId: x.deviceId, deviceType: x.deviceType, siteId: x.siteId, centerId: x.centerId, gridId: x.gridId,
    ts: x.ts, receivedAt: x.ts, seq: x.seq, flags: x.clockBad ? ['clock_bad'] : [], values: x.values,
    ...(x.kind === 'event' ? { event: { type: x.eventType } } : {}),
  } as ScoredReading['reading'],
  score: x.score,
  level: x.level,
}));

describe('line formatter', () => {
  it('writes what the client library\'s Point writes, for any reading', () => {
    const f = new LineFormatter();
    fc.assert(fc.property(reading, (s) => {
      expect(normalise(f.format(s))).toEqual(normalise(viaPoint(s)));
    }), { numRuns: 500 });
  });

  it('rebuilds a device\'s tags when the registry moves it', () => {
    const f = new LineFormatter();
    const base: ScoredReading = {
      reading: { kind: 'telemetry', deviceId: 'sd-1', deviceType: 'smoke_detector', siteId: 'home-1', centerId: 'c1', gridId: 'g1', ts: 1_795_000_000_000, receivedAt: 1_795_000_000_000, seq: 7, flags: [], values: { smoke: 0.01 } },
      score: 0,
      level: 'green',
    };
    expect(f.format(base)).toBe('telemetry,center=c1,device=sd-1,grid=g1,site=home-1,type=smoke_detector smoke=0.01,score=0i,level="green",seq=7i 1795000000000000007');
    const moved = { ...base, reading: { ...base.reading, siteId: 'home 2', gridId: undefined } };
    expect(f.format(moved)).toBe('telemetry,center=c1,device=sd-1,site=home\\ 2,type=smoke_detector smoke=0.01,score=0i,level="green",seq=7i 1795000000000000007');
  });

  it('refuses a value InfluxDB cannot store', () => {
    const f = new LineFormatter();
    const bad: ScoredReading = {
      reading: { kind: 'telemetry', deviceId: 'sd-1', deviceType: 'smoke_detector', siteId: 's', centerId: 'c', gridId: undefined, ts: 1_795_000_000_000, receivedAt: 0, seq: undefined, flags: [], values: { smoke: Infinity } },
      score: 0,
      level: 'green',
    };
    expect(() => f.format(bad)).toThrow(/invalid float value for field 'smoke'/);
  });
});
