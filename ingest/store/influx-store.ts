// The InfluxDB writer (DESIGN.md "Storage"; issue 15): write() formats a reading as line protocol
// and appends it to the journal, which is on disk before the device's PUBACK goes out. Shipping
// workers read the journal's durable records in order, post them to InfluxDB, and confirm them;
// the journal deletes a segment once all of it is confirmed. While InfluxDB is away the records
// simply stay in the journal (its unshipped tail, formerly "the spool") and are shipped when it
// is back, also after a restart. Nothing handed to write() is lost: every line ends in InfluxDB
// or — only when InfluxDB itself calls it malformed (HTTP 400) — counted and logged as dropped.
//
// Speaks the v1 `/write?db=` endpoint, which InfluxDB 1.6 (Debian's) serves natively and 2.x/3.x
// serve for compatibility. 1.x authenticates with u/p query parameters. No `precision`
// parameter: nanoseconds are every version's default, and line.ts writes nanosecond timestamps.
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { Counter, Gauge } from 'prom-client';
import { HttpError, InfluxDB, setLogger } from '@influxdata/influxdb-client';
import type { Config } from '../../contracts/config.ts';
import type { Journal, JournalBatch, JournalRange } from '../../contracts/journal.ts';
import type { ReadingStore, StoreStats } from '../../contracts/ports.ts';
import { LineFormatter } from './line.ts';
import { postBody, ensureDatabase, linesBody } from './http.ts';
import type { LateSpan } from './late-downsample.ts';

export interface InfluxStoreDeps {
  config: Config['influx'] & { url: string };
  /** Where lines are appended and shipped from (journal/, wired by app/). */
  journal: Pick<Journal, 'append' | 'durable' | 'pending' | 'full' | 'read' | 'confirm' | 'unread' | 'stats'>;
  logger: Logger;
  metrics: Registry;
  /** Where lines InfluxDB refuses (400) are kept for replay (issue 18 point 6); without it they are dropped, counted and logged. */
  refused?: { add(lines: readonly string[], reason: string): void };
  /** Readings of a batch the continuous query will not reach (scanned before the POST) get their aggregates again once InfluxDB stored it (late-downsample.ts). */
  late?: { scan(lines: readonly string[]): LateSpan | undefined; add(span: LateSpan): void };
  /** InfluxDB being started beside us (a local influxd): nothing is shipped before it settles;
   * readings wait in the journal meanwhile, so devices are served from the first second. */
  until?: Promise<unknown>;
  /** Tuning for tests; defaults suit production. */
  retry?: { minDelayMs?: number; maxDelayMs?: number; requestTimeoutMs?: number };
}

/**
 * A batch as it is shipped: its body, its place in the journal and what of it is late, not its
 * strings. A batch waits in the POST for InfluxDB (tens to hundreds of ms under load), long
 * enough for a young-generation GC to find its lines alive and copy them, and the next to
 * promote them — with them the group text they are slices of (journal.ts): the largest share
 * of what outlived young-generation GC at 5,000 readings/s, and so of the full GCs behind
 * PUBACK p99 (issue 15). The body's bytes live outside the V8 heap.
 */
interface Shipment extends JournalRange {
  readonly body: Buffer;
  readonly fromDisk: boolean;
  readonly late: LateSpan | undefined;
}

export interface InfluxStore extends ReadingStore {
  /** Lines InfluxDB refused as malformed (400), or that could not be formatted. */
  readonly droppedLines: number;
}

/** stop() ships what it can this long while InfluxDB answers; the rest waits in the journal. */
const STOP_SHIP_MS = 5_000;

export function createInfluxStore(deps: InfluxStoreDeps): InfluxStore {
  const cfg = deps.config;
  const log = deps.logger;
  const journal = deps.journal;
  const minDelay = deps.retry?.minDelayMs ?? 1000;
  const maxDelay = deps.retry?.maxDelayMs ?? 10_000;
  const timeout = deps.retry?.requestTimeoutMs ?? 10_000;
  // NOTES.md: influxd 1.6.7 peaks with 2–4 concurrent writers on 2 cores.
  const workers = cfg.concurrency ?? 2;
  const auth = cfg.username !== undefined ? `&u=${encodeURIComponent(cfg.username)}&p=${encodeURIComponent(cfg.password ?? '')}` : '';
  const writePath = `/write?db=${encodeURIComponent(cfg.database)}${auth}`;
  const transport = new InfluxDB({ url: cfg.url, timeout }).transport;
  // 0 = never: a local or LAN influxd only spends CPU on gzip (config.ts).
  const gzipThreshold = cfg.gzipThresholdBytes > 0 ? cfg.gzipThresholdBytes : undefined;

  let written = 0;
  let replayed = 0;
  let dropped = 0;
  let failedBatches = 0;
  let inflightLines = 0;
  let failing = false;
  let stopping = false;
  let hurry = 0;
  let running: Array<Promise<void>> = [];

  // Wakes workers sleeping between small batches or in a backoff (flush and stop want it now).
  let wakers: Array<() => void> = [];
  const wake = (): void => {
    const w = wakers;
    wakers = [];
    for (const fn of w) fn();
  };
  const sleep = (ms: number): Promise<void> =>
    new Promise((r) => {
      const t = setTimeout(() => { wakers = wakers.filter((x) => x !== done); r(); }, ms);
      const done = (): void => { clearTimeout(t); r(); };
      wakers.push(done);
    });
  let settledWaiters: Array<() => void> = [];
  const settled = (): void => {
    const w = settledWaiters;
    settledWaiters = [];
    for (const fn of w) fn();
  };

  const m = deps.metrics;
  const lines = new Counter({ name: 'watchfire_store_lines_total', help: 'Lines settled, by outcome (written live, replayed from an earlier run\'s journal, dropped)', labelNames: ['outcome'], registers: [m] });
  const failures = new Counter({ name: 'watchfire_store_write_failures_total', help: 'Failed write requests to InfluxDB (each attempt)', registers: [m] });
  new Gauge({ name: 'watchfire_store_spool_lines', help: 'Lines in the journal not yet confirmed by InfluxDB (its unshipped tail, on disk)', registers: [m], collect() { this.set(journal.stats().unshippedLines); } });
  new Gauge({ name: 'watchfire_store_spool_bytes', help: 'Bytes of journal segments not yet wholly confirmed by InfluxDB', registers: [m], collect() { this.set(journal.stats().unshippedBytes); } });
  new Gauge({ name: 'watchfire_store_backlog_lines', help: 'Lines handed to the writer not yet durable in the journal', registers: [m], collect() { this.set(journal.pending()); } });
  new Gauge({ name: 'watchfire_store_spool_ratio', help: 'Unshipped journal as a fraction of its cap (influx.spoolMaxBytes)', registers: [m], collect() { this.set(journal.stats().unshippedBytes / cfg.spoolMaxBytes); } });

  function drop(n: number, reason: string): void {
    dropped += n;
    lines.labels(`dropped_${reason}`).inc(n);
  }

  function shipment(batch: JournalBatch): Shipment {
    return { segment: batch.segment, from: batch.from, count: batch.count, fromDisk: batch.fromDisk, body: linesBody(batch.lines), late: deps.late?.scan(batch.lines) };
  }

  /** Posts one batch until InfluxDB has it (or calls it malformed); gives up only on stop. */
  async function ship(batch: Shipment): Promise<boolean> {
    let delay = minDelay;
    for (;;) {
      try {
        await postBody(transport, writePath, batch.body, gzipThreshold);
        if (batch.late) deps.late?.add(batch.late);
        if (failing) log.info({ unshipped: journal.stats().unshippedLines }, 'InfluxDB is back: shipping the journal');
        failing = false;
        const n = batch.count;
        // "Replayed": read back from disk, behind an outage or from an earlier run.
        if (batch.fromDisk) {
          replayed += n;
          lines.labels('replayed').inc(n);
        } else lines.labels('written').inc(n);
        written += n;
        return true;
      } catch (err) {
        failures.inc();
        failedBatches++;
        if (err instanceof HttpError && err.statusCode === 400) {
          // Malformed or a field type conflict: 1.x has already written the good lines of a
          // partial write, and no retry can fix the rest. Rare: the lines are decoded again here.
          const refused = batch.body.toString('utf8').split('\n');
          drop(batch.count, 'rejected');
          deps.refused?.add(refused, err.message);
          log.error({ code: 'WF_STORE_WRITE', err: err.message, lines: batch.count, first: refused[0] }, 'InfluxDB rejected lines as malformed');
          return true;
        }
        if (err instanceof HttpError && err.statusCode === 404) await ensureDatabase(cfg, timeout, log);
        if (!failing) log.warn({ code: 'WF_STORE_WRITE', err: (err as Error).message, unshipped: journal.stats().unshippedLines }, 'InfluxDB write failed: readings stay in the journal until it is back');
        failing = true;
        settled();
        if (stopping) return false;
        await sleep(delay * (0.5 + Math.random()));
        delay = Math.min(delay * 2, maxDelay);
        if (stopping) return false;
      }
    }
  }

  // Stop wakes a worker waiting in read(). Not Promise.race with one long-lived "stopped" promise:
  // every race adds a reaction to it that keeps the race, and the batch it settled with, alive until
  // stop — every line ever shipped, ~0.7 KiB of heap per reading (the issue 15 soak's growth, found
  // with BENCH_HEAP_SNAPSHOT: batches' `lines` retained by chains of PromiseReactions).
  const stopListeners = new Set<() => void>();
  function readOrStop(): Promise<JournalBatch | undefined> {
    return new Promise((resolve, reject) => {
      const onStop = (): void => resolve(undefined);
      stopListeners.add(onStop);
      journal.read(cfg.batchSize).then(
        (b) => { stopListeners.delete(onStop); resolve(b); },
        (err: unknown) => { stopListeners.delete(onStop); reject(err as Error); },
      );
    });
  }

  let prepared: Promise<void> = Promise.resolve();
  async function worker(): Promise<void> {
    await prepared;
    while (!stopping) {
      // Only stop interrupts a read: a worker waiting here has nothing to ship. A read still
      // pending at stop may take a batch nobody ships: it is not confirmed, so it stays on disk
      // and is shipped after the next start.
      const batch = await readOrStop();
      if (!batch) return;
      const next = shipment(batch);
      inflightLines += next.count;
      const ok = await ship(next);
      inflightLines -= next.count;
      if (ok) journal.confirm(next);
      settled();
      // A short batch means the journal is nearly shipped: wait for more rather than post many
      // small requests (influxd's cost is per request as much as per line).
      if (ok && next.count < cfg.batchSize && hurry === 0 && !stopping) await sleep(cfg.flushIntervalMs);
    }
  }
  const stopSignal = (): void => {
    const l = [...stopListeners];
    stopListeners.clear();
    for (const fn of l) fn();
  };

  async function flush(): Promise<void> {
    hurry++;
    wake();
    try {
      // Everything handed so far is on disk first; then shipped, unless InfluxDB is away.
      await new Promise<void>((r) => journal.durable(() => r()));
      for (;;) {
        const shipped = journal.pending() === 0 && journal.unread() === 0 && inflightLines === 0;
        if (shipped || failing || running.length === 0) return;
        await new Promise<void>((r) => {
          settledWaiters.push(r);
          setTimeout(r, 50);
        });
      }
    } finally {
      hurry--;
    }
  }

  let formatter = new LineFormatter();
  function append(line: string): void {
    journal.append(line);
  }

  return {
    async start() {
      // The client logs every retry on the console; our own warnings above say it once, with codes.
      setLogger({ error: (msg, err) => log.debug({ err }, msg), warn: (msg, err) => log.debug({ err }, msg) });
      formatter = new LineFormatter();
      stopping = false;
      const s = journal.stats();
      if (s.unshippedLines > 0) log.info({ lines: s.unshippedLines }, 'shipping journal records left by an earlier run');
      // Off the start path: a slow or absent InfluxDB delays shipping, never the gateway's start.
      prepared = (async () => {
        await deps.until?.catch(() => undefined);
        if (!stopping) await ensureDatabase(cfg, Math.min(timeout, 3000), log);
      })();
      running = Array.from({ length: workers }, () => worker());
    },
    async stop() {
      if (!failing) {
        await Promise.race([flush(), new Promise((r) => setTimeout(r, STOP_SHIP_MS).unref())]);
      }
      stopping = true;
      stopSignal();
      wake();
      await Promise.all(running);
      running = [];
    },
    write(scored) {
      let line: string;
      try {
        line = formatter.format(scored);
      } catch (err) {
        log.error({ err }, 'could not format a reading as line protocol');
        drop(1, 'format');
        return;
      }
      if (!line) drop(1, 'format');
      else append(line);
    },
    writeLines(ls) {
      for (const l of ls) append(l);
    },
    flush,
    stats(): StoreStats {
      const j = journal.stats();
      return {
        queued: journal.pending() + j.unshippedLines,
        written,
        failedBatches,
        spooledLines: j.unshippedLines,
        spoolBytes: j.unshippedBytes,
        replayedLines: replayed,
      };
    },
    // Memory, not disk, is what admission control guards: records not yet durable are in the
    // heap; the unshipped tail is on disk. At the tail's cap telemetry is held (events pass).
    backlog: () => (journal.full() ? Number.MAX_SAFE_INTEGER : journal.pending()),
    get droppedLines() {
      return dropped;
    },
  };
}
