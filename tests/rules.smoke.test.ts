// Smoke detector rules at and around every threshold of the default rule set (DESIGN.md "Rules"),
// weighing evidence (issue 14): persistence, the detector's zero, CO dose from timestamps.
import { describe, expect, it } from 'vitest';
import { createRuleEngine, DEFAULT_RULE_SET } from '../rules/index.ts';
import { device, directory, event, telemetry } from '../rules/test-support.ts';
import type { DeviceInfo } from '../contracts/registry.ts';

const T0 = Date.UTC(2026, 10, 23, 8, 0, 0);
const a = device('det-a', 'smoke_detector', { siteId: 'home-1', location: 'kitchen ceiling' });
const b = device('det-b', 'smoke_detector', { siteId: 'home-1', location: 'bedroom' });
const c = device('det-c', 'smoke_detector', { siteId: 'home-2' });

function engine() {
  return createRuleEngine({ ruleSet: DEFAULT_RULE_SET, devices: directory([a, b, c]) });
}

type Engine = ReturnType<typeof engine>;
/** Clean air first (the detector's zero), then `values` every `stepSec` for `n` samples; the last evaluation. */
function hold(e: Engine, dev: DeviceInfo, values: Record<string, number>, n: number, stepSec = 5, t0 = T0) {
  e.evaluate(telemetry(dev, t0 - stepSec * 1000, { smoke: 0, temp: 21, co: 0 }));
  let last = e.evaluate(telemetry(dev, t0, values));
  for (let i = 1; i < n; i++) last = e.evaluate(telemetry(dev, t0 + i * stepSec * 1000, values));
  return last;
}

describe('smoke telemetry: levels that persist, above the detector\'s zero', () => {
  it.each([
    [0.0799, 'green', 0, []],
    [0.08, 'yellow', 60, ['smoke.pre_alarm']],
    [0.1499, 'yellow', 60, ['smoke.pre_alarm']],
    [0.15, 'red', 85, ['smoke.smoke']],
    [2, 'red', 85, ['smoke.smoke']],
  ])('smoke %f dB/m held for 3 samples → %s', (smoke, level, score, rules) => {
    const ev = hold(engine(), a, { smoke }, 3);
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

  it('one or two noise samples are never red; the third of four is (persist 3 of 4)', () => {
    const e = engine();
    e.evaluate(telemetry(a, T0, { smoke: 0.01 }));
    expect(e.evaluate(telemetry(a, T0 + 5000, { smoke: 0.6 })).level).toBe('green');
    expect(e.evaluate(telemetry(a, T0 + 10_000, { smoke: 0.01 })).level).toBe('green');
    expect(e.evaluate(telemetry(a, T0 + 15_000, { smoke: 0.6 })).level).toBe('green');
    expect(e.evaluate(telemetry(a, T0 + 16_000, { smoke: 0.6 })).level).toBe('red'); // 3 of the last 4
  });

  it('a detector reporting every 5 min is red on its second sample above (20 s above, from timestamps)', () => {
    const e = engine();
    e.evaluate(telemetry(a, T0, { smoke: 0 }));
    expect(e.evaluate(telemetry(a, T0 + 300_000, { smoke: 0.3 })).level).toBe('green');
    expect(e.evaluate(telemetry(a, T0 + 600_000, { smoke: 0.3 })).level).toBe('red');
  });

  it('an offset at start-up is a yellow maintenance finding, never a fire; real smoke still counts above it', () => {
    const e = engine();
    const first = e.evaluate(telemetry(a, T0, { smoke: 0.25 }));
    expect(first.findings).toEqual([expect.objectContaining({ ruleId: 'smoke.offset', level: 'yellow', category: 'maintenance', condition: 'sensor_offset' })]);
    for (let i = 1; i <= 60; i++) expect(e.evaluate(telemetry(a, T0 + i * 5000, { smoke: 0.25 + (i % 2) * 0.01 })).level).not.toBe('red');
    const fire = hold(e, a, { smoke: 0.55 }, 3, 5, T0 + 400_000);
    expect(fire.findings.map((f) => f.ruleId)).toContain('smoke.smoke');
  });

  it('a chamber drifting high slowly becomes a maintenance finding, not a fire', () => {
    const e = engine();
    const seen = new Set<string>();
    for (let h = 0; h <= 40; h++) {
      const ev = e.evaluate(telemetry(a, T0 + h * 3_600_000, { smoke: 0.002 * h }));
      for (const f of ev.findings) seen.add(`${f.ruleId}:${f.level}`);
    }
    expect([...seen]).toEqual(['smoke.offset:yellow']);
  });

  it.each([
    [56.9, 'green'],
    [57, 'red'],
    [200, 'red'], // out of the plausible range, stored flagged and scored: a home at 200 °C is on fire
  ])('fixed heat %f °C held → %s (UL 521: 57 °C)', (temp, level) => {
    const ev = hold(engine(), a, { temp }, 3);
    expect(ev.level).toBe(level);
    if (level === 'red') expect(ev.findings[0]).toMatchObject({ ruleId: 'smoke.heat', condition: 'heat', category: 'fire', confirmed: false });
  });

  it('one hot sample is not a fire', () => {
    const e = engine();
    e.evaluate(telemetry(a, T0, { temp: 21 }));
    expect(e.evaluate(telemetry(a, T0 + 60_000, { temp: 90 })).level).toBe('green');
  });

  it.each([
    [8.0, 'green'],
    [8.6, 'red'],
  ])('rate of rise %f °C/min over a minute → %s (UL 521: 8.3 °C/min)', (perMin, level) => {
    const e = engine();
    let last = e.evaluate(telemetry(a, T0, { temp: 22 }));
    for (let s = 10; s <= 60; s += 10) last = e.evaluate(telemetry(a, T0 + s * 1000, { temp: 22 + (perMin * s) / 60 }));
    expect(last.level).toBe(level);
    if (level === 'red') {
      expect(last.findings[0]!.message.en).toMatch(/rising 8\.6 °C\/min/);
      // The Chinese text in Chinese (the demo's CSV showed "温度异常 rising 12.4 °C/min").
      expect(last.findings[0]!.message.zh).toMatch(/^火警：温度异常 每分钟升温 8\.6 °C/);
    }
  });

  it('does not take a rate of rise from two samples closer than rateMinSpanSec', () => {
    const e = engine();
    e.evaluate(telemetry(a, T0, { temp: 22 }));
    // +3 °C in 10 s would be 18 °C/min, but the samples span only 10 s
    expect(e.evaluate(telemetry(a, T0 + 10_000, { temp: 25 })).level).toBe('green');
  });
});

describe('CO: time-weighted dose (EN 50291 / UL 2034 curves)', () => {
  const co = device('det-co', 'smoke_detector', { siteId: 'home-3', intervalSec: 60 });
  function run(ppm: number, minutes: number, stepSec = 60) {
    const e = createRuleEngine({ ruleSet: DEFAULT_RULE_SET, devices: directory([co]) });
    e.evaluate(telemetry(co, T0, { co: 0 }));
    const levels: Array<[number, string]> = [];
    for (let t = stepSec; t <= minutes * 60; t += stepSec) levels.push([t / 60, e.evaluate(telemetry(co, T0 + t * 1000, { co: ppm })).level]);
    const firstOf = (l: string) => levels.find(([, x]) => x === l)?.[0];
    return { yellow: firstOf('yellow'), red: firstOf('red') };
  }

  it.each([
    // ppm, yellow at (min), red at (min): EN 50291-1 earliest alarm times 50 ppm 60 min, 100 ppm 10 min, 300 ppm 3 min
    [50, 32, 61], // the first minute averages 0 and 50 ppm: below the floor
    [100, 6, 11],
    [300, 3, 4],
  ])('%i ppm: yellow at %i min, red at %i min', (ppm, yellow, red) => {
    expect(run(ppm, 90)).toEqual({ yellow, red });
  });

  it('25 ppm for hours never warns (below the 30 ppm floor)', () => {
    expect(run(25, 480, 300)).toEqual({ yellow: undefined, red: undefined });
  });

  it('one reading of 500 ppm is not an alarm; a gap longer than the interval starts the dose again', () => {
    const e = createRuleEngine({ ruleSet: DEFAULT_RULE_SET, devices: directory([co]) });
    e.evaluate(telemetry(co, T0, { co: 0 }));
    expect(e.evaluate(telemetry(co, T0 + 60_000, { co: 500 })).level).not.toBe('red');
    // 60 ppm, then 2 h of silence, then 60 ppm: the 2 h are not counted as exposure
    const f = createRuleEngine({ ruleSet: DEFAULT_RULE_SET, devices: directory([co]) });
    f.evaluate(telemetry(co, T0, { co: 0 }));
    f.evaluate(telemetry(co, T0 + 60_000, { co: 60 }));
    expect(f.evaluate(telemetry(co, T0 + 2 * 3_600_000, { co: 60 })).level).toBe('green');
    expect(f.evaluate(telemetry(co, T0 + 2 * 3_600_000 + 60_000, { co: 60 })).level).toBe('green');
  });

  it('a CO cell reading 400 ppm from its first sample is an offset to service, not an exposure', () => {
    const e = createRuleEngine({ ruleSet: DEFAULT_RULE_SET, devices: directory([co]) });
    const first = e.evaluate(telemetry(co, T0, { co: 400 }));
    expect(first.findings).toEqual([expect.objectContaining({ ruleId: 'smoke.co_offset', level: 'yellow', category: 'maintenance' })]);
    for (let m = 1; m <= 30; m++) expect(e.evaluate(telemetry(co, T0 + m * 60_000, { co: 400 })).level).not.toBe('red');
  });

  it('the finding says the exposure', () => {
    const e = createRuleEngine({ ruleSet: DEFAULT_RULE_SET, devices: directory([co]) });
    e.evaluate(telemetry(co, T0, { co: 0 }));
    let last = e.evaluate(telemetry(co, T0 + 60_000, { co: 200 }));
    for (let m = 2; m <= 10; m++) last = e.evaluate(telemetry(co, T0 + m * 60_000, { co: 200 }));
    expect(last.findings[0]).toMatchObject({ ruleId: 'smoke.co_alarm', category: 'co', condition: 'co', level: 'red' });
    expect(last.findings[0]!.message.en).toMatch(/alarm curve/);
  });
});

describe('smoke detector maintenance', () => {
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
    ['persisting smoke at alarm level', { smoke: 0.2 }, true],
    ['persisting fixed heat', { temp: 60 }, true],
    ['smoke pre-alarm only', { smoke: 0.1 }, false],
  ])('alarm event confirmed by the same detector\'s %s', (_n, values, confirmed) => {
    const e = engine();
    e.evaluate(event(a, T0, { type: 'alarm' }));
    const ev = hold(e, a, values, 3, 5, T0 + 20_000);
    expect(ev.score).toBe(confirmed ? 100 : 60);
    expect(ev.findings[0]!.confirmed).toBe(confirmed);
  });

  it('smoke then heat on one detector confirms; persisting smoke on a second detector confirms', () => {
    const e = engine();
    expect(hold(e, a, { smoke: 0.3 }, 3).score).toBe(85);
    const both = e.evaluate(telemetry(a, T0 + 15_000, { smoke: 0.4, temp: 70 }));
    expect(both.score).toBe(85); // one hot sample is no evidence yet
    const heat = e.evaluate(telemetry(a, T0 + 20_000, { smoke: 0.4, temp: 70 }));
    // the smoke is the same kind of signal (not confirmed), the heat (rising over 3 samples) is a second kind
    expect(heat.findings.map((f) => [f.condition, f.confirmed])).toEqual([['smoke', false], ['heat', true]]);
    expect(heat.score).toBe(100);
    const other = hold(e, b, { smoke: 0.2 }, 3, 5, T0 + 40_000);
    expect(other.findings[0]).toMatchObject({ condition: 'smoke', confirmed: true, score: 100, deviceId: 'det-b' });
  });

  it('two single noise samples on two detectors of one home confirm nothing (issue 14)', () => {
    const e = engine();
    for (const d of [a, b]) e.evaluate(telemetry(d, T0, { smoke: 0.01 }));
    const one = e.evaluate(telemetry(a, T0 + 5000, { smoke: 0.9 }));
    const two = e.evaluate(telemetry(b, T0 + 6000, { smoke: 0.9 }));
    expect([one.level, two.level]).toEqual(['green', 'green']);
    expect(two.findings.some((f) => f.confirmed)).toBe(false);
  });
});

describe('out-of-range readings (issue 14)', () => {
  it('a negative obscuration from a firmware bug does not drag the zero down and make clean air a fire', () => {
    const e = engine();
    e.evaluate(telemetry(a, T0, { smoke: 0.01 }));
    e.evaluate(telemetry(a, T0 + 1000, { smoke: -5 }));
    for (let i = 2; i < 40; i++) expect(e.evaluate(telemetry(a, T0 + i * 5000, { smoke: 0.012 })).level).toBe('green');
  });
});
