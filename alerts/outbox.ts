// The durable outbox (DESIGN.md: "every notification goes through a durable outbox"). Rows are
// written in the same transaction as the incident change that causes them; one worker per
// channel sends them with bounded concurrency, exponential backoff and jitter, and records every
// attempt. Channels never share a queue, so a slow or dead SMTP server delays no webhook.
//
// Delivery is at-least-once with a narrow window: a row is marked 'sending' before the hand-over
// and 'sent' right after. A crash between the server accepting a message and the 'sent' commit
// (milliseconds) leaves it 'sending'; on start such rows are sent again, carrying the same
// Message-ID / delivery id so the receiver can drop the copy. No other path sends a row twice.
import type { Database } from 'better-sqlite3';
import type { Logger } from 'pino';
import type { Clock } from '../contracts/ports.ts';
import type { Locale } from '../contracts/registry.ts';
import type { OutboxEntry, OutboxEntryAttempt, OutboxNew, OutboxStatus } from '../contracts/storage.ts';
import { WatchfireError } from '../contracts/errors.ts';
import type { InboundMatch, ReceiptStatus } from '../contracts/channels.ts';
import { CHANNELS as CHANNEL_TABLE, CHANNEL_NAMES, type ChannelName } from './channels/registry.ts';
import { ChannelRefusal, type Channel, type OutboundMessage } from './channels/types.ts';
import type { AlertMetrics } from './metrics.ts';
import { insertOutboxRows } from '../storage/outbox.ts';
import { sqliteRunner, tx, type TxBody } from '../storage/sql.ts';

/** A row to queue: the storage contract's (contracts/storage.ts), its channel one this module knows. */
export type NewOutboxRow = Omit<OutboxNew, 'channel'> & { readonly channel: ChannelName };

export type { OutboxStatus };

/** A queued row: the storage contract's, its channel one this module knows. */
export type OutboxRow = Omit<OutboxEntry, 'channel'> & { readonly channel: ChannelName };

/** An attempt as the storage contract keeps it, with the provider's delivery receipt (issue 19). */
export interface OutboxAttempt extends OutboxEntryAttempt {
  /** The provider's delivery receipt for this attempt, when it sent one. */
  readonly receipt: ReceiptStatus | null;
  readonly receiptAt: number | null;
  readonly receiptDetail: string | null;
}

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
}

export const DEFAULT_OUTBOX_OPTIONS: OutboxOptions = {
  baseDelayMs: 2_000,
  maxDelayMs: 5 * 60_000,
  giveUpAfterMs: 24 * 3_600_000,
  concurrency: Object.fromEntries(CHANNEL_NAMES.map((c) => [c, CHANNEL_TABLE[c].concurrency])) as Record<ChannelName, number>,
};

type RawRow = {
  id: number; channel: ChannelName; incident_id: string | null; report_id: number | null; kind: string; step: string | null;
  recipient_kind: string; recipient_id: string; recipient_name: string; address: string; locale: Locale;
  status: OutboxStatus; attempts: number; next_at: number; created_at: number; sent_at: number | null; last_error: string | null;
};

function toRow(r: RawRow): OutboxRow {
  return {
    id: r.id, channel: r.channel, incidentId: r.incident_id, reportId: r.report_id, kind: r.kind, step: r.step,
    recipientKind: r.recipient_kind, recipientId: r.recipient_id, recipientName: r.recipient_name, address: r.address,
    locale: r.locale, status: r.status, attempts: r.attempts, nextAt: r.next_at, createdAt: r.created_at, sentAt: r.sent_at,
    lastError: r.last_error,
  };
}

export interface OutboxDeps {
  db: Database;
  clock: Clock;
  logger: Logger;
  metrics: AlertMetrics;
  channels: Partial<Record<ChannelName, Channel>>;
  render: (row: OutboxRow) => Promise<OutboundMessage>;
  options?: Partial<OutboxOptions>;
  random?: () => number;
}

const CHANNELS: readonly ChannelName[] = CHANNEL_NAMES;

type RawAttempt = {
  id: number; outbox_id: number; started_at: number; finished_at: number | null; outcome: OutboxAttempt['outcome']; error: string | null;
  provider_id: string | null; receipt: ReceiptStatus | null; receipt_at: number | null; receipt_detail: string | null;
};

export function createOutbox(deps: OutboxDeps) {
  const { db, clock, logger, metrics, channels, render } = deps;
  const opts: OutboxOptions = { ...DEFAULT_OUTBOX_OPTIONS, ...deps.options, concurrency: { ...DEFAULT_OUTBOX_OPTIONS.concurrency, ...deps.options?.concurrency } };
  const random = deps.random ?? Math.random;
  const kq = sqliteRunner(db).q;

  const insert = db.prepare(`INSERT INTO alert_outbox
    (channel, incident_id, report_id, kind, step, recipient_kind, recipient_id, recipient_name, address, locale, status, attempts, next_at, created_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?)`);
  const nextDue = db.prepare(`SELECT * FROM alert_outbox WHERE channel = ? AND status = 'pending' AND next_at <= ? ORDER BY next_at, id LIMIT 1`);
  const earliest = db.prepare(`SELECT MIN(next_at) AS t FROM alert_outbox WHERE channel = ? AND status = 'pending'`).pluck();
  const claim = db.prepare(`UPDATE alert_outbox SET status = 'sending', attempts = attempts + 1 WHERE id = ? AND status = 'pending'`);
  const attemptStart = db.prepare(`INSERT INTO alert_outbox_attempts (outbox_id, started_at, outcome) VALUES (?, ?, 'sending')`);
  const attemptEnd = db.prepare(`UPDATE alert_outbox_attempts SET finished_at = ?, outcome = ?, error = ?, provider_id = ? WHERE id = ?`);
  const receiptOf = db.prepare(`UPDATE alert_outbox_attempts SET receipt = ?, receipt_at = ?, receipt_detail = ? WHERE id = ?`);
  const attemptByProvider = db.prepare(`SELECT a.id AS attempt, o.id AS outbox, o.incident_id AS incident, o.recipient_id AS recipient FROM alert_outbox_attempts a JOIN alert_outbox o ON o.id = a.outbox_id
    WHERE a.provider_id = ? AND o.channel = ? ORDER BY a.id DESC LIMIT 1`);
  const lastAttemptOf = db.prepare(`SELECT a.id AS attempt, o.id AS outbox, o.incident_id AS incident, o.recipient_id AS recipient FROM alert_outbox_attempts a JOIN alert_outbox o ON o.id = a.outbox_id
    WHERE o.id = ? AND o.channel = ? ORDER BY a.id DESC LIMIT 1`);
  const lastSentTo = db.prepare(`SELECT id AS outbox, incident_id AS incident, recipient_id AS recipient FROM alert_outbox
    WHERE channel = ? AND address = ? AND status = 'sent' AND sent_at >= ? ORDER BY id DESC LIMIT 1`);
  const markSent = db.prepare(`UPDATE alert_outbox SET status = 'sent', sent_at = ?, last_error = NULL WHERE id = ?`);
  const markRetry = db.prepare(`UPDATE alert_outbox SET status = ?, next_at = ?, last_error = ? WHERE id = ?`);
  const recover = db.prepare(`UPDATE alert_outbox SET status = 'pending', next_at = ? WHERE status = 'sending'`);
  const recoverAttempts = db.prepare(`UPDATE alert_outbox_attempts SET outcome = 'failed', error = 'interrupted: the process stopped during the attempt', finished_at = ? WHERE outcome = 'sending'`);
  const countBy = db.prepare(`SELECT channel, status, COUNT(*) AS n FROM alert_outbox GROUP BY channel, status`);
  const pendingRows = db.prepare(`SELECT * FROM alert_outbox WHERE status IN ('pending', 'sending', 'failed') ORDER BY id LIMIT ?`);
  const byIncident = db.prepare(`SELECT * FROM alert_outbox WHERE incident_id = ? ORDER BY id`);
  const attemptsOf = db.prepare(`SELECT * FROM alert_outbox_attempts WHERE outbox_id = ? ORDER BY id`);
  const byId = db.prepare(`SELECT * FROM alert_outbox WHERE id = ?`);
  const attemptTotals = db.prepare(`SELECT o.channel AS channel, a.outcome AS outcome, COUNT(*) AS n FROM alert_outbox_attempts a JOIN alert_outbox o ON o.id = a.outbox_id GROUP BY o.channel, a.outcome`);

  interface Worker { timer: NodeJS.Timeout | undefined; timerAt: number; inFlight: Set<Promise<void>>; kickQueued: boolean }
  const workers = new Map<ChannelName, Worker>(CHANNELS.map((c) => [c, { timer: undefined, timerAt: Infinity, inFlight: new Set(), kickQueued: false }]));
  let running = false;

  // Interim (lead's branch): the row inside the caller's runner transaction; the outbox-seam branch replaces this file.
  function* enqueue(row: NewOutboxRow, now: number): TxBody<number> {
    const [r] = yield* tx.all(insertOutboxRows(kq, [row], now).returning('id'));
    return r!.id;
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
        pump(c);
      }, 0);
    }
  }

  function pump(c: ChannelName): void {
    const w = workers.get(c)!;
    const channel = channels[c];
    if (!running || !channel) return;
    const now = clock.now();
    while (w.inFlight.size < opts.concurrency[c]) {
      const raw = nextDue.get(c, now) as RawRow | undefined;
      if (!raw) break;
      if (claim.run(raw.id).changes !== 1) break;
      const attemptId = Number(attemptStart.run(raw.id, now).lastInsertRowid);
      const p = deliver(channel, toRow({ ...raw, status: 'sending', attempts: raw.attempts + 1 }), attemptId);
      w.inFlight.add(p);
      void p.finally(() => {
        w.inFlight.delete(p);
        pump(c);
      });
    }
    if (w.inFlight.size >= opts.concurrency[c]) return;
    const t = earliest.get(c) as number | null;
    if (t === null) return;
    const at = Math.max(t, now + 1);
    if (w.timer && w.timerAt <= at) return;
    if (w.timer) clearTimeout(w.timer);
    w.timerAt = at;
    // setTimeout's limit is 2^31-1 ms; a later row simply gets another look then.
    w.timer = setTimeout(() => {
      w.timer = undefined;
      w.timerAt = Infinity;
      pump(c);
    }, Math.min(at - now, 2 ** 31 - 1));
  }

  async function deliver(channel: Channel, row: OutboxRow, attemptId: number): Promise<void> {
    let error: unknown;
    let guard: NodeJS.Timeout | undefined;
    let providerId: string | null = null;
    const spec = CHANNEL_TABLE[row.channel];
    const timeoutMs = opts.sendTimeoutMs ?? spec.sendTimeoutMs;
    try {
      const message = await render(row);
      const result = await Promise.race([
        channel.send(message),
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
    if (error === undefined) {
      db.transaction(() => {
        markSent.run(now, row.id);
        attemptEnd.run(now, 'sent', null, providerId, attemptId);
      })();
      metrics.attempts.inc({ channel: row.channel, outcome: 'sent' });
      return;
    }
    const msg = error instanceof Error ? error.message : String(error);
    const code = error instanceof WatchfireError ? error.code : undefined;
    const giveUp = now - row.createdAt >= opts.giveUpAfterMs;
    // A refusal with a reset time (a per-number limit) is not retried before it: it would only count again.
    const next = Math.max(now + backoff(row.attempts), error instanceof ChannelRefusal ? error.retryAt : 0);
    db.transaction(() => {
      markRetry.run(giveUp ? 'failed' : 'pending', next, msg.slice(0, 1000), row.id);
      attemptEnd.run(now, 'failed', msg.slice(0, 1000), null, attemptId);
    })();
    metrics.attempts.inc({ channel: row.channel, outcome: 'failed' });
    if (giveUp) {
      logger.error({ code: 'WF_NOTIFY_GAVE_UP', outbox: row.id, channel: row.channel, incident: row.incidentId, to: row.address, attempts: row.attempts, err: msg }, 'notification failed for too long: marked failed');
    } else {
      logger.warn({ code, outbox: row.id, channel: row.channel, incident: row.incidentId, attempts: row.attempts, retryInMs: next - now, err: msg }, 'notification attempt failed: will retry');
    }
  }

  return {
    enqueue,
    kick,
    start(): void {
      const now = clock.now();
      const interrupted = db.transaction(() => {
        recoverAttempts.run(now);
        return recover.run(now).changes;
      })();
      if (interrupted) logger.warn({ rows: interrupted }, 'outbox rows interrupted while sending are sent again (same Message-ID / delivery id)');
      for (const c of CHANNELS) {
        if (!channels[c]) logger.warn({ channel: c }, `no ${c} channel configured: its notifications are not written`);
      }
      running = true;
      for (const c of CHANNELS) pump(c);
    },
    /** Stops taking new rows off the queue and waits for the sends in flight. */
    async stop(): Promise<void> {
      running = false;
      for (const w of workers.values()) {
        if (w.timer) clearTimeout(w.timer);
        w.timer = undefined;
        w.timerAt = Infinity;
      }
      await Promise.allSettled([...workers.values()].flatMap((w) => [...w.inFlight]));
    },
    has(channel: ChannelName): boolean {
      return !!channels[channel];
    },
    stats() {
      const byChannel: Record<string, Record<OutboxStatus, number>> = {};
      for (const r of countBy.all() as Array<{ channel: string; status: OutboxStatus; n: number }>) {
        byChannel[r.channel] ??= { pending: 0, sending: 0, sent: 0, failed: 0 };
        byChannel[r.channel]![r.status] = r.n;
      }
      const attempts: Record<string, Record<string, number>> = {};
      for (const r of attemptTotals.all() as Array<{ channel: string; outcome: string; n: number }>) {
        attempts[r.channel] ??= {};
        attempts[r.channel]![r.outcome] = r.n;
      }
      const inFlight = Object.fromEntries([...workers].map(([c, w]) => [c, w.inFlight.size]));
      return { byChannel, attempts, inFlight };
    },
    /** Rows not delivered yet (pending, sending, or given up), oldest first. */
    pending(limit = 1000): OutboxRow[] {
      return (pendingRows.all(limit) as RawRow[]).map(toRow);
    },
    get(id: number): OutboxRow | undefined {
      const r = byId.get(id) as RawRow | undefined;
      return r ? toRow(r) : undefined;
    },
    ofIncident(incidentId: string): OutboxRow[] {
      return (byIncident.all(incidentId) as RawRow[]).map(toRow);
    },
    attempts(outboxId: number): OutboxAttempt[] {
      return (attemptsOf.all(outboxId) as RawAttempt[]).map((a) => ({
        id: a.id, outboxId: a.outbox_id, startedAt: a.started_at, finishedAt: a.finished_at, outcome: a.outcome, error: a.error,
        providerId: a.provider_id, receipt: a.receipt, receiptAt: a.receipt_at, receiptDetail: a.receipt_detail,
      }));
    },
    /** The row whose attempt got this provider id (or, when given, the row itself): contracts/channels.ts ChannelLedger. */
    byProviderId(channel: string, providerId: string, outboxId?: number): InboundMatch | undefined {
      const r = (attemptByProvider.get(providerId, channel) ?? (outboxId !== undefined ? lastAttemptOf.get(outboxId, channel) : undefined)) as
        { attempt: number; outbox: number; incident: string | null; recipient: string } | undefined;
      return r ? { outboxId: r.outbox, incidentId: r.incident, recipientId: r.recipient } : undefined;
    },
    lastTo(channel: string, address: string, withinMs: number): InboundMatch | undefined {
      const r = lastSentTo.get(channel, address, clock.now() - withinMs) as { outbox: number; incident: string | null; recipient: string } | undefined;
      return r ? { outboxId: r.outbox, incidentId: r.incident, recipientId: r.recipient } : undefined;
    },
    /**
     * Records a provider's delivery receipt on the attempt that got this provider id (else on the
     * row's last attempt); returns false when no attempt matches (an old or foreign receipt).
     */
    recordReceipt(r: { channel: string; providerId: string; outboxId?: number | undefined; status: ReceiptStatus; at: number; detail?: string | undefined }): boolean {
      const a = (attemptByProvider.get(r.providerId, r.channel) ?? (r.outboxId !== undefined ? lastAttemptOf.get(r.outboxId, r.channel) : undefined)) as { attempt: number } | undefined;
      if (!a) return false;
      receiptOf.run(r.status, r.at, r.detail?.slice(0, 500) ?? null, a.attempt);
      metrics.receipts.inc({ channel: r.channel, status: r.status });
      return true;
    },
    depth(): Record<string, number> {
      const out: Record<string, number> = {};
      for (const r of countBy.all() as Array<{ channel: string; status: OutboxStatus; n: number }>) {
        if (r.status === 'pending' || r.status === 'sending') out[r.channel] = (out[r.channel] ?? 0) + r.n;
      }
      return out;
    },
  };
}

export type Outbox = ReturnType<typeof createOutbox>;
