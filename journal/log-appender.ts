// The gateway side of the partitioned log (issue 21 point 4; contracts/cluster.ts): in cluster mode
// with cluster.partitions set, a frame is not scored where it arrived but appended to its site's
// partition, and the rule worker owning that partition scores it (worker/). The PUBACK waits for
// the append as it waits for the journal on one node: durable() calls back once every append
// started before it has been answered by Redis (fsynced there: journal/redis-log.ts).
//
// A frame whose device the directory does not know has no site and so no partition: it goes to the
// local ingest, which dead-letters it (WF_INGEST_UNKNOWN_DEVICE), and its PUBACK waits for the local
// journal's group commit as it would on one node. Every other bad frame travels in the log and is
// dead-lettered, with its reason, by the worker that owns the partition (the one place that
// parses it).
//
// Presence the gateway tells only its own node (a connect, a socket closed without a will) is
// appended beside the frames (presence()), so that the owner hears it in its place among them.
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { DevicePresence } from '../contracts/bus.ts';
import { encodeFrame, presenceFrame, type PartitionedLog } from '../contracts/cluster.ts';
import { hotCounter } from '../contracts/metrics.ts';
import type { DeviceDirectory, Frame, FrameSink, IngestOutcome } from '../contracts/ports.ts';

export interface LogAppenderDeps {
  log: Pick<PartitionedLog, 'append'>;
  directory: Pick<DeviceDirectory, 'get'>;
  /** Where frames without a site go (the local ingest), and its durable wait (the local journal). */
  local: FrameSink;
  localDurable: (done: (err?: Error) => void) => void;
  logger: Logger;
  metrics: Registry;
}

export interface LogAppender extends FrameSink {
  /** Calls back once every frame accepted so far is in the log (or with the first append's error). */
  durable(done: (err?: Error) => void): void;
  /**
   * A presence change of a registered device, to its site's partition after the frames accepted
   * before it (contracts/cluster.ts, presence record). Nobody waits on it, but durable() waits for
   * it as for a frame: a node that stops appends the presence its shutdown told before it leaves.
   */
  presence(p: DevicePresence): void;
}

/** "Appended", as the gateway and adapters read an outcome: validation is the worker's. */
const APPENDED: IngestOutcome = Object.freeze({ accepted: 1, rejected: 0, duplicates: 0 });

interface Waiter {
  /** Appends 1..need must have been answered. */
  readonly need: number;
  /** Every append up to here had been answered when it started waiting (their errors went to others). */
  readonly from: number;
  readonly local: boolean;
  readonly done: (err?: Error) => void;
}

export function createLogAppender(deps: LogAppenderDeps): LogAppender {
  const appended = hotCounter(deps.metrics, 'watchfire_cluster_log_appends_total', 'Records appended to the partitioned log (cluster mode): frames, and presence changes');
  const failed = hotCounter(deps.metrics, 'watchfire_cluster_log_append_failures_total', 'Appends to the partitioned log that failed: those frames were not acknowledged');
  /** Appends started; append i is numbered i (from 1). */
  let issued = 0;
  /** Every append ≤ settledUpTo has been answered. */
  let settledUpTo = 0;
  /** Answered appends above settledUpTo (they complete out of order across connections). */
  const settled = new Set<number>();
  /** Numbers of failed appends not yet older than every waiter. */
  let failures: number[] = [];
  let lastError: Error | undefined;
  const waiters: Waiter[] = [];
  /** A frame went to the local ingest since the last durable(): that one waits for the journal too. */
  let localSince = false;

  function finish(w: Waiter): void {
    const err = failures.some((f) => f > w.from && f <= w.need) ? lastError : undefined;
    if (err || !w.local) w.done(err);
    else deps.localDurable(w.done);
  }

  function settle(i: number): void {
    settled.add(i);
    while (settled.delete(settledUpTo + 1)) settledUpTo++;
    let k = 0;
    while (k < waiters.length) {
      const w = waiters[k]!;
      if (w.need <= settledUpTo) {
        waiters.splice(k, 1);
        finish(w);
      } else k++;
    }
    if (failures.length > 0) {
      const oldest = waiters.reduce((m, w) => Math.min(m, w.from), settledUpTo);
      failures = failures.filter((f) => f > oldest);
    }
  }

  function append(siteId: string, frame: Frame): void {
    const i = ++issued;
    deps.log.append(siteId, encodeFrame(frame)).then(
      () => {
        appended.n++;
        settle(i);
      },
      (err: Error) => {
        failed.n++;
        lastError = err;
        failures.push(i);
        deps.logger.error({ code: 'WF_CLUSTER_LOG_APPEND', deviceId: frame.deviceId, topic: frame.topic, err: err.message }, 'frame not appended to the partitioned log: not acknowledged');
        settle(i);
      },
    );
  }

  return {
    accept(frame: Frame): IngestOutcome {
      const device = deps.directory.get(frame.deviceId);
      if (!device) {
        localSince = true;
        return deps.local.accept(frame);
      }
      append(device.siteId, frame);
      return APPENDED;
    },

    presence(p) {
      // A device removed meanwhile has no partition, and no state anywhere to tell.
      const device = deps.directory.get(p.deviceId);
      if (device) append(device.siteId, presenceFrame(p));
    },

    durable(done) {
      const w: Waiter = { need: issued, from: settledUpTo, local: localSince, done };
      localSince = false;
      if (w.need <= settledUpTo) finish(w);
      else waiters.push(w);
    },
  };
}
