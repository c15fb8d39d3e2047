// Rules are data: the YAML default set equals DEFAULT_RULE_SET, errors are reported by path,
// per-device overrides apply (bad keys left out with a reason, the valid ones kept), and hot reload from the API
// or the file refuses an invalid set while the running one stays.
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { parse as parseYaml } from 'yaml';
import { checkDeviceRules, createRuleEngine, DEFAULT_RULE_SET, parseRuleSet, watchRuleFile, type ReloadResult } from '../rules/index.ts';
import { device, directory, telemetry } from '../rules/test-support.ts';

const T0 = Date.UTC(2026, 10, 23, 8, 0, 0);
const yamlText = readFileSync(new URL('../rules/default-rules.yaml', import.meta.url), 'utf8');

describe('the default rule set', () => {
  it('rules/default-rules.yaml lists every number of DEFAULT_RULE_SET, with the same values', () => {
    expect(parseYaml(yamlText)).toEqual(DEFAULT_RULE_SET);
    const parsed = parseRuleSet(yamlText);
    expect(parsed).toEqual({ ok: true, ruleSet: DEFAULT_RULE_SET });
  });

  it('has the DESIGN.md numbers', () => {
    const { smoke_detector: s, fire_panel: p, settlement_sensor: t } = DEFAULT_RULE_SET;
    expect([s.smoke.preAlarm, s.smoke.alarm, s.heat.fixedC, s.heat.rateCPerMin, s.battery.lowPct, s.confirmWindowSec]).toEqual([0.08, 0.15, 57, 8.3, 20, 120]);
    // EN 50291-1's earliest alarm times, and its 30 ppm floor
    expect([s.co.curve, s.co.floorPpm]).toEqual([[[50, 60], [100, 10], [300, 3]], 30]);
    expect(p.confirmWindowSec).toBe(120);
    expect([t.tilt.alarm, t.settlement.alarm, t.crack.alarm, t.settlement.warnRatio, t.rate.slow.perDay, t.rate.fast.perDay]).toEqual([4, 20, 2, 0.7, 0.13, 2]);
  });
});

describe('parseRuleSet', () => {
  it('merges a partial file over the defaults', () => {
    const r = parseRuleSet('smoke_detector:\n  smoke:\n    alarm: 0.2\n');
    expect(r.ok && r.ruleSet.smoke_detector.smoke).toEqual({ ...DEFAULT_RULE_SET.smoke_detector.smoke, alarm: 0.2 });
    expect(r.ok && r.ruleSet.fire_panel).toEqual(DEFAULT_RULE_SET.fire_panel);
  });

  it('reports every error with its path', () => {
    const r = parseRuleSet({
      smoke_detector: { smoke: { alarm: 'high', bogus: 1 }, co: { floorPpm: -5 } },
      fire_panel: { power: { bothFailedScore: 101 } },
      sensor: {},
    });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors).toEqual(expect.arrayContaining([
      expect.stringMatching(/^smoke_detector\.smoke\.alarm: /),
      expect.stringMatching(/^smoke_detector\.smoke: .*bogus/),
      expect.stringMatching(/^smoke_detector\.co\.floorPpm: /),
      expect.stringMatching(/^fire_panel\.power\.bothFailedScore: /),
      expect.stringMatching(/^\(root\): .*sensor/),
    ]));
    expect(r.errors).toHaveLength(5);
  });

  it.each([
    [{ smoke_detector: { smoke: { preAlarm: 0.2 } } }, /^smoke_detector\.smoke\.alarm: must be above smoke\.preAlarm/],
    [{ smoke_detector: { co: { curve: [[50, 60], [40, 10]] } } }, /^smoke_detector\.co\.curve\.1: /],
    [{ smoke_detector: { persist: { count: 5 } } }, /^smoke_detector\.persist\.count: /],
    [{ smoke_detector: { battery: { clearPct: 10 } } }, /^smoke_detector\.battery\.clearPct: /],
    [{ settlement_sensor: { rate: { fast: { perDay: 0.1 } } } }, /^settlement_sensor\.rate\.fast\.perDay: /],
    [{ settlement_sensor: { rate: { slow: { minPoints: 40 } } } }, /^settlement_sensor\.rate\.slow\.minPoints: /],
    [{ settlement_sensor: { tilt: { filter: 'max' } } }, /^settlement_sensor\.tilt\.filter: /],
    [{ settlement_sensor: { tilt: { warnRatio: 1.2 } } }, /^settlement_sensor\.tilt\.warnRatio: /],
    [{ version: 2 }, /^version: /],
  ])('refuses inconsistent thresholds %j', (input, re) => {
    const r = parseRuleSet(input);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors).toEqual(expect.arrayContaining([expect.stringMatching(re)]));
  });

  it.each([
    ['smoke_detector: [unclosed', /^\(yaml\): /],
    ['- a\n- b\n', /^\(root\): /],
  ])('refuses bad YAML %j', (text, re) => {
    const r = parseRuleSet(text);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors[0]).toMatch(re);
  });
});

// Single samples count for these tests (the persistence itself is tested in rules.smoke.test.ts).
const ONE = { persist: { count: 1, of: 1 } };

describe('per-device overrides', () => {
  it('apply to that device only', () => {
    const kitchen = device('det-k', 'smoke_detector', { siteId: 'h1', rules: { ...ONE, smoke: { preAlarm: 0.12, alarm: 0.25 } } });
    const hall = device('det-h', 'smoke_detector', { siteId: 'h2', rules: ONE });
    const e = createRuleEngine({ ruleSet: DEFAULT_RULE_SET, devices: directory([kitchen, hall]) });
    e.evaluate(telemetry(kitchen, T0 - 1000, { smoke: 0 }));
    e.evaluate(telemetry(hall, T0 - 1000, { smoke: 0 }));
    expect(e.evaluate(telemetry(kitchen, T0, { smoke: 0.1 })).level).toBe('green');
    expect(e.evaluate(telemetry(kitchen, T0 + 1, { smoke: 0.2 })).level).toBe('yellow');
    expect(e.evaluate(telemetry(hall, T0, { smoke: 0.2 })).level).toBe('red');
  });

  it('an invalid override is never dropped whole: bad keys are left out and said, valid ones apply', () => {
    const bad = device('det-b', 'smoke_detector', { rules: { ...ONE, smoke: { alarm: 'never', preAlarm: 0.12 }, nonsense: 1 } });
    const reported: Array<[string, string[]]> = [];
    const e = createRuleEngine({ ruleSet: DEFAULT_RULE_SET, devices: directory([bad]), onOverrideError: (id, errors) => reported.push([id, errors]) });
    const first = e.evaluate(telemetry(bad, T0, { smoke: 0 }));
    expect(first.findings).toEqual([expect.objectContaining({ ruleId: 'any.rules_override', level: 'yellow', category: 'maintenance', deviceId: 'det-b' })]);
    expect(first.findings[0]!.message.en).toMatch(/rules\.smoke\.alarm/);
    expect(e.evaluate(telemetry(bad, T0 + 1000, { smoke: 0.1 })).level).toBe('green'); // its preAlarm 0.12 applies
    expect(e.evaluate(telemetry(bad, T0 + 2000, { smoke: 0.2 })).level).toBe('red'); // the type's alarm 0.15, one sample (its persist applies)
    expect(reported).toHaveLength(1); // resolved once, not per reading
    expect(reported[0]![0]).toBe('det-b');
    expect(reported[0]![1]).toEqual(expect.arrayContaining([expect.stringMatching(/^rules\.smoke\.alarm: /), expect.stringMatching(/^rules: .*nonsense/)]));
    expect(e.stats()).toMatchObject({ overrideErrors: 1, lastOverrideError: { deviceId: 'det-b' } });
  });

  it('checkDeviceRules gives registry check the engine\'s own reasons', () => {
    expect(checkDeviceRules(DEFAULT_RULE_SET, 'smoke_detector', { smoke: { alarm: 0.2 } })).toEqual([]);
    expect(checkDeviceRules(DEFAULT_RULE_SET, 'settlement_sensor', { rate: { slow: { windowDays: 'x' } } })).toEqual([expect.stringMatching(/^rules\.rate\.slow\.windowDays: /)]);
  });

  it('a registry edit of the override takes effect on the next reading', () => {
    const d = device('det-1', 'smoke_detector');
    const dir = directory([d]);
    const e = createRuleEngine({ ruleSet: DEFAULT_RULE_SET, devices: dir });
    expect(e.evaluate(telemetry(d, T0, { battery: 25 })).level).toBe('green');
    dir.set({ ...d, rules: { battery: { lowPct: 30, clearPct: 35 } } });
    expect(e.evaluate(telemetry(d, T0 + 1, { battery: 25 })).level).toBe('yellow');
  });
});

describe('reload', () => {
  it('swaps a valid set in, refuses an invalid one with reasons and keeps the running one', () => {
    const d = device('det-1', 'smoke_detector', { rules: { ...ONE, smoke: { alarm: 0.5 } } });
    const e = createRuleEngine({ ruleSet: DEFAULT_RULE_SET, devices: directory([d]) });
    e.evaluate(telemetry(d, T0 - 1000, { smoke: 0 }));
    expect(e.evaluate(telemetry(d, T0, { smoke: 0.1 })).level).toBe('yellow');
    expect(e.reload({ smoke_detector: { smoke: { preAlarm: 0.11 } } })).toEqual({ ok: true });
    expect(e.ruleSet().smoke_detector.smoke.preAlarm).toBe(0.11);
    expect(e.evaluate(telemetry(d, T0 + 1, { smoke: 0.1 })).level).toBe('green');
    expect(e.evaluate(telemetry(d, T0 + 2, { smoke: 0.3 })).level).toBe('yellow'); // the override's alarm 0.5 still applies
    const bad = e.reload('smoke_detector:\n  smoke:\n    preAlarm: -1\n');
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.errors[0]).toMatch(/^smoke_detector\.smoke\.preAlarm: /);
    expect(e.ruleSet().smoke_detector.smoke.preAlarm).toBe(0.11);
    expect(e.stats()).toMatchObject({ reloads: 1, reloadFailures: 1 });
  });
});

describe('watchRuleFile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wf-rules-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reloads on save and on rename-over, and refuses an invalid file with its reasons in the log', async () => {
    const file = join(dir, 'rules.yaml');
    writeFileSync(file, yamlText);
    const e = createRuleEngine({ ruleSet: DEFAULT_RULE_SET, devices: directory([]) });
    const lines: Array<Record<string, unknown>> = [];
    const logger = pino({ level: 'info' }, new Writable({ write(chunk: Buffer, _enc, cb) { lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>); cb(); } }));
    const results: ReloadResult[] = [];
    let wake: (() => void) | undefined;
    const next = () => new Promise<void>((resolve) => { wake = resolve; });
    const stop = watchRuleFile(file, e, logger, { debounceMs: 20, onReload: (r) => { results.push(r); wake?.(); } });
    try {
      let p = next();
      writeFileSync(file, 'smoke_detector:\n  smoke:\n    preAlarm: 0.1\n');
      await p;
      expect(results.at(-1)).toEqual({ ok: true });
      expect(e.ruleSet().smoke_detector.smoke.preAlarm).toBe(0.1);

      p = next();
      writeFileSync(file, 'smoke_detector:\n  smoke:\n    preAlarm: 0.5\n'); // above the alarm level
      await p;
      expect(results.at(-1)!.ok).toBe(false);
      expect(e.ruleSet().smoke_detector.smoke.preAlarm).toBe(0.1);
      const warn = lines.find((l) => l.code === 'WF_RULES_INVALID');
      expect(warn?.errors).toEqual([expect.stringMatching(/^smoke_detector\.smoke\.alarm: must be above/)]);

      p = next();
      writeFileSync(join(dir, 'tmp.yaml'), 'fire_panel:\n  confirmWindowSec: 90\n');
      renameSync(join(dir, 'tmp.yaml'), file);
      await p;
      expect(e.ruleSet().fire_panel.confirmWindowSec).toBe(90);
    } finally {
      stop();
    }
  });
});
