// Rules for any device: offline by sweep and by will message, back online, clock far off, seq gaps.
import { describe, expect, it } from 'vitest';
import { createRuleEngine, DEFAULT_RULE_SET, offlineAfterMs } from '../rules/index.ts';
import { device, directory, event, telemetry } from '../rules/test-support.ts';
import type { DeviceInfo } from '../contracts/registry.ts';

const T0 = Date.UTC(2026, 10, 23, 8, 0, 0);
const SEC = 1000;

function setup(devs: DeviceInfo[]) {
  return createRuleEngine({ ruleSet: DEFAULT_RULE_SET, devices: directory(devs) });
}

describe('offline thresholds (DESIGN.md)', () => {
  it.each([
    ['fire_panel', 60, 180],
    ['smoke_detector', 300, 660],
    ['smoke_detector', 86_400, 90_000], // NB-IoT daily: 25 h
    ['settlement_sensor', 3600, 7200],
  ] as const)('%s reporting every %i s is offline after %i s', (type, interval, after) => {
    expect(offlineAfterMs(DEFAULT_RULE_SET[type], interval)).toBe(after * SEC);
  });
});

describe('offline sweep', () => {
  const panel = device('panel-1', 'fire_panel');
  const det = device('det-1', 'smoke_detector');
  const off = device('det-off', 'smoke_detector', { enabled: false });

  it('reports a silent device once, at the threshold, and its first reading clears it', () => {
    const e = setup([panel, det, off]);
    e.evaluate(telemetry(panel, T0, { mainPower: 'ok' }));
    e.evaluate(telemetry(det, T0, { smoke: 0 }));
    expect(e.sweep(T0 + 180 * SEC)).toEqual([]);
    const found = e.sweep(T0 + 181 * SEC);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ ruleId: 'any.offline', deviceId: 'panel-1', category: 'maintenance', condition: 'offline', level: 'yellow', ts: T0 + 181 * SEC, clears: false });
    expect(found[0]!.message.en).toMatch(/silent for 3 min/);
    expect(e.sweep(T0 + 200 * SEC)).toEqual([]); // reported once
    expect(e.stats().offline).toBe(1);
    const back = e.evaluate(telemetry(panel, T0 + 500 * SEC, { mainPower: 'ok' }));
    expect(back.findings).toHaveLength(1);
    expect(back.findings[0]).toMatchObject({ condition: 'offline', clears: true, level: 'green' });
    // the detector (300 s interval) goes at 660 s; the disabled one never
    expect(e.sweep(T0 + 661 * SEC).map((f) => f.deviceId)).toEqual(['det-1']);
  });

  it('uses the gateway receive time, not the device time, as last seen', () => {
    const e = setup([panel]);
    // a buffered reading measured long ago but received now
    e.evaluate(telemetry(panel, T0 - 3_600_000, {}, { receivedAt: T0 }));
    expect(e.sweep(T0 + 100 * SEC)).toEqual([]);
  });

  it('counts devices never heard from since start from the first sweep', () => {
    const e = setup([panel]);
    expect(e.sweep(T0)).toEqual([]);
    expect(e.sweep(T0 + 180 * SEC)).toEqual([]);
    expect(e.sweep(T0 + 181 * SEC)).toHaveLength(1);
  });

  it('honours a per-device interval and override', () => {
    const slow = device('det-nb', 'smoke_detector', { intervalSec: 86_400 });
    const tuned = device('det-t', 'smoke_detector', { rules: { offline: { intervals: 3, graceSec: 0 } } });
    const e = setup([slow, tuned]);
    e.sweep(T0);
    expect(e.sweep(T0 + 900 * SEC)).toEqual([]); // tuned: 3 × 300 s
    expect(e.sweep(T0 + 901 * SEC).map((f) => f.deviceId)).toEqual(['det-t']);
    expect(e.sweep(T0 + 25 * 3600 * SEC + SEC).map((f) => f.deviceId)).toEqual(['det-nb']);
  });
});

describe('presence', () => {
  const panel = device('panel-1', 'fire_panel');
  const det = device('det-1', 'smoke_detector');

  it('a panel\'s will message makes it offline at once; online clears it once', () => {
    const e = setup([panel]);
    const f = e.presence({ deviceId: 'panel-1', online: false, at: T0, reason: 'will' });
    expect(f).toHaveLength(1);
    expect(f[0]).toMatchObject({ ruleId: 'any.offline_disconnect', condition: 'offline', level: 'yellow', ts: T0 });
    expect(e.presence({ deviceId: 'panel-1', online: false, at: T0 + 1, reason: 'socket' })).toEqual([]);
    expect(e.sweep(T0 + 3600 * SEC)).toEqual([]); // already reported
    const back = e.presence({ deviceId: 'panel-1', online: true, at: T0 + 10 * SEC, reason: 'connect' });
    expect(back).toHaveLength(1);
    expect(back[0]).toMatchObject({ condition: 'offline', clears: true });
    expect(e.presence({ deviceId: 'panel-1', online: true, at: T0 + 11 * SEC, reason: 'status' })).toEqual([]);
  });

  it.each([
    ['a detector\'s will message (they disconnect between reports)', 'det-1', 'will'],
    ['a panel during gateway shutdown', 'panel-1', 'shutdown'],
    ['an unknown device', 'ghost', 'will'],
  ] as const)('nothing for %s', (_n, id, reason) => {
    expect(setup([panel, det]).presence({ deviceId: id, online: false, at: T0, reason })).toEqual([]);
  });

  it('connect counts as seen for the sweep', () => {
    const e = setup([panel]);
    e.sweep(T0);
    e.presence({ deviceId: 'panel-1', online: true, at: T0 + 170 * SEC, reason: 'connect' });
    expect(e.sweep(T0 + 300 * SEC)).toEqual([]);
  });
});

describe('clock and sequence', () => {
  const det = device('det-1', 'smoke_detector');

  it('a reading flagged clock_bad is flagged for maintenance; a good one clears it once', () => {
    const e = setup([det]);
    const bad = e.evaluate(telemetry(det, T0, { smoke: 0 }, { flags: ['clock_bad'] }));
    expect(bad.findings[0]).toMatchObject({ ruleId: 'any.clock', category: 'maintenance', condition: 'clock', level: 'yellow' });
    const good = e.evaluate(telemetry(det, T0 + 1, { smoke: 0 }));
    expect(good.findings).toHaveLength(1);
    expect(good.findings[0]).toMatchObject({ condition: 'clock', clears: true });
    expect(e.evaluate(telemetry(det, T0 + 2, { smoke: 0 })).findings).toEqual([]);
  });

  it('counts gaps in seq, not late or restarted counters', () => {
    const e = setup([det]);
    const at = (seq: number, i: number) => e.evaluate(telemetry(det, T0 + i, { smoke: 0 }, { seq }));
    expect(at(10, 0).findings).toEqual([]);
    expect(at(11, 1).findings).toEqual([]);
    const gap = at(15, 2);
    expect(gap.findings[0]).toMatchObject({ ruleId: 'any.seq_gap', condition: 'seq_gap', level: 'green', score: 10 });
    expect(gap.findings[0]!.message.en).toMatch(/^3 message/);
    expect(at(13, 3).findings).toEqual([]); // late
    expect(at(0, 4).findings).toEqual([]); // small step back: late, ignored
    expect(at(16, 5).findings).toEqual([]);
    expect(at(5000, 6).findings).toHaveLength(1);
    expect(at(2, 7).findings).toEqual([]); // restart (reboot)
    expect(at(3, 8).findings).toEqual([]);
    expect(e.stats()).toMatchObject({ seqGaps: 2, seqMissing: 3 + 4983 });
  });

  it('an event also counts as seen and clears offline', () => {
    const e = setup([det]);
    e.sweep(T0);
    expect(e.sweep(T0 + 661 * SEC)).toHaveLength(1);
    const ev = e.evaluate(event(det, T0 + 700 * SEC, { type: 'test' }));
    expect(ev.findings.map((f) => [f.condition, f.clears])).toEqual([['offline', true], ['test', false]]);
  });
});

describe('a rule that throws (issue 14)', () => {
  it('is counted with its code and device, reported, and the engine goes on', () => {
    const d = device('det-x', 'smoke_detector');
    const seen: Array<{ code: string; deviceId: string }> = [];
    const e = createRuleEngine({ ruleSet: DEFAULT_RULE_SET, devices: directory([d]), onRuleError: (info) => seen.push(info) });
    const poisoned = { ...telemetry(d, T0, {}), values: new Proxy({}, { get() { throw new Error('boom'); } }) };
    expect(e.evaluate(poisoned).level).toBe('green');
    expect(seen).toEqual([expect.objectContaining({ code: 'WF_RULE_EXCEPTION', deviceId: 'det-x', deviceType: 'smoke_detector', message: 'boom' })]);
    expect(e.stats()).toMatchObject({ internalErrors: 1, lastInternalError: { deviceId: 'det-x' } });
    expect(e.evaluate(telemetry(d, T0 + 1000, { battery: 10 })).level).toBe('yellow');
  });
});
