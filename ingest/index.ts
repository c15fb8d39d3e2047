// Ingest: frames → validated readings; the dead-letter store; the InfluxDB writer, its spool and
// its reader; a local influxd for machines without one. The composition root (app/) wires these.
export { createIngest } from './ingest.ts';
export type { Ingest, IngestDeps, DeviceIngestStats } from './ingest.ts';
export { createDeadLetterStore } from './dead-letters.ts';
export type { DeadLetters, DeadLetterDeps } from './dead-letters.ts';
export { createInfluxStore } from './store/influx-store.ts';
export type { InfluxStore, InfluxStoreDeps } from './store/influx-store.ts';
export { createInfluxQuery } from './store/query.ts';
export type { InfluxQueryDeps } from './store/query.ts';
export { toLine, nanos } from './store/line.ts';
export { startLocalInfluxd } from './influxd.ts';
export type { LocalInfluxd, LocalInfluxdOptions } from './influxd.ts';
