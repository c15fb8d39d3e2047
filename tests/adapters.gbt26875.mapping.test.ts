// Issue 20 point 3, row by row: the state table of contracts/GBT26875.md ("From states to events")
// applied by adapters/gbt26875/mapping.ts. Every body it makes is checked against the schemas
// ingest validates a fire panel's payloads with, so a mapping ingest would refuse (dead-lettered
// after the unit was already confirmed) fails here rather than in the field.
import { describe, expect, it } from 'vitest';
import { mapObjects, newUnitMemory, type Body, type UnitMemory } from '../adapters/gbt26875/mapping.ts';
import { COMPONENT_BITS as C, COMPONENT_TYPE_MANUAL_CALL, OPERATION_BITS as O, SYSTEM_BITS as S, UNIT_BITS as U, componentAddress, type GbtObject } from '../contracts/gbt26875.ts';
import { EventByType, TelemetryByType } from '../contracts/protocol.ts';

const AT = Date.UTC(2026, 11, 7, 6, 0, 0);
const flags = (...bits: number[]) => bits.reduce((a, b) => a | (1 << b), 0);
const component = (state: number, componentType = 42): GbtObject => ({
  kind: 'componentState', systemType: 1, systemAddr: 1, componentType, componentAddr: componentAddress(3, 21), state, description: '5F 东 走廊', at: AT,
});
const system = (state: number): GbtObject => ({ kind: 'systemState', systemType: 1, systemAddr: 1, state, at: AT });
const unit = (state: number): GbtObject => ({ kind: 'unitState', state, at: AT });

/** Maps in order on one unit's memory; every body must pass ingest's fire panel schemas. */
function run(mem: UnitMemory, ...objects: GbtObject[]): { events: Body[]; telemetry: Body[] } {
  const out = mapObjects(objects, mem);
  for (const e of out.events) expect(EventByType.fire_panel.safeParse(e).error?.issues ?? []).toEqual([]);
  for (const t of out.telemetry) expect(TelemetryByType.fire_panel.safeParse(t).error?.issues ?? []).toEqual([]);
  return out;
}
const types = (r: { events: Body[] }) => r.events.map((e) => e.type);

describe('component states (type 2) become point events with loop and point', () => {
  it('fire, fault, disable, supervisory, action and feedback each rise to their event', () => {
    const mem = newUnitMemory();
    const r = run(mem, component(flags(C.normal, C.fire, C.fault, C.disabled, C.supervisory, C.started, C.feedback)));
    expect(types(r)).toEqual(['fire', 'fault', 'disable', 'supervisory', 'action', 'action_feedback']);
    for (const e of r.events) expect(e).toMatchObject({ loop: 3, point: 21, label: '5F 东 走廊', system: 1, systemAddr: 1, componentType: 42, ts: AT });
  });

  it('and fall to their clears (actions have none); an unchanged state says nothing', () => {
    const mem = newUnitMemory();
    run(mem, component(flags(C.normal, C.fire, C.fault, C.disabled, C.supervisory, C.started, C.feedback)));
    expect(types(run(mem, component(flags(C.normal, C.fire, C.fault, C.disabled, C.supervisory, C.started, C.feedback))))).toEqual([]);
    expect(types(run(mem, component(flags(C.normal))))).toEqual(['fire_clear', 'fault_clear', 'enable', 'supervisory_clear']);
  });

  it("a component's power fault is a fault of that point; a manual call point's fire is a manual_call", () => {
    const mem = newUnitMemory();
    expect(types(run(mem, component(flags(C.normal, C.powerFault))))).toEqual(['fault']);
    expect(types(run(mem, component(flags(C.normal, C.fault))))).toEqual([]); // still one fault condition
    expect(types(run(newUnitMemory(), component(flags(C.normal, C.fire), COMPONENT_TYPE_MANUAL_CALL)))).toEqual(['manual_call']);
  });
});

describe('system states (type 1): the panel as a whole and its power', () => {
  it('fire and fault at loop 0 point 0, main and backup power fail and restore, reset; power telemetry on every report', () => {
    const mem = newUnitMemory();
    const r = run(mem, system(flags(S.normal, S.fire, S.busFault, S.mainPowerFault, S.backupPowerFault, S.reset)));
    expect(types(r)).toEqual(['fire', 'fault', 'main_power_fail', 'backup_power_fail', 'reset']);
    expect(r.events.slice(0, 2)).toEqual([
      expect.objectContaining({ loop: 0, point: 0, ts: AT }),
      expect.objectContaining({ loop: 0, point: 0, label: '总线故障 bus fault' }),
    ]);
    expect(r.telemetry).toEqual([expect.objectContaining({ mainPower: 'fail', backupPower: 'fail', ts: AT })]);
    const back = run(mem, system(flags(S.normal)));
    expect(types(back)).toEqual(['fire_clear', 'fault_clear', 'main_power_restore', 'backup_power_restore']);
    expect(back.telemetry).toEqual([expect.objectContaining({ mainPower: 'ok', backupPower: 'ok' })]);
  });
});

describe('operations (types 4 and 24) and the unit itself (type 21)', () => {
  it('a reset and a manual alarm at the panel become reset and manual_call; the record is kept as telemetry', () => {
    const op: GbtObject = { kind: 'systemOperation', systemType: 1, systemAddr: 1, flags: flags(O.reset, O.manualAlarm), operator: 7, at: AT };
    const r = mapObjects([op], newUnitMemory());
    expect(types(r)).toEqual(['reset', 'manual_call']);
    expect(r.events[1]).toMatchObject({ loop: 0, point: 0 });
    expect(r.telemetry).toEqual([expect.objectContaining({ operationFlags: flags(O.reset, O.manualAlarm), operator: 7 })]);
    for (const e of r.events) expect(EventByType.fire_panel.safeParse(e).success).toBe(true);
  });

  it("the unit's fire is a panel fire; its faults (power, links) are one fault of the panel, cleared when none is left", () => {
    const mem = newUnitMemory();
    expect(types(run(mem, unit(flags(U.normal, U.fire))))).toEqual(['fire']);
    const f = run(mem, unit(flags(U.normal, U.backupPowerFault, U.centerLinkFault)));
    expect(types(f)).toEqual(['fire_clear', 'fault']);
    expect(f.events[1]!.label).toBe('用户信息传输装置 transmission unit: 备电故障 backup power, 中心通信故障 link to the center');
    expect(types(run(mem, unit(flags(U.normal, U.centerLinkFault))))).toEqual([]);
    expect(types(run(mem, unit(flags(U.normal))))).toEqual(['fault_clear']);
  });
});
