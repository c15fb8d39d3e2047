// Replays the disk spool into InfluxDB, oldest segment first, one batch at a time, with backoff
// while InfluxDB is still away. Runs until the spool is empty, then says so (the writer stops
// diverting new batches behind it).
import type { Logger } from 'pino';
import { HttpError } from '@influxdata/influxdb-client';
import type { Spool } from './spool.ts';

export interface ReplayDeps {
  spool: Spool;
  post(lines: readonly string[]): Promise<void>;
  batchSize: number;
  minDelayMs: number;
  maxDelayMs: number;
  log: Logger;
  onReplayed(lines: number): void;
  /** InfluxDB called these lines malformed (400): no retry can help. */
  onRejected(lines: number, err: HttpError): void;
  /** Any other failed attempt (counted; 404 may create the database). */
  onFailure(err: unknown): Promise<void>;
  onSegmentRemoved(): void;
  /** Called in the same tick that found the spool empty, so no append can slip in between. */
  onDrained(): void;
}

export interface Replayer {
  /** Starts the loop unless it runs already (or the replayer is stopped). */
  start(): void;
  /** Ends the loop after the request in flight; what is left stays in the spool for next time. */
  stop(): Promise<void>;
}

export function createReplayer(deps: ReplayDeps): Replayer {
  const { spool, log } = deps;
  let running: Promise<void> | undefined;
  let stopping = false;
  let wake: (() => void) | undefined;
  const sleep = (ms: number): Promise<void> =>
    new Promise((r) => {
      const t = setTimeout(() => { wake = undefined; r(); }, ms);
      wake = () => { clearTimeout(t); wake = undefined; r(); };
    });

  async function loop(): Promise<void> {
    let delay = deps.minDelayMs;
    let failing = false;
    let replayed = 0;
    while (!stopping) {
      let seg;
      try {
        seg = await spool.oldest();
      } catch (err) {
        log.error({ err }, 'spool read failed');
        await sleep(deps.maxDelayMs);
        continue;
      }
      if (!seg) {
        // Checked in the same tick as onDrained: an append reserves its lines at once.
        if (spool.lines === 0) {
          deps.onDrained();
          if (replayed) log.info({ replayed }, 'InfluxDB spool drained');
          return;
        }
        await spool.idle();
        continue;
      }
      while (seg.done < seg.lines.length && !stopping) {
        const chunk = seg.lines.slice(seg.done, seg.done + deps.batchSize);
        try {
          await deps.post(chunk);
          if (failing) log.info({ spooled: spool.lines }, 'InfluxDB is back: replaying the spool');
          failing = false;
          delay = deps.minDelayMs;
          seg.done += chunk.length;
          replayed += chunk.length;
          deps.onReplayed(chunk.length);
        } catch (err) {
          if (err instanceof HttpError && err.statusCode === 400) {
            seg.done += chunk.length;
            deps.onRejected(chunk.length, err);
            continue;
          }
          await deps.onFailure(err);
          if (!failing) log.warn({ code: 'WF_STORE_WRITE', err: (err as Error).message, spooled: spool.lines }, 'InfluxDB unreachable: readings go to the disk spool');
          failing = true;
          await sleep(delay);
          delay = Math.min(delay * 2, deps.maxDelayMs);
        }
      }
      // Written whole: gone. Interrupted by stop(): kept, and replayed whole next time — lines
      // already written overwrite themselves (line.ts), so nothing is stored twice.
      if (seg.done >= seg.lines.length) {
        await spool.remove(seg);
        deps.onSegmentRemoved();
      }
    }
  }

  return {
    start() {
      if (running || stopping) return;
      running = loop().finally(() => {
        running = undefined;
      });
    },
    async stop() {
      stopping = true;
      wake?.();
      await running;
    },
  };
}
