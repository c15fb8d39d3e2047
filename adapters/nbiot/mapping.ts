// NB-IoT platform properties and events → PROTOCOL.md telemetry and events. A detector's thing
// model on CTWing or OneNET names its properties as its vendor chose; Watchfire takes the protocol's
// own names, a small alias table of the names common in NB smoke detector models, and the
// `smoke_state` alarm flag those models report (0 normal, 1 alarm), turned into alarm/alarm_clear
// by change. Everything else is kept as an unknown field (numbers stored, the rest ignored).
import type { DeviceType } from '../../contracts/protocol.ts';
import { DEVICE_FAMILIES } from '../../contracts/families.ts';

export type Body = Record<string, unknown>;

/** Property names of common NB smoke detector thing models → PROTOCOL.md names. */
const ALIASES: Readonly<Record<string, string>> = {
  battery_value: 'battery',
  battery_level: 'battery',
  signal_strength: 'rssi',
  rsrp: 'rssi',
  temperature: 'temp',
  co_value: 'co',
};

/** Event names of those models → PROTOCOL.md event types. */
const EVENT_ALIASES: Readonly<Record<string, string>> = {
  smoke_alarm: 'alarm',
  smoke_alarm_clear: 'alarm_clear',
  alarm_recover: 'alarm_clear',
  fault_report: 'fault',
  fault_recover: 'fault_clear',
  low_battery_alarm: 'low_battery',
  tamper_alarm: 'tamper',
  self_test: 'test',
  mute: 'hush',
};

export interface PropertyMemory {
  smokeState: Map<string, number>;
}

/** Properties of a data report → one telemetry body and the events a changed alarm flag means. */
export function mapProperties(deviceId: string, type: DeviceType, props: Readonly<Record<string, unknown>>, ts: number, mem: PropertyMemory): { telemetry: Body | undefined; events: Body[] } {
  const fields: ReadonlySet<string> = new Set<string>(DEVICE_FAMILIES[type].telemetryFields);
  const telemetry: Body = {};
  const events: Body[] = [];
  let n = 0;
  for (const [k, v] of Object.entries(props)) {
    if (k === 'smoke_state' && type === 'smoke_detector' && typeof v === 'number') {
      const prev = mem.smokeState.get(deviceId) ?? 0;
      mem.smokeState.set(deviceId, v);
      if (v !== 0 && prev === 0) events.push({ type: 'alarm', ts });
      if (v === 0 && prev !== 0) events.push({ type: 'alarm_clear', ts });
      continue;
    }
    const name = fields.has(k) ? k : ALIASES[k] ?? k;
    telemetry[name] = v;
    n++;
  }
  return { telemetry: n > 0 ? { ...telemetry, ts } : undefined, events };
}

/** An event report's payload → a PROTOCOL.md event, or a reason it is none. */
export function mapEvent(type: DeviceType, payload: Readonly<Record<string, unknown>>, serviceId: unknown, ts: number): { ok: true; event: Body } | { ok: false; reason: string } {
  const known: ReadonlySet<string> = new Set<string>(DEVICE_FAMILIES[type].eventTypes);
  const candidates = [payload.type, payload.event, payload.eventName, serviceId].filter((c): c is string => typeof c === 'string');
  for (const c of candidates) {
    const t = known.has(c) ? c : EVENT_ALIASES[c];
    if (t && known.has(t)) {
      const { type: _t, event: _e, eventName: _n, ...rest } = payload;
      return { ok: true, event: { ...rest, type: t, ts } };
    }
  }
  return { ok: false, reason: `no ${type} event type in payload.type/event/eventName or serviceId (${candidates.map((c) => JSON.stringify(c)).join(', ') || 'none given'}); expected one of ${[...known].join(', ')} or ${Object.keys(EVENT_ALIASES).join(', ')}` };
}
