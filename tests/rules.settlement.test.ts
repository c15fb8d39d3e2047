// Settlement sensor rules: cumulative values against the alarm value and its 70 % warning, and
// rates by robust regression for any sampling, and tilt filtered over a window (issue 14).
import { describe, expect, it } from 'vitest';
import { createRuleEngine, DEFAULT_RULE_SET } from '../rules/index.ts';
import { device, directory, event, prng, telemetry } from '../rules/test-support.ts';
import type { DeviceInfo } from '../contracts/registry.ts';

const T0 = Date.UTC(2026, 0, 1);
const HOUR = 3_600_000;
const s = device('pt-1', 'settlement_sensor', { siteId: 'bldg-7', location: 'NE corner column' });

function engine(devs: DeviceInfo[] = [s]) {
  return createRuleEngine({ ruleSet: DEFAULT_RULE_SET, devices: directory(devs) });
}

describe('cumulative values', () => {
  it.each([
    ['settlement', 13.9, 'green'],
    ['settlement', 14, 'yellow'],
    ['settlement', 19.99, 'yellow'],
    ['settlement', 20, 'red'],
    ['settlement', -20, 'red'],
    ['settlement', 2400, 'red'], // soft-soil rods settle metres: a physical value, judged like any other
  ])('%s %f → %s', (field, value, level) => {
    const ev = engine().evaluate(telemetry(s, T0, { [field]: value }));
    expect(ev.level).toBe(level);
    if (level !== 'green') expect(ev.findings[0]).toMatchObject({ category: 'structural', condition: 'settlement' });
  });

  it.each([
    ['tiltX', 2.79, 'green'],
    ['tiltX', 2.8, 'yellow'],
    ['tiltY', -4, 'red'],
    ['tiltY', 35, 'red'],
  ])('%s %f held over three hourly readings → %s; never on the first two', (field, value, level) => {
    const e = engine();
    expect(e.evaluate(telemetry(s, T0, { [field]: value })).level).toBe('green');
    expect(e.evaluate(telemetry(s, T0 + HOUR, { [field]: value })).level).toBe('green');
    const ev = e.evaluate(telemetry(s, T0 + 2 * HOUR, { [field]: value }));
    expect(ev.level).toBe(level);
    if (level !== 'green') expect(ev.findings[0]).toMatchObject({ category: 'structural', condition: 'tilt' });
  });

  it('tilt is the magnitude of both filtered axes: 3 ‰ and 3 ‰ make 4.24 ‰ (GB 50007: 4 ‰)', () => {
    const e = engine();
    let ev;
    for (let h = 0; h < 3; h++) ev = e.evaluate(telemetry(s, T0 + h * HOUR, { tiltX: 3, tiltY: 3 }));
    expect(ev!.level).toBe('red');
    expect(ev!.findings[0]!.message.en).toMatch(/4\.24 ‰/);
  });

  it('a bridge inclinometer at 100 Hz: vibration of ±3 ‰ makes nothing, a sustained 6 ‰ tilt is red within one window', () => {
    const e = engine();
    const rnd = prng(5);
    const levels = new Set<string>();
    let t = T0;
    for (; t < T0 + 5 * 60_000; t += 10) levels.add(e.evaluate(telemetry(s, t, { tiltX: 0.2 + (rnd() * 2 - 1) * 3 })).level);
    expect([...levels]).toEqual(['green']);
    let redAt = NaN;
    for (const start = t; t < start + 120_000 && Number.isNaN(redAt); t += 10) {
      if (e.evaluate(telemetry(s, t, { tiltX: 6 + (rnd() * 2 - 1) * 3 })).level === 'red') redAt = t - start;
    }
    expect(redAt).toBeLessThanOrEqual(60_000);
  });

  it('a mean filter is there for those who ask for it', () => {
    const m = device('pt-m', 'settlement_sensor', { rules: { tilt: { filter: 'mean' } } });
    const e = engine([m]);
    let ev;
    for (const [h, v] of [[0, 1], [1, 1], [2, 13]] as const) ev = e.evaluate(telemetry(m, T0 + h * HOUR, { tiltX: v }));
    expect(ev!.level).toBe('red'); // mean 5 ‰; the median (1 ‰) would be green
  });

  it('measures from the installer baselines in the device meta', () => {
    const based = device('pt-2', 'settlement_sensor', { meta: { settlementBaseline: 100, tiltXBaseline: 1, crackBaseline: 0.5 } });
    const e = engine([based]);
    expect(e.evaluate(telemetry(based, T0, { settlement: 110, tiltX: 3 })).level).toBe('green');
    // An hour apart: readings within one level window (120 s) would be judged on their median.
    expect(e.evaluate(telemetry(based, T0 + HOUR, { settlement: 120 })).level).toBe('red');
    expect(e.evaluate(telemetry(based, T0 + 2 * HOUR, { crack: 2.5 })).findings[0]).toMatchObject({ condition: 'crack', level: 'red' });
  });

  it('crack growth counts from the first reading when no baseline is given', () => {
    const e = engine();
    expect(e.evaluate(telemetry(s, T0, { crack: 3 })).level).toBe('green');
    expect(e.evaluate(telemetry(s, T0 + HOUR, { crack: 4.39 })).level).toBe('green');
    expect(e.evaluate(telemetry(s, T0 + 2 * HOUR, { crack: 4.4 })).level).toBe('yellow');
    expect(e.evaluate(telemetry(s, T0 + 3 * HOUR, { crack: 5 })).level).toBe('red');
  });

  it('hourly points and weekly rods: one reading in the level window, judged on that reading', () => {
    const e = engine();
    const levels = [5, 25, 5, 15, 5].map((v, h) => e.evaluate(telemetry(s, T0 + h * HOUR, { settlement: v })).level);
    expect(levels).toEqual(['green', 'red', 'green', 'yellow', 'green']);
    const rod = engine();
    expect([3, 21, 4].map((v, w) => rod.evaluate(telemetry(s, T0 + w * 7 * 24 * HOUR, { settlement: v })).level)).toEqual(['green', 'red', 'green']);
  });

  it('a point reporting every 60 s: one spike among two readings in the window is no red', () => {
    const e = engine();
    const levels = [5, 160, 5, 5, 25, 25].map((v, i) => e.evaluate(telemetry(s, T0 + i * 60_000, { settlement: v })).level);
    expect(levels).toEqual(['green', 'green', 'green', 'green', 'green', 'red']);
  });

  it('a point reporting every 10 s: up to 5 obstructed readings among 12 make no red (openLAB laser); a real settlement is red within the 120 s window', () => {
    const e = engine();
    const levels = new Set<string>();
    let t = T0;
    const obstructed = new Set([6, 11, 12, 13, 14, 40, 41, 42, 43]);
    for (let i = 0; i < 60; i++, t += 10_000) levels.add(e.evaluate(telemetry(s, t, { settlement: obstructed.has(i) ? 160 : 6 })).level);
    expect([...levels]).toEqual(['green']);
    let redAfter = NaN;
    for (const start = t; Number.isNaN(redAfter); t += 10_000) {
      const ev = e.evaluate(telemetry(s, t, { settlement: 24 }));
      if (ev.level === 'red') {
        redAfter = t - start;
        expect(ev.findings[0]!.message.en).toMatch(/^Settlement \(median over 120 s\) 24 mm/);
      }
    }
    // the 7th reading at 24 mm is a strict majority of the 12 in the window
    expect(redAfter).toBe(60_000);
  });

  it('the level window is per device: 30 s for a sensor known to be clean', () => {
    const fast = device('pt-w', 'settlement_sensor', { rules: { settlement: { windowSec: 30 } } });
    const e = engine([fast]);
    for (let i = 0; i < 10; i++) e.evaluate(telemetry(fast, T0 + i * 10_000, { settlement: 5 }));
    const levels = [10, 11, 12].map((i) => e.evaluate(telemetry(fast, T0 + i * 10_000, { settlement: 30 })).level);
    expect(levels).toEqual(['green', 'red', 'red']);
  });

  it('crack growth is judged on the median of its window like settlement', () => {
    const e = engine();
    const levels = [0.3, 0.3, 9, 0.3, 0.3, 9, 9, 9, 9].map((v, i) => e.evaluate(telemetry(s, T0 + i * 10_000, { crack: v })).level);
    // red once a strict majority of the window's readings has grown 2 mm: 5 of 9, not 4 of 8
    expect(levels).toEqual(['green', 'green', 'green', 'green', 'green', 'green', 'green', 'green', 'red']);
  });

  it('sensor fault and fault_clear', () => {
    const e = engine();
    expect(e.evaluate(event(s, T0, { type: 'fault' })).findings[0]).toMatchObject({ condition: 'fault', level: 'yellow', category: 'maintenance' });
    expect(e.evaluate(event(s, T0 + 1, { type: 'fault_clear' })).findings[0]).toMatchObject({ condition: 'fault', clears: true });
  });
});

describe('a value beyond any physical one is a sensor fault, not movement (MEASURED_RANGES)', () => {
  it.each([
    ['settlement', -1_000_000, 'settlement reads -1000000 mm'], // the openLAB laser's error code
    ['settlement', 10_001, 'settlement reads 10001 mm'],
    ['tiltX', 150, 'tiltX reads 150 ‰'],
    ['tiltY', -101, 'tiltY reads -101 ‰'],
    ['crack', -0.5, 'crack reads -0.50 mm'],
    ['crack', 250, 'crack reads 250 mm'],
  ])('%s %f: one yellow maintenance sensor_fault, no structural finding', (field, value, says) => {
    const ev = engine().evaluate(telemetry(s, T0, { [field]: value }));
    expect(ev.level).toBe('yellow');
    expect(ev.findings).toEqual([expect.objectContaining({ ruleId: 'settlement.sensor_fault', category: 'maintenance', condition: 'sensor_fault', score: DEFAULT_RULE_SET.settlement_sensor.fault.score, clears: false })]);
    expect(ev.findings[0]!.message.en).toContain(says);
    expect(ev.findings[0]!.message.en).toContain('NE corner column');
  });

  it('the faulty value feeds no level, filter, rate or crack baseline; the reading\'s other values are judged', () => {
    const e = engine();
    const faulty = e.evaluate(telemetry(s, T0, { settlement: -1_000_000, crack: 500, tiltX: 3 }));
    expect(faulty.findings.map((f) => f.condition)).toEqual(['sensor_fault', 'sensor_fault']);
    // Within the same level window: the median is of the good readings only.
    expect(e.evaluate(telemetry(s, T0 + 10_000, { settlement: 21, crack: 1 })).findings.map((f) => [f.condition, f.level])).toEqual([['settlement', 'red']]);
    // crack growth counts from the first physical reading (1 mm), not from the fault value
    expect(e.evaluate(telemetry(s, T0 + HOUR, { crack: 2.3 })).level).toBe('green');
    expect(e.evaluate(telemetry(s, T0 + 2 * HOUR, { crack: 3 })).findings.map((f) => [f.condition, f.level])).toEqual([['crack', 'red']]);
    // tilt: the filter got 3 ‰ at T0; the 150 ‰ is not a third sub-window, two more readings of 3 ‰
    // are (3 ‰ is yellow: 75 % of 4 ‰), and 150 ‰ never entered the median
    expect(e.evaluate(telemetry(s, T0 + 3 * HOUR, { tiltX: 150 })).findings.map((f) => f.condition)).toEqual(['sensor_fault']);
    expect(e.evaluate(telemetry(s, T0 + 4 * HOUR, { tiltX: 3 })).level).toBe('green');
    const tilt = e.evaluate(telemetry(s, T0 + 5 * HOUR, { tiltX: 3 }));
    expect(tilt.findings.map((f) => [f.condition, f.level])).toEqual([['tilt', 'yellow']]);
    expect(tilt.findings[0]!.message.en).toMatch(/Tilt \(median over 60 s\) 3 ‰/);
  });

  it('rates never see the fault: a settling rod with an error code every week keeps its rate', () => {
    const e = engine();
    let last;
    for (let d = 0; d <= 14; d++) {
      last = e.evaluate(telemetry(s, T0 + d * 24 * HOUR, { settlement: 3 + 0.3 * d }));
      e.evaluate(telemetry(s, T0 + d * 24 * HOUR + HOUR, { settlement: d % 7 === 0 ? -1_000_000 : 3 + 0.3 * d }));
    }
    const rate = last!.findings.filter((f) => f.condition === 'settlement_rate');
    expect(rate).toHaveLength(1);
    expect(perDayOf(rate[0]!.message.en)).toBeCloseTo(0.3, 1);
  });
});

/** Readings every hoursStep: base + rate·t + uniform noise in ±noise; the rate findings of the last reading. */
function series(days: number, mmPerDay: number, noise: number, seed: number, hoursStep = 1, e = engine()) {
  const rnd = prng(seed);
  let last;
  let flagged = 0;
  for (let h = 0; h <= days * 24; h += hoursStep) {
    const v = 3 + (mmPerDay * h) / 24 + (rnd() * 2 - 1) * noise;
    last = e.evaluate(telemetry(s, T0 + h * HOUR, { settlement: v }));
    if (last.findings.some((f) => f.condition === 'settlement_rate')) flagged++;
  }
  return { rate: last!.findings.filter((f) => f.condition === 'settlement_rate'), flagged };
}

const perDayOf = (en: string) => Number(/(?:Settling|growing) (-?[\d.]+) mm\/day/.exec(en)![1]);

describe('settlement rate by robust regression, for any sampling', () => {
  it('finds a steady 0.2 mm/day creep under ±0.5 mm noise (hourly points, 30-day window of daily means)', () => {
    for (const seed of [1, 2, 3]) {
      const { rate } = series(20, 0.2, 0.5, seed);
      expect(rate).toHaveLength(1);
      expect(rate[0]).toMatchObject({ ruleId: 'settlement.rate_slow', level: 'yellow', category: 'structural' });
      expect(perDayOf(rate[0]!.message.en)).toBeGreaterThan(0.15);
      expect(perDayOf(rate[0]!.message.en)).toBeLessThan(0.25);
    }
  });

  it('does not flag pure ±0.5 mm noise, at any point of 40 days; nor a steady 0.1 mm/day', () => {
    for (const seed of [11, 12]) expect(series(40, 0, 0.5, seed).flagged).toBe(0);
    expect(series(30, 0.1, 0.2, 7).rate).toEqual([]);
  });

  it('2.5 mm/day hourly is red within two days; 1.5 mm/day is not red', () => {
    expect(series(2, 2.5, 0.5, 21).rate[0]).toMatchObject({ ruleId: 'settlement.rate_fast', level: 'red' });
    expect(series(2, 1.5, 0.5, 22).rate.filter((f) => f.level === 'red')).toEqual([]);
  });

  it('weekly manual rods: 4 mm/day is a red rate on the third reading, 0.3 mm/day a yellow one on the fourth', () => {
    const fast = series(14, 4, 1, 31, 7 * 24);
    expect(fast.rate[0]).toMatchObject({ ruleId: 'settlement.rate_fast', level: 'red' });
    expect(perDayOf(fast.rate[0]!.message.en)).toBeCloseTo(4, 0);
    expect(series(14, 0.3, 0.2, 32, 7 * 24).rate).toEqual([]);
    expect(series(21, 0.3, 0.2, 32, 7 * 24).rate[0]).toMatchObject({ ruleId: 'settlement.rate_slow', level: 'yellow' });
  });

  it('per-minute sensors: a 3 mm/day settlement is red within a day and a half', () => {
    const e = engine();
    let redAt = NaN;
    for (let m = 0; m <= 2 * 1440 && Number.isNaN(redAt); m++) {
      const ev = e.evaluate(telemetry(s, T0 + m * 60_000, { settlement: (3 * m) / 1440 + Math.sin(m) * 0.3 }));
      if (ev.findings.some((f) => f.ruleId === 'settlement.rate_fast')) redAt = m / 60;
    }
    expect(redAt).toBeLessThanOrEqual(36);
  });

  it('a gap clears no history: the rate is known on the first reading after ten silent days', () => {
    const e = engine();
    series(20, 0.3, 0.1, 41, 1, e);
    const after = e.evaluate(telemetry(s, T0 + 30 * 24 * HOUR, { settlement: 3 + 0.3 * 30 }));
    expect(after.findings.filter((f) => f.condition === 'settlement_rate')).toEqual([expect.objectContaining({ ruleId: 'settlement.rate_slow' })]);
  });

  it('a single outlier does not make a rate', () => {
    const e = engine();
    for (let h = 0; h <= 20 * 24; h++) {
      const v = h === 20 * 24 ? 12 : 3; // one wild reading at the end (still below the 14 mm warning)
      const ev = e.evaluate(telemetry(s, T0 + h * HOUR, { settlement: v }));
      expect(ev.findings.filter((f) => f.condition === 'settlement_rate')).toEqual([]);
    }
  });

  it('forgets history older than the window: creep that stopped a month ago is no longer flagged', () => {
    const e = engine();
    let v = 0;
    let last;
    for (let h = 0; h <= 70 * 24; h += 3) {
      if (h < 14 * 24) v += (0.5 / 24) * 3;
      last = e.evaluate(telemetry(s, T0 + h * HOUR, { settlement: v - 7 }));
    }
    expect(last!.findings.filter((f) => f.condition === 'settlement_rate')).toEqual([]);
  });

  it('crack width growing 0.08 mm/day is a yellow crack rate', () => {
    const e = engine();
    let last;
    for (let d = 0; d <= 16; d++) last = e.evaluate(telemetry(s, T0 + d * 24 * HOUR, { crack: 1 + 0.08 * d }));
    expect(last!.findings.filter((f) => f.condition === 'crack_rate')).toEqual([expect.objectContaining({ ruleId: 'settlement.crack_rate_slow', level: 'yellow' })]);
  });
});
