// The InfluxDB writer (DESIGN.md "Storage"): the client's WriteApi batches and retries; whatever it
// cannot deliver is spooled to disk and replayed in order when InfluxDB is back. Nothing handed to
// write() is lost: every line ends written, spooled, or — only when InfluxDB itself calls the line
// malformed (HTTP 400) or the spool is full — counted and logged as dropped.
//
// Speaks the v1 `/write?db=` endpoint, which InfluxDB 1.6 (Debian's) serves natively and 2.x/3.x
// serve for compatibility; the client's v2 path is rewritten (NOTES.md "InfluxDB"). 1.x
// authenticates with u/p query parameters. No `precision` parameter: nanoseconds are every
// version's default, and line.ts writes nanosecond timestamps.
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { Counter, Gauge } from 'prom-client';
import { HttpError, InfluxDB, setLogger } from '@influxdata/influxdb-client';
import type { Transport, WriteApi } from '@influxdata/influxdb-client';
import type { Config } from '../../contracts/config.ts';
import type { ReadingStore, StoreStats } from '../../contracts/ports.ts';
import type { ScoredReading } from '../../contracts/reading.ts';
import { createSpool } from './spool.ts';
import { LineFormatter } from './line.ts';
import { postLines, Diverted, ensureDatabase } from './http.ts';
import { createReplayer } from './replay.ts';

export interface InfluxStoreDeps {
  config: Config['influx'] & { url: string };
  spoolDir: string;
  logger: Logger;
  metrics: Registry;
  /** Where lines InfluxDB refuses (400) are kept for replay (issue 18 point 6); without it they are dropped, counted and logged. */
  refused?: { add(lines: readonly string[], reason: string): void };
  /** Tuning for tests; defaults suit production. */
  retry?: { minDelayMs?: number; maxDelayMs?: number; maxRetryTimeMs?: number; requestTimeoutMs?: number };
}

export interface InfluxStore extends ReadingStore {
  /** Lines InfluxDB refused as malformed (400) or the full spool could not take. */
  readonly droppedLines: number;
}

export function createInfluxStore(deps: InfluxStoreDeps): InfluxStore {
  const cfg = deps.config;
  const log = deps.logger;
  const minDelay = deps.retry?.minDelayMs ?? 1000;
  const maxDelay = deps.retry?.maxDelayMs ?? 10_000;
  const timeout = deps.retry?.requestTimeoutMs ?? 10_000;
  // More batches than this wait their turn in memory (still counted in backlog()).
  const maxConcurrent = cfg.concurrency ?? 2;
  const auth = cfg.username !== undefined ? `&u=${encodeURIComponent(cfg.username)}&p=${encodeURIComponent(cfg.password ?? '')}` : '';
  const writePath = `/write?db=${encodeURIComponent(cfg.database)}${auth}`;
  const real = new InfluxDB({ url: cfg.url, timeout }).transport;
  const spool = createSpool({ dir: deps.spoolDir, maxBytes: cfg.spoolMaxBytes });

  // Lines are counted from the moment they are handed over until they are settled one way.
  let handed = 0;
  let writtenLive = 0;
  let spooledLive = 0;
  let replayed = 0;
  let dropped = 0;
  let failedBatches = 0;
  // While the spool holds anything, new batches go behind it (diverted), so replay keeps order.
  let diverting = false;
  let closing = false;
  /** Batches the client holds for a retry: the client hands the same array back, so identity tracks them. */
  const retrying = new Set<string[]>();
  let waiters: Array<() => void> = [];
  const settled = (): void => {
    const w = waiters;
    waiters = [];
    for (const fn of w) fn();
  };
  const nextSettle = (): Promise<void> => new Promise((r) => waiters.push(r));

  // The hot path only appends to this array; formatting and the client's batching run a tick later.
  let pending: Array<ScoredReading | string> = [];
  let drainScheduled: NodeJS.Immediate | undefined;

  const m = deps.metrics;
  const lines = new Counter({ name: 'watchfire_store_lines_total', help: 'Lines settled, by outcome (written live, spooled, replayed from the spool, dropped)', labelNames: ['outcome'], registers: [m] });
  const failures = new Counter({ name: 'watchfire_store_write_failures_total', help: 'Failed write requests to InfluxDB (each attempt)', registers: [m] });
  new Gauge({ name: 'watchfire_store_spool_lines', help: 'Lines waiting in the disk spool', registers: [m], collect() { this.set(spool.lines); } });
  new Gauge({ name: 'watchfire_store_spool_bytes', help: 'Bytes in the disk spool', registers: [m], collect() { this.set(spool.bytes); } });
  new Gauge({ name: 'watchfire_store_backlog_lines', help: 'Lines handed to the writer not yet written or spooled', registers: [m], collect() { this.set(backlog()); } });
  new Gauge({ name: 'watchfire_store_spool_ratio', help: 'Spool size as a fraction of its cap', registers: [m], collect() { this.set(spool.bytes / cfg.spoolMaxBytes); } });

  function backlog(): number {
    return handed - writtenLive - spooledLive - dropped;
  }

  let spoolWarned = false;
  let fullLogged = false;
  function toSpool(batch: string[]): Promise<void> {
    retrying.delete(batch);
    const { accepted, written } = spool.append(batch);
    if (!accepted) {
      drop(batch.length, 'spool_full');
      if (!fullLogged) {
        fullLogged = true;
        log.error({ code: 'WF_STORE_SPOOL_FULL', spoolBytes: spool.bytes, cap: cfg.spoolMaxBytes }, 'InfluxDB spool is FULL: new readings are being dropped until InfluxDB is back');
      }
      settled();
      return Promise.resolve();
    }
    fullLogged = false;
    checkSpoolLevel();
    if (!diverting) {
      diverting = true;
      // Batches still waiting for the wire are older than anything diverted from now on.
      while (waiting.length) waiting.shift()!();
    }
    startReplay();
    return written.then(
      () => {
        spooledLive += batch.length;
        lines.labels('spooled').inc(batch.length);
        settled();
      },
      (err: unknown) => {
        log.error({ err, lines: batch.length }, 'spool append failed');
        drop(batch.length, 'spool_error');
        settled();
      },
    );
  }

  /** Warns once per crossing of the warning ratio; re-armed when replay brings it well below. */
  function checkSpoolLevel(): void {
    const ratio = spool.bytes / cfg.spoolMaxBytes;
    if (ratio >= cfg.spoolWarnRatio && !spoolWarned) {
      spoolWarned = true;
      log.warn({ code: 'WF_STORE_SPOOL_WARN', spoolBytes: spool.bytes, cap: cfg.spoolMaxBytes, ratio }, `InfluxDB spool passed ${Math.round(cfg.spoolWarnRatio * 100)} % of its cap: readings will be dropped when it is full`);
    } else if (ratio < cfg.spoolWarnRatio * 0.9) spoolWarned = false;
  }

  function drop(n: number, reason: string): void {
    dropped += n;
    lines.labels(`dropped_${reason}`).inc(n);
  }

  // The client's transport, wrapped: diverts batches while the spool is replaying, and limits
  // requests on the wire. The client alone sends every full batch at once; on a 2-core box shared
  // with influxd, dozens of concurrent 5,000-line writes only make each one slower until they
  // time out and are sent again (NOTES.md: 1.6.7 peaks with 2–4 writers).
  let active = 0;
  const waiting: Array<() => void> = [];
  const inflightCount = (): number => active + waiting.length;
  function sendNow(path: string, body: string, options: Parameters<Transport['send']>[2], callbacks: Parameters<Transport['send']>[3]): void {
    if (diverting) {
      callbacks?.error?.(new Diverted());
      return;
    }
    active++;
    const done = (): void => {
      active--;
      const next = waiting.shift();
      next?.();
      settled();
    };
    real.send(path, body, options, {
      ...callbacks,
      error(e) {
        try { callbacks?.error?.(e); } finally { done(); }
      },
      complete() {
        try { callbacks?.complete?.(); } finally { done(); }
      },
    });
  }
  const transport: Transport = {
    send(path, body, options, callbacks) {
      if (diverting) callbacks?.error?.(new Diverted());
      else if (active < maxConcurrent) sendNow(path, body, options, callbacks);
      else waiting.push(() => sendNow(path, body, options, callbacks));
    },
    request: (path, body, options, started) => real.request(path, body, options, started),
    iterate: (path, body, options) => real.iterate(path, body, options),
    chunkCombiner: real.chunkCombiner,
  };

  const writeApi: WriteApi = new InfluxDB({ url: cfg.url, timeout, transport }).getWriteApi('', cfg.database, 'ns', {
    batchSize: cfg.batchSize,
    flushInterval: cfg.flushIntervalMs,
    // The client's default gzips every body over 1,000 bytes.
    gzipThreshold: cfg.gzipThresholdBytes > 0 ? cfg.gzipThresholdBytes : Number.MAX_SAFE_INTEGER,
    maxRetries: cfg.maxRetries,
    maxRetryTime: deps.retry?.maxRetryTimeMs ?? 60_000,
    minRetryDelay: minDelay,
    maxRetryDelay: maxDelay,
    exponentialBase: 2,
    randomRetry: true,
    maxBufferLines: Math.max(cfg.batchSize * 20, 50_000),
    writeSuccess(batch) {
      retrying.delete(batch);
      writtenLive += batch.length;
      lines.labels('written').inc(batch.length);
      settled();
    },
    writeFailed(error, batch, attempt, expires) {
      if (error instanceof Diverted) return toSpool(batch);
      failedBatches++;
      failures.inc();
      const status = error instanceof HttpError ? error.statusCode : undefined;
      if (status === 400) {
        // Malformed or a field type conflict: 1.x has already written the good lines of a partial
        // write, and no retry can fix the rest.
        retrying.delete(batch);
        drop(batch.length, 'rejected');
        deps.refused?.add(batch, error.message);
        log.error({ code: 'WF_STORE_WRITE', err: error.message, lines: batch.length, first: batch[0] }, 'InfluxDB rejected lines as malformed');
        settled();
        return Promise.resolve();
      }
      if (status === 404) void ensureDatabase(cfg, timeout, log);
      // The client itself retries only network errors and statuses ≥ 429; others are spooled now.
      const clientRetries = !closing && !diverting && attempt <= cfg.maxRetries && expires > Date.now() && (status === undefined || status >= 429);
      if (clientRetries) {
        retrying.add(batch);
        log.debug({ code: 'WF_STORE_WRITE', err: error.message, attempt, lines: batch.length }, 'InfluxDB write failed; retrying');
        return undefined;
      }
      // Once per outage: from here on batches go to the spool until it has been replayed.
      if (!diverting) log.warn({ code: 'WF_STORE_WRITE', err: error.message, attempt, lines: batch.length }, 'InfluxDB write failed; spooling to disk until it is back');
      return toSpool(batch);
    },
    writeRetrySkipped(entry) {
      // The client's retry buffer overflowed: those lines go to the spool instead of being lost.
      if (!diverting) log.warn({ code: 'WF_STORE_WRITE', lines: entry.lines.length }, 'InfluxDB is not keeping up: spooling to disk until it is');
      void toSpool(entry.lines);
    },
  });
  writeApi.path = writePath;

  const formatter = new LineFormatter();
  function drain(): void {
    drainScheduled = undefined;
    const items = pending;
    pending = [];
    for (const item of items) {
      let line: string;
      try {
        line = typeof item === 'string' ? item : formatter.format(item);
      } catch (err) {
        log.error({ err }, 'could not format a reading as line protocol');
        drop(1, 'format');
        continue;
      }
      if (!line) {
        drop(1, 'format');
        continue;
      }
      writeApi.writeRecord(line);
    }
  }
  let stopped = false;
  function enqueue(item: ScoredReading | string): void {
    if (stopped) {
      // Only a wiring bug gets here (app stops devices before storage); loud, never a crash.
      drop(1, 'after_stop');
      handed++;
      log.error('reading handed to the InfluxDB writer after stop(): dropped');
      return;
    }
    pending.push(item);
    handed++;
    drainScheduled ??= setImmediate(drain);
  }

  // ---- replay ----------------------------------------------------------------------------------
  const replayer = createReplayer({
    spool,
    post: (chunk) => postLines(real, writePath, chunk),
    batchSize: cfg.batchSize,
    minDelayMs: minDelay,
    maxDelayMs: maxDelay,
    log,
    onReplayed(n) {
      replayed += n;
      lines.labels('replayed').inc(n);
    },
    onRejected(n, err) {
      failures.inc();
      failedBatches++;
      drop(n, 'rejected');
      log.error({ code: 'WF_STORE_WRITE', err: err.message }, 'InfluxDB rejected spooled lines as malformed');
    },
    async onFailure(err) {
      failures.inc();
      failedBatches++;
      if (err instanceof HttpError && err.statusCode === 404) await ensureDatabase(cfg, timeout, log);
    },
    onSegmentRemoved: checkSpoolLevel,
    onDrained() {
      diverting = false;
    },
  });
  const startReplay = (): void => replayer.start();

  // ---- lifecycle -------------------------------------------------------------------------------
  async function flush(): Promise<void> {
    // Everything handed so far: lines handed later may settle first, so the count alone is not
    // enough — nothing may be on the wire or held for a retry either.
    const target = handed;
    if (drainScheduled) {
      clearImmediate(drainScheduled);
      drain();
    }
    await writeApi.flush(true).catch(() => undefined);
    for (;;) {
      await spool.idle();
      if (inflightCount() === 0 && retrying.size === 0 && writtenLive + spooledLive + dropped >= target) return;
      if (inflightCount() === 0 && retrying.size > 0) {
        // Held for a later retry: try now (flush means now), and spool what still fails.
        await writeApi.flush(true).catch(() => undefined);
        continue;
      }
      await nextSettle();
    }
  }

  return {
    async start() {
      // The client logs every retry on the console; our own warnings above say it once, with codes.
      setLogger({ error: (msg, err) => log.debug({ err }, msg), warn: (msg, err) => log.debug({ err }, msg) });
      await spool.open();
      if (spool.lines > 0) {
        log.info({ lines: spool.lines, bytes: spool.bytes }, 'found a spool from an earlier run: replaying it');
        diverting = true;
      }
      await ensureDatabase(cfg, Math.min(timeout, 3000), log);
      if (diverting) startReplay();
    },
    async stop() {
      closing = true;
      await replayer.stop();
      await flush();
      stopped = true;
      await writeApi.close().catch(() => undefined);
      await spool.close();
    },
    write(scored) {
      enqueue(scored);
    },
    writeLines(ls) {
      for (const l of ls) enqueue(l);
    },
    flush,
    stats(): StoreStats {
      return {
        queued: backlog(),
        written: writtenLive + replayed,
        failedBatches,
        spooledLines: spool.lines,
        spoolBytes: spool.bytes,
        replayedLines: replayed,
      };
    },
    backlog,
    get droppedLines() {
      return dropped;
    },
  };
}
