// The device-family table (issue 20 point 1, shared with the rules' dispatch): per device type,
// the telemetry fields and event types of the protocol, and the ingress paths it may arrive by.
// A new family is one row here; `satisfies Record<DeviceType, …>` makes the compiler list what is
// missing.
import type { IngressSource } from './ingress.ts';
import type { DeviceType } from './protocol.ts';
import { PANEL_EVENT_TYPES, SETTLEMENT_EVENT_TYPES, SMOKE_EVENT_TYPES, TelemetryByType } from './protocol.ts';
import { DEFAULT_INTERVAL_SEC } from './registry.ts';

export interface DeviceFamily {
  readonly type: DeviceType;
  /** Telemetry field names of PROTOCOL.md (ts and seq aside). */
  readonly telemetryFields: readonly string[];
  readonly eventTypes: readonly string[];
  /** How such a device reaches Watchfire: an adapter refuses a device whose family is not listed. */
  readonly ingress: readonly IngressSource[];
  readonly intervalSec: number;
}

const fields = (t: DeviceType): string[] => Object.keys(TelemetryByType[t].shape).filter((k) => k !== 'ts' && k !== 'seq');

export const DEVICE_FAMILIES = {
  // NB-IoT smoke detectors in elderly people's homes arrive through CTWing or OneNET.
  smoke_detector: { type: 'smoke_detector', telemetryFields: fields('smoke_detector'), eventTypes: [...SMOKE_EVENT_TYPES, 'command_ack'], ingress: ['mqtt', 'ctwing', 'onenet'], intervalSec: DEFAULT_INTERVAL_SEC.smoke_detector },
  // Panels in existing buildings arrive through a user information transmission unit (GB/T 26875.3).
  fire_panel: { type: 'fire_panel', telemetryFields: fields('fire_panel'), eventTypes: [...PANEL_EVENT_TYPES, 'command_ack'], ingress: ['mqtt', 'gbt26875'], intervalSec: DEFAULT_INTERVAL_SEC.fire_panel },
  settlement_sensor: { type: 'settlement_sensor', telemetryFields: fields('settlement_sensor'), eventTypes: [...SETTLEMENT_EVENT_TYPES, 'command_ack'], ingress: ['mqtt', 'ctwing', 'onenet'], intervalSec: DEFAULT_INTERVAL_SEC.settlement_sensor },
} as const satisfies Record<DeviceType, DeviceFamily>;

/** True when a device of this type may arrive by this ingress. */
export function familyAccepts(type: DeviceType, source: IngressSource): boolean {
  return (DEVICE_FAMILIES[type].ingress as readonly IngressSource[]).includes(source);
}



