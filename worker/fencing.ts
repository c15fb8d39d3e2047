// Fencing for the rule worker (contracts/cluster.ts "FENCING"; worker/rule-worker.ts): a
// partition is owned under the lease term it was taken with. Before a batch is handled its
// partitions' terms are read (one round trip per batch, not per record), and a partition whose term
// moved on is dropped there and then, its records left pending for the new owner;
// acknowledgements (and snapshots, worker/snapshots.ts) carry the term, and Redis refuses them
// under another. What stays unfenced is a batch already being handled when the term moves: its
// side effects happen, its acknowledgement is refused, and the new owner handles it again (at
// least once, as for any record a dead owner left pending).
import type { Logger } from 'pino';
import type { LogOffset, LogRecord, PartitionedLog } from '../contracts/cluster.ts';
import type { Owned } from './owned.ts';

export interface FencingDeps {
  log: Pick<PartitionedLog, 'ack' | 'terms'>;
  owned: ReadonlyMap<number, Owned>;
  /** Drops a partition this worker no longer holds (its lane closed, its records left pending). */
  drop: (o: Owned) => void;
  logger: Logger;
}

export interface Fencing {
  /** Acknowledges under the partition's term; refused, the partition is another worker's now and is dropped. */
  ack(o: Owned, offsets: readonly LogOffset[]): Promise<void>;
  /**
   * Drops the partitions of a batch whose term moved on; false when the terms could not be read
   * (then nothing of the batch is handled: its records stay pending here, and this worker's late
   * takeover or the next owner reads them again).
   */
  fence(records: readonly LogRecord[]): Promise<boolean>;
}

export function createFencing(deps: FencingDeps): Fencing {
  const { log, owned, logger } = deps;
  return {
    async ack(o, offsets) {
      if (await log.ack(o.partition, offsets, o.term)) return;
      if (!o.gone) logger.warn({ code: 'WF_CLUSTER_LOG_WORKER', partition: o.partition, term: o.term, records: offsets.length }, 'acknowledgement refused: the partition has a new lease term (another worker took it); its state is dropped here and the new owner handles these records');
      deps.drop(o);
    },

    async fence(records) {
      const parts = [...new Set(records.map((r) => r.partition))];
      let terms: number[];
      try {
        terms = await log.terms(parts);
      } catch (err) {
        logger.error({ code: 'WF_CLUSTER_LOG_WORKER', err: (err as Error).message }, 'lease terms could not be read: the batch is left pending');
        return false;
      }
      parts.forEach((p, i) => {
        const o = owned.get(p);
        if (!o || o.gone || terms[i] === o.term) return;
        logger.warn({ code: 'WF_CLUSTER_LOG_WORKER', partition: p, term: o.term, now: terms[i] }, 'partition taken by another worker (a new lease term): its records are left to it, its state dropped here');
        deps.drop(o);
      });
      return true;
    },
  };
}
