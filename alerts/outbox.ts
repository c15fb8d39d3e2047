// The durable outbox (DESIGN.md: "every notification goes through a durable outbox"). Rows are
// written in the same transaction as the incident change that causes them (enqueue is a body for
// the caller's runner.transaction); one worker per channel sends them with bounded concurrency,
// exponential backoff and jitter, and records every attempt. Channels never share a queue, so a
// slow or dead SMTP server delays no webhook.
//
// The SQL is storage/outbox.ts's, on the embedded SQLite file or on a PostgreSQL that several
// nodes share (issue 21 point 5). A worker claims due rows for itself with a lease
// (OutboxStorage.claim) and records each outcome under that claim: two nodes never send one row at
// once. A claim outlives the send timeout, so a live node's claim never lapses mid-send; a dead
// node's does, and a periodic sweep on every node takes such rows back and sends them again.
//
// Delivery is at-least-once with a narrow window: a row is 'sending' under its claim before the
// hand-over and 'sent' right after. A crash between the server accepting a message and the 'sent'
// commit (milliseconds) leaves it 'sending': on one node (the embedded file) it is sent again at
// start; with several nodes, by whichever node's sweep finds its claim lapsed. Either way it
// carries the same Message-ID / delivery id so the receiver can drop the copy. No other path
// sends a row twice.
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { Clock } from '../contracts/ports.ts';
import type { OutboxClaim, OutboxEntry, OutboxEntryAttempt, OutboxNew, OutboxOutcome, OutboxStatus } from '../contracts/storage.ts';
import { WatchfireError } from '../contracts/errors.ts';
import type { InboundMatch, ReceiptStatus } from '../contracts/channels.ts';
import { createOutboxStorage, insertOutboxRows } from '../storage/outbox.ts';
import { tx, type SqlRunner, type TxBody } from '../storage/sql.ts';
import { CHANNELS as CHANNEL_TABLE, CHANNEL_NAMES, type ChannelName } from './channels/registry.ts';
import { ChannelRefusal, type Channel, type OutboundMessage } from './channels/types.ts';
import type { AlertMetrics } from './metrics.ts';

/** A row to queue: the storage contract's (contracts/storage.ts), its channel one this module knows. */
export type NewOutboxRow = Omit<OutboxNew, 'channel'> & { readonly channel: ChannelName };

export type { OutboxStatus };

/** A queued row: the storage contract's, its channel one this module knows. */
export type OutboxRow = Omit<OutboxEntry, 'channel'> & { readonly channel: ChannelName };

/** An attempt as the storage contract keeps it, with the provider's delivery receipt (issue 19). */
export type OutboxAttempt = OutboxEntryAttempt;

export interface OutboxOptions {
  /** First retry delay; doubles per attempt (with ±50 % jitter) up to maxDelayMs. */
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  /** A row still failing this long after it was written is marked failed (kept, logged loudly). */
  readonly giveUpAfterMs: number;
  /** Sends in flight per channel (default: the channel table's). */
  readonly concurrency: Readonly<Record<ChannelName, number>>;
  /** A send that neither resolves nor rejects in this time counts as failed (default: the channel table's, per channel). */
  readonly sendTimeoutMs?: number | undefined;
  /**
   * How long a claimed row is this node's alone (default: the channel's send timeout plus
   * LEASE_MARGIN_MS). It must outlast a render and a send (both bounded by the send timeout) and
   * the write of the outcome; when it lapses, another node's sweep sends the row again.
   */
  readonly leaseMs?: number | undefined;
  /** Between two sweeps when several nodes share the outbox (PostgreSQL); see SWEEP_MS. */
  readonly sweepMs?: number | undefined;
}

/**
 * A lease's margin over the send timeout: the outcome's write after a send that used all of its
 * time (a database stalled for a failover takes seconds), and clock skew between nodes (each reads
 * the lease against its own clock; NTP keeps them within milliseconds). A dead node's row waits at
 * most its lease plus one sweep: 60-90 s for the channels' 30-60 s timeouts.
 */
export const LEASE_MARGIN_MS = 30_000;

/**
 * Between two sweeps on each node of a cluster (lapsed claims taken back, due rows picked up). A
 * row that another node wrote is kicked by that node, so the sweep only finds what a dead or
 * stalled node left: rows whose claim lapsed, retries it had scheduled, quiet-hour rows coming due.
 * Five seconds adds little to the lease's 60-90 s before such a row is sent again, and costs each
 * node one UPDATE and one claim per channel per five seconds.
 */
export const SWEEP_MS = 5_000;

/** A pass that failed on the database (a pool error, a lock timeout) is tried again this much later. */
const PASS_RETRY_MS = 1_000;

export const DEFAULT_OUTBOX_OPTIONS: OutboxOptions = {
  baseDelayMs: 2_000,
  maxDelayMs: 5 * 60_000,
  giveUpAfterMs: 24 * 3_600_000,
  concurrency: Object.fromEntries(CHANNEL_NAMES.map((c) => [c, CHANNEL_TABLE[c].concurrency])) as Record<ChannelName, number>,
};

export interface OutboxDeps {
  /** The embedded file's sqliteRunner (one node) or a PostgreSQL shared by several nodes. */
  sql: SqlRunner;
  clock: Clock;
  logger: Logger;
  metrics: AlertMetrics;
  channels: Partial<Record<ChannelName, Channel>>;
  render: (row: OutboxRow) => Promise<OutboundMessage>;
  options?: Partial<OutboxOptions>;
  random?: () => number;
  /** This node's name in claims (default `<hostname>:<pid>`). */
  worker?: string;
}

const CHANNELS: readonly ChannelName[] = CHANNEL_NAMES;

interface Worker {
  timer: NodeJS.Timeout | undefined;
  timerAt: number;
  inFlight: Set<Promise<void>>;
  kickQueued: boolean;
  /** The pass running now: claims are asynchronous, and two at once would claim past the concurrency. */
  pass: Promise<void> | undefined;
  /** Something changed during the pass (a send finished, a row came): one more pass after it. */
  again: boolean;
}

export function createOutbox(deps: OutboxDeps) {
  const { sql, clock, logger, metrics, channels, render } = deps;
  const opts: OutboxOptions = { ...DEFAULT_OUTBOX_OPTIONS, ...deps.options, concurrency: { ...DEFAULT_OUTBOX_OPTIONS.concurrency, ...deps.options?.concurrency } };
  const random = deps.random ?? Math.random;
  const worker = deps.worker ?? `${hostname()}:${process.pid}`;
  const store = createOutboxStorage({ sql });
  // The embedded file has one process: every claim in it is this process's own. A PostgreSQL may
  // be shared, so there only a lapsed claim is taken back, and a sweep finds other nodes' leftovers.
  const shared = sql.dialect === 'postgres';
  const sweepMs = opts.sweepMs ?? SWEEP_MS;
  const timeoutOf = (c: ChannelName) => opts.sendTimeoutMs ?? CHANNEL_TABLE[c].sendTimeoutMs;
  const leaseOf = (c: ChannelName) => opts.leaseMs ?? timeoutOf(c) + LEASE_MARGIN_MS;

  const workers = new Map<ChannelName, Worker>(CHANNELS.map((c) => [c, { timer: undefined, timerAt: Infinity, inFlight: new Set(), kickQueued: false, pass: undefined, again: false }]));
  let running = false;
  /** Recovery at start: no pass claims before it is done (on one node it takes back every 'sending' row). */
  let ready: Promise<void> = Promise.resolve();
  let sweeper: NodeJS.Timeout | undefined;
  let sweeping: Promise<void> | undefined;
  /** Rows not yet delivered per channel, as the last pass or sweep counted them (the gauge reads it synchronously). */
  const depthOf = new Map<string, number>();

  /**
   * Inside the caller's runner.transaction: `const ids = yield* outbox.enqueue(rows, now)`. One
   * INSERT for all of a step's rows: on PostgreSQL each statement is a round trip the alarm's
   * console event waits for.
   */
  function* enqueue(rows: readonly NewOutboxRow[], now: number): TxBody<number[]> {
    if (!rows.length) return [];
    const made = yield* tx.all(insertOutboxRows(sql.q, rows, now).returning('id'));
    // Both number a multi-row VALUES in order; RETURNING's own order is not promised.
    return made.map((r) => r.id).sort((a, b) => a - b);
  }

  function backoff(attempts: number): number {
    const base = Math.min(opts.maxDelayMs, opts.baseDelayMs * 2 ** Math.max(0, attempts - 1));
    return Math.round(base * (0.5 + random() * 0.5));
  }

  /** Schedules a pass of the channel's worker soon, off the caller's stack (the hot path never sends). */
  function kick(channel?: ChannelName): void {
    if (!running) return;
    for (const c of channel ? [channel] : CHANNELS) {
      const w = workers.get(c)!;
      if (w.kickQueued || !channels[c]) continue;
      w.kickQueued = true;
      setTimeout(() => {
        w.kickQueued = false;
        void pump(c);
      }, 0);
    }
  }

  /** Starts a pass, or asks the running one for another round. */
  function pump(c: ChannelName): Promise<void> {
    const w = workers.get(c)!;
    if (!running || !channels[c]) return Promise.resolve();
    if (w.pass) {
      w.again = true;
      return w.pass;
    }
    w.pass = pass(c, w, channels[c]).finally(() => {
      w.pass = undefined;
    });
    return w.pass;
  }

  /** Claims what the free slots can take, starts their sends, and sets the timer for the next due row. Never rejects. */
  async function pass(c: ChannelName, w: Worker, channel: Channel): Promise<void> {
    try {
      await ready;
      do {
        w.again = false;
        const free = opts.concurrency[c] - w.inFlight.size;
        if (free > 0) {
          const claims = await store.claim({ channel: c, worker, now: clock.now(), limit: free, leaseMs: leaseOf(c) });
          for (const claim of claims) {
            const p = deliver(channel, claim);
            w.inFlight.add(p);
            void p.finally(() => {
              w.inFlight.delete(p);
              void pump(c);
            });
          }
        }
        const queue = await store.queue(c);
        depthOf.set(c, queue.depth);
        if (running && w.inFlight.size < opts.concurrency[c] && queue.nextDueAt !== undefined) wakeAt(c, w, queue.nextDueAt);
      } while (w.again && running);
    } catch (err) {
      // The database failed us (a lost connection, a lock timeout): the rows stay where they are.
      logger.error({ err, channel: c }, 'outbox pass failed: trying again shortly');
      wakeAt(c, w, clock.now() + PASS_RETRY_MS);
    }
  }

  function wakeAt(c: ChannelName, w: Worker, t: number): void {
    if (!running) return;
    const now = clock.now();
    const at = Math.max(t, now + 1);
    if (w.timer && w.timerAt <= at) return;
    if (w.timer) clearTimeout(w.timer);
    w.timerAt = at;
    // setTimeout's limit is 2^31-1 ms; a later row simply gets another look then.
    w.timer = setTimeout(() => {
      w.timer = undefined;
      w.timerAt = Infinity;
      void pump(c);
    }, Math.min(at - now, 2 ** 31 - 1));
  }

  /** Several nodes: take back the rows of lapsed claims (a dead node's), then look at every queue. */
  async function sweep(): Promise<void> {
    try {
      const taken = await store.reclaimExpired(clock.now());
      if (taken) logger.warn({ rows: taken }, 'outbox rows whose claim lapsed (their node stopped or stalled) are sent again (same Message-ID / delivery id)');
    } catch (err) {
      logger.error({ err }, 'outbox sweep could not take back lapsed claims');
    }
    await Promise.all(CHANNELS.map((c) => pump(c)));
  }

  async function deliver(channel: Channel, claim: OutboxClaim): Promise<void> {
    const row = claim.row as OutboxRow;
    let error: unknown;
    let guard: NodeJS.Timeout | undefined;
    let providerId: string | null = null;
    const spec = CHANNEL_TABLE[row.channel];
    const timeoutMs = timeoutOf(row.channel);
    try {
      // The render reads the database too: the timeout bounds it with the send, so that the
      // lease (longer than the timeout) covers both.
      const result = await Promise.race([
        (async () => channel.send(await render(row)))(),
        new Promise<never>((_, rej) => {
          guard = setTimeout(() => rej(new WatchfireError(spec.code, `no outcome in ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
      providerId = result?.providerId ?? null;
    } catch (err) {
      error = err;
    } finally {
      if (guard) clearTimeout(guard);
    }
    const now = clock.now();
    let outcome: OutboxOutcome;
    let msg = '';
    let giveUp = false;
    if (error === undefined) {
      outcome = { sent: true, at: now, providerId };
    } else {
      msg = (error instanceof Error ? error.message : String(error)).slice(0, 1000);
      giveUp = now - row.createdAt >= opts.giveUpAfterMs;
      // A refusal with a reset time (a per-number limit) is not retried before it: it would only count again.
      const retryAt = Math.max(now + backoff(row.attempts), error instanceof ChannelRefusal ? error.retryAt : 0);
      outcome = { sent: false, at: now, error: msg, retryAt, giveUp };
    }
    metrics.attempts.inc({ channel: row.channel, outcome: outcome.sent ? 'sent' : 'failed' });
    let held: boolean;
    try {
      held = await store.finish(claim, outcome);
    } catch (err) {
      // The row stays 'sending' under this claim: when the lease lapses it is sent again.
      logger.error({ err, outbox: row.id, channel: row.channel, sent: outcome.sent }, 'outbox could not record an attempt: the row is sent again once its claim lapses');
      return;
    }
    if (!held) {
      // This node stalled past its lease and the row was taken back: whatever happened here, the
      // node that has it now records the outcome.
      logger.warn({ outbox: row.id, channel: row.channel, sent: outcome.sent, claim: claim.claim }, 'outbox claim lapsed before its outcome was recorded: the row is another node\'s now');
      return;
    }
    if (outcome.sent) return;
    if (giveUp) {
      logger.error({ code: 'WF_NOTIFY_GAVE_UP', outbox: row.id, channel: row.channel, incident: row.incidentId, to: row.address, attempts: row.attempts, err: msg }, 'notification failed for too long: marked failed');
    } else {
      const code = error instanceof WatchfireError ? error.code : undefined;
      logger.warn({ code, outbox: row.id, channel: row.channel, incident: row.incidentId, attempts: row.attempts, retryInMs: outcome.retryAt - now, err: msg }, 'notification attempt failed: will retry');
    }
  }

  return {
    enqueue,
    kick,
    /** Recovers and starts the workers; the passes wait for the recovery (asynchronous: it runs on the database). */
    start(): void {
      if (running) return;
      for (const c of CHANNELS) {
        if (!channels[c]) logger.warn({ channel: c }, `no ${c} channel configured: its notifications are not written`);
      }
      running = true;
      ready = (async () => {
        try {
          const now = clock.now();
          const interrupted = shared ? await store.reclaimExpired(now) : await store.reclaimAll(now);
          if (interrupted) logger.warn({ rows: interrupted }, 'outbox rows interrupted while sending are sent again (same Message-ID / delivery id)');
          const counts = await store.counts();
          for (const [c, n] of Object.entries(counts.byChannel)) depthOf.set(c, n.pending + n.sending);
        } catch (err) {
          logger.error({ err }, 'outbox recovery failed: rows left sending are taken back when their claims lapse');
        }
      })();
      for (const c of CHANNELS) void pump(c);
      if (shared) {
        sweeper = setInterval(() => {
          if (sweeping) return;
          sweeping = sweep().finally(() => {
            sweeping = undefined;
          });
        }, sweepMs);
      }
    },
    /** Stops taking new rows off the queue and waits for the sends in flight. */
    async stop(): Promise<void> {
      running = false;
      if (sweeper) clearInterval(sweeper);
      sweeper = undefined;
      for (const w of workers.values()) {
        if (w.timer) clearTimeout(w.timer);
        w.timer = undefined;
        w.timerAt = Infinity;
      }
      // A pass may be claiming now: its sends join inFlight when the claim returns.
      await Promise.allSettled([ready, sweeping, ...[...workers.values()].map((w) => w.pass)]);
      await Promise.allSettled([...workers.values()].flatMap((w) => [...w.inFlight]));
    },
    has(channel: ChannelName): boolean {
      return !!channels[channel];
    },
    async stats() {
      const { byChannel, attempts } = await store.counts();
      const inFlight = Object.fromEntries([...workers].map(([c, w]) => [c, w.inFlight.size]));
      return { byChannel, attempts, inFlight };
    },
    /** Rows not delivered yet (pending, sending, or given up), oldest first. */
    async pending(limit = 1000): Promise<OutboxRow[]> {
      return (await store.pending(limit)) as OutboxRow[];
    },
    async get(id: number): Promise<OutboxRow | undefined> {
      return (await store.get(id)) as OutboxRow | undefined;
    },
    async ofIncident(incidentId: string): Promise<OutboxRow[]> {
      return (await store.ofIncident(incidentId)) as OutboxRow[];
    },
    attempts(outboxId: number): Promise<OutboxAttempt[]> {
      return store.attempts(outboxId);
    },
    /** The row whose attempt got this provider id (or, when given, the row itself): contracts/channels.ts ChannelLedger. */
    byProviderId(channel: string, providerId: string, outboxId?: number): Promise<InboundMatch | undefined> {
      return store.byProviderId(channel, providerId, outboxId);
    },
    lastTo(channel: string, address: string, withinMs: number): Promise<InboundMatch | undefined> {
      return store.lastSentTo(channel, address, clock.now() - withinMs);
    },
    /**
     * Records a provider's delivery receipt on the attempt that got this provider id (else on the
     * row's last attempt); false when no attempt matches (an old or foreign receipt).
     */
    async recordReceipt(r: { channel: string; providerId: string; outboxId?: number | undefined; status: ReceiptStatus; at: number; detail?: string | undefined }): Promise<boolean> {
      if (!(await store.recordReceipt(r))) return false;
      metrics.receipts.inc({ channel: r.channel, status: r.status });
      return true;
    },
    /**
     * Rows not yet delivered per channel, for the gauge, which prom-client reads synchronously:
     * as the last pass of each channel (or, in a cluster, the last sweep) counted them, so at
     * most one send or one sweep old.
     */
    depth(): Record<string, number> {
      return Object.fromEntries([...depthOf].filter(([, n]) => n > 0));
    },
  };
}

export type Outbox = ReturnType<typeof createOutbox>;
