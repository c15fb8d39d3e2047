// The small interfaces modules are handed by the composition root (app/). Modules depend on these
// and on contracts, never on each other.
import type { DeviceInfo } from './registry.ts';
import type { Reading, ScoredReading } from './reading.ts';
import type { ErrorCode } from './errors.ts';
import type { IngressSource } from './ingress.ts';

/** Lifecycle every module follows: createX(deps) does no I/O; start/stop do. */
export interface Lifecycle {
  start(): Promise<void>;
  /** Drains and leaves nothing running. */
  stop(): Promise<void>;
}

export type AuthResult = 'ok' | 'unknown' | 'bad_secret' | 'disabled';

/** What the gateway and ingest ask of the registry on the hot path: O(1), in memory, no I/O. */
export interface DeviceDirectory {
  get(deviceId: string): DeviceInfo | undefined;
  verifySecret(deviceId: string, secret: string | Buffer | undefined): AuthResult;
  /** Every device, for the offline sweep and dashboards. */
  all(): Iterable<DeviceInfo>;
}

/** One MQTT PUBLISH from an authenticated device, handed from the gateway to ingest. */
export interface Frame {
  readonly deviceId: string;
  readonly topic: string;
  readonly payload: Buffer;
  readonly qos: 0 | 1 | 2;
  readonly retain: boolean;
  /** Gateway receive time, ms epoch. */
  readonly receivedAt: number;
  /** Which ingress built it (contracts/ingress.ts); absent means MQTT, the reference. */
  readonly source?: IngressSource;
  /**
   * Set when the MQTT packet was larger than gateway.maxPacketBytes (and within its hard cap):
   * `payload` is then only its first 4 KiB, and ingest dead-letters it whole (issue 15 point 4).
   */
  readonly oversize?: { readonly bytes: number; readonly limit: number };
}

export interface IngestOutcome {
  readonly accepted: number;
  readonly rejected: number;
  readonly duplicates: number;
}

/** Ingest, as the gateway sees it: synchronous, no I/O that is waited on. */
export interface FrameSink {
  accept(frame: Frame): IngestOutcome;
}

/** What ingest hands each valid reading to (app wires it to rules + store + bus). */
export type ReadingSink = (reading: Reading) => void;

export interface RejectRecord {
  readonly id?: number;
  readonly at: number;
  readonly deviceId: string | undefined;
  readonly topic: string;
  readonly code: ErrorCode;
  readonly reason: string;
  /** Index within a batch, when one element of an array was rejected. */
  readonly index: number | undefined;
  /** First 4 KiB of the payload (or of the element), as text. */
  readonly payload: string;
}

export interface DeadLetterStore {
  add(rec: RejectRecord): void;
  /** deviceIds: only rejects of these devices (a center's scope, issue 16); none without a device. */
  /** Newest first; what add() queued is written first, so it is listed (issue 21: on whichever database the stores use). */
  list(filter?: { deviceId?: string; deviceIds?: readonly string[]; code?: ErrorCode; limit?: number; before?: number }): Promise<RejectRecord[]>;
  count(filter?: { deviceId?: string; deviceIds?: readonly string[]; code?: ErrorCode }): Promise<number>;
}

export interface StoreStats {
  readonly queued: number;
  readonly written: number;
  readonly failedBatches: number;
  readonly spooledLines: number;
  readonly spoolBytes: number;
  readonly replayedLines: number;
}

/** The time-series writer: write() appends to the journal (contracts/journal.ts); network I/O happens off the hot path. */
export interface ReadingStore extends Lifecycle {
  write(scored: ScoredReading): void;
  /** Arbitrary points (incident transitions, gateway metrics) in line protocol. */
  writeLines(lines: readonly string[]): void;
  /** Resolves when everything handed so far is durable in the journal and in InfluxDB, or InfluxDB is failing (then it waits in the journal). */
  flush(): Promise<void>;
  stats(): StoreStats;
  /** Readings not yet durable in the journal (huge when its unshipped tail is at its cap); the gateway holds telemetry above a high-water mark. */
  backlog(): number;
}

/** InfluxQL reads, for dashboards and tests. */
export interface InfluxQuery {
  query(q: string): Promise<Array<Record<string, unknown>>>;
}

export interface Clock {
  now(): number;
}
export const systemClock: Clock = { now: () => Date.now() };

import type { Center, Grid, Person, Roster, Site, RegistryFile, Device } from './registry.ts';

/** Read access to the whole registry, in memory (alerts, dashboards, simulator). */
export interface RegistryReader extends DeviceDirectory {
  center(id: string): Center | undefined;
  grid(id: string): Grid | undefined;
  site(id: string): Site | undefined;
  person(id: string): Person | undefined;
  roster(centerId: string): Roster | undefined;
  centers(): readonly Center[];
  grids(): readonly Grid[];
  sites(): readonly Site[];
  people(): readonly Person[];
  devicesOfSite(siteId: string): readonly DeviceInfo[];
}

export interface ProvisionResult {
  readonly deviceId: string;
  /** Shown once; only its salted hash is stored. */
  readonly secret: string;
}

/**
 * Registry writes (issue 21): each resolves once the write is committed in the registry's
 * database (the node's SQLite file, or the PostgreSQL every node shares) and the in-memory maps
 * have it, so a caller that answers after awaiting one answers for a durable write.
 */
export interface RegistryWriter {
  /** Upserts everything in the file (validated already) in one transaction. */
  importFile(file: RegistryFile): Promise<{ upserted: Record<keyof RegistryFile, number> }>;
  upsertDevice(device: Device): Promise<void>;
  setDeviceEnabled(deviceId: string, enabled: boolean): Promise<void>;
  /** Generates a new random secret (≥ 128 bits), stores its salted hash, returns the secret. */
  provision(deviceId: string): Promise<ProvisionResult>;
}

/** What changed in the registry; devices are also reported when their site's center or grid moved. */
export interface RegistryChange {
  readonly kind: 'center' | 'grid' | 'site' | 'device' | 'person' | 'roster';
  /** The entity id (a roster's is its centerId). */
  readonly id: string;
  readonly op: 'upsert' | 'remove';
}

/**
 * Who needs to learn of registry writes (rule engine, gateway) subscribes here; one call per write
 * or import, whether this node made it or another node sharing its database did (a large import
 * made elsewhere may arrive in several calls).
 */
export interface RegistryChanges {
  onChange(listener: (changes: readonly RegistryChange[]) => void): () => void;
}
