// GB/T 26875.3 information objects → the fire panel readings and events of PROTOCOL.md. The
// standard reports states (a component's bits now), the protocol reports changes (a fire, a fire
// cleared): each unit keeps the last state per system and component and turns each changed bit
// into the event an MQTT panel would have sent. Mapping table: contracts/GBT26875.md.
import type { GbtObject } from '../../contracts/gbt26875.ts';
import { bit, COMPONENT_BITS, COMPONENT_TYPE_MANUAL_CALL, loopOf, OPERATION_BITS, pointOf, SYSTEM_BITS, UNIT_BITS } from '../../contracts/gbt26875.ts';

export type Body = Record<string, unknown>;
export interface Mapped {
  readonly telemetry: Body[];
  readonly events: Body[];
}

/** What one unit has reported so far (per connection life of the unit, kept across reconnects). */
export interface UnitMemory {
  readonly systems: Map<number, number>;
  readonly components: Map<string, number>;
  unit: number | undefined;
}
export const newUnitMemory = (): UnitMemory => ({ systems: new Map(), components: new Map(), unit: undefined });

/** A component's address within its system; 1–2 systems of a few thousand points per unit. */
const componentKey = (o: { systemType: number; systemAddr: number; componentAddr: number }) => `${o.systemType}/${o.systemAddr}/${o.componentAddr}`;

function rose(prev: number, now: number, n: number): boolean {
  return !bit(prev, n) && bit(now, n);
}
function fell(prev: number, now: number, n: number): boolean {
  return bit(prev, n) && !bit(now, n);
}

/** A time tag the unit could not fill stays out: ingest then uses the receive time. */
function stamp(at: number | undefined): { ts?: number } {
  return at === undefined ? {} : { ts: at };
}

export function mapObjects(objects: readonly GbtObject[], mem: UnitMemory): Mapped {
  const telemetry: Body[] = [];
  const events: Body[] = [];
  for (const o of objects) {
    switch (o.kind) {
      case 'componentState': {
        const key = componentKey(o);
        const prev = mem.components.get(key) ?? 1; // unknown before: assume normal operation
        mem.components.set(key, o.state);
        const where = {
          loop: loopOf(o.componentAddr), point: pointOf(o.componentAddr), ...(o.description ? { label: o.description } : {}),
          system: o.systemType, systemAddr: o.systemAddr, componentType: o.componentType, ...stamp(o.at),
        };
        const B = COMPONENT_BITS;
        if (rose(prev, o.state, B.fire)) events.push({ type: o.componentType === COMPONENT_TYPE_MANUAL_CALL ? 'manual_call' : 'fire', ...where });
        if (fell(prev, o.state, B.fire)) events.push({ type: 'fire_clear', ...where });
        // A component's power fault (bit 8) is a fault of that point too.
        const faultPrev = bit(prev, B.fault) || bit(prev, B.powerFault);
        const faultNow = bit(o.state, B.fault) || bit(o.state, B.powerFault);
        if (!faultPrev && faultNow) events.push({ type: 'fault', ...where });
        if (faultPrev && !faultNow) events.push({ type: 'fault_clear', ...where });
        if (rose(prev, o.state, B.disabled)) events.push({ type: 'disable', ...where });
        if (fell(prev, o.state, B.disabled)) events.push({ type: 'enable', ...where });
        if (rose(prev, o.state, B.supervisory)) events.push({ type: 'supervisory', ...where });
        if (fell(prev, o.state, B.supervisory)) events.push({ type: 'supervisory_clear', ...where });
        if (rose(prev, o.state, B.started)) events.push({ type: 'action', ...where });
        if (rose(prev, o.state, B.feedback)) events.push({ type: 'action_feedback', ...where });
        break;
      }
      case 'systemState': {
        const key = o.systemType * 256 + o.systemAddr;
        const prev = mem.systems.get(key) ?? 1;
        mem.systems.set(key, o.state);
        const B = SYSTEM_BITS;
        const sys = { system: o.systemType, systemAddr: o.systemAddr, ...stamp(o.at) };
        telemetry.push({ mainPower: bit(o.state, B.mainPowerFault) ? 'fail' : 'ok', backupPower: bit(o.state, B.backupPowerFault) ? 'fail' : 'ok', ...sys });
        // A system-wide fire or fault names no point: loop 0 point 0 stands for the system itself.
        const self = { loop: 0, point: 0, ...sys };
        if (rose(prev, o.state, B.fire)) events.push({ type: 'fire', ...self, label: '系统火警 system fire alarm' });
        if (fell(prev, o.state, B.fire)) events.push({ type: 'fire_clear', ...self, label: '系统火警 system fire alarm' });
        const faultPrev = bit(prev, B.fault) || bit(prev, B.busFault);
        const faultNow = bit(o.state, B.fault) || bit(o.state, B.busFault);
        if (!faultPrev && faultNow) events.push({ type: 'fault', ...self, label: bit(o.state, B.busFault) ? '总线故障 bus fault' : '系统故障 system fault' });
        if (faultPrev && !faultNow) events.push({ type: 'fault_clear', ...self, label: '系统故障 system fault' });
        if (rose(prev, o.state, B.mainPowerFault)) events.push({ type: 'main_power_fail', ...sys });
        if (fell(prev, o.state, B.mainPowerFault)) events.push({ type: 'main_power_restore', ...sys });
        if (rose(prev, o.state, B.backupPowerFault)) events.push({ type: 'backup_power_fail', ...sys });
        if (fell(prev, o.state, B.backupPowerFault)) events.push({ type: 'backup_power_restore', ...sys });
        if (rose(prev, o.state, B.reset)) events.push({ type: 'reset', ...sys });
        break;
      }
      case 'systemOperation':
      case 'unitOperation': {
        const sys = o.kind === 'systemOperation' ? { system: o.systemType, systemAddr: o.systemAddr } : { by: 'unit' };
        // Stored values are numbers (ingest/values.ts): the flag byte itself, decoded by GBT26875.md.
        telemetry.push({ operationFlags: o.flags, operator: o.operator, ...sys, ...stamp(o.at) });
        if (bit(o.flags, OPERATION_BITS.reset)) events.push({ type: 'reset', ...sys, ...stamp(o.at) });
        if (bit(o.flags, OPERATION_BITS.manualAlarm)) events.push({ type: 'manual_call', loop: 0, point: 0, label: '手动报警 manual alarm at the panel', ...sys, ...stamp(o.at) });
        break;
      }
      case 'unitState': {
        const prev = mem.unit ?? 1;
        mem.unit = o.state;
        const B = UNIT_BITS;
        const unit = { by: 'unit', ...stamp(o.at) };
        if (rose(prev, o.state, B.fire)) events.push({ type: 'fire', loop: 0, point: 0, label: '系统火警 system fire alarm', ...unit });
        if (fell(prev, o.state, B.fire)) events.push({ type: 'fire_clear', loop: 0, point: 0, label: '系统火警 system fire alarm', ...unit });
        // The unit's own faults are faults of the panel as a whole (no loop/point): one condition.
        const faults = (s: number) => [B.fault, B.mainPowerFault, B.backupPowerFault, B.centerLinkFault, B.facilityLinkFault].filter((n) => bit(s, n));
        const before = faults(prev);
        const now = faults(o.state);
        const label = (n: readonly number[]) => n.map((b) => UNIT_FAULT_LABEL[b]).join(', ');
        if (before.length === 0 && now.length > 0) events.push({ type: 'fault', label: `用户信息传输装置 transmission unit: ${label(now)}`, ...unit });
        if (before.length > 0 && now.length === 0) events.push({ type: 'fault_clear', label: '用户信息传输装置 transmission unit', ...unit });
        telemetry.push({ unitState: o.state, ...unit });
        break;
      }
      case 'componentAnalog':
        telemetry.push({ loop: loopOf(o.componentAddr), point: pointOf(o.componentAddr), analogType: o.analogType, analog: o.value, system: o.systemType, systemAddr: o.systemAddr, ...stamp(o.at) });
        break;
      // Versions, configuration and clocks are kept as telemetry fields for maintainers.
      case 'systemSoftware':
      case 'unitSoftware':
        telemetry.push({ software: o.version, ...(o.kind === 'systemSoftware' ? { system: o.systemType, systemAddr: o.systemAddr } : { by: 'unit' }) });
        break;
      case 'systemConfig':
      case 'unitConfig':
        telemetry.push({ config: o.text.slice(0, 200) });
        break;
      case 'componentConfig':
        telemetry.push({ loop: loopOf(o.componentAddr), point: pointOf(o.componentAddr), componentType: o.componentType, description: o.description });
        break;
      case 'systemTime':
      case 'unitTime':
        // The clock a unit reports is checked against ours by ingest (clock_bad) through `ts`.
        telemetry.push({ clockReport: 1, ...stamp(o.at) });
        break;
      default: {
        const never: never = o;
        throw new Error(`unmapped object ${JSON.stringify(never)}`);
      }
    }
  }
  return { telemetry, events };
}

const UNIT_FAULT_LABEL: Record<number, string> = {
  [UNIT_BITS.fault]: '故障 fault',
  [UNIT_BITS.mainPowerFault]: '主电故障 main power',
  [UNIT_BITS.backupPowerFault]: '备电故障 backup power',
  [UNIT_BITS.centerLinkFault]: '中心通信故障 link to the center',
  [UNIT_BITS.facilityLinkFault]: '连接线路故障 link to the panel',
};
