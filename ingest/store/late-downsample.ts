// Readings that reach InfluxDB late get their 5-minute aggregates (issue 18 point 6). The
// continuous query recomputes only the last CQ_RESAMPLE_FOR_MS; readings stored after it can no
// longer reach them — shipped from the journal after an outage, restored by a partition's new
// owner, or a device's buffered upload of the last hour — would be in the raw readings but missing
// from `long_term`, where long charts look. The writer scans every batch before posting it
// (scan(): the telemetry lines the continuous query will not reach, as a time span and devices)
// and adds what it found once InfluxDB has stored the batch (add()), so that it can let go of the
// batch's strings while the POST is in flight (influx-store.ts). A little later the gathered span
// is aggregated again from the raw readings (downsampleRange, idempotent): for just those devices
// when they are few, else for every device. Off the hot path: a timer, one InfluxQL per hour of
// readings.
//
// Only what the continuous query will not reach is late. Aggregating readings of seconds ago
// again (a batch retried once, a sealed segment's tail) cost influxd a 5-minute bucket's query
// every 30 s under steady load — up to a core, with its queries timing out (issue 15: found by
// `npm run bench -- firmware` at 5,000/s).
import type { Logger } from 'pino';
import { CQ_RESAMPLE_FOR_MS, DOWNSAMPLE_STEP_SEC } from '../../contracts/downsampling.ts';

/**
 * How far back the continuous query's next run still reaches, ms: it runs every 5 minutes over
 * the last CQ_RESAMPLE_FOR_MS, so a reading stored now is aggregated by it if it is younger than
 * that less 5 minutes (the next run is at most 5 minutes away).
 */
export const CQ_REACH_MS = CQ_RESAMPLE_FOR_MS - DOWNSAMPLE_STEP_SEC * 1000;
/** Above this many devices a late period is aggregated for every device: one query, not a long list. */
export const MAX_NAMED_DEVICES = 200;

export interface LateDownsamplerDeps {
  /** Aggregates [from, to) again, for these devices or (undefined) every device: downsampleRange with the retention config. */
  run(from: number, to: number, devices: readonly string[] | undefined): Promise<unknown>;
  logger: Logger;
  now?: () => number;
  /** Raw readings older than this are gone: nothing to aggregate (ms; null: kept forever). */
  rawKeptMs: number | null;
  /** Spans gathered this long before they are aggregated (a replay ships many batches). */
  delayMs?: number;
}

/** What of a batch the continuous query will not reach: its time span (ms, inclusive) and devices (undefined: every device). */
export interface LateSpan {
  readonly from: number;
  readonly to: number;
  readonly devices: ReadonlySet<string> | undefined;
}

export interface LateDownsampler {
  /** What of these lines the continuous query will not reach, if anything; adds nothing yet. */
  scan(lines: readonly string[]): LateSpan | undefined;
  /** A span scan() found in a batch InfluxDB has now stored: it is aggregated again a little later. */
  add(span: LateSpan): void;
  /** scan() and add() at once, for a batch InfluxDB has just stored. */
  addLines(lines: readonly string[]): void;
  /** Aggregates what is gathered now and stops the timer. */
  stop(): Promise<void>;
}

export function createLateDownsampler(deps: LateDownsamplerDeps): LateDownsampler {
  const now = deps.now ?? Date.now;
  const delay = deps.delayMs ?? 30_000;
  let span: [number, number] | undefined;
  /** The devices of the span; undefined: every device. */
  let devices: Set<string> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;

  async function run(): Promise<void> {
    timer = undefined;
    if (!span) return;
    const oldest = deps.rawKeptMs === null ? -Infinity : now() - deps.rawKeptMs;
    const from = Math.max(span[0], oldest);
    const to = span[1] + 1; // downsampleRange's end is exclusive
    const named = devices ? [...devices].sort() : undefined;
    span = undefined;
    devices = undefined;
    if (from >= to) return;
    const which = named ? { devices: named.length <= 5 ? named : `${named.length} devices` } : { devices: 'all' };
    try {
      const r = await deps.run(from, to, named);
      deps.logger.info({ from: new Date(from).toISOString(), to: new Date(to).toISOString(), ...which, result: r }, 'readings stored late: their 5-minute aggregates written');
    } catch (err) {
      // Said, not retried in a loop: `wf store downsample` does it by hand.
      deps.logger.warn({ err: (err as Error).message, from: new Date(from).toISOString(), to: new Date(to).toISOString(), ...which }, 'could not write the 5-minute aggregates of readings stored late (wf store downsample --from … --to …)');
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
  function scan(lines: readonly string[]): LateSpan | undefined {
    const reach = now() - CQ_REACH_MS;
    let from = Infinity;
    let to = -Infinity;
    let named: Set<string> | undefined = new Set();
    for (const l of lines) {
      // Only telemetry is aggregated; events are not.
      if (!l.startsWith('telemetry,')) continue;
      const ms = msOfLine(l);
      if (ms === undefined || ms >= reach) continue;
      if (ms < from) from = ms;
      if (ms > to) to = ms;
      // One device past the bound, or a line without one, makes it every device.
      const device = deviceOfLine(l);
      if (device === undefined) named = undefined;
      else if (named) {
        named.add(device);
        if (named.size > MAX_NAMED_DEVICES) named = undefined;
      }
    }
    return from <= to ? { from, to, devices: named } : undefined;
  }
  function add(late: LateSpan): void {
    // A span already for every device stays so; one more device past the bound makes it so.
    if (!span) devices = late.devices && new Set(late.devices);
    else if (devices) {
      if (!late.devices) devices = undefined;
      else {
        for (const d of late.devices) devices.add(d);
        if (devices.size > MAX_NAMED_DEVICES) devices = undefined;
      }
    }
    span = span ? [Math.min(span[0], late.from), Math.max(span[1], late.to)] : [late.from, late.to];
    schedule();
  }
  return {
    scan,
    add,
    addLines(lines) {
      const late = scan(lines);
      if (late) add(late);
    },
    async stop() {
      clearTimeout(timer);
      timer = undefined;
      await running;
      if (span) await run();
    },
  };
}

/** The time (ms) of a line-protocol line with a nanosecond timestamp (ingest/store/line.ts). */
function msOfLine(l: string): number | undefined {
  const ns = l.slice(l.lastIndexOf(' ') + 1);
  if (ns.length <= 6) return undefined;
  const ms = Number(ns.slice(0, -6));
  return Number.isFinite(ms) ? ms : undefined;
}

/** The `device` tag of a line, unescaped (line protocol escapes `,`, `=` and space in tags with `\`); undefined if it has none. */
function deviceOfLine(l: string): string | undefined {
  const at = l.indexOf(',device=');
  if (at < 0) return undefined;
  let out = '';
  for (let i = at + 8; i < l.length; i++) {
    const c = l[i]!;
    if (c === '\\' && i + 1 < l.length) {
      out += l[++i];
      continue;
    }
    if (c === ',' || c === ' ') break;
    out += c;
  }
  return out;
}
