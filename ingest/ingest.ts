// Frames → validated readings (DESIGN.md "Data flow"): parse, validate, dedupe, dead-letter.
// This is the alarm path: synchronous, in memory, no I/O waited on. Rejects are queued for the
// dead-letter store (which writes off the hot path) and emitted on the bus.
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { Counter } from 'prom-client';
import type { EventBus } from '../contracts/bus.ts';
import type { Clock, DeadLetterStore, DeviceDirectory, Frame, FrameSink, IngestOutcome, ReadingSink, RejectRecord } from '../contracts/ports.ts';
import { systemClock } from '../contracts/ports.ts';
import type { ErrorCode } from '../contracts/errors.ts';
import { formatIssues } from '../contracts/errors.ts';
import type { DeviceEvent, DeviceType } from '../contracts/protocol.ts';
import {
  DeviceStatus, EARLIEST_TS_MS, EventByType, MAX_BATCH, MEASURED_RANGES, MAX_FUTURE_SKEW_MS, MAX_PAYLOAD_BYTES, TelemetryByType, TOPIC_KINDS, parseTopic,
} from '../contracts/protocol.ts';
import type { DeviceInfo } from '../contracts/registry.ts';
import type { Reading, ReadingFlag } from '../contracts/reading.ts';
import { SeqTracker } from './seq-tracker.ts';
import { valuesOf } from './values.ts';
import { hotCounter, hotLabelledCounter } from '../contracts/metrics.ts';

/** PROTOCOL.md "What the gateway does with bad input": the first 4 KiB are kept. */
const KEEP_PAYLOAD_CHARS = 4096;

export interface IngestDeps {
  directory: DeviceDirectory;
  deadLetters: DeadLetterStore;
  sink: ReadingSink;
  bus: EventBus;
  clock?: Clock;
  metrics: Registry;
  logger: Logger;
}

/** What ingest knows about one device, for the API and tests (not a Prometheus label: cardinality). */
export interface DeviceIngestStats {
  readonly readings: number;
  readonly duplicates: number;
  readonly gaps: number;
  readonly clockBad: number;
  readonly rejects: Readonly<Partial<Record<ErrorCode, number>>>;
}

export interface Ingest extends FrameSink {
  deviceStats(deviceId: string): DeviceIngestStats | undefined;
  /** Missing seq numbers counted for a device (0 when none or unknown). */
  gaps(deviceId: string): number;
}

interface DeviceState {
  readonly seq: SeqTracker;
  readings: number;
  clockBad: number;
  rejects: Partial<Record<ErrorCode, number>> | undefined;
}

const CLOCK_BAD: readonly ReadingFlag[] = Object.freeze(['clock_bad'] as const);
const OUT_OF_RANGE: readonly ReadingFlag[] = Object.freeze(['out_of_range'] as const);
const BOTH_FLAGS: readonly ReadingFlag[] = Object.freeze(['clock_bad', 'out_of_range'] as const);
const NO_FLAGS: readonly ReadingFlag[] = Object.freeze([]);

/** Per device type, [field, min, max] of its measured values (protocol.ts MEASURED_RANGES). */
type Bounds = ReadonlyArray<readonly [string, number, number]>;
const boundsOf = (fields: Readonly<Record<string, { min: number; max: number }>>): Bounds => Object.entries(fields).map(([k, r]) => [k, r.min, r.max] as const);
const RANGES: Readonly<Record<DeviceType, Bounds>> = {
  smoke_detector: boundsOf(MEASURED_RANGES.smoke_detector),
  fire_panel: boundsOf(MEASURED_RANGES.fire_panel),
  settlement_sensor: boundsOf(MEASURED_RANGES.settlement_sensor),
};

/** True when a measured value lies outside its plausible range: kept and flagged, never rejected (issue 14). */
function outOfRange(type: DeviceType, data: Readonly<Record<string, unknown>>): boolean {
  const ranges = RANGES[type];
  for (let i = 0; i < ranges.length; i++) {
    const [k, min, max] = ranges[i]!;
    const v = data[k];
    if (typeof v === 'number' && (v < min || v > max)) return true;
  }
  return false;
}

/** Field names the schemas know, so unknown ones are told apart (and limited) in valuesOf. */
const KNOWN_FIELDS: ReadonlySet<string> = new Set([
  ...Object.values(TelemetryByType).flatMap((s) => Object.keys(s.shape)),
  'loop', 'point', 'zone', 'label', 'command', 'ok',
]);

const utf8 = new TextDecoder('utf-8', { fatal: true });

function clip(text: string): string {
  return text.length > KEEP_PAYLOAD_CHARS ? text.slice(0, KEEP_PAYLOAD_CHARS) : text;
}
function show(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 40 ? `${s.slice(0, 40)}…` : s;
}
/**
 * formatIssues, plus the offending value where zod's own message does not name it (the protocol's
 * schemas say `expected number 0..2, got "high"`; zod's built-in checks, e.g. ISO format, do not).
 */
function reasonOf(issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }>, input: unknown): string {
  return formatIssues(issues).map((text, i) => {
    if (text.includes(', got ')) return text;
    let v: unknown = input;
    for (const k of issues[i]!.path) v = v !== null && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[k] : undefined;
    return `${text}, got ${v === undefined ? 'nothing' : show(v)}`;
  }).join('; ');
}
function kindOf(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
}

export function createIngest(deps: IngestDeps): Ingest {
  const clock = deps.clock ?? systemClock;
  const devices = new Map<string, DeviceState>();
  const m = deps.metrics;
  // Hot-path counters are plain numbers that prom-client reads when scraped (contracts/metrics.ts).
  const messages = hotLabelledCounter(m, 'watchfire_ingest_messages_total', 'Frames handed to ingest, by topic kind', 'kind', [...TOPIC_KINDS, 'invalid']);
  const byKind = hotLabelledCounter(m, 'watchfire_ingest_readings_total', 'Valid readings and events handed on', 'kind', ['telemetry', 'events']);
  const rejects = new Counter({ name: 'watchfire_ingest_rejects_total', help: 'Rejected messages or elements, by reason code (per device: see the API)', labelNames: ['code'], registers: [m] });
  const duplicates = hotCounter(m, 'watchfire_ingest_duplicates_total', 'Exact re-sends dropped (same device, seq and ts)');
  const gapsTotal = hotCounter(m, 'watchfire_ingest_seq_gaps_total', 'Missing seq numbers, summed over devices');
  const clockBad = hotCounter(m, 'watchfire_ingest_clock_bad_total', 'Readings whose device clock was far off (receive time used)');
  const outOfRangeTotal = hotCounter(m, 'watchfire_ingest_out_of_range_total', 'Readings kept and flagged out_of_range: a measured value outside its plausible range');
  const sinkErrors = new Counter({ name: 'watchfire_ingest_sink_errors_total', help: 'Exceptions thrown by the reading sink (rules/storage hand-off)', registers: [m] });

  function stateOf(id: string): DeviceState {
    let s = devices.get(id);
    if (!s) {
      s = { seq: new SeqTracker(), readings: 0, clockBad: 0, rejects: undefined };
      devices.set(id, s);
    }
    return s;
  }

  function reject(frame: Frame, deviceId: string | undefined, code: ErrorCode, reason: string, index: number | undefined, payload: string): void {
    const rec: RejectRecord = { at: frame.receivedAt || clock.now(), deviceId, topic: frame.topic, code, reason, index, payload: clip(payload) };
    rejects.labels(code).inc();
    if (deviceId !== undefined) {
      const s = stateOf(deviceId);
      const r = (s.rejects ??= {});
      r[code] = (r[code] ?? 0) + 1;
    }
    deps.deadLetters.add(rec);
    deps.bus.emit('reject', rec);
  }

  function rawText(frame: Frame): string {
    return frame.payload.subarray(0, KEEP_PAYLOAD_CHARS).toString('utf8');
  }

  /** Device time in ms, or undefined when absent. Validated by the schema already. */
  function tsOf(ts: number | string | undefined): number | undefined {
    if (ts === undefined) return undefined;
    return typeof ts === 'number' ? ts : Date.parse(ts);
  }

  function deliver(reading: Reading): void {
    try {
      deps.sink(reading);
    } catch (err) {
      // A bug downstream must not take the gateway down with it; it is loud, not fatal.
      sinkErrors.inc();
      deps.logger.error({ err, deviceId: reading.deviceId }, 'reading sink threw');
    }
  }

  function element(frame: Frame, device: DeviceInfo, state: DeviceState, kind: 'telemetry' | 'events', el: unknown, index: number | undefined, out: { accepted: number; rejected: number; duplicates: number }): void {
    if (el === null || typeof el !== 'object' || Array.isArray(el)) {
      reject(frame, device.id, 'WF_INGEST_NOT_OBJECT', `(root): expected object, got ${kindOf(el)} ${show(el)}`, index, show(el));
      out.rejected++;
      return;
    }
    const schema = kind === 'telemetry' ? TelemetryByType[device.type] : EventByType[device.type];
    const parsed = schema.safeParse(el);
    if (!parsed.success) {
      reject(frame, device.id, 'WF_INGEST_SCHEMA', reasonOf(parsed.error.issues, el), index, JSON.stringify(el));
      out.rejected++;
      return;
    }
    const data = parsed.data as Record<string, unknown> & { ts?: number | string; seq?: number };
    const deviceTs = tsOf(data.ts);
    if (data.seq !== undefined) {
      const { duplicate, gap } = state.seq.seen(data.seq, deviceTs);
      if (duplicate) {
        duplicates.n++;
        out.duplicates++;
        return;
      }
      if (gap > 0) gapsTotal.n += gap;
    }
    let ts = frame.receivedAt;
    let flags = NO_FLAGS;
    if (deviceTs !== undefined) {
      // PROTOCOL.md: more than 5 min ahead or before 2020-01-01 → receive time, flagged.
      if (deviceTs > frame.receivedAt + MAX_FUTURE_SKEW_MS || deviceTs < EARLIEST_TS_MS || Number.isNaN(deviceTs)) {
        flags = CLOCK_BAD;
        state.clockBad++;
        clockBad.n++;
      } else ts = deviceTs;
    }
    if (kind === 'telemetry' && outOfRange(device.type, data)) {
      flags = flags === CLOCK_BAD ? BOTH_FLAGS : OUT_OF_RANGE;
      outOfRangeTotal.n++;
    }
    const values = valuesOf(data, KNOWN_FIELDS);
    // One object literal per kind with the fields always in the same order: every reading then
    // shares one hidden class, and the rule engine, store and bus read its fields with monomorphic
    // inline caches. Spreading a `base` object gave nearly every reading its own hidden class
    // (19,992 shapes for 20,000 readings) and made everything downstream ~6× slower (bench/rules.ts).
    const reading: Reading = kind === 'telemetry'
      ? {
          kind: 'telemetry', deviceId: device.id, deviceType: device.type, siteId: device.siteId, centerId: device.centerId,
          gridId: device.gridId, ts, receivedAt: frame.receivedAt, seq: data.seq, flags, values,
        }
      : {
          kind: 'event', deviceId: device.id, deviceType: device.type, siteId: device.siteId, centerId: device.centerId,
          gridId: device.gridId, ts, receivedAt: frame.receivedAt, seq: data.seq, flags, values, event: data as DeviceEvent,
        };
    state.readings++;
    byKind[kind]++;
    out.accepted++;
    deliver(reading);
  }

  function accept(frame: Frame): IngestOutcome {
    const topic = parseTopic(frame.topic);
    messages[topic?.kind ?? 'invalid']++;
    if (!topic || topic.deviceId !== frame.deviceId) {
      reject(frame, frame.deviceId, 'WF_INGEST_TOPIC', `topic ${show(frame.topic)}: expected v1/devices/${frame.deviceId}/telemetry|events|status`, undefined, rawText(frame));
      return { accepted: 0, rejected: 1, duplicates: 0 };
    }
    const device = deps.directory.get(topic.deviceId);
    if (!device) {
      reject(frame, topic.deviceId, 'WF_INGEST_UNKNOWN_DEVICE', `device ${show(topic.deviceId)} is not in the registry`, undefined, rawText(frame));
      return { accepted: 0, rejected: 1, duplicates: 0 };
    }
    if (frame.payload.length > MAX_PAYLOAD_BYTES) {
      reject(frame, device.id, 'WF_INGEST_TOO_LARGE', `payload of ${frame.payload.length} bytes: at most ${MAX_PAYLOAD_BYTES}`, undefined, rawText(frame));
      return { accepted: 0, rejected: 1, duplicates: 0 };
    }
    let body: unknown;
    try {
      body = JSON.parse(utf8.decode(frame.payload));
    } catch (err) {
      reject(frame, device.id, 'WF_INGEST_NOT_JSON', `not UTF-8 JSON: ${(err as Error).message}`, undefined, rawText(frame));
      return { accepted: 0, rejected: 1, duplicates: 0 };
    }
    const isArray = Array.isArray(body);
    if (body === null || typeof body !== 'object' || (isArray && topic.kind === 'status')) {
      const expected = topic.kind === 'status' ? 'an object' : 'an object or an array of objects';
      reject(frame, device.id, 'WF_INGEST_NOT_OBJECT', `(root): expected ${expected}, got ${kindOf(body)}`, undefined, rawText(frame));
      return { accepted: 0, rejected: 1, duplicates: 0 };
    }
    if (topic.kind === 'status') {
      // Presence is the gateway's (it sees connects, wills and sockets); here only validation.
      const parsed = DeviceStatus.safeParse(body);
      if (parsed.success) return { accepted: 1, rejected: 0, duplicates: 0 };
      reject(frame, device.id, 'WF_INGEST_SCHEMA', reasonOf(parsed.error.issues, body), undefined, rawText(frame));
      return { accepted: 0, rejected: 1, duplicates: 0 };
    }
    if (isArray && (body as unknown[]).length > MAX_BATCH) {
      reject(frame, device.id, 'WF_INGEST_BATCH_TOO_LARGE', `array of ${(body as unknown[]).length} elements: at most ${MAX_BATCH}`, undefined, rawText(frame));
      return { accepted: 0, rejected: 1, duplicates: 0 };
    }
    const state = stateOf(device.id);
    const out = { accepted: 0, rejected: 0, duplicates: 0 };
    if (isArray) {
      const list = body as unknown[];
      state.seq.reserve(list.length);
      for (let i = 0; i < list.length; i++) element(frame, device, state, topic.kind, list[i], i, out);
    } else {
      element(frame, device, state, topic.kind, body, undefined, out);
    }
    return out;
  }

  return {
    accept,
    deviceStats(deviceId) {
      const s = devices.get(deviceId);
      if (!s) return undefined;
      return { readings: s.readings, duplicates: s.seq.duplicates, gaps: s.seq.gaps, clockBad: s.clockBad, rejects: { ...s.rejects } };
    },
    gaps(deviceId) {
      return devices.get(deviceId)?.seq.gaps ?? 0;
    },
  };
}
