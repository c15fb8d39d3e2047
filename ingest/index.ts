// Ingest: frames → validated readings; the dead-letter store; the InfluxDB writer (which ships
// from the journal) and its reader; a local influxd for machines without one. The composition root (app/) wires these.
export { createIngest } from './ingest.ts';
export type { Ingest, IngestDeps, DeviceIngestStats } from './ingest.ts';
export { createSeqStore } from './seq-store.ts';
export type { SeqStore, SeqStoreDeps } from './seq-store.ts';
export { createDeadLetterStore } from './dead-letters.ts';
export type { DeadLetters, DeadLetterDeps } from './dead-letters.ts';
export { createInfluxStore } from './store/influx-store.ts';
export type { InfluxStore, InfluxStoreDeps } from './store/influx-store.ts';
export { createInfluxQuery } from './store/query.ts';
export type { InfluxQueryDeps } from './store/query.ts';
export { toLine, nanos } from './store/line.ts';
export { startLocalInfluxd, spawnLocalInfluxd, rpcAddressOf } from './influxd.ts';
export { influxBackup, influxRestore } from './influx-backup.ts';
export { createRefusedStore } from './store/refused.ts';
export { ensureDatabase } from './store/http.ts';
export { ensureRetention, retentionStatements, downsampleRange, LONG_TERM_RP, DOWNSAMPLED } from './store/retention.ts';
export type { RetentionConfig } from './store/retention.ts';
export type { RefusedStore, RefusedBatch, PostLines } from './store/refused.ts';
export type { InfluxBackupTarget } from './influx-backup.ts';
export type { LocalInfluxd, LocalInfluxdOptions } from './influxd.ts';
export { createLateDownsampler } from './store/late-downsample.ts';
export type { LateDownsampler } from './store/late-downsample.ts';
