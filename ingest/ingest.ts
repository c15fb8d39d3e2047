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
import type { DeviceEvent } from '../contracts/protocol.ts';
import {
  DeviceStatus, EARLIEST_TS_MS, EventByType, MAX_BATCH, MEASURED_RANGES, MAX_FUTURE_SKEW_MS, MAX_JSON_DEPTH, MAX_PAYLOAD_BYTES, TelemetryByType, parseTopic,
} from '../contracts/protocol.ts';
import type { DeviceType } from '../contracts/protocol.ts';
import type { DeviceInfo } from '../contracts/registry.ts';
import type { Reading, ReadingFlag } from '../contracts/reading.ts';
import { SeqTracker } from './seq-tracker.ts';
import { loadSeqMemory, saveSeqMemory } from './seq-snapshot.ts';
import type { SeqTrackers } from './seq-store.ts';
import { valuesOf } from './values.ts';
import { nestsDeeperThan } from './json-depth.ts';
import { createIngestCounters } from './counters.ts';

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
  /** Re-send memory that survives restarts (seq-store.ts); without it, memory only. */
  seqs?: SeqTrackers;
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
  /**
   * Drops what ingest knows of a device (its re-send memory, its counts). Cluster mode: the
   * device's partition moved here or away, and its memory is rebuilt from the log (worker/).
   */
  forget(deviceId: string): void;
  /**
   * Cluster mode: a log record replayed to rebuild its partition (worker/). The device's state,
   * its stats included, changes as accept() would change it (they are the partition's and move
   * with it), but no counter of /metrics does: this node did not take the frame.
   */
  replay(frame: Frame): IngestOutcome;
  /** Cluster mode: the re-send memory of these devices (those it knows), for their partition's snapshot. */
  saveMemory(deviceIds: Iterable<string>): Uint8Array;
  /** Cluster mode: memory from saveMemory() (any node) replaces that of its devices; throws, changing nothing, on another version. */
  loadMemory(bytes: Uint8Array): void;
}

interface DeviceState {
  readonly seq: SeqTracker;
  readings: number;
  clockBad: number;
  rejects: Partial<Record<ErrorCode, number>> | undefined;
}

const REJECTED: IngestOutcome = Object.freeze({ accepted: 0, rejected: 1, duplicates: 0 });
function hasValue(data: Readonly<Record<string, unknown>>, fields: readonly string[]): boolean {
  for (let i = 0; i < fields.length; i++) if (data[fields[i]!] !== undefined) return true;
  return false;
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

/** Per device type, the telemetry fields that carry a value (not ts/seq): one must be present. */
const valueFields = (type: DeviceType): readonly string[] => Object.keys(TelemetryByType[type].shape).filter((k) => k !== 'ts' && k !== 'seq');
const VALUE_FIELDS: Readonly<Record<DeviceType, readonly string[]>> = {
  smoke_detector: valueFields('smoke_detector'),
  fire_panel: valueFields('fire_panel'),
  settlement_sensor: valueFields('settlement_sensor'),
};

const utf8 = new TextDecoder('utf-8', { fatal: true });

function clip(text: string): string {
  return text.length > KEEP_PAYLOAD_CHARS ? text.slice(0, KEEP_PAYLOAD_CHARS) : text;
}
/** JSON text of a value for a dead letter; never throws (the reject path must not, issue 15). */
function textOf(v: unknown): string {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return '(not representable as JSON)';
  }
}
function show(v: unknown): string {
  // JSON.parse('1e999') is Infinity, which JSON.stringify would print as null (issue 15 point 4).
  if (typeof v === 'number' && !Number.isFinite(v)) return `${v} (not a finite number)`;
  const s = textOf(v);
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
}
function messageOf(err: unknown): string {
  try {
    return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  } catch {
    return 'unprintable error';
  }
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
  const rejectFailures = new Counter({ name: 'watchfire_ingest_reject_failures_total', help: 'Rejects that could not be dead-lettered (the store threw): logged with their payload instead', registers: [m] });
  // /metrics counts what this node takes live; replay() counts into the uncounted twin (counters.ts).
  const { counted, uncounted } = createIngestCounters(m);
  let tally = counted;

  function stateOf(id: string): DeviceState {
    let s = devices.get(id);
    if (!s) {
      s = { seq: deps.seqs ? deps.seqs.tracker(id) : new SeqTracker(), readings: 0, clockBad: 0, rejects: undefined };
      devices.set(id, s);
    }
    return s;
  }

  /**
   * Counts and dead-letters a reject. It cannot throw (issue 15 point 4): were the dead-letter
   * store itself to fail, the reject is logged with its payload, so it is never acked and lost.
   */
  function reject(frame: Frame, deviceId: string | undefined, code: ErrorCode, reason: string, index: number | undefined, payload: string): void {
    let rec: RejectRecord | undefined;
    try {
      // A frame built by an adapter names its source in the dead letter (issue 20: `gbt26875:v1/…`).
      const topic = frame.source === undefined || frame.source === 'mqtt' ? frame.topic : `${frame.source}:${frame.topic}`;
      rec = { at: frame.receivedAt || clock.now(), deviceId, topic, code, reason, index, payload: clip(payload) };
      tally.reject(code);
      if (deviceId !== undefined) {
        const s = stateOf(deviceId);
        const r = (s.rejects ??= {});
        r[code] = (r[code] ?? 0) + 1;
      }
      deps.deadLetters.add(rec);
    } catch (err) {
      try {
        rejectFailures.inc();
        deps.logger.error({ err, code, reason, deviceId, topic: frame.topic, index, payload: rec?.payload ?? clip(String(payload)) }, 'reject could not be dead-lettered');
      } catch {
        // Nothing is left to tell; the frame's outcome still says it was rejected.
      }
      return;
    }
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

  /** Hands a reading on; false when the sink threw (then the element is dead-lettered). */
  function deliver(reading: Reading): boolean {
    try {
      deps.sink(reading);
      return true;
    } catch (err) {
      // A bug downstream must not take the gateway down with it; it is loud, not fatal.
      tally.sinkError();
      deps.logger.error({ err, deviceId: reading.deviceId }, 'reading sink threw');
      return false;
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
      reject(frame, device.id, 'WF_INGEST_SCHEMA', reasonOf(parsed.error.issues, el), index, textOf(el));
      out.rejected++;
      return;
    }
    const data = parsed.data as Record<string, unknown> & { ts?: number | string; seq?: number };
    if (kind === 'telemetry' && !hasValue(data, VALUE_FIELDS[device.type])) {
      reject(frame, device.id, 'WF_INGEST_EMPTY', `(root): expected at least one of ${VALUE_FIELDS[device.type].join(', ')}, got none`, index, textOf(el));
      out.rejected++;
      return;
    }
    const deviceTs = tsOf(data.ts);
    // PROTOCOL.md: more than 5 min ahead or before 2020-01-01 → receive time, flagged.
    const badClock = deviceTs !== undefined && (deviceTs > frame.receivedAt + MAX_FUTURE_SKEW_MS || deviceTs < EARLIEST_TS_MS || Number.isNaN(deviceTs));
    if (data.seq !== undefined) {
      // SEQ_RULE (contracts/protocol.ts): a re-send of anything accepted, however old, changes nothing.
      const { duplicate, gap } = state.seq.seen(data.seq, deviceTs, !badClock);
      if (duplicate) {
        tally.duplicates.n++;
        out.duplicates++;
        return;
      }
      if (gap > 0) tally.gaps.n += gap;
      deps.seqs?.taken(device.id, data.seq, deviceTs, !badClock);
    }
    let ts = frame.receivedAt;
    let flags = NO_FLAGS;
    if (badClock) {
      flags = CLOCK_BAD;
      state.clockBad++;
      tally.clockBad.n++;
    } else if (deviceTs !== undefined) ts = deviceTs;
    if (kind === 'telemetry' && outOfRange(device.type, data)) {
      flags = flags === CLOCK_BAD ? BOTH_FLAGS : OUT_OF_RANGE;
      tally.outOfRange.n++;
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
    if (!deliver(reading)) {
      reject(frame, device.id, 'WF_INGEST_INTERNAL', 'the pipeline threw on this reading after it was validated (see the log)', index, textOf(el));
      out.rejected++;
      return;
    }
    state.readings++;
    tally.byKind[kind]++;
    out.accepted++;
  }

  /** One element, contained: an exception dead-letters that element and the batch goes on. */
  function guardedElement(frame: Frame, device: DeviceInfo, state: DeviceState, kind: 'telemetry' | 'events', el: unknown, index: number | undefined, out: { accepted: number; rejected: number; duplicates: number }): void {
    try {
      element(frame, device, state, kind, el, index, out);
    } catch (err) {
      internal(frame, device.id, err, index, textOf(el));
      out.rejected++;
    }
  }

  function internal(frame: Frame, deviceId: string | undefined, err: unknown, index: number | undefined, payload: string): void {
    try {
      deps.logger.error({ err, deviceId, topic: frame.topic, index }, 'ingest threw; frame dead-lettered');
    } catch {
      // A logger that throws must not stop the dead letter.
    }
    reject(frame, deviceId, 'WF_INGEST_INTERNAL', `ingest failed on this input: ${messageOf(err)}`, index, payload);
  }

  /**
   * Never throws (issue 15 point 4): an exception anywhere in ingest dead-letters the frame with
   * WF_INGEST_INTERNAL, so a frame is never acknowledged and silently lost.
   */
  function accept(frame: Frame): IngestOutcome {
    try {
      return acceptFrame(frame);
    } catch (err) {
      let text: string;
      try {
        text = rawText(frame);
      } catch {
        text = '(payload unreadable)';
      }
      internal(frame, frame.deviceId, err, undefined, text);
      return REJECTED;
    }
  }

  function acceptFrame(frame: Frame): IngestOutcome {
    const topic = parseTopic(frame.topic);
    tally.messages[topic?.kind ?? 'invalid']++;
    if (!topic || topic.deviceId !== frame.deviceId) {
      reject(frame, frame.deviceId, 'WF_INGEST_TOPIC', `topic ${show(frame.topic)}: expected v1/devices/${frame.deviceId}/telemetry|events|status`, undefined, rawText(frame));
      return { accepted: 0, rejected: 1, duplicates: 0 };
    }
    const device = deps.directory.get(topic.deviceId);
    if (!device) {
      reject(frame, topic.deviceId, 'WF_INGEST_UNKNOWN_DEVICE', `device ${show(topic.deviceId)} is not in the registry`, undefined, rawText(frame));
      return { accepted: 0, rejected: 1, duplicates: 0 };
    }
    if (frame.oversize) {
      reject(frame, device.id, 'WF_INGEST_TOO_LARGE', `MQTT packet of ${frame.oversize.bytes} bytes: at most ${frame.oversize.limit} (gateway.maxPacketBytes); its first 4 KiB are kept`, undefined, rawText(frame));
      return { accepted: 0, rejected: 1, duplicates: 0 };
    }
    if (frame.payload.length > MAX_PAYLOAD_BYTES) {
      reject(frame, device.id, 'WF_INGEST_TOO_LARGE', `payload of ${frame.payload.length} bytes: at most ${MAX_PAYLOAD_BYTES}`, undefined, rawText(frame));
      return { accepted: 0, rejected: 1, duplicates: 0 };
    }
    if (nestsDeeperThan(frame.payload, MAX_JSON_DEPTH)) {
      reject(frame, device.id, 'WF_INGEST_TOO_DEEP', `arrays/objects nested more than ${MAX_JSON_DEPTH} deep`, undefined, rawText(frame));
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
      for (let i = 0; i < list.length; i++) guardedElement(frame, device, state, topic.kind, list[i], i, out);
    } else {
      guardedElement(frame, device, state, topic.kind, body, undefined, out);
    }
    return out;
  }

  return {
    accept,
    replay(frame) {
      tally = uncounted;
      try {
        return accept(frame);
      } finally {
        tally = counted;
      }
    },
    deviceStats(deviceId) {
      const s = devices.get(deviceId);
      if (!s) return undefined;
      return { readings: s.readings, duplicates: s.seq.duplicates, gaps: s.seq.gaps, clockBad: s.clockBad, rejects: { ...s.rejects } };
    },
    gaps(deviceId) {
      return devices.get(deviceId)?.seq.gaps ?? 0;
    },
    forget(deviceId) {
      devices.delete(deviceId);
    },
    saveMemory: (ids) => saveSeqMemory(ids, (id) => devices.get(id)?.seq),
    loadMemory(bytes) {
      for (const [id, seq] of loadSeqMemory(bytes)) devices.set(id, { seq, readings: 0, clockBad: 0, rejects: undefined });
    },
  };
}
