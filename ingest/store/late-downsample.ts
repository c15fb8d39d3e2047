// Readings that reach InfluxDB late get their 5-minute aggregates (issue 18 point 6). The
// continuous query only recomputes the last 15 minutes; readings shipped from the journal after
// an outage (or after a restart with an unshipped tail) are older than that, and without this
// they would be in the raw readings but missing from `long_term`, where long charts look. The
// writer reports the time span of every batch it shipped late (one that failed first, or was read
// back from disk); spans are merged and, a little later, that period is aggregated again from the
// raw readings (downsampleRange, idempotent). Off the hot path: a timer, one InfluxQL per day.
//
// Only what the continuous query will not reach is late. A batch the writer retried once, or read
// back from a sealed segment (every segment rotation leaves a few unread lines), usually holds
// readings of seconds ago; the continuous query's next run aggregates those anyway. Aggregating
// them again cost influxd a 5-minute bucket's query every 30 s under steady load — up to a core,
// with its queries timing out (issue 15: found by `npm run bench -- firmware` at 5,000/s).
import type { Logger } from 'pino';
import { DOWNSAMPLE_STEP_SEC, RAW_TAIL_MS } from '../../contracts/downsampling.ts';

/**
 * How far back the continuous query's next run still reaches, ms: it runs every 5 minutes over
 * the last RAW_TAIL_MS, so a reading stored now is aggregated by it if it is younger than
 * RAW_TAIL_MS − 5 min (the next run is at most 5 minutes away).
 */
export const CQ_REACH_MS = RAW_TAIL_MS - DOWNSAMPLE_STEP_SEC * 1000;

export interface LateDownsamplerDeps {
  /** Aggregates [from, to) again: downsampleRange with the retention config. */
  run(from: number, to: number): Promise<unknown>;
  logger: Logger;
  now?: () => number;
  /** Raw readings older than this are gone: nothing to aggregate (ms; null: kept forever). */
  rawKeptMs: number | null;
  /** Spans gathered this long before they are aggregated (a replay ships many batches). */
  delayMs?: number;
}

export interface LateDownsampler {
  /** A batch with readings from `from` to `to` (ms) was stored late; the part the continuous query still reaches is left to it. */
  add(from: number, to: number): void;
  /** Aggregates what is gathered now and stops the timer. */
  stop(): Promise<void>;
}

export function createLateDownsampler(deps: LateDownsamplerDeps): LateDownsampler {
  const now = deps.now ?? Date.now;
  const delay = deps.delayMs ?? 30_000;
  let span: [number, number] | undefined;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;

  async function run(): Promise<void> {
    timer = undefined;
    if (!span) return;
    const oldest = deps.rawKeptMs === null ? -Infinity : now() - deps.rawKeptMs;
    const from = Math.max(span[0], oldest);
    const to = span[1] + 1; // downsampleRange's end is exclusive
    span = undefined;
    if (from >= to) return;
    try {
      const r = await deps.run(from, to);
      deps.logger.info({ from: new Date(from).toISOString(), to: new Date(to).toISOString(), result: r }, 'readings stored late: their 5-minute aggregates written');
    } catch (err) {
      // Said, not retried in a loop: `wf store downsample` does it by hand.
      deps.logger.warn({ err: (err as Error).message, from: new Date(from).toISOString(), to: new Date(to).toISOString() }, 'could not write the 5-minute aggregates of readings stored late (wf store downsample --from … --to …)');
    }
  }
  function schedule(): void {
    if (timer || running) return;
    timer = setTimeout(() => {
      running = run().finally(() => {
        running = undefined;
        if (span) schedule();
      });
    }, delay);
    timer.unref();
  }
  return {
    add(from, to) {
      if (!Number.isFinite(from) || !Number.isFinite(to)) return;
      const reach = now() - CQ_REACH_MS;
      if (from >= reach) return;
      to = Math.min(to, reach);
      span = span ? [Math.min(span[0], from), Math.max(span[1], to)] : [from, to];
      schedule();
    },
    async stop() {
      clearTimeout(timer);
      timer = undefined;
      await running;
      if (span) await run();
    },
  };
}

/** The time span (ms) of line-protocol lines with nanosecond timestamps (ingest/store/line.ts). */
export function spanOfLines(lines: readonly string[]): [number, number] | undefined {
  let lo = Infinity;
  let hi = -Infinity;
  for (const l of lines) {
    const ns = l.slice(l.lastIndexOf(' ') + 1);
    if (ns.length <= 6) continue;
    const ms = Number(ns.slice(0, -6));
    if (!Number.isFinite(ms)) continue;
    if (ms < lo) lo = ms;
    if (ms > hi) hi = ms;
  }
  return lo <= hi ? [lo, hi] : undefined;
}
