// The storage seam (issue 21 point 2): what each aggregate's store promises, asynchronously, so
// that one implementation runs on the embedded SQLite file and another on a PostgreSQL shared by
// several nodes (cluster mode). storage/ implements them for both; tests/storage.contract.test.ts
// holds both to the same cases.
//
// The embedded default keeps its synchronous stores on the alarm path (ingest/dead-letters.ts,
// registry/store.ts: better-sqlite3 answers in microseconds, and an await there would cost every
// reading a turn of the event loop). These interfaces are what cluster mode wires instead, and
// what the synchronous stores' write-behind parts can move onto.
import type { ErrorCode } from './errors.ts';
import type { RejectRecord } from './ports.ts';
import type { Center, Device, Grid, Person, RegistryFile, Roster, Site } from './registry.ts';

export type SqlDialect = 'sqlite' | 'postgres';

// ---- dead letters (ingest) ----

export interface DeadLetterFilter {
  readonly deviceId?: string;
  /** Only rejects of these devices (a center's scope, issue 16); none without a device. Empty: none. */
  readonly deviceIds?: readonly string[];
  readonly code?: ErrorCode;
  /** Only rejects with `at` before this (ms epoch): paging back through older ones. */
  readonly before?: number;
}

export interface DeadLetterStorage {
  /**
   * Stores the records in one transaction, then deletes all but the newest `keep` rows (by id).
   * Ids are the store's, growing in the order rows were written; a record's own id is ignored.
   */
  append(records: readonly RejectRecord[], keep: number): Promise<void>;
  /** Newest first (by id); `limit` is clamped to 1…10,000, default 100. */
  list(filter?: DeadLetterFilter & { readonly limit?: number }): Promise<RejectRecord[]>;
  count(filter?: DeadLetterFilter): Promise<number>;
}

// ---- registry ----

export type RegistryKind = 'center' | 'grid' | 'site' | 'device' | 'person' | 'roster';

/** One entity to store, tagged with its kind (a roster's key is its centerId). */
export type RegistryEntity =
  | { readonly kind: 'center'; readonly value: Center }
  | { readonly kind: 'grid'; readonly value: Grid }
  | { readonly kind: 'site'; readonly value: Site }
  | { readonly kind: 'device'; readonly value: Device }
  | { readonly kind: 'person'; readonly value: Person }
  | { readonly kind: 'roster'; readonly value: Roster };

export interface StoredRegistry {
  /** Every entity, parsed again with the current schemas, each kind in the order first stored. */
  readonly file: RegistryFile;
  /** Devices' secret hashes (kept out of the devices in `file`). */
  readonly hashes: ReadonlyMap<string, string>;
}

export interface RegistryStorage {
  /** Everything stored; a row that no longer parses refuses the load (WF_REGISTRY_INVALID, each row named). */
  load(): Promise<StoredRegistry>;
  /**
   * Inserts or replaces the entities in one transaction, in the order given: all or none. A
   * device without a secretHash keeps the hash stored for it.
   */
  upsert(entities: readonly RegistryEntity[], at: number): Promise<void>;
  /** Sets a device's secret hash; false when there is no such device. */
  setSecret(deviceId: string, hash: string, at: number): Promise<boolean>;
  /** Deletes one entity; false when there was none. Who refers to it is the registry's check. */
  remove(kind: RegistryKind, id: string): Promise<boolean>;
}
