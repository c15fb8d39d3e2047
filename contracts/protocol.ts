// Device protocol v1 (shared/PROTOCOL.md): the contract between firmware and the gateway.
// Each schema is the single source of its shape; types come from z.infer.
import { z } from 'zod';

export const PROTOCOL_VERSION = 'v1';
/** PROTOCOL.md "Payloads": at most 64 KiB per MQTT message payload. */
export const MAX_PAYLOAD_BYTES = 64 * 1024;
/** PROTOCOL.md "What the gateway does with bad input": the first 4 KiB of a rejected payload are kept. */
export const KEEP_PAYLOAD_BYTES = 4096;
/** PROTOCOL.md "Topics": arrays of up to 500 elements. */
export const MAX_BATCH = 500;
/**
 * PROTOCOL.md "What the gateway does with bad input": the deepest nesting of arrays and objects a
 * payload may have. A batch of readings is 2 deep; the rest is room for newer firmware's unknown
 * fields. Deeper is rejected whole (issue 15: 20,000 deep overflowed the stack after its PUBACK).
 */
export const MAX_JSON_DEPTH = 16;
/** PROTOCOL.md: timestamps more than 5 min ahead or before 2020-01-01 are not trusted. */
export const MAX_FUTURE_SKEW_MS = 5 * 60_000;
export const EARLIEST_TS_MS = Date.UTC(2020, 0, 1);
/** PROTOCOL.md: keep-alive up to 1200 s must be tolerated. */
export const MAX_KEEPALIVE_SEC = 1200;

export const DEVICE_ID_RE = /^[A-Za-z0-9_.-]{1,64}$/;
export const DeviceId = z.string().regex(DEVICE_ID_RE, { error: 'expected 1..64 characters of A-Z a-z 0-9 _ . -' });

export const DeviceType = z.enum(['smoke_detector', 'fire_panel', 'settlement_sensor']);
export type DeviceType = z.infer<typeof DeviceType>;

const show = (v: unknown): string => {
  if (v === undefined) return 'nothing';
  // JSON.parse('1e999') is Infinity, which JSON.stringify would print as null (issue 15 point 4).
  if (typeof v === 'number' && !Number.isFinite(v)) return `${v} (not a finite number)`;
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 40 ? `${s.slice(0, 40)}…` : s;
};

/** A number in [min, max] whose error reads like `expected number 0..2, got "high"` (PROTOCOL.md). */
export function ranged(min: number, max: number) {
  const error = (iss: { input?: unknown }) => `expected number ${min}..${max}, got ${show(iss.input)}`;
  return z.number({ error }).min(min, { error }).max(max, { error });
}
export function count() {
  const error = (iss: { input?: unknown }) => `expected integer ≥ 0, got ${show(iss.input)}`;
  return z.number({ error }).int({ error }).min(0, { error });
}
function oneOf<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, { error: (iss) => `expected one of ${values.join(', ')}, got ${show(iss.input)}` });
}

/** ms since epoch (integer) or ISO 8601 with an offset. */
export const Timestamp = z.union([
  z.number().int().nonnegative(),
  z.iso.datetime({ offset: true }),
], { error: (iss) => `expected epoch milliseconds or ISO 8601 with offset, got ${show(iss.input)}` });
export const Seq = count();

/**
 * How the gateway recognises a re-send (PROTOCOL.md "Every reading and event may carry"; issue 15
 * point 3). Implemented in ingest/seq-tracker.ts, kept across restarts by ingest/seq-store.ts.
 */
export const SEQ_RULE = `
A reading or event is identified by its device, seq and ts. The gateway remembers, per device and
across restarts, the device's current counter run — the first and the highest seq it accepted
since the device last restarted its counter, with their ts, and the seq numbers skipped in
between — the run before it, and the last (seq, ts) pairs it accepted.

1. An exact re-send of an accepted (seq, ts) is a duplicate: counted, and nothing else — it is not
   rescored, not stored again, and never opens, reopens or re-notifies an incident. This holds
   however long after the original it arrives.
2. With a trusted ts (not clock_bad): a seq between a run's first and highest, with a ts between
   theirs, that the run did not skip, was accepted already, so it is a re-send, even when its ts
   or values differ from the original's; the stored original is never overwritten.
3. The device restarted its counter (a reboot, a firmware update) when a seq not above the current
   run's highest arrives with a trusted ts later than every ts of that run: a new run starts with
   it. A device that restarts its counter must therefore send ts from a clock that moved forward.
4. A seq the run skipped that arrives late is new and fills the gap; so is a seq below the run's
   first that is also older (a backlog uploaded newest first).
5. A reading without ts, or whose ts is not trusted, is a duplicate only by rule 1: without a clock a
   re-send cannot be told from a new reading, and dropping a real alarm is worse than storing a
   reading twice.
Limits: a run remembers its 64 most recent skipped ranges; a re-send from before the last two
counter runs, or into a forgotten gap, is not recognised by rule 2 (rule 1 still applies to the
most recent pairs).
`;

const common = { ts: Timestamp.optional(), seq: Seq.optional() };

// ---- telemetry ----------------------------------------------------------------------------
/**
 * Plausible ranges of measured values (PROTOCOL.md "Telemetry by device type"; issue 14). They are
 * physical, not policy: a value outside is stored and flagged `out_of_range` by ingest; only a
 * value that is not a finite number is rejected. The rules score a detector's value outside as the
 * evidence it is (200 °C in a home is a fire); a structural value outside (settlement, tilt, crack)
 * is a sensor fault, not movement (rules/settlement.ts). Soft-soil rods settle metres; tilts of
 * tens of ‰ are real.
 */
export const MEASURED_RANGES = {
  smoke_detector: {
    smoke: { min: 0, max: 2, unit: 'dB/m', what: 'optical obscuration' },
    temp: { min: -40, max: 150, unit: '°C', what: 'air temperature at the detector' },
    co: { min: 0, max: 10000, unit: 'ppm', what: 'carbon monoxide (combined smoke/CO units)' },
    battery: { min: 0, max: 100, unit: '%', what: 'battery remaining' },
    rssi: { min: -140, max: 0, unit: 'dBm', what: 'radio signal strength' },
  },
  fire_panel: {},
  settlement_sensor: {
    settlement: { min: -10000, max: 10000, unit: 'mm', what: 'cumulative vertical displacement, downwards positive' },
    tiltX: { min: -100, max: 100, unit: '‰', what: 'inclination (mm per m)' },
    tiltY: { min: -100, max: 100, unit: '‰', what: 'inclination (mm per m)' },
    crack: { min: 0, max: 200, unit: 'mm', what: 'crack width' },
    battery: { min: 0, max: 100, unit: '%', what: 'battery remaining' },
  },
} as const satisfies Record<DeviceType, Record<string, { min: number; max: number; unit: string; what: string }>>;

/**
 * A measured number: any finite number passes (its range is only flagged, see MEASURED_RANGES);
 * anything else reads like `expected number 0..2, got "high"` (PROTOCOL.md).
 */
export function measured(range: { min: number; max: number }) {
  const error = (iss: { input?: unknown }) => `expected number ${range.min}..${range.max}, got ${show(iss.input)}`;
  return z.number({ error });
}

const R = MEASURED_RANGES;
// Unknown fields are kept (loose objects) so newer firmware does not break an older gateway.
export const SmokeTelemetry = z.looseObject({
  ...common,
  smoke: measured(R.smoke_detector.smoke).optional(),
  temp: measured(R.smoke_detector.temp).optional(),
  co: measured(R.smoke_detector.co).optional(),
  battery: measured(R.smoke_detector.battery).optional(),
  rssi: measured(R.smoke_detector.rssi).optional(),
});
export type SmokeTelemetry = z.infer<typeof SmokeTelemetry>;

const power = oneOf(['ok', 'fail'] as const);
export const PanelTelemetry = z.looseObject({
  ...common,
  mainPower: power.optional(),
  backupPower: power.optional(),
  pointsInAlarm: count().optional(),
  pointsInFault: count().optional(),
  pointsDisabled: count().optional(),
});
export type PanelTelemetry = z.infer<typeof PanelTelemetry>;

export const SettlementTelemetry = z.looseObject({
  ...common,
  settlement: measured(R.settlement_sensor.settlement).optional(),
  tiltX: measured(R.settlement_sensor.tiltX).optional(),
  tiltY: measured(R.settlement_sensor.tiltY).optional(),
  crack: measured(R.settlement_sensor.crack).optional(),
  battery: measured(R.settlement_sensor.battery).optional(),
});
export type SettlementTelemetry = z.infer<typeof SettlementTelemetry>;

export const TelemetryByType = {
  smoke_detector: SmokeTelemetry,
  fire_panel: PanelTelemetry,
  settlement_sensor: SettlementTelemetry,
} as const satisfies Record<DeviceType, z.ZodType>;

// ---- events -------------------------------------------------------------------------------
export const SMOKE_EVENT_TYPES = ['alarm', 'alarm_clear', 'hush', 'test', 'fault', 'fault_clear', 'low_battery', 'tamper', 'tamper_clear'] as const;
export const PANEL_POINT_EVENT_TYPES = ['fire', 'manual_call', 'fire_clear', 'supervisory', 'supervisory_clear', 'disable', 'enable', 'action', 'action_feedback'] as const;
/** Faults may be of a point or of the panel itself, so loop/point are optional for them. */
export const PANEL_FAULT_EVENT_TYPES = ['fault', 'fault_clear'] as const;
export const PANEL_PLAIN_EVENT_TYPES = ['reset', 'main_power_fail', 'main_power_restore', 'backup_power_fail', 'backup_power_restore'] as const;
export const PANEL_EVENT_TYPES = [...PANEL_POINT_EVENT_TYPES, ...PANEL_FAULT_EVENT_TYPES, ...PANEL_PLAIN_EVENT_TYPES] as const;
export const SETTLEMENT_EVENT_TYPES = ['fault', 'fault_clear'] as const;

export const CommandAckEvent = z.looseObject({
  ...common,
  type: z.literal('command_ack'),
  command: z.string().min(1).max(64),
  ok: z.boolean(),
});

const pointFields = {
  loop: count(),
  point: count(),
  zone: z.union([z.string().max(64), z.number().int()]).optional(),
  label: z.string().max(200).optional(),
};

export const SmokeEvent = z.discriminatedUnion('type', [
  z.looseObject({ ...common, type: z.enum(SMOKE_EVENT_TYPES) }),
  CommandAckEvent,
], { error: (iss) => `expected one of ${[...SMOKE_EVENT_TYPES, 'command_ack'].join(', ')}, got ${show((iss.input as { type?: unknown } | undefined)?.type)}` });
export type SmokeEvent = z.infer<typeof SmokeEvent>;

export const PanelEvent = z.discriminatedUnion('type', [
  z.looseObject({ ...common, type: z.enum(PANEL_POINT_EVENT_TYPES), ...pointFields }),
  z.looseObject({ ...common, type: z.enum(PANEL_FAULT_EVENT_TYPES), ...pointFields, loop: count().optional(), point: count().optional() }),
  z.looseObject({ ...common, type: z.enum(PANEL_PLAIN_EVENT_TYPES) }),
  CommandAckEvent,
], { error: (iss) => `expected one of ${[...PANEL_EVENT_TYPES, 'command_ack'].join(', ')}, got ${show((iss.input as { type?: unknown } | undefined)?.type)}` });
export type PanelEvent = z.infer<typeof PanelEvent>;

export const SettlementEvent = z.discriminatedUnion('type', [
  z.looseObject({ ...common, type: z.enum(SETTLEMENT_EVENT_TYPES) }),
  CommandAckEvent,
], { error: (iss) => `expected one of ${[...SETTLEMENT_EVENT_TYPES, 'command_ack'].join(', ')}, got ${show((iss.input as { type?: unknown } | undefined)?.type)}` });
export type SettlementEvent = z.infer<typeof SettlementEvent>;

export const EventByType = {
  smoke_detector: SmokeEvent,
  fire_panel: PanelEvent,
  settlement_sensor: SettlementEvent,
} as const satisfies Record<DeviceType, z.ZodType>;

export type DeviceEvent = SmokeEvent | PanelEvent | SettlementEvent;
export type EventType = DeviceEvent['type'];

// ---- status and commands -------------------------------------------------------------------
export const DeviceStatus = z.looseObject({ online: z.boolean(), ts: Timestamp.optional() });
export type DeviceStatus = z.infer<typeof DeviceStatus>;

export const COMMAND_NAMES = ['selftest', 'silence', 'locate', 'config'] as const;
export const CommandName = z.enum(COMMAND_NAMES);
export type CommandName = z.infer<typeof CommandName>;
const commandBase = { id: z.uuid(), ts: Timestamp };
export const Command = z.discriminatedUnion('name', [
  z.object({ name: z.literal('selftest'), ...commandBase }),
  z.object({ name: z.literal('silence'), ...commandBase }),
  z.object({ name: z.literal('locate'), ...commandBase }),
  z.object({ name: z.literal('config'), ...commandBase, reportEverySec: z.number().int().min(1).max(86_400) }),
]);
export type Command = z.infer<typeof Command>;

// ---- topics ---------------------------------------------------------------------------------
export const TOPIC_KINDS = ['telemetry', 'events', 'status'] as const;
export type TopicKind = (typeof TOPIC_KINDS)[number];

export const topics = {
  telemetry: (id: string) => `v1/devices/${id}/telemetry`,
  events: (id: string) => `v1/devices/${id}/events`,
  status: (id: string) => `v1/devices/${id}/status`,
  command: (id: string, name: CommandName) => `v1/devices/${id}/commands/${name}`,
  commandsFilter: (id: string) => `v1/devices/${id}/commands/#`,
  devicePrefix: (id: string) => `v1/devices/${id}/`,
} as const;

/** Parses `v1/devices/{id}/{kind}`; undefined for anything else. */
export function parseTopic(topic: string): { deviceId: string; kind: TopicKind } | undefined {
  const parts = topic.split('/');
  if (parts.length !== 4 || parts[0] !== 'v1' || parts[1] !== 'devices') return undefined;
  const [, , deviceId, kind] = parts as [string, string, string, string];
  if (!DEVICE_ID_RE.test(deviceId)) return undefined;
  return (TOPIC_KINDS as readonly string[]).includes(kind) ? { deviceId, kind: kind as TopicKind } : undefined;
}
