// Pure parts of alerts: rosters across time zones and shift boundaries, policy validation, the
// monthly rating, time-zone calendar arithmetic.
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { RegistryFile, type RegistryFile as RegistryFileType } from '../contracts/registry.ts';
import type { RegistryReader } from '../contracts/ports.ts';
import { createRosters } from '../alerts/roster.ts';
import { DEFAULT_POLICIES, loadPolicyFile, parsePolicies, parsePolicyYaml, rateGridWorker, incidentKey } from '../alerts/index.ts';
import { dayRange, monthRange } from '../alerts/zoned.ts';
import { WatchfireError } from '../contracts/errors.ts';
import { finding, registryFile } from './alerts.fixture.ts';

/** A small in-memory RegistryReader over a RegistryFile: rosters only need people and rosters. */
function reader(file: RegistryFileType): RegistryReader {
  const by = <T extends { id: string }>(xs: T[]) => new Map(xs.map((x) => [x.id, x]));
  const people = by(file.people);
  const centers = by(file.centers);
  return {
    person: (id) => people.get(id), center: (id) => centers.get(id), roster: (c) => file.rosters.find((r) => r.centerId === c),
    people: () => file.people, centers: () => file.centers,
  } as Partial<RegistryReader> as RegistryReader;
}

describe('rosters', () => {
  const rosters = createRosters({ registry: reader(registryFile()), timezone: 'Asia/Shanghai' });
  const ids = (at: string) => {
    const d = rosters.onDuty('fc1', Date.parse(at));
    return { ops: d.operators.map((p) => p.id), sup: d.supervisors.map((p) => p.id), shifts: d.shifts.map((s) => s.shift.id) };
  };

  it('finds the shift on duty in the roster time zone, on both sides of each boundary', () => {
    expect(ids('2026-11-23T08:00:00+08:00')).toEqual({ ops: ['op-liu', 'op-sun'], sup: ['sup-huang'], shifts: ['day'] });
    expect(ids('2026-11-23T07:59:59.999+08:00')).toEqual({ ops: ['op-zhou', 'op-wu'], sup: ['sup-ma'], shifts: ['night'] });
    expect(ids('2026-11-23T19:59:59+08:00').shifts).toEqual(['day']);
    expect(ids('2026-11-23T20:00:00+08:00').shifts).toEqual(['night']);
    // The night shift runs over midnight: 02:00 belongs to the shift that started at 20:00 the day before.
    const d = rosters.onDuty('fc1', Date.parse('2026-11-24T02:00:00+08:00'));
    expect(d.shifts[0]).toMatchObject({ startedAt: Date.parse('2026-11-23T20:00:00+08:00'), endsAt: Date.parse('2026-11-24T08:00:00+08:00') });
    // The same instant seen from UTC: 00:30Z is 08:30 in Shanghai.
    expect(ids('2026-11-23T00:30:00Z').shifts).toEqual(['day']);
    expect(d.liaison?.id).toBe('li-119');
    expect(d.manager?.id).toBe('mgr-qian');
  });

  it('honours another time zone and daylight saving, overlapping and weekly shifts, gaps with nobody', () => {
    const file = registryFile();
    file.centers.push({ id: 'fc2', name: 'Berlin', timezone: 'Europe/Berlin', consortium: [] });
    file.rosters.push({
      centerId: 'fc2', timezone: 'Europe/Berlin',
      shifts: [
        { id: 'weekday', name: 'weekday', start: '0 9 * * 1-5', durationMinutes: 480, operators: ['op-liu'], supervisor: 'sup-huang' },
        { id: 'overlap', name: 'overlap', start: '0 16 * * 1-5', durationMinutes: 120, operators: ['op-sun', 'op-liu'] },
        { id: 'weekend', name: 'weekend', start: '0 9 * * 6', durationMinutes: 2880, operators: ['op-zhou'] },
      ],
    });
    const r = createRosters({ registry: reader(RegistryFile.parse(file)), timezone: 'Asia/Shanghai' });
    const at = (iso: string) => r.onDuty('fc2', Date.parse(iso));
    // Summer (CEST, +02:00) and winter (CET, +01:00): 09:00 local either way.
    expect(at('2026-07-07T07:00:00Z').operators.map((p) => p.id)).toEqual(['op-liu']);
    expect(at('2026-07-07T06:59:59Z').operators).toEqual([]);
    expect(at('2026-11-23T08:00:00Z').operators.map((p) => p.id)).toEqual(['op-liu']);
    // 16:30 on a weekday: both shifts, each operator once.
    expect(at('2026-11-23T15:30:00Z').operators.map((p) => p.id)).toEqual(['op-liu', 'op-sun']);
    // Sunday afternoon belongs to the 48-hour weekend shift that started Saturday.
    expect(at('2026-11-29T14:00:00Z').shifts.map((s) => s.shift.id)).toEqual(['weekend']);
    // Friday 18:30: the weekday and overlap shifts are over, the weekend has not begun.
    expect(at('2026-11-27T17:30:00Z').operators).toEqual([]);
    expect(at('2026-11-30T07:59:00Z').shifts.map((s) => s.shift.id)).toEqual(['weekend']);
    expect(r.onDuty('nowhere', Date.now()).operators).toEqual([]);
  });
});

describe('escalation policies', () => {
  it('the example file is exactly the defaults', () => {
    expect(loadPolicyFile(join(import.meta.dirname, '../config/policies.example.yaml'))).toEqual(DEFAULT_POLICIES);
  });

  it('lists every problem by path', () => {
    const bad = () => parsePolicyYaml(`
policies:
  - id: red
    level: red
    steps:
      - { id: alarm, kind: alarm, after: soon, notify: [{ to: console }] }
      - { id: alarm, kind: shout, every: 2s, notify: [] }
`);
    let err: unknown;
    try {
      bad();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(WatchfireError);
    expect((err as WatchfireError).code).toBe('WF_POLICY_INVALID');
    const details = (err as WatchfireError).details.join('\n');
    expect(details).toContain('policies.0.steps.0.after');
    expect(details).toContain('policies.0.steps.1.kind');
    expect(details).toContain('policies.0.steps.1.every');
    expect(details).toContain('policies.0.steps.1.notify');
  });

  it('refuses policies that leave a level and category uncovered, or duplicate ids', () => {
    const only = (categories: string[]) => ({ id: 'red-fire', level: 'red', categories, steps: [{ id: 'a', kind: 'alarm', notify: [{ to: 'console' }] }] });
    expect(() => parsePolicies({ policies: [only(['fire']), ...DEFAULT_POLICIES.policies.filter((p) => p.level === 'yellow')] }))
      .toThrow(/no red policy covers category co/);
    expect(() => parsePolicies({ policies: [...DEFAULT_POLICIES.policies, DEFAULT_POLICIES.policies[0]] })).toThrow(/duplicate policy id red/);
  });
});

describe('incident keys', () => {
  it('homes by site and category, panels by panel, zone and category, maintenance by device and condition', () => {
    expect(incidentKey(finding())).toBe('site:h1:fire');
    expect(incidentKey(finding({ deviceId: 'sd2', condition: 'smoke' }))).toBe('site:h1:fire');
    expect(incidentKey(finding({ deviceId: 'fp1', deviceType: 'fire_panel', zone: '3' }))).toBe('panel:fp1:3:fire');
    expect(incidentKey(finding({ category: 'maintenance', condition: 'offline' }))).toBe('device:sd1:offline');
  });
});

describe('monthly rating', () => {
  const base = { tasks: 4, ackSeconds: [60, 90], toSiteSeconds: [300, 500], closed: 4, closedWithinTarget: 4, feedbackComplete: 4 };
  it('five stars for fast take-up, fast arrival, closure within target and complete feedback', () => {
    expect(rateGridWorker(base)).toMatchObject({ stars: 5, score: 1 });
  });
  it('one star when everything is slow, late and undocumented', () => {
    expect(rateGridWorker({ ...base, ackSeconds: [3600], toSiteSeconds: [7200], closedWithinTarget: 0, feedbackComplete: 0 })).toMatchObject({ stars: 1, score: 0 });
  });
  it('in between, each part weighs in: slow arrival and half the feedback cost stars', () => {
    const r = rateGridWorker({ ...base, toSiteSeconds: [2100, 2100], feedbackComplete: 2 });
    expect(r.parts).toEqual({ ack: 1, site: 0.5, closure: 1, feedback: 0.5 });
    expect(r.score).toBeCloseTo(0.25 + 0.15 + 0.25 + 0.1);
    expect(r.stars).toBe(4);
  });
  it('no task in the month is no rating, not a bad one; missing parts leave their weight to the rest', () => {
    expect(rateGridWorker({ tasks: 0, ackSeconds: [], toSiteSeconds: [], closed: 0, closedWithinTarget: 0, feedbackComplete: 0 }).stars).toBeNull();
    expect(rateGridWorker({ tasks: 2, ackSeconds: [], toSiteSeconds: [], closed: 2, closedWithinTarget: 2, feedbackComplete: 2 })).toMatchObject({ stars: 5, parts: { ack: null, site: null } });
  });
});

describe('calendar in a time zone', () => {
  it('days and months start at local midnight', () => {
    expect(dayRange('2026-11-23', 'Asia/Shanghai')).toEqual([Date.parse('2026-11-23T00:00:00+08:00'), Date.parse('2026-11-24T00:00:00+08:00')]);
    expect(monthRange('2026-12', 'Asia/Shanghai')).toEqual([Date.parse('2026-12-01T00:00:00+08:00'), Date.parse('2027-01-01T00:00:00+08:00')]);
    // The day DST ends in Berlin has 25 hours.
    const [a, b] = dayRange('2026-10-25', 'Europe/Berlin');
    expect(b - a).toBe(25 * 3_600_000);
  });
});
