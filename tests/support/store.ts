// The InfluxDB writer as app/ wires it: a journal (journal/) that every line goes to first, and
// the writer shipping from it. start/stop run both in app's order.
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Config } from '../../contracts/config.ts';
import type { Journal } from '../../contracts/journal.ts';
import { createJournal } from '../../journal/index.ts';
import { createInfluxStore, type InfluxStore, type InfluxStoreDeps } from '../../ingest/store/influx-store.ts';

export interface JournaledStore extends InfluxStore {
  readonly journal: Journal;
}

export function createJournaledStore(opts: {
  dir: string;
  config: Config['influx'] & { url: string };
  logger: Logger;
  metrics: Registry;
  retry?: InfluxStoreDeps['retry'];
  fsync?: boolean;
  segmentBytes?: number;
  refused?: InfluxStoreDeps['refused'];
}): JournaledStore {
  const journal = createJournal({
    dir: opts.dir,
    fsync: opts.fsync ?? true,
    maxBytes: opts.config.spoolMaxBytes,
    warnRatio: opts.config.spoolWarnRatio,
    logger: opts.logger,
    metrics: opts.metrics,
    ...(opts.segmentBytes ? { segmentBytes: opts.segmentBytes } : {}),
  });
  const store = createInfluxStore({ config: opts.config, journal, logger: opts.logger, metrics: opts.metrics, ...(opts.retry ? { retry: opts.retry } : {}), ...(opts.refused ? { refused: opts.refused } : {}) });
  return {
    journal,
    async start() {
      await journal.start();
      await store.start();
    },
    async stop() {
      await store.stop();
      await journal.stop();
    },
    write: (s) => store.write(s),
    writeLines: (ls) => store.writeLines(ls),
    flush: () => store.flush(),
    stats: () => store.stats(),
    backlog: () => store.backlog(),
    get droppedLines() {
      return store.droppedLines;
    },
  };
}
