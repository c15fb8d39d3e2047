// What ingest hands the rule engine and the store: one validated, normalised reading or event.
import type { DeviceEvent, DeviceType } from './protocol.ts';
import type { Level } from './findings.ts';

/**
 * `clock_bad`: the device's timestamp was not trusted (receive time used). `out_of_range`: a
 * measured value lies outside its plausible range (protocol.ts MEASURED_RANGES); the reading is
 * kept, stored flagged, and scored as the evidence it is, or as a sensor fault for a structural
 * value no structure can take (issue 14).
 */
export type ReadingFlag = 'clock_bad' | 'out_of_range';

interface ReadingBase {
  readonly deviceId: string;
  readonly deviceType: DeviceType;
  readonly siteId: string;
  readonly centerId: string;
  readonly gridId: string | undefined;
  /** When it was measured (ms epoch): device time, or receive time when flagged clock_bad. */
  readonly ts: number;
  /** Gateway receive time (ms epoch). */
  readonly receivedAt: number;
  readonly seq: number | undefined;
  readonly flags: readonly ReadingFlag[];
}

export interface TelemetryReading extends ReadingBase {
  readonly kind: 'telemetry';
  /** Measured values: known fields of the device type plus unknown numeric fields (kept as-is). */
  readonly values: Readonly<Record<string, number | string>>;
}

export interface EventReading extends ReadingBase {
  readonly kind: 'event';
  readonly event: DeviceEvent;
  /** Numeric fields of the event (loop, point, unknown numbers) for storage. */
  readonly values: Readonly<Record<string, number | string>>;
}

export type Reading = TelemetryReading | EventReading;

/** A reading after the rule engine: what is stored in InfluxDB. */
export interface ScoredReading {
  readonly reading: Reading;
  readonly score: number;
  readonly level: Level;
}
