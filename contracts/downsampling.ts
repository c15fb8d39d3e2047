// Readings for years (issue 18 point 6): what the writer side sets up (ingest/store/retention.ts:
// the raw policy and a continuous query into `long_term`) and what the readers (the site chart
// API, Grafana's dashboards, deploy/influxdb2 for InfluxDB 2) rely on, in one place.
//
// THE CUT-OVER. A chart of more than LONG_RANGE_HOURS, or of a range reaching past what the raw
// policy keeps, is read from the 5-minute aggregates: a 2-day chart of ~120 points has a step of
// 24 min, so every point already spans several 5-minute buckets and the max of their maxes is
// exactly the max of the readings (min of mins for battery) — nothing an operator looks for is
// lost, and the same query keeps working once the raw readings are gone. Shorter charts read the
// raw readings. The last minutes are always read raw as well: the continuous query writes a
// bucket only after it closed, so the newest readings are not in `long_term` yet.

/** The retention policy of the aggregates. */
export const LONG_TERM_RP = 'long_term';
/** Their measurement; fields `min_<field>`, `max_<field>`, `mean_<field>` with every tag kept. */
export const DOWNSAMPLED = 'telemetry_5m';
export const DOWNSAMPLE_STEP_SEC = 300;
/** Charts longer than this are read from `long_term`. */
export const LONG_RANGE_HOURS = 48;
/** The newest part of a long-range chart that is read raw as well (the open bucket and a late continuous query). */
export const RAW_TAIL_MS = 15 * 60_000;
/**
 * How far back each run of the continuous query (every 5 minutes) computes again: each bucket
 * twice, the second time 5 minutes after it closed, when readings shipped a moment late are in.
 * Readings stored later still are aggregated by the writer's late downsampler
 * (ingest/store/late-downsample.ts). Every bucket a third time as well (15 minutes, before issue 15)
 * kept one of influxd's cores busy for about 30 s every 5 minutes at 5,000 readings/s.
 */
export const CQ_RESAMPLE_FOR_MS = 10 * 60_000;

export type Aggregate = 'min' | 'max' | 'mean';
export const aggregateField = (agg: Aggregate, field: string): string => `${agg}_${field}`;

/** What readers need to know of the policies; undefined when there is no downsampling. */
export interface LongTermReads {
  /** How long raw readings are kept (ms); null: forever. */
  rawKeptMs: number | null;
}

const UNIT_MS: Record<string, number> = { h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** An InfluxQL duration of the config (`180d`, `12h`, `4w`, `INF`) in ms; null for INF. */
export function durationMs(d: string): number | null {
  if (d === 'INF') return null;
  const m = /^(\d+)([hdw])$/.exec(d);
  if (!m) throw new Error(`not a retention duration: ${d}`);
  return Number(m[1]) * UNIT_MS[m[2]!]!;
}

/** Whether a chart from `from` to `to` (ms) is read from the aggregates. */
export function readsLongTerm(from: number, to: number, lt: LongTermReads | undefined): boolean {
  if (!lt) return false;
  return to - from > LONG_RANGE_HOURS * 3_600_000 || (lt.rawKeptMs !== null && to - from > lt.rawKeptMs);
}
