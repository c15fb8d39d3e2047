// The rule engine's state as bytes (rules/snapshot.ts), for cluster mode's partition snapshots: an
// engine that loads another's saved state finds, from then on, exactly what the other finds —
// smoke confirmation across the cut, a panel's faulted point clearing, a settlement trend over
// weeks — while an engine that starts empty does not. Another version is refused and changes
// nothing. And the bytes per device, pinned: a change to them is a layout change, and the version
// (RULE_STATE_VERSION) must change with it.
import { describe, expect, it } from 'vitest';
import type { Finding } from '../contracts/findings.ts';
import type { DeviceInfo } from '../contracts/registry.ts';
import type { Reading } from '../contracts/reading.ts';
import { createRuleEngine, DEFAULT_RULE_SET, type RuleEngine } from '../rules/index.ts';
import { RULE_STATE_VERSION } from '../rules/snapshot.ts';
import { device, directory, event, prng, telemetry } from '../rules/test-support.ts';

const T0 = Date.UTC(2026, 10, 1);
const HOUR = 3_600_000;
const sd1 = device('sd-1', 'smoke_detector', { siteId: 'home-1' });
const sd2 = device('sd-2', 'smoke_detector', { siteId: 'home-1' });
const panel = device('fp-1', 'fire_panel', { siteId: 'mall' });
const point = device('st-1', 'settlement_sensor', { siteId: 'bldg-7' });
const DEVICES: DeviceInfo[] = [sd1, sd2, panel, point];

const engine = (): RuleEngine => createRuleEngine({ ruleSet: DEFAULT_RULE_SET, devices: directory(DEVICES) });
const seen = (fs: readonly Finding[]) => fs.map((f) => `${f.deviceId} ${f.ruleId} ${f.level}${f.confirmed ? ' confirmed' : ''} ${f.message.en}`);

/** Three weeks of a settling point (0.2 mm/day, every 6 h), a panel fault and two smoke alarms, in time order. */
function history(): { before: Reading[]; after: Reading[] } {
  const rnd = prng(11);
  const before: Reading[] = [];
  const after: Reading[] = [];
  const cut = T0 + 12 * 24 * HOUR;
  for (let h = 0; h <= 21 * 24; h += 6) {
    const ts = T0 + h * HOUR;
    (ts < cut ? before : after).push(telemetry(point, ts, { settlement: 3 + (0.2 * h) / 24 + (rnd() * 2 - 1) * 0.3, tiltX: 0.5, crack: 0.3 }));
  }
  before.push(event(panel, cut - 2 * HOUR, { type: 'fault', loop: 2, point: 7 }));
  before.push(telemetry(sd1, cut - 60_000, { smoke: 0.02, temp: 21 }));
  before.push(event(sd1, cut - 30_000, { type: 'alarm' }));
  after.unshift(event(sd2, cut + 20_000, { type: 'alarm' }), event(panel, cut + HOUR, { type: 'fault_clear', loop: 2, point: 7 }));
  before.sort((a, b) => a.ts - b.ts);
  after.sort((a, b) => a.ts - b.ts);
  return { before, after };
}

describe('rule state saved and loaded', () => {
  it('finds after the cut what the engine that never stopped finds, and an engine starting empty does not', () => {
    const { before, after } = history();
    const kept = engine();
    for (const r of before) kept.evaluate(r);
    const moved = engine();
    moved.loadState(kept.saveState());
    const empty = engine();
    const found = { kept: [] as string[], moved: [] as string[], empty: [] as string[] };
    for (const r of after) {
      found.kept.push(...seen(kept.evaluate(r).findings));
      found.moved.push(...seen(moved.evaluate(r).findings));
      found.empty.push(...seen(empty.evaluate(r).findings));
    }
    expect(found.moved).toEqual(found.kept);
    // What only the history holds: the second detector confirms, the faulted point clears, and the
    // slow trend is found on the first reading after two weeks of it.
    expect(found.kept.filter((f) => f.startsWith('sd-2') && f.includes('confirmed'))).toHaveLength(1);
    expect(found.kept.filter((f) => f.startsWith('fp-1 panel.fault_clear'))).toHaveLength(1);
    expect(found.kept.filter((f) => f.includes('settlement.rate_slow')).length).toBeGreaterThan(10);
    expect(found.empty.filter((f) => f.includes('confirmed') || f.includes('fault_clear') || f.includes('settlement.rate_slow'))).toEqual([]);
    expect(moved.stats()).toMatchObject({ devices: kept.stats().devices, sites: kept.stats().sites });
  });

  it('writes the same bytes for a state it loaded', () => {
    const e = engine();
    for (const r of history().before) e.evaluate(r);
    const bytes = e.saveState();
    const again = engine();
    again.loadState(bytes);
    expect(Buffer.from(again.saveState()).equals(Buffer.from(bytes))).toBe(true);
  });

  it('refuses another version, a damaged state and trailing bytes, and changes nothing', () => {
    const e = engine();
    for (const r of history().before) e.evaluate(r);
    const bytes = e.saveState();
    const target = engine();
    target.evaluate(telemetry(point, T0, { settlement: 1 }));
    const before = Buffer.from(target.saveState());
    const other = Uint8Array.from(bytes);
    new DataView(other.buffer).setUint16(0, RULE_STATE_VERSION + 1, true);
    expect(() => target.loadState(other)).toThrow(`rule state version ${RULE_STATE_VERSION + 1}; this node reads version ${RULE_STATE_VERSION}`);
    expect(() => target.loadState(bytes.subarray(0, bytes.length - 5))).toThrow(/ends early/);
    expect(() => target.loadState(Uint8Array.from([...bytes, 0]))).toThrow(/1 bytes more/);
    expect(Buffer.from(target.saveState()).equals(before)).toBe(true);
  });

  it('costs a fixed number of bytes per device, whatever it has seen (pinned: a change is a new RULE_STATE_VERSION)', () => {
    const sizeOf = (devs: DeviceInfo[], readings: Reading[]): number => {
      const e = createRuleEngine({ ruleSet: DEFAULT_RULE_SET, devices: directory(devs) });
      const empty = e.saveState().length;
      for (const r of readings) e.evaluate(r);
      return e.saveState().length - empty;
    };
    const smoke = device('sd-0000001', 'smoke_detector', { siteId: 's' });
    const pan = device('fp-0000001', 'fire_panel', { siteId: 's' });
    const rod = device('st-0000001', 'settlement_sensor', { siteId: 's' });
    const many = (n: number, mk: (i: number) => Reading) => Array.from({ length: n }, (_, i) => mk(i));
    // Ids of 10 characters; a site with a fire signal adds its own ring.
    const sizes = {
      smoke: sizeOf([smoke], many(1_000, (i) => telemetry(smoke, T0 + i * 60_000, { smoke: 0.01, temp: 21, co: 1 }))),
      panel: sizeOf([pan], [event(pan, T0, { type: 'fault', loop: 1, point: 2 }), event(pan, T0 + 1, { type: 'fire', loop: 1, point: 3, zone: '3F' })]),
      settlementOnly: sizeOf([rod], many(1_000, (i) => telemetry(rod, T0 + i * HOUR, { settlement: 3 + i / 1000 }))),
      settlementTiltCrack: sizeOf([rod], many(1_000, (i) => telemetry(rod, T0 + i * HOUR, { settlement: 3, tiltX: 0.5, tiltY: 0.2, crack: 0.3 }))),
    };
    expect(sizes).toEqual({ smoke: 334, panel: 241, settlementOnly: 602, settlementTiltCrack: 1_618 });
  });
});
