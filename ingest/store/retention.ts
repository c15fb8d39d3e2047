// Readings for years (issue 18 point 6): raw readings are kept for `raw` (the default policy
// autogen gets that duration; InfluxDB deletes older shards by itself), and a continuous query
// writes min / max / mean of every numeric telemetry field per 5 minutes and per device into the
// `long_term` policy (fields min_smoke, max_smoke, mean_smoke, …, all tags kept), which the charts
// and Grafana use for long ranges (contracts/downsampling.ts has the cut-over). InfluxDB 1.x only: 2.x has buckets and tasks
// (README "Containers"); there these statements fail and Watchfire says so once and goes on.
import type { Logger } from 'pino';
import { CQ_RESAMPLE_FOR_MS, DOWNSAMPLE_STEP_SEC, DOWNSAMPLED, LONG_TERM_RP } from '../../contracts/downsampling.ts';

export interface RetentionConfig {
  url: string;
  database: string;
  username?: string | undefined;
  password?: string | undefined;
  /** InfluxQL duration of raw readings, e.g. `180d`; `INF` keeps them forever. */
  raw: string;
  /** Duration of the 5-minute aggregates; `INF` keeps them forever. */
  longTerm: string;
  downsample: boolean;
}

export { DOWNSAMPLED, LONG_TERM_RP };
const CQ = 'wf_telemetry_5m';

const q = (s: string) => `"${s.replace(/["\\]/g, '\\$&')}"`;

/** The statements that bring a database to the configured policies, given what it has now. */
export function retentionStatements(c: RetentionConfig, have: { policies: Map<string, string>; cq: string | undefined }): string[] {
  const db = q(c.database);
  const out: string[] = [];
  const dur = (d: string) => (d === 'INF' ? 'INF' : d);
  out.push(`ALTER RETENTION POLICY "autogen" ON ${db} DURATION ${dur(c.raw)} DEFAULT`);
  if (c.downsample) {
    out.push(have.policies.has(LONG_TERM_RP)
      ? `ALTER RETENTION POLICY ${q(LONG_TERM_RP)} ON ${db} DURATION ${dur(c.longTerm)}`
      : `CREATE RETENTION POLICY ${q(LONG_TERM_RP)} ON ${db} DURATION ${dur(c.longTerm)} REPLICATION 1`);
    const body = `SELECT min(*), max(*), mean(*) INTO ${db}.${q(LONG_TERM_RP)}.${q(DOWNSAMPLED)} FROM ${db}."autogen"."telemetry" GROUP BY time(5m), *`;
    // RESAMPLE FOR: each run computes the last bucket again, not only the one that just closed —
    // the journal ships readings a moment after they arrive, so a bucket is complete only after
    // its end. Later arrivals (an outage, a device's buffered upload) are aggregated by the
    // writer's late downsampler, or by hand with `wf store downsample`.
    const want = `CREATE CONTINUOUS QUERY ${q(CQ)} ON ${db} RESAMPLE EVERY 5m FOR ${CQ_RESAMPLE_FOR_MS / 60_000}m BEGIN ${body} END`;
    // InfluxDB prints a CQ back without quotes: compare on the words, not the quoting.
    const norm = (s: string) => s.replace(/"/g, '');
    if (have.cq !== undefined && norm(have.cq) !== norm(want)) out.push(`DROP CONTINUOUS QUERY ${q(CQ)} ON ${db}`);
    if (have.cq === undefined || norm(have.cq) !== norm(want)) out.push(want);
  } else if (have.cq !== undefined) {
    out.push(`DROP CONTINUOUS QUERY ${q(CQ)} ON ${db}`);
  }
  return out;
}

async function influxql(c: RetentionConfig, stmt: string, timeoutMs = 10_000): Promise<Array<{ name?: string; columns: string[]; values?: unknown[][] }>> {
  const params = new URLSearchParams({ q: stmt, db: c.database });
  if (c.username !== undefined) {
    params.set('u', c.username);
    params.set('p', c.password ?? '');
  }
  const res = await fetch(`${c.url}/query`, { method: 'POST', body: params, signal: AbortSignal.timeout(timeoutMs) });
  const body = (await res.json()) as { results?: Array<{ error?: string; series?: Array<{ name?: string; columns: string[]; values?: unknown[][] }> }>; error?: string };
  const err = body.error ?? body.results?.[0]?.error;
  if (!res.ok || err) throw new Error(`${stmt.slice(0, 60)}…: ${err ?? res.status}`);
  return body.results?.[0]?.series ?? [];
}

/** Applies the policies and the continuous query; returns the statements it ran. */
export async function ensureRetention(c: RetentionConfig, log?: Logger): Promise<string[]> {
  const policies = new Map<string, string>();
  for (const s of await influxql(c, `SHOW RETENTION POLICIES ON ${q(c.database)}`)) {
    for (const v of s.values ?? []) policies.set(String(v[0]), String(v[1]));
  }
  let cq: string | undefined;
  for (const s of await influxql(c, 'SHOW CONTINUOUS QUERIES')) {
    if (s.name !== c.database) continue;
    for (const v of s.values ?? []) if (v[0] === CQ) cq = String(v[1]);
  }
  const stmts = retentionStatements(c, { policies, cq });
  for (const stmt of stmts) await influxql(c, stmt);
  log?.info({ raw: c.raw, longTerm: c.longTerm, downsample: c.downsample }, 'InfluxDB retention policies and downsampling in place');
  return stmts;
}

const CHUNK_MS = 3_600_000;

/**
 * Writes the 5-minute aggregates of [from, to) again from the raw readings, an hour at a time. A
 * continuous query only ever computes the bucket that just closed: readings that reach InfluxDB
 * later (shipped from the journal after an outage) or before the query existed (an upgrade) are
 * not aggregated until this runs (`wf store downsample`). Re-running it rewrites the same points.
 * An hour of a large county is millions of readings: each query gets a minute, not the 10 s of
 * the statements above (one 5-minute bucket's query timed out at 10 s while influxd took 5,000
 * readings/s in `npm run bench -- firmware`).
 */
export async function downsampleRange(c: RetentionConfig, from: number, to: number, devices?: readonly string[]): Promise<{ buckets: number; written: number }> {
  // Only these devices' series: each has its own aggregates (GROUP BY * keeps every tag).
  const only = devices?.length ? ` AND (${devices.map((d) => `"device" = '${d.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`).join(' OR ')})` : '';
  const db = q(c.database);
  const step = DOWNSAMPLE_STEP_SEC * 1000;
  const start = Math.floor(from / step) * step;
  let written = 0;
  let buckets = 0;
  for (let t = start; t < to; t += CHUNK_MS) {
    const end = Math.min(t + CHUNK_MS, Math.ceil(to / step) * step);
    const r = await influxql(c, `SELECT min(*), max(*), mean(*) INTO ${db}.${q(LONG_TERM_RP)}.${q(DOWNSAMPLED)} FROM ${db}."autogen"."telemetry" WHERE time >= ${t}ms AND time < ${end}ms${only} GROUP BY time(5m), *`, 60_000);
    written += Number(r[0]?.values?.[0]?.[1] ?? 0);
    buckets += Math.round((end - t) / step);
  }
  return { buckets, written };
}
