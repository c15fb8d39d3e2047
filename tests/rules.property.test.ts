// Property: no schema-valid reading, in any order, with any per-device override, makes the engine
// throw or give a score outside 0..100 or a level that disagrees with its score.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createRuleEngine, DEFAULT_RULE_SET } from '../rules/index.ts';
import { device, event, telemetry } from '../rules/test-support.ts';
import { EventByType, PANEL_EVENT_TYPES, SETTLEMENT_EVENT_TYPES, SMOKE_EVENT_TYPES, TelemetryByType, type DeviceType } from '../contracts/protocol.ts';
import { levelOf } from '../contracts/findings.ts';
import type { DeviceInfo } from '../contracts/registry.ts';
import type { Reading } from '../contracts/reading.ts';
import type { DevicePresence } from '../contracts/bus.ts';

const T0 = Date.UTC(2026, 10, 23, 8, 0, 0);
const TYPES: DeviceType[] = ['smoke_detector', 'fire_panel', 'settlement_sensor'];
const num = (min: number, max: number) => fc.double({ min, max, noNaN: true, noDefaultInfinity: true });
const count = fc.oneof(fc.nat(20), fc.nat());
const extra = fc.dictionary(fc.constantFrom('fw', 'snr', 'uptime'), fc.oneof(num(-1e9, 1e9), fc.string({ maxLength: 8 })), { maxKeys: 2 });

const telemetryOf: Record<DeviceType, fc.Arbitrary<Record<string, unknown>>> = {
  smoke_detector: fc.record({ smoke: num(0, 2), temp: num(-40, 150), co: num(0, 10000), battery: num(0, 100), rssi: num(-140, 0) }, { requiredKeys: [] }),
  fire_panel: fc.record({ mainPower: fc.constantFrom('ok', 'fail'), backupPower: fc.constantFrom('ok', 'fail'), pointsInAlarm: count, pointsInFault: count, pointsDisabled: count }, { requiredKeys: [] }),
  settlement_sensor: fc.record({ settlement: num(-1000, 1000), tiltX: num(-1000, 1000), tiltY: num(-1000, 1000), crack: num(0, 1000), battery: num(0, 100) }, { requiredKeys: [] }),
};
const point = fc.record({ loop: count, point: count, zone: fc.oneof(fc.string({ maxLength: 64 }), fc.integer()), label: fc.string({ maxLength: 20 }) }, { requiredKeys: ['loop', 'point'] });
const eventOf: Record<DeviceType, fc.Arbitrary<Record<string, unknown>>> = {
  smoke_detector: fc.oneof(
    fc.record({ type: fc.constantFrom(...SMOKE_EVENT_TYPES) }),
    fc.record({ type: fc.constant('command_ack'), command: fc.string({ minLength: 1, maxLength: 8 }), ok: fc.boolean() }),
  ),
  fire_panel: fc.tuple(fc.constantFrom(...PANEL_EVENT_TYPES), point, fc.boolean()).map(([type, p, withPoint]) => {
    const plain = ['reset', 'main_power_fail', 'main_power_restore', 'backup_power_fail', 'backup_power_restore'].includes(type);
    const pointOptional = type === 'fault' || type === 'fault_clear';
    return plain || (pointOptional && !withPoint) ? { type } : { type, ...p };
  }),
  settlement_sensor: fc.record({ type: fc.constantFrom(...SETTLEMENT_EVENT_TYPES) }),
};

const overrideArb = fc.oneof(
  fc.constant(undefined),
  fc.constant({ smoke: { alarm: 0.3 }, offline: { intervals: 3 } }),
  fc.constant({ rate: { minPoints: 3, minCoverage: 0.1 } }),
  fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
);

interface Step {
  dev: number;
  kind: 'telemetry' | 'event' | 'presence' | 'sweep';
  dt: number;
  late: number;
  seq: number | undefined;
  clockBad: boolean;
  pick: number;
}
const stepArb = fc.record({
  dev: fc.nat(7),
  kind: fc.constantFrom('telemetry', 'telemetry', 'event', 'presence', 'sweep') as fc.Arbitrary<Step['kind']>,
  dt: fc.nat(600_000),
  late: fc.oneof(fc.constant(0), fc.nat(86_400_000)),
  seq: fc.option(fc.nat(3000), { nil: undefined }),
  clockBad: fc.boolean(),
  pick: fc.nat(),
});

describe('the engine never throws on schema-valid input', () => {
  it('random streams of readings, presence changes and sweeps', () => {
    fc.assert(
      fc.property(
        fc.array(overrideArb, { minLength: 8, maxLength: 8 }),
        fc.array(fc.tuple(stepArb, fc.nat(TYPES.length - 1).chain((t) => fc.tuple(fc.constant(t), telemetryOf[TYPES[t]!], eventOf[TYPES[t]!], extra))), { maxLength: 120 }),
        (overrides, steps) => {
          // two sites, so confirmation across detectors is exercised
          const devs: DeviceInfo[] = overrides.map((rules, i) => device(`d${i}`, TYPES[i % 3]!, { siteId: `s${i % 2}`, rules: rules as Record<string, unknown> | undefined, meta: i === 2 ? { settlementBaseline: 5, crackBaseline: 1 } : undefined }));
          const byType = (t: number, i: number) => devs.filter((d) => d.type === TYPES[t])[i % 2]!;
          const e = createRuleEngine({ ruleSet: DEFAULT_RULE_SET, devices: { get: (id) => devs.find((d) => d.id === id), verifySecret: () => 'ok', all: () => devs } });
          let now = T0;
          for (const [s, [t, tel, ev, more]] of steps) {
            now += s.dt;
            const dev = byType(t, s.dev);
            const opts = { seq: s.seq, flags: s.clockBad ? (['clock_bad'] as const) : [], receivedAt: now };
            let r: Reading | undefined;
            if (s.kind === 'telemetry') {
              const payload = { ...more, ...tel };
              expect(TelemetryByType[dev.type].safeParse(payload).success).toBe(true);
              const values = Object.fromEntries(Object.entries(payload).filter(([, v]) => typeof v === 'number' || typeof v === 'string')) as Record<string, number | string>;
              r = telemetry(dev, now - s.late, values, opts);
            } else if (s.kind === 'event') {
              expect(EventByType[dev.type].safeParse(ev).success).toBe(true);
              r = event(dev, now - s.late, ev as { type: string }, opts);
            } else if (s.kind === 'presence') {
              const reasons: DevicePresence['reason'][] = ['connect', 'status', 'will', 'socket', 'shutdown'];
              const reason = reasons[s.pick % reasons.length]!;
              for (const f of e.presence({ deviceId: dev.id, online: reason === 'connect' || reason === 'status', at: now, reason })) {
                expect(f.score).toBeGreaterThanOrEqual(0);
              }
            } else {
              for (const f of e.sweep(now)) expect(f.condition).toBe('offline');
            }
            if (r) {
              const out = e.evaluate(r);
              expect(out.score).toBeGreaterThanOrEqual(0);
              expect(out.score).toBeLessThanOrEqual(100);
              expect(out.level).toBe(levelOf(out.score));
              expect(out.score).toBe(Math.max(0, ...out.findings.map((f) => f.score)));
              for (const f of out.findings) {
                expect(f.level).toBe(levelOf(f.score));
                expect(f.message.en.length).toBeGreaterThan(0);
                expect(f.message.zh.length).toBeGreaterThan(0);
                expect(f.deviceId).toBe(dev.id);
                if (f.clears) expect(f.level).toBe('green');
              }
            }
          }
          expect(e.stats().internalErrors).toBe(0);
        },
      ),
      { numRuns: 300 },
    );
  });
});
