// Lines InfluxDB refuses (HTTP 400: a field type conflict, a series or tag-value limit, a
// malformed line) are never dropped silently (issue 18 point 6): they are kept on disk with the
// reason, counted, logged as WF_STORE_REFUSED (the metric is what an alert rule watches), and
// replayed with `wf store replay-refused` once the cause is fixed. Separate from the spool, which
// holds lines InfluxDB could not take *yet*: these it will not take until someone acts.
// One JSON object per refused batch in refused.jsonl; small by nature and capped (maxBytes).
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { Counter, Gauge } from 'prom-client';

export interface RefusedBatch {
  at: number;
  /** InfluxDB's own words (the 400 body): which line and why. */
  reason: string;
  lines: string[];
}

export interface RefusedStoreDeps {
  dir: string;
  logger: Logger;
  metrics?: Registry;
  /** Bytes kept at most (default 256 MiB); beyond it, refused lines are counted as lost and logged. */
  maxBytes?: number;
  now?: () => number;
}

export type PostLines = (lines: string[]) => Promise<{ ok: true } | { ok: false; status: number; reason: string }>;

export interface RefusedStore {
  add(lines: readonly string[], reason: string): void;
  list(): RefusedBatch[];
  /** Lines kept now. */
  readonly lines: number;
  /** Lines refused that did not fit under maxBytes (lost, loudly). */
  readonly lost: number;
  /** Posts every kept batch again; what InfluxDB takes is removed, what it still refuses stays with the new reason. */
  replay(post: PostLines): Promise<{ replayed: number; stillRefused: number }>;
}

export function createRefusedStore(deps: RefusedStoreDeps): RefusedStore {
  const file = join(deps.dir, 'refused.jsonl');
  const maxBytes = deps.maxBytes ?? 256 * 1024 * 1024;
  const now = deps.now ?? Date.now;
  let lost = 0;
  const read = (): RefusedBatch[] => existsSync(file)
    ? readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as RefusedBatch)
    : [];
  // Counted from the file at first use: creating the store does no I/O (STYLE.md).
  let keptCache: number | undefined;
  const keptNow = (): number => (keptCache ??= read().reduce((n, b) => n + b.lines.length, 0));
  const counter = deps.metrics ? new Counter({ name: 'watchfire_store_refused_lines_total', help: 'Lines InfluxDB refused (HTTP 400), kept on disk for replay', registers: [deps.metrics] }) : undefined;
  if (deps.metrics) new Gauge({ name: 'watchfire_store_refused_lines', help: 'Refused lines kept on disk, waiting for wf store replay-refused', registers: [deps.metrics], collect() { this.set(keptNow()); } });

  return {
    add(lines, reason) {
      const entry = `${JSON.stringify({ at: now(), reason, lines })}\n`;
      mkdirSync(deps.dir, { recursive: true });
      const size = existsSync(file) ? statSync(file).size : 0;
      counter?.inc(lines.length);
      if (size + Buffer.byteLength(entry) > maxBytes) {
        lost += lines.length;
        deps.logger.error({ code: 'WF_STORE_REFUSED', lines: lines.length, reason, lost }, 'InfluxDB refused lines and the refused-lines store is full: these are LOST');
        return;
      }
      // Synchronous and rare: a refusal is a configuration fault, not the normal path.
      const kept = keptNow() + lines.length;
      appendFileSync(file, entry);
      keptCache = kept;
      deps.logger.error({ code: 'WF_STORE_REFUSED', lines: lines.length, reason: reason.slice(0, 500), kept, file }, 'InfluxDB refused lines: kept on disk; fix the cause, then run `wf store replay-refused`');
    },
    list: read,
    get lines() {
      return keptNow();
    },
    get lost() {
      return lost;
    },
    async replay(post) {
      const batches = read();
      const still: RefusedBatch[] = [];
      let replayed = 0;
      for (const b of batches) {
        const r = await post(b.lines);
        if (r.ok) replayed += b.lines.length;
        else still.push({ ...b, reason: r.status === 400 ? r.reason : b.reason, at: r.status === 400 ? now() : b.at });
        // A server error (not a refusal) keeps the batch and its first reason; replay again later.
      }
      mkdirSync(deps.dir, { recursive: true });
      const tmp = `${file}.tmp`;
      writeFileSync(tmp, still.map((b) => `${JSON.stringify(b)}\n`).join(''));
      renameSync(tmp, file);
      keptCache = still.reduce((n, b) => n + b.lines.length, 0);
      return { replayed, stillRefused: keptCache };
    },
  };
}
