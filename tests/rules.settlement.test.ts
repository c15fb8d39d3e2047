// Settlement sensor rules: cumulative values against the alarm value and its 70 % warning, and
// the settlement rate by regression from noisy series (DESIGN.md "Rules").
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
    ['tiltX', 2.79, 'green'],
    ['tiltX', 2.8, 'yellow'],
    ['tiltY', -4, 'red'],
  ])('%s %f → %s', (field, value, level) => {
    const ev = engine().evaluate(telemetry(s, T0, { [field]: value }));
    expect(ev.level).toBe(level);
    if (level !== 'green') expect(ev.findings[0]).toMatchObject({ category: 'structural', condition: field.startsWith('tilt') ? 'tilt' : 'settlement' });
  });

  it('tilt is the magnitude of both axes: 3 ‰ and 3 ‰ make 4.24 ‰ (GB 50007: 4 ‰)', () => {
    const e = engine();
    expect(e.evaluate(telemetry(s, T0, { tiltX: 3 })).level).toBe('yellow');
    const ev = e.evaluate(telemetry(s, T0 + HOUR, { tiltY: 3 }));
    expect(ev.level).toBe('red');
    expect(ev.findings[0]!.message.en).toMatch(/4\.24 ‰/);
  });

  it('measures from the installer baselines in the device meta', () => {
    const based = device('pt-2', 'settlement_sensor', { meta: { settlementBaseline: 100, tiltXBaseline: 1, crackBaseline: 0.5 } });
    const e = engine([based]);
    expect(e.evaluate(telemetry(based, T0, { settlement: 110, tiltX: 3 })).level).toBe('green');
    expect(e.evaluate(telemetry(based, T0 + 1, { settlement: 120 })).level).toBe('red');
    expect(e.evaluate(telemetry(based, T0 + 2, { crack: 2.5 })).findings[0]).toMatchObject({ condition: 'crack', level: 'red' });
  });

  it('crack growth counts from the first reading when no baseline is given', () => {
    const e = engine();
    expect(e.evaluate(telemetry(s, T0, { crack: 3 })).level).toBe('green');
    expect(e.evaluate(telemetry(s, T0 + HOUR, { crack: 4.39 })).level).toBe('green');
    expect(e.evaluate(telemetry(s, T0 + 2 * HOUR, { crack: 4.4 })).level).toBe('yellow');
    expect(e.evaluate(telemetry(s, T0 + 3 * HOUR, { crack: 5 })).level).toBe('red');
  });

  it('sensor fault and fault_clear', () => {
    const e = engine();
    expect(e.evaluate(event(s, T0, { type: 'fault' })).findings[0]).toMatchObject({ condition: 'fault', level: 'yellow', category: 'maintenance' });
    expect(e.evaluate(event(s, T0 + 1, { type: 'fault_clear' })).findings[0]).toMatchObject({ condition: 'fault', clears: true });
  });
});

/** Hourly readings: base + rate·t + uniform noise in ±noise; returns the rate findings of the last reading. */
function series(days: number, mmPerDay: number, noise: number, seed: number, hoursStep = 1) {
  const e = engine();
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

describe('settlement rate by regression', () => {
  it('finds a steady 0.2 mm/day creep under ±0.5 mm noise over 7 days', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const { rate } = series(8, 0.2, 0.5, seed);
      expect(rate).toHaveLength(1);
      expect(rate[0]).toMatchObject({ ruleId: 'settlement.rate_slow', level: 'yellow', category: 'structural' });
      const perDay = Number(/Settling (-?[\d.]+) mm\/day/.exec(rate[0]!.message.en)![1]);
      expect(perDay).toBeGreaterThan(0.15);
      expect(perDay).toBeLessThan(0.25);
    }
  });

  it('does not flag pure ±0.5 mm noise, at any point of 10 days', () => {
    for (const seed of [11, 12, 13, 14, 15]) expect(series(10, 0, 0.5, seed).flagged).toBe(0);
  });

  it('does not flag a steady 0.1 mm/day (below 0.13)', () => {
    expect(series(8, 0.1, 0.2, 7).rate).toEqual([]);
  });

  it('waits for half a window of data before trusting a slope', () => {
    // 0.5 mm/day for 3 days is clear, but 3 days is under half of the 7-day window
    expect(series(3, 0.5, 0.1, 9).flagged).toBe(0);
    expect(series(4, 0.5, 0.1, 9).rate[0]).toMatchObject({ ruleId: 'settlement.rate_slow' });
  });

  it('2.5 mm/day over two days is red; 1.5 mm/day is yellow once the 7-day window is half covered', () => {
    expect(series(2, 2.5, 0.5, 21).rate[0]).toMatchObject({ ruleId: 'settlement.rate_fast', level: 'red' });
    expect(series(2, 1.5, 0.5, 22).rate).toEqual([]);
    expect(series(4, 1.5, 0.5, 22).rate[0]).toMatchObject({ ruleId: 'settlement.rate_slow', level: 'yellow' });
  });

  it('a single outlier does not make a rate', () => {
    const e = engine();
    for (let h = 0; h <= 7 * 24; h++) {
      const v = h === 7 * 24 ? 12 : 3; // one wild reading at the end (still below the 14 mm warning)
      const ev = e.evaluate(telemetry(s, T0 + h * HOUR, { settlement: v }));
      expect(ev.findings.filter((f) => f.condition === 'settlement_rate')).toEqual([]);
    }
  });

  it('forgets history older than the window: creep that stopped a week ago is no longer flagged', () => {
    const e = engine();
    let v = 0;
    let last;
    for (let h = 0; h <= 21 * 24; h++) {
      if (h < 7 * 24) v += 0.5 / 24;
      last = e.evaluate(telemetry(s, T0 + h * HOUR, { settlement: v }));
    }
    expect(last!.findings.filter((f) => f.condition === 'settlement_rate')).toEqual([]);
  });
});
