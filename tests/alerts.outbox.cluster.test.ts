// Two Watchfire nodes sending from one outbox on a shared PostgreSQL (issue 21 point 5, "exactly
// one actor per duty"): alerts/outbox.ts over storage/outbox.ts's claims. Every row is sent once
// while both live; when one dies mid-send, the other sends its rows again once their lease lapses,
// with the same delivery id, and the dead node's late outcome changes nothing.
import { Writable } from 'node:stream';
import pino from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Clock } from '../contracts/ports.ts';
import type { OutboundMessage } from '../alerts/index.ts';
import { createAlertMetrics } from '../alerts/metrics.ts';
import { createOutbox, DEFAULT_OUTBOX_OPTIONS, type NewOutboxRow, type Outbox, type OutboxOptions, type OutboxRow } from '../alerts/outbox.ts';
import type { SqlRunner } from '../storage/index.ts';
import { sqlBackends } from './support/sql-backends.ts';

const backend = sqlBackends().find((b) => b.name === 'PostgreSQL')!;
beforeAll(() => backend.setup());
afterAll(() => backend.teardown());

function row(i: number): NewOutboxRow {
  return {
    channel: 'email', incidentId: 'inc-cluster', reportId: null, kind: 'alarm', step: 'first', recipientKind: 'contact',
    recipientId: `p-${i}`, recipientName: `联系人${i}`, address: `p${i}@example.test`, locale: 'zh-CN',
  };
}

/** As alerts/index.ts renders it: the Message-ID is the row's, whichever node sends it. */
async function render(row: OutboxRow): Promise<OutboundMessage> {
  return {
    id: row.id, messageId: `<outbox-${row.id}.${row.incidentId}@watchfire.test>`, channel: row.channel, kind: row.kind, address: row.address,
    recipient: { kind: row.recipientKind, id: row.recipientId, name: row.recipientName, locale: row.locale }, subject: 'fire', text: 'fire', html: '', data: {},
  };
}

/** A clock the test sets; `reads()` waits until it has been read n more times (each pass and sweep reads it). */
function manualClock(t: number) {
  let reads = 0;
  const waiters: Array<{ at: number; resolve: () => void }> = [];
  const clock: Clock & { t: number; reads(n: number): Promise<void> } = {
    t,
    now() {
      reads++;
      for (const w of waiters.filter((x) => x.at <= reads)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
      return clock.t;
    },
    reads: (n) => new Promise((resolve) => waiters.push({ at: reads + n, resolve })),
  };
  return clock;
}

function node(sql: SqlRunner, worker: string, clock: Clock, send: (m: OutboundMessage) => Promise<void>, options: Partial<OutboxOptions> = {}, log?: Writable): Outbox {
  return createOutbox({
    sql, worker, clock,
    logger: pino({ level: log ? 'warn' : 'silent' }, log),
    metrics: createAlertMetrics(new Registry(), { outboxDepth: () => ({}), activeByLevel: async () => ({}) }),
    channels: { email: { name: 'email', send, close: () => Promise.resolve() } },
    render,
    options: { concurrency: { ...DEFAULT_OUTBOX_OPTIONS.concurrency, email: 4 }, ...options },
  });
}

async function enqueue(sql: SqlRunner, outbox: Outbox, n: number, now: number): Promise<number[]> {
  return sql.transaction(function* () {
    return yield* outbox.enqueue(Array.from({ length: n }, (_, i) => row(i)), now);
  });
}

describe('two nodes on one PostgreSQL outbox', () => {
  it('send every row exactly once between them', async () => {
    const db = await backend.open();
    const clock: Clock = { now: () => Date.now() };
    const sent = { a: [] as OutboundMessage[], b: [] as OutboundMessage[] };
    const started = { a: 0, b: 0 };
    // Held until both nodes are sending: the test would prove nothing if one took every row alone.
    let release!: () => void;
    const bothSending = new Promise<void>((r) => (release = r));
    const ROWS = 40;
    let allSent!: () => void;
    const done = new Promise<void>((r) => (allSent = r));
    const sender = (me: 'a' | 'b') => async (m: OutboundMessage) => {
      started[me]++;
      if (started.a && started.b) release();
      await bothSending;
      sent[me].push(m);
      if (sent.a.length + sent.b.length === ROWS) allSent();
    };
    const a = node(db.runner, 'node-a', clock, sender('a'));
    const b = node(db.another(), 'node-b', clock, sender('b'));
    const ids = await enqueue(db.runner, a, ROWS, clock.now());
    a.start();
    b.start();
    await done;
    await Promise.all([a.stop(), b.stop()]);

    const all = [...sent.a, ...sent.b].map((m) => m.id).sort((x, y) => x - y);
    expect(all).toEqual(ids);
    expect(sent.a.length).toBeGreaterThan(0);
    expect(sent.b.length).toBeGreaterThan(0);
    const rows = await a.ofIncident('inc-cluster');
    expect(rows.map((r) => [r.status, r.attempts])).toEqual(ids.map(() => ['sent', 1]));
    expect((await b.stats()).byChannel).toEqual({ email: { pending: 0, sending: 0, sent: ROWS, failed: 0 } });
    expect((await a.stats()).attempts).toEqual({ email: { sent: ROWS } });
  });

  it("send a dead node's claimed rows again once its lease lapses, with the same Message-ID; its late outcome changes nothing", async () => {
    const db = await backend.open();
    const LEASE = 5_000;
    const T0 = 1_000_000;
    // Node A claims three rows and hangs in the middle of sending them, then stops doing anything.
    const clockA = manualClock(T0);
    const hung: Array<{ m: OutboundMessage; finish: () => void }> = [];
    let allHung!: () => void;
    const threeHung = new Promise<void>((r) => (allHung = r));
    const logA: string[] = [];
    const a = node(db.runner, 'node-a', clockA, (m) => new Promise<void>((resolve) => {
      hung.push({ m, finish: resolve });
      if (hung.length === 3) allHung();
    }), { leaseMs: LEASE }, new Writable({ write(chunk: Buffer, _enc, cb) { logA.push(chunk.toString()); cb(); } }));
    const ids = await enqueue(db.runner, a, 3, T0);
    a.start();
    await threeHung;
    // Dead: no more passes, sweeps or timers; its sends never come back (until the test lets them).
    const aStopped = a.stop();

    // Node B sweeps every 10 ms of real time against its own clock, still inside A's lease.
    const clockB = manualClock(T0 + 1_000);
    const sentB: OutboundMessage[] = [];
    let allResent!: () => void;
    const resent = new Promise<void>((r) => (allResent = r));
    const b = node(db.another(), 'node-b', clockB, async (m) => {
      sentB.push(m);
      if (sentB.length === 3) allResent();
    }, { leaseMs: LEASE, sweepMs: 10 });
    b.start();
    // Many sweeps (each reads B's clock) while A's claims hold: B sends nothing.
    await clockB.reads(40);
    expect(sentB).toEqual([]);
    expect((await b.get(ids[0]!))!.status).toBe('sending');

    // A's lease lapses on B's clock: B's next sweep takes the rows back and sends them.
    clockB.t = T0 + LEASE;
    await resent;
    expect(sentB.map((m) => m.id).sort((x, y) => x - y)).toEqual(ids);
    const byId = new Map(hung.map((h) => [h.m.id, h.m.messageId]));
    for (const m of sentB) expect(m.messageId).toBe(byId.get(m.id));

    // A wakes up and its sends come back: it may not record over B's claim.
    clockA.t = T0 + LEASE + 1_000;
    for (const h of hung) h.finish();
    await aStopped;
    await b.stop();
    expect(logA.join('')).toContain('claim lapsed before its outcome was recorded');
    for (const id of ids) {
      expect(await b.get(id)).toMatchObject({ status: 'sent', attempts: 2, sentAt: T0 + LEASE });
      expect(await b.attempts(id)).toEqual([
        expect.objectContaining({ outcome: 'failed', startedAt: T0, finishedAt: T0 + LEASE, error: expect.stringMatching(/lapsed/) }),
        expect.objectContaining({ outcome: 'sent', startedAt: T0 + LEASE, finishedAt: T0 + LEASE }),
      ]);
    }
  });
});
