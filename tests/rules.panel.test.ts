// Fire panel rules: fire and manual call points, confirmation by a second point or a started
// output within the window, faults, supervisory, disabled points and power (DESIGN.md "Rules").
import { describe, expect, it } from 'vitest';
import { createRuleEngine, DEFAULT_RULE_SET } from '../rules/index.ts';
import { device, directory, event, telemetry } from '../rules/test-support.ts';

const T0 = Date.UTC(2026, 10, 23, 8, 0, 0);
const p = device('panel-1', 'fire_panel', { siteId: 'mall', location: 'control room' });
const q = device('panel-2', 'fire_panel', { siteId: 'mall' });

function engine() {
  return createRuleEngine({ ruleSet: DEFAULT_RULE_SET, devices: directory([p, q]) });
}
const pt = (type: string, loop: number, point: number, extra: Record<string, unknown> = {}) => ({ type, loop, point, ...extra });

describe('fire and manual call points', () => {
  it.each([
    ['fire', 'fire'],
    ['manual_call', 'manual_call'],
  ])('%s → red 90 in the point\'s zone', (type, cond) => {
    const ev = engine().evaluate(event(p, T0, pt(type, 1, 12, { zone: '3F', label: '3F corridor' })));
    expect(ev).toMatchObject({ level: 'red', score: 90 });
    expect(ev.findings[0]).toMatchObject({ category: 'fire', condition: cond, zone: '3F', confirmed: false, deviceId: 'panel-1' });
    expect(ev.findings[0]!.message.en).toContain('3F corridor');
    expect(ev.findings[0]!.message.zh).toContain('1 回路 12 号点');
  });

  it('takes the loop as the zone when the panel gives none', () => {
    expect(engine().evaluate(event(p, T0, pt('fire', 4, 2))).findings[0]!.zone).toBe('loop 4');
  });

  it.each([
    ['a second point at 120 s', () => pt('fire', 1, 13), 120_000, true],
    ['a second point at 121 s', () => pt('fire', 1, 13), 121_000, false],
    ['the same point again', () => pt('fire', 1, 12), 10_000, false],
    ['a manual call point of another loop', () => pt('manual_call', 2, 1), 5_000, true],
  ])('%s → confirmed %s', (_n, second, dt, confirmed) => {
    const e = engine();
    e.evaluate(event(p, T0, pt('fire', 1, 12)));
    const ev = e.evaluate(event(p, T0 + dt, second()));
    expect(ev.findings[0]).toMatchObject({ confirmed, score: confirmed ? 100 : 90 });
  });

  it('a point of another panel does not confirm', () => {
    const e = engine();
    e.evaluate(event(p, T0, pt('fire', 1, 12)));
    expect(e.evaluate(event(q, T0 + 1000, pt('fire', 1, 13))).findings[0]!.confirmed).toBe(false);
  });

  it('a started output confirms the fire in the fire\'s zone, either order', () => {
    const e = engine();
    e.evaluate(event(p, T0, pt('fire', 1, 12, { zone: 'B1' })));
    const ev = e.evaluate(event(p, T0 + 30_000, pt('action', 9, 1, { label: 'sprinkler pump' })));
    expect(ev.findings[0]).toMatchObject({ ruleId: 'panel.action_confirmed', confirmed: true, score: 100, zone: 'B1', condition: 'fire' });
    expect(ev.findings[0]!.message.en).toContain('sprinkler pump');

    const e2 = engine();
    expect(e2.evaluate(event(p, T0, pt('action', 9, 1))).findings[0]).toMatchObject({ category: 'info', level: 'green' });
    expect(e2.evaluate(event(p, T0 + 60_000, pt('fire', 2, 3))).findings[0]).toMatchObject({ confirmed: true, score: 100 });
  });

  it('fire_clear and reset are recorded but never clear a fire', () => {
    const e = engine();
    e.evaluate(event(p, T0, pt('fire', 1, 12)));
    for (const ev of [e.evaluate(event(p, T0 + 1, pt('fire_clear', 1, 12))), e.evaluate(event(p, T0 + 2, { type: 'reset' }))]) {
      expect(ev.level).toBe('green');
      expect(ev.findings.some((f) => f.clears)).toBe(false);
    }
  });

  it.each([
    [0, 'green'],
    [1, 'red'],
  ])('telemetry pointsInAlarm %i → %s', (n, level) => {
    expect(engine().evaluate(telemetry(p, T0, { pointsInAlarm: n })).level).toBe(level);
  });

  it('adds no panel-wide fire beside the zones once point events said where the fire is, until a reset', () => {
    const e = engine();
    e.evaluate(event(p, T0, pt('fire', 1, 12, { zone: '3F' })));
    // The storm's heartbeats keep counting points in alarm: the zone incident already covers them.
    expect(e.evaluate(telemetry(p, T0 + 60_000, { pointsInAlarm: 5 })).findings.filter((f) => f.category === 'fire')).toEqual([]);
    e.evaluate(event(p, T0 + 120_000, { type: 'reset' }));
    // After a reset, a count with no point event is all there is to go on: panel-wide red.
    expect(e.evaluate(telemetry(p, T0 + 180_000, { pointsInAlarm: 1 })).level).toBe('red');
  });
});

describe('faults, supervisory and disabled points', () => {
  it.each([
    ['fault', 'fault_clear', 'fault', 45],
    ['supervisory', 'supervisory_clear', 'supervisory', 45],
    ['disable', 'enable', 'disabled', 40],
  ])('%s on two points; %s of both clears once', (on, off, cond, score) => {
    const e = engine();
    const first = e.evaluate(event(p, T0, pt(on, 1, 1)));
    expect(first.findings[0]).toMatchObject({ category: 'maintenance', condition: cond, score, level: score >= 40 ? 'yellow' : 'green' });
    e.evaluate(event(p, T0 + 1, pt(on, 1, 2)));
    expect(e.evaluate(event(p, T0 + 2, pt(off, 1, 1))).findings).toEqual([]); // point 2 still
    const cleared = e.evaluate(event(p, T0 + 3, pt(off, 1, 2))).findings;
    expect(cleared).toHaveLength(1);
    expect(cleared[0]).toMatchObject({ condition: cond, clears: true, level: 'green' });
  });

  it('a panel-level fault (no point) clears with its fault_clear', () => {
    const e = engine();
    expect(e.evaluate(event(p, T0, { type: 'fault' })).level).toBe('yellow');
    expect(e.evaluate(event(p, T0 + 1, { type: 'fault_clear' })).findings[0]).toMatchObject({ clears: true, condition: 'fault' });
  });

  it('telemetry counts raise and clear faults and disabled points', () => {
    const e = engine();
    expect(e.evaluate(telemetry(p, T0, { pointsInFault: 0, pointsDisabled: 0 })).findings).toEqual([]);
    const ev = e.evaluate(telemetry(p, T0 + 60_000, { pointsInFault: 2, pointsDisabled: 1 }));
    expect(ev.findings.map((f) => [f.condition, f.level])).toEqual([['fault', 'yellow'], ['disabled', 'yellow']]);
    const cleared = e.evaluate(telemetry(p, T0 + 120_000, { pointsInFault: 0, pointsDisabled: 0 }));
    expect(cleared.findings.map((f) => [f.condition, f.clears])).toEqual([['fault', true], ['disabled', true]]);
  });
});

describe('power', () => {
  it('one supply failed is yellow, both red, restored clears once', () => {
    const e = engine();
    const main = e.evaluate(event(p, T0, { type: 'main_power_fail' }));
    expect(main.findings[0]).toMatchObject({ condition: 'power', level: 'yellow', score: 50, category: 'maintenance' });
    const both = e.evaluate(event(p, T0 + 1, { type: 'backup_power_fail' }));
    expect(both.findings[0]).toMatchObject({ ruleId: 'panel.power_both_failed', level: 'red', score: 85 });
    expect(e.evaluate(event(p, T0 + 2, { type: 'main_power_restore' })).level).toBe('yellow');
    const ok = e.evaluate(event(p, T0 + 3, { type: 'backup_power_restore' }));
    expect(ok.findings).toHaveLength(1);
    expect(ok.findings[0]).toMatchObject({ condition: 'power', clears: true });
  });

  it.each([
    ['ok', 'ok', 'green'],
    ['fail', 'ok', 'yellow'],
    ['ok', 'fail', 'yellow'],
    ['fail', 'fail', 'red'],
  ])('telemetry main %s backup %s → %s', (mainPower, backupPower, level) => {
    expect(engine().evaluate(telemetry(p, T0, { mainPower, backupPower })).level).toBe(level);
  });
});
