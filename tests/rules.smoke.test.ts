// Smoke detector rules at and around every threshold of the default rule set (DESIGN.md "Rules").
import { describe, expect, it } from 'vitest';
import { createRuleEngine, DEFAULT_RULE_SET } from '../rules/index.ts';
import { device, directory, event, telemetry } from '../rules/test-support.ts';

const T0 = Date.UTC(2026, 10, 23, 8, 0, 0);
const a = device('det-a', 'smoke_detector', { siteId: 'home-1', location: 'kitchen ceiling' });
const b = device('det-b', 'smoke_detector', { siteId: 'home-1', location: 'bedroom' });
const c = device('det-c', 'smoke_detector', { siteId: 'home-2' });

function engine() {
  return createRuleEngine({ ruleSet: DEFAULT_RULE_SET, devices: directory([a, b, c]) });
}

describe('smoke telemetry thresholds', () => {
  it.each([
    [0, 'green', 0, []],
    [0.0799, 'green', 0, []],
    [0.08, 'yellow', 60, ['smoke.pre_alarm']],
    [0.1499, 'yellow', 60, ['smoke.pre_alarm']],
    [0.15, 'red', 85, ['smoke.smoke']],
    [2, 'red', 85, ['smoke.smoke']],
  ])('smoke %f dB/m → %s', (smoke, level, score, rules) => {
    const ev = engine().evaluate(telemetry(a, T0, { smoke }));
    expect(ev.level).toBe(level);
    expect(ev.score).toBe(score);
    expect(ev.findings.map((f) => f.ruleId)).toEqual(rules);
    for (const f of ev.findings) {
      expect(f.category).toBe('fire');
      expect(f.condition).toBe('smoke');
      expect(f.message.en).toContain('kitchen ceiling');
      expect(f.message.zh).toMatch(/烟雾/);
    }
  });

  it.each([
    [56.9, 'green'],
    [57, 'red'],
    [150, 'red'],
  ])('fixed heat %f °C → %s (UL 521: 57 °C)', (temp, level) => {
    const ev = engine().evaluate(telemetry(a, T0, { temp }));
    expect(ev.level).toBe(level);
    if (level === 'red') expect(ev.findings[0]).toMatchObject({ ruleId: 'smoke.heat', condition: 'heat', category: 'fire', confirmed: false });
  });

  it.each([
    [8.0, 'green'],
    [8.6, 'red'],
  ])('rate of rise %f °C/min over a minute → %s (UL 521: 8.3 °C/min)', (perMin, level) => {
    const e = engine();
    let last = e.evaluate(telemetry(a, T0, { temp: 22 }));
    for (let s = 10; s <= 60; s += 10) last = e.evaluate(telemetry(a, T0 + s * 1000, { temp: 22 + (perMin * s) / 60 }));
    expect(last.level).toBe(level);
    if (level === 'red') expect(last.findings[0]!.message.en).toMatch(/rising 8\.6 °C\/min/);
  });

  it('does not take a rate of rise from two samples closer than rateMinSpanSec', () => {
    const e = engine();
    e.evaluate(telemetry(a, T0, { temp: 22 }));
    // +3 °C in 10 s would be 18 °C/min, but the samples span only 10 s
    expect(e.evaluate(telemetry(a, T0 + 10_000, { temp: 25 })).level).toBe('green');
  });

  it('CO at 50 ppm is yellow only after 10 minutes; 150 ppm is red at once', () => {
    const e = engine();
    expect(e.evaluate(telemetry(a, T0, { co: 49 })).level).toBe('green');
    expect(e.evaluate(telemetry(a, T0 + 60_000, { co: 50 })).level).toBe('green');
    expect(e.evaluate(telemetry(a, T0 + 60_000 + 599_000, { co: 60 })).level).toBe('green');
    const y = e.evaluate(telemetry(a, T0 + 60_000 + 600_000, { co: 60 }));
    expect(y.level).toBe('yellow');
    expect(y.findings[0]).toMatchObject({ ruleId: 'smoke.co_warning', category: 'co', condition: 'co' });
    expect(y.findings[0]!.message.en).toMatch(/for 10 min/);
    // dropping below resets the duration
    expect(e.evaluate(telemetry(a, T0 + 800_000, { co: 20 })).level).toBe('green');
    expect(e.evaluate(telemetry(a, T0 + 900_000, { co: 149 })).level).toBe('green');
    const r = e.evaluate(telemetry(a, T0 + 901_000, { co: 150 }));
    expect(r.level).toBe('red');
    expect(r.findings[0]).toMatchObject({ ruleId: 'smoke.co_alarm', category: 'co' });
  });

  it('battery ≤ 20 % is yellow and clears once, at ≥ 25 %', () => {
    const e = engine();
    expect(e.evaluate(telemetry(a, T0, { battery: 21 })).findings).toEqual([]);
    const low = e.evaluate(telemetry(a, T0 + 1, { battery: 20 }));
    expect(low.level).toBe('yellow');
    expect(low.findings[0]).toMatchObject({ ruleId: 'smoke.low_battery', category: 'maintenance', condition: 'low_battery', clears: false });
    expect(e.evaluate(telemetry(a, T0 + 2, { battery: 24 })).findings).toEqual([]);
    const clear = e.evaluate(telemetry(a, T0 + 3, { battery: 25 }));
    expect(clear.level).toBe('green');
    expect(clear.findings).toHaveLength(1);
    expect(clear.findings[0]).toMatchObject({ condition: 'low_battery', clears: true, level: 'green', score: 0 });
    expect(e.evaluate(telemetry(a, T0 + 4, { battery: 90 })).findings).toEqual([]);
  });
});

describe('smoke detector events', () => {
  it.each([
    ['alarm', 'red', 90, 'fire', 'alarm'],
    ['test', 'green', 5, 'info', 'test'],
    ['fault', 'yellow', 45, 'maintenance', 'fault'],
    ['low_battery', 'yellow', 45, 'maintenance', 'low_battery'],
    ['tamper', 'yellow', 45, 'maintenance', 'tamper'],
  ] as const)('%s → %s %i (%s/%s)', (type, level, score, category, condition) => {
    const ev = engine().evaluate(event(a, T0, { type }));
    expect(ev).toMatchObject({ level, score });
    expect(ev.findings).toHaveLength(1);
    expect(ev.findings[0]).toMatchObject({ level, score, category, condition, deviceId: 'det-a', siteId: 'home-1', ts: T0, clears: false });
  });

  it.each([
    ['fault', 'fault_clear'],
    ['tamper', 'tamper_clear'],
  ] as const)('%s then %s emits one clearing finding', (on, off) => {
    const e = engine();
    expect(e.evaluate(event(a, T0, { type: off })).findings).toEqual([]); // nothing to clear
    e.evaluate(event(a, T0 + 1, { type: on }));
    const cleared = e.evaluate(event(a, T0 + 2, { type: off }));
    expect(cleared.findings).toHaveLength(1);
    expect(cleared.findings[0]).toMatchObject({ condition: on, clears: true, level: 'green', category: 'maintenance' });
    expect(e.evaluate(event(a, T0 + 3, { type: off })).findings).toEqual([]);
  });

  it('low_battery event clears when telemetry shows the battery replaced', () => {
    const e = engine();
    e.evaluate(event(a, T0, { type: 'low_battery' }));
    const f = e.evaluate(telemetry(a, T0 + 1000, { battery: 100 })).findings;
    expect(f).toHaveLength(1);
    expect(f[0]).toMatchObject({ condition: 'low_battery', clears: true });
  });

  it('hush during an alarm stays red and never clears anything', () => {
    const e = engine();
    e.evaluate(event(a, T0, { type: 'alarm' }));
    const h = e.evaluate(event(a, T0 + 30_000, { type: 'hush' }));
    expect(h.level).toBe('red');
    expect(h.findings[0]).toMatchObject({ ruleId: 'smoke.hush', category: 'fire', clears: false });
    expect(h.findings[0]!.message.en).toMatch(/call the resident/);
    // even long after the window, as long as the alarm has not cleared at the device
    expect(e.evaluate(event(a, T0 + 3_600_000, { type: 'hush' })).level).toBe('red');
    const cleared = e.evaluate(event(a, T0 + 3_700_000, { type: 'alarm_clear' }));
    expect(cleared.findings.every((f) => !f.clears)).toBe(true);
    expect(cleared.level).toBe('green');
    // a hush with no alarm is recorded as info
    const quiet = e.evaluate(event(a, T0 + 9_000_000, { type: 'hush' }));
    expect(quiet.findings[0]).toMatchObject({ category: 'info', level: 'green', clears: false });
  });

  it('command_ack is not scored', () => {
    const ev = engine().evaluate(event(a, T0, { type: 'command_ack', command: 'x', ok: true }));
    expect(ev).toMatchObject({ level: 'green', score: 0, findings: [] });
  });
});

describe('fire confirmation', () => {
  it.each([
    ['second detector of the site at 120 s', b, 120_000, true],
    ['second detector of the site at 121 s', b, 121_000, false],
    ['detector of another site at 10 s', c, 10_000, false],
    ['the same detector again at 10 s', a, 10_000, false],
  ])('%s → confirmed %s', (_name, second, dt, confirmed) => {
    const e = engine();
    const first = e.evaluate(event(a, T0, { type: 'alarm' }));
    expect(first.findings[0]).toMatchObject({ score: 90, confirmed: false });
    const ev = e.evaluate(event(second, T0 + dt, { type: 'alarm' }));
    expect(ev.findings[0]).toMatchObject({ confirmed, score: confirmed ? 100 : 90, level: 'red', category: 'fire' });
    if (confirmed) expect(ev.findings[0]!.message.en).toMatch(/second detector det-a/);
  });

  it('a late upload of the first alarm is confirmed by the second detector too (window either side)', () => {
    const e = engine();
    e.evaluate(event(b, T0 + 60_000, { type: 'alarm' }));
    expect(e.evaluate(event(a, T0, { type: 'alarm' })).findings[0]).toMatchObject({ confirmed: true, score: 100 });
  });

  it.each([
    ['smoke at alarm level', { smoke: 0.2 }, true],
    ['fixed heat', { temp: 60 }, true],
    ['smoke pre-alarm only', { smoke: 0.1 }, false],
  ])('alarm event confirmed by the same detector\'s %s', (_n, values, confirmed) => {
    const e = engine();
    e.evaluate(event(a, T0, { type: 'alarm' }));
    const ev = e.evaluate(telemetry(a, T0 + 30_000, values));
    expect(ev.score).toBe(confirmed ? 100 : 60);
    expect(ev.findings[0]!.confirmed).toBe(confirmed);
  });

  it('smoke then heat on one detector confirms; smoke on a second detector confirms', () => {
    const e = engine();
    expect(e.evaluate(telemetry(a, T0, { smoke: 0.3 })).score).toBe(85);
    const both = e.evaluate(telemetry(a, T0 + 20_000, { smoke: 0.4, temp: 70 }));
    // the second smoke reading is the same kind of signal (not confirmed), the heat is a second kind
    expect(both.findings.map((f) => [f.condition, f.confirmed])).toEqual([['smoke', false], ['heat', true]]);
    expect(both.score).toBe(100);
    const other = e.evaluate(telemetry(b, T0 + 40_000, { smoke: 0.2 }));
    expect(other.findings[0]).toMatchObject({ condition: 'smoke', confirmed: true, score: 100, deviceId: 'det-b' });
  });
});
