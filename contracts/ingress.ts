// The one ingress seam (issue 20): every way a device reading arrives (MQTT, a GB/T 26875.3
// transmission unit over TCP, an NB-IoT platform pushing over HTTP) ends as the same Frame that
// ingest validates, dedupes, dead-letters, scores and stores. MQTT is the reference: an adapter
// writes the JSON a device would have published on v1/devices/{id}/telemetry|events, and ingest
// cannot tell the difference except by the frame's `source` tag.
import type { Frame, IngestOutcome, RejectRecord } from './ports.ts';
import type { ErrorCode } from './errors.ts';
import { topics, type Command } from './protocol.ts';

export const INGRESS_SOURCES = ['mqtt', 'gbt26875', 'ctwing', 'onenet'] as const;
export type IngressSource = (typeof INGRESS_SOURCES)[number];

/** A refusal before any frame existed (bad checksum, unknown unit, bad signature): dead-lettered. */
export interface IngressReject {
  readonly source: IngressSource;
  readonly at: number;
  readonly deviceId: string | undefined;
  /** Where it came from, e.g. `tcp 10.0.0.7:40112` or `POST /ingress/onenet`. */
  readonly origin: string;
  readonly code: ErrorCode;
  readonly reason: string;
  /** What arrived, as text (hex for binary frames), clipped by the dead-letter store's rules. */
  readonly payload: string;
}

/** What an adapter is handed by the composition root: ingest, the dead letters and presence. */
export interface IngressPort {
  /** Ingest's accept, unchanged: synchronous, no I/O waited on. */
  accept(frame: Frame): IngestOutcome;
  reject(rec: IngressReject): void;
  /**
   * Calls back once everything accepted so far is durable (the journal's group commit, issue 15):
   * an adapter confirms a frame or answers a push 200 only then, as the gateway's PUBACK does.
   */
  durable(done: (err?: Error) => void): void;
  /** A transmission unit connected or dropped; a platform reported a device on- or offline. */
  presence(deviceId: string, online: boolean, at: number, source: IngressSource): void;
  /**
   * Heard from without a value to store (a GB/T 26875.3 heartbeat): the offline timer restarts,
   * and nothing is said to the consoles — a presence change it is not, and a thousand units
   * beating every 30 s would otherwise stream 33 "online" events a second to every console.
   */
  heard(deviceId: string, at: number, source: IngressSource): void;
}

/** PROTOCOL.md's first 4 KiB rule applies to adapter rejects too. */
const KEEP = 4096;

/** The dead-letter record of an adapter refusal; its topic names the source and origin. */
export function rejectRecordOf(r: IngressReject): RejectRecord {
  return {
    at: r.at, deviceId: r.deviceId, topic: `${r.source}:${r.origin}`, code: r.code, reason: r.reason,
    index: undefined, payload: r.payload.length > KEEP ? r.payload.slice(0, KEEP) : r.payload,
  };
}

/**
 * The frame an MQTT device would have published: the same topic, the same JSON. Adapters build
 * bodies with the protocol's field names (contracts/protocol.ts); ingest validates them as it
 * validates a device's own payload, so a mapping mistake is a coded reject, not a silent loss.
 */
export function adapterFrame(deviceId: string, kind: 'telemetry' | 'events', body: unknown, source: IngressSource, receivedAt: number): Frame {
  return {
    deviceId,
    topic: kind === 'telemetry' ? topics.telemetry(deviceId) : topics.events(deviceId),
    payload: Buffer.from(JSON.stringify(body)),
    qos: 1,
    retain: false,
    receivedAt,
    source,
  };
}

/**
 * Commands to a device, whatever its ingress (issue 20 point 2): MQTT devices get a publish on
 * v1/devices/{id}/commands/{name}; NB-IoT devices a call to their platform's command API.
 */
export interface DeviceCommandPort {
  send(deviceId: string, command: Command): Promise<void>;
}
