// Device models: every payload they produce is valid PROTOCOL.md for their device type, and they
// behave like the devices they stand for (alarm and clear, heat, linkage, creep, a dying cell).
import { describe, expect, it } from 'vitest';
import { EventByType, TelemetryByType, type DeviceType } from '../contracts/protocol.ts';
import { createRng } from '../simulator/prng.ts';
import { createFirePanel, createSettlementSensor, createSmokeDetector } from '../simulator/models/index.ts';
import type { Emission } from '../simulator/models/types.ts';
import { DETECTOR_LOW_BATTERY_PCT } from '../simulator/models/smoke-detector.ts';
import { LINKAGE_DELAY_SEC } from '../simulator/models/fire-panel.ts';

function clock(start = Date.UTC(2026, 10, 23, 8)) {
  let t = start;
  return { now: () => t, tick: (ms: number) => (t += ms) };
}

/** Validates every emission against the protocol schema of its kind and type; returns them. */
function valid(type: DeviceType, emissions: Emission[]): Emission[] {
  for (const e of emissions) {
    const schema = e.kind === 'telemetry' ? TelemetryByType[type] : EventByType[type];
    const r = schema.safeParse(e.payload);
    expect(r.success, `${type} ${e.kind} ${JSON.stringify(e.payload)}: ${r.error?.message}`).toBe(true);
  }
  return emissions;
}
const types = (es: Emission[]) => es.filter((e) => e.kind === 'events').map((e) => e.payload.type);

/** Steps a model one simulated second at a time, collecting what it emits. */
function run(m: { step(dt: number): void; drain(): Emission[]; report(): void }, c: ReturnType<typeof clock>, seconds: number, reportEvery = 10): Emission[] {
  const out: Emission[] = [];
  for (let s = 1; s <= seconds; s++) {
    c.tick(1000);
    m.step(1);
    if (s % reportEvery === 0) m.report();
    out.push(...m.drain());
  }
  return out;
}

describe('smoke detector', () => {
  const make = (meta: Record<string, string | number | boolean> = { power: 'mains', co: true }, seed = 1) => {
    const c = clock();
    return { c, m: createSmokeDetector({ deviceId: 'sd-1', rng: createRng(seed), clock: c, intervalSec: 300, meta }) };
  };

  it('reports quiet telemetry within the protocol ranges for a day', () => {
    const { c, m } = make();
    const out = valid('smoke_detector', run(m, c, 86_400, 300));
    expect(out.filter((e) => e.kind === 'telemetry')).toHaveLength(288);
    expect(types(out)).toEqual([]);
    for (const e of out) {
      expect(e.payload.smoke as number).toBeLessThan(0.05);
      expect(typeof e.payload.ts).toBe('number');
    }
  });

  it('alarms on cooking smoke, takes a hush, and clears when ventilated', () => {
    const { c, m } = make();
    m.setSmoke({ target: 0.22, tauSec: 60 });
    const rising = valid('smoke_detector', run(m, c, 300));
    expect(types(rising)).toEqual(['alarm']);
    expect(m.reportEverySec()).toBeLessThan(60);
    m.hush();
    m.ventilate(90);
    const clearing = valid('smoke_detector', run(m, c, 900));
    expect(types(clearing)).toEqual(['hush', 'alarm_clear']);
    expect(m.state.alarm).toBe(false);
  });

  it('alarms on heat alone past the fixed heat point', () => {
    const { c, m } = make();
    m.setHeat({ target: 90, tauSec: 120 });
    const out = valid('smoke_detector', run(m, c, 600));
    const alarm = out.find((e) => e.payload.type === 'alarm');
    expect(alarm?.payload.cause).toBe('heat');
    expect(Math.max(...out.filter((e) => e.kind === 'telemetry').map((e) => e.payload.temp as number))).toBeGreaterThan(57);
  });

  it('sends low_battery once as the cell dies, and reports 100 % when replaced', () => {
    const { c, m } = make({ power: 'battery' });
    m.drainBattery(10, 3600);
    const out = valid('smoke_detector', run(m, c, 4000, 600));
    expect(types(out)).toEqual(['low_battery']);
    expect(m.state.battery).toBeLessThanOrEqual(DETECTOR_LOW_BATTERY_PCT);
    m.replaceBattery();
    const after = valid('smoke_detector', m.drain());
    expect(after.at(-1)?.payload.battery).toBe(100);
  });

  it('reports tamper, test, fault and their clears as protocol events', () => {
    const { m } = make();
    m.removeFromBase();
    m.removeFromBase();
    m.mount();
    m.pressTest();
    m.fault('chamber_dirty');
    m.clearFault();
    expect(types(valid('smoke_detector', m.drain()))).toEqual(['tamper', 'tamper_clear', 'test', 'fault', 'fault_clear']);
  });
});

describe('fire panel', () => {
  const make = (seed = 2) => {
    const c = clock();
    const m = createFirePanel({ deviceId: 'fp-1', rng: createRng(seed), clock: c, intervalSec: 60, meta: { loops: 3, pointsPerLoop: 120, zonesPerLoop: 4, floors: 8 } });
    return { c, m };
  };

  it('has hundreds of points on loops and zones, and heartbeats with counts', () => {
    const { c, m } = make();
    expect(m.points).toHaveLength(360);
    expect(m.zones.length).toBe(12);
    for (const z of m.zones) expect(m.pointsOfZone(z).every((p) => p.zone === z)).toBe(true);
    const out = valid('fire_panel', run(m, c, 600, 60));
    const beats = out.filter((e) => e.kind === 'telemetry');
    expect(beats).toHaveLength(10);
    expect(beats[0]!.payload).toMatchObject({ mainPower: 'ok', backupPower: 'ok', pointsInAlarm: 0 });
  });

  it('on a fire starts the linked outputs and their feedback after the linkage delay', () => {
    const { c, m } = make();
    const p = m.pointsOfZone(m.zones[2]!).find((x) => x.kind === 'smoke')!;
    m.fire(p);
    const out = valid('fire_panel', [...m.drain(), ...run(m, c, LINKAGE_DELAY_SEC + 30, 60)]);
    expect(types(out)).toEqual(['fire', 'action', 'action', 'action_feedback', 'action_feedback']);
    expect(out[0]!.payload).toMatchObject({ loop: p.loop, point: p.point, zone: p.zone });
    m.report();
    expect(m.drain()[0]!.payload.pointsInAlarm).toBe(1);
  });

  it('in manual linkage starts nothing; reset clears every alarm point', () => {
    const { c, m } = make();
    m.setLinkage('manual');
    const pts = m.pointsOfZone(m.zones[0]!).slice(0, 30);
    for (const p of pts) m.fire(p);
    const out = valid('fire_panel', [...m.drain(), ...run(m, c, 60, 60)]);
    expect(types(out).filter((t) => t === 'action')).toHaveLength(0);
    m.reset();
    const after = valid('fire_panel', m.drain());
    expect(types(after).filter((t) => t === 'fire_clear').length).toBe(types(out).filter((t) => t === 'fire' || t === 'manual_call').length);
    expect(after.at(-1)!.payload.pointsInAlarm).toBe(0);
  });

  it('reports power, fault and disable events, and the counts follow', () => {
    const { m } = make(3);
    const p = m.points[5]!;
    m.powerFail('main');
    m.powerFail('backup');
    m.fault(p, 'open_circuit');
    m.disable(m.points[6]!);
    m.report();
    const out = valid('fire_panel', m.drain());
    expect(types(out)).toEqual(['main_power_fail', 'backup_power_fail', 'fault', 'disable']);
    expect(out.at(-1)!.payload).toMatchObject({ mainPower: 'fail', backupPower: 'fail', pointsInFault: 1 });
    m.powerRestore('main');
    m.faultClear(p);
    expect(types(valid('fire_panel', m.drain()))).toEqual(['main_power_restore', 'fault_clear']);
  });
});

describe('settlement sensor', () => {
  it('is nearly still for a month of hourly readings, with measurement noise', () => {
    const c = clock();
    const m = createSettlementSensor({ deviceId: 'ss-1', rng: createRng(4), clock: c, intervalSec: 3600, meta: { baseSettlementMm: 3 } });
    const out: Emission[] = [];
    for (let h = 0; h < 24 * 30; h++) {
      c.tick(3_600_000);
      m.step(3600);
      m.report();
      out.push(...m.drain());
    }
    valid('settlement_sensor', out);
    const s = out.map((e) => e.payload.settlement as number);
    expect(new Set(s).size).toBeGreaterThan(30); // noisy, not a flat line
    expect(Math.max(...s)).toBeLessThan(5);
    expect(Math.min(...s)).toBeGreaterThan(1);
  });

  it('creeps past the warning and alarm values when its rate is raised', () => {
    const c = clock();
    const m = createSettlementSensor({ deviceId: 'ss-2', rng: createRng(5), clock: c, intervalSec: 3600, meta: { baseSettlementMm: 2 } });
    m.setCreepRate(3);
    const days: number[] = [];
    for (let d = 0; d < 10; d++) {
      m.step(86_400);
      m.report();
      days.push(valid('settlement_sensor', m.drain())[0]!.payload.settlement as number);
    }
    expect(days[9]! - days[0]!).toBeGreaterThan(25);
    expect(days[9]!).toBeGreaterThan(20);
  });

  it('a crack meter reports crack width; a faulted cell reports nothing until repaired', () => {
    const c = clock();
    const m = createSettlementSensor({ deviceId: 'ss-3', rng: createRng(6), clock: c, intervalSec: 3600, meta: { crackMeter: true, baseCrackMm: 0.4 } });
    m.report();
    const [r] = valid('settlement_sensor', m.drain());
    expect(r!.payload.crack).toBeCloseTo(0.4, 1);
    expect(r!.payload.settlement).toBeUndefined();
    m.fault('cable_cut');
    m.report();
    expect(types(valid('settlement_sensor', m.drain()))).toEqual(['fault']);
    m.clearFault();
    m.report();
    expect(valid('settlement_sensor', m.drain()).map((e) => e.kind)).toEqual(['events', 'telemetry']);
  });
});
