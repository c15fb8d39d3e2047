// The outbox behind the storage seam (issue 21 point 5, "exactly one actor per duty"): the same
// cases on SQLite and a real PostgreSQL. Above all, two senders on two connections claiming at
// once never get the same row, and a dead sender's rows come back once its claim lapses.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OutboxClaim, OutboxNew, OutboxStorage } from '../contracts/storage.ts';
import { createOutboxStorage } from '../storage/index.ts';
import { sqlBackends, rejection } from './support/sql-backends.ts';

const backends = sqlBackends();
beforeAll(() => Promise.all(backends.map((b) => b.setup())));
afterAll(() => Promise.all(backends.map((b) => b.teardown())));

function row(i: number, over: Partial<OutboxNew> = {}): OutboxNew {
  return {
    channel: 'email', incidentId: `inc-${i}`, reportId: null, kind: 'alarm', step: 'first', recipientKind: 'contact',
    recipientId: `p-${i}`, recipientName: `联系人${i}`, address: `p${i}@example.test`, locale: 'zh-CN', ...over,
  };
}

/** Claims until nothing is left, one claim at a time; every claim is finished as sent. */
async function drain(store: OutboxStorage, worker: string, now: number): Promise<number[]> {
  const mine: number[] = [];
  for (;;) {
    const claims = await store.claim({ channel: 'email', worker, now, limit: 3, leaseMs: 60_000 });
    if (!claims.length) return mine;
    for (const c of claims) {
      mine.push(c.row.id);
      expect(await store.finish(c, { sent: true, at: now, providerId: `${worker}-${c.row.id}` })).toBe(true);
    }
  }
}

describe.each(backends)('outbox contract on $name', (backend) => {
  it('stores new rows due at max(now, notBefore) and reads them back', async () => {
    const store = createOutboxStorage({ sql: (await backend.open()).runner });
    const ids = await store.enqueue([row(1), row(2, { notBefore: 5_000, reportId: 7, step: null, incidentId: null }), row(3, { notBefore: 500 })], 1_000);
    expect(ids).toHaveLength(3);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    const { notBefore: _, ...second } = row(2, { notBefore: 5_000, reportId: 7, step: null, incidentId: null });
    expect(await store.get(ids[1]!)).toEqual({
      ...second, id: ids[1], status: 'pending', attempts: 0, nextAt: 5_000, createdAt: 1_000, sentAt: null, lastError: null,
    });
    expect((await store.get(ids[2]!))!.nextAt).toBe(1_000);
    expect(await store.get(ids[2]! + 100)).toBeUndefined();
    expect(await store.nextDueAt('email')).toBe(1_000);
    expect(await store.nextDueAt('sms')).toBeUndefined();
    expect(await store.enqueue([], 1_000)).toEqual([]);
  });

  it('claims due rows of one channel, oldest due first, up to the limit, each with an attempt started', async () => {
    const store = createOutboxStorage({ sql: (await backend.open()).runner });
    const [a, b, c, , e] = await store.enqueue([
      row(1, { notBefore: 3_000 }), row(2, { notBefore: 2_000 }), row(3, { notBefore: 2_000 }), row(4, { notBefore: 9_000 }), row(5, { channel: 'sms' }),
    ], 1_000);
    const first = await store.claim({ channel: 'email', worker: 'node-a', now: 5_000, limit: 2, leaseMs: 30_000 });
    expect(first.map((x) => x.row.id)).toEqual([b, c]);
    for (const x of first) {
      expect(x.row).toMatchObject({ status: 'sending', attempts: 1 });
      expect(x.claim).toMatch(/^node-a:/);
      expect(x.until).toBe(35_000);
      expect(await store.attempts(x.row.id)).toEqual([{ id: x.attemptId, outboxId: x.row.id, startedAt: 5_000, finishedAt: null, outcome: 'sending', error: null, providerId: null, receipt: null, receiptAt: null, receiptDetail: null }]);
    }
    expect(new Set(first.map((x) => x.attemptId)).size).toBe(2);
    const second = await store.claim({ channel: 'email', worker: 'node-a', now: 5_000, limit: 10, leaseMs: 30_000 });
    // Row 4 is not due before 9,000; row 5 is another channel's.
    expect(second.map((x) => x.row.id)).toEqual([a]);
    expect(second[0]!.claim).not.toBe(first[0]!.claim);
    expect(await store.claim({ channel: 'email', worker: 'node-a', now: 5_000, limit: 10, leaseMs: 30_000 })).toEqual([]);
    expect((await store.claim({ channel: 'sms', worker: 'node-a', now: 5_000, limit: 10, leaseMs: 30_000 })).map((x) => x.row.id)).toEqual([e]);
    expect(await store.nextDueAt('email')).toBe(9_000);
  });

  it('two senders on two connections claiming at once never get the same row, and miss none', async () => {
    const db = await backend.open();
    const a = createOutboxStorage({ sql: db.runner });
    const b = createOutboxStorage({ sql: db.another() });
    const ids = await a.enqueue(Array.from({ length: 120 }, (_, i) => row(i)), 1_000);
    const [mineA, mineB] = await Promise.all([drain(a, 'node-a', 2_000), drain(b, 'node-b', 2_000)]);
    expect([...mineA, ...mineB].sort((x, y) => x - y)).toEqual(ids);
    expect(mineA.filter((id) => mineB.includes(id))).toEqual([]);
    // Both really took part: the test would prove nothing if one drained it all alone.
    expect(mineA.length).toBeGreaterThan(0);
    expect(mineB.length).toBeGreaterThan(0);
    for (const id of [mineA[0]!, mineB[0]!]) {
      expect(await a.get(id)).toMatchObject({ status: 'sent', attempts: 1, sentAt: 2_000 });
      expect(await a.attempts(id)).toHaveLength(1);
    }
  });

  it('records a sent or failed attempt only under its claim', async () => {
    const store = createOutboxStorage({ sql: (await backend.open()).runner });
    await store.enqueue([row(1), row(2), row(3)], 1_000);
    const [one, two, three] = await store.claim({ channel: 'email', worker: 'w', now: 1_000, limit: 3, leaseMs: 10_000 }) as [OutboxClaim, OutboxClaim, OutboxClaim];
    expect(await store.finish(one, { sent: true, at: 1_500, providerId: 'smtp-250-abc' })).toBe(true);
    expect(await store.get(one.row.id)).toMatchObject({ status: 'sent', sentAt: 1_500, lastError: null });
    expect(await store.attempts(one.row.id)).toEqual([expect.objectContaining({ outcome: 'sent', finishedAt: 1_500, providerId: 'smtp-250-abc', error: null })]);
    // Finishing twice changes nothing.
    expect(await store.finish(one, { sent: false, at: 1_600, error: 'late', retryAt: 9_000, giveUp: false })).toBe(false);
    expect(await store.get(one.row.id)).toMatchObject({ status: 'sent' });

    expect(await store.finish(two, { sent: false, at: 1_500, error: '421 try later \u0000', retryAt: 4_000, giveUp: false })).toBe(true);
    expect(await store.get(two.row.id)).toMatchObject({ status: 'pending', nextAt: 4_000, lastError: '421 try later \uFFFD', attempts: 1 });
    expect(await store.attempts(two.row.id)).toEqual([expect.objectContaining({ outcome: 'failed', error: '421 try later \uFFFD' })]);
    expect(await store.finish(three, { sent: false, at: 1_500, error: 'mailbox unknown', retryAt: 4_000, giveUp: true })).toBe(true);
    expect(await store.get(three.row.id)).toMatchObject({ status: 'failed' });

    // The retried row is claimed again when due, as its second attempt.
    expect(await store.claim({ channel: 'email', worker: 'w', now: 3_999, limit: 5, leaseMs: 10_000 })).toEqual([]);
    const [again] = await store.claim({ channel: 'email', worker: 'w', now: 4_000, limit: 5, leaseMs: 10_000 });
    expect(again!.row).toMatchObject({ id: two.row.id, attempts: 2 });
    expect(await store.attempts(two.row.id)).toHaveLength(2);
  });

  it('takes back the rows of a claim that lapsed; the late sender can no longer record on them', async () => {
    const db = await backend.open();
    const a = createOutboxStorage({ sql: db.runner });
    const b = createOutboxStorage({ sql: db.another() });
    await a.enqueue([row(1), row(2)], 1_000);
    const [dead] = await a.claim({ channel: 'email', worker: 'node-a', now: 1_000, limit: 1, leaseMs: 5_000 });
    const [alive] = await b.claim({ channel: 'email', worker: 'node-b', now: 1_000, limit: 1, leaseMs: 60_000 });
    expect(await b.reclaimExpired(5_999)).toBe(0);
    expect(await b.reclaimExpired(6_000)).toBe(1);
    expect(await b.reclaimExpired(6_000)).toBe(0);
    expect(await a.get(dead!.row.id)).toMatchObject({ status: 'pending', nextAt: 6_000, attempts: 1 });
    expect(await a.attempts(dead!.row.id)).toEqual([expect.objectContaining({ outcome: 'failed', finishedAt: 6_000, error: expect.stringMatching(/lapsed/) })]);
    expect(await a.get(alive!.row.id)).toMatchObject({ status: 'sending' });
    // Node B sends it again; node A, waking up, cannot mark it sent or failed over B's claim.
    const [retaken] = await b.claim({ channel: 'email', worker: 'node-b', now: 6_000, limit: 5, leaseMs: 60_000 });
    expect(retaken!.row).toMatchObject({ id: dead!.row.id, attempts: 2 });
    expect(await a.finish(dead!, { sent: false, at: 6_100, error: 'timeout', retryAt: 10_000, giveUp: false })).toBe(false);
    expect(await b.finish(retaken!, { sent: true, at: 6_200, providerId: null })).toBe(true);
    expect(await a.get(dead!.row.id)).toMatchObject({ status: 'sent', sentAt: 6_200 });
    expect((await a.attempts(dead!.row.id)).map((x) => x.outcome)).toEqual(['failed', 'sent']);
  });

  it('refuses a claim of no rows or without a lease', async () => {
    const store = createOutboxStorage({ sql: (await backend.open()).runner });
    await store.enqueue([row(1)], 1_000);
    expect(await rejection(store.claim({ channel: 'email', worker: 'w', now: 1_000, limit: 0, leaseMs: 1_000 }))).toBeInstanceOf(RangeError);
    expect(await rejection(store.claim({ channel: 'email', worker: 'w', now: 1_000, limit: 1, leaseMs: 0 }))).toBeInstanceOf(RangeError);
    expect(await rejection(store.claim({ channel: 'email', worker: 'w', now: 1_000, limit: 1.5, leaseMs: 1_000 }))).toBeInstanceOf(RangeError);
    expect((await store.claim({ channel: 'email', worker: 'w', now: 1_000, limit: 1, leaseMs: 1_000 }))).toHaveLength(1);
  });

  it('on the one process that owns the database, takes back every row it was sending, lapsed or not', async () => {
    const store = createOutboxStorage({ sql: (await backend.open()).runner });
    await store.enqueue([row(1), row(2), row(3)], 1_000);
    const claims = await store.claim({ channel: 'email', worker: 'w', now: 1_000, limit: 2, leaseMs: 60_000 });
    expect(await store.reclaimExpired(2_000)).toBe(0);
    expect(await store.reclaimAll(2_000)).toBe(2);
    for (const c of claims) {
      expect(await store.get(c.row.id)).toMatchObject({ status: 'pending', nextAt: 2_000, attempts: 1 });
      expect(await store.attempts(c.row.id)).toEqual([expect.objectContaining({ outcome: 'failed', finishedAt: 2_000, error: expect.stringMatching(/process stopped/) })]);
      expect(await store.finish(c, { sent: true, at: 2_100, providerId: null })).toBe(false);
    }
    expect(await store.reclaimAll(2_000)).toBe(0);
  });

  it('counts, queues and lists rows: pending, of an incident, per channel and status', async () => {
    const store = createOutboxStorage({ sql: (await backend.open()).runner });
    const [a, b, c, d] = await store.enqueue([
      row(1, { incidentId: 'inc-x' }), row(2, { incidentId: 'inc-x', notBefore: 9_000 }), row(3, { channel: 'sms', incidentId: 'inc-x' }), row(4),
    ], 1_000);
    expect(await store.queue('email')).toEqual({ nextDueAt: 1_000, depth: 3 });
    const [first, second] = await store.claim({ channel: 'email', worker: 'w', now: 1_000, limit: 2, leaseMs: 60_000 });
    expect([first!.row.id, second!.row.id]).toEqual([a, d]);
    await store.finish(first!, { sent: true, at: 1_100, providerId: 'p-1' });
    // d is still sending: it counts in the depth, not in the next due time.
    expect(await store.queue('email')).toEqual({ nextDueAt: 9_000, depth: 2 });
    expect(await store.queue('voice')).toEqual({ nextDueAt: undefined, depth: 0 });
    expect((await store.pending(10)).map((r) => r.id)).toEqual([b, c, d]);
    expect((await store.pending(1)).map((r) => r.id)).toEqual([b]);
    expect((await store.ofIncident('inc-x')).map((r) => r.id)).toEqual([a, b, c]);
    expect(await store.ofIncident('inc-none')).toEqual([]);
    expect(await store.counts()).toEqual({
      byChannel: { email: { pending: 1, sending: 1, sent: 1, failed: 0 }, sms: { pending: 1, sending: 0, sent: 0, failed: 0 } },
      attempts: { email: { sent: 1, sending: 1 } },
    });
  });

  it('matches provider callbacks to rows and records receipts on their attempts', async () => {
    const store = createOutboxStorage({ sql: (await backend.open()).runner });
    const [a, b] = await store.enqueue([row(1, { channel: 'sms', address: '+8613800000001' }), row(2, { channel: 'sms', address: '+8613800000001' })], 1_000);
    const [ca, cb] = await store.claim({ channel: 'sms', worker: 'w', now: 1_000, limit: 2, leaseMs: 60_000 });
    await store.finish(ca!, { sent: true, at: 1_100, providerId: 'biz-a' });
    await store.finish(cb!, { sent: false, at: 1_100, error: 'busy', retryAt: 2_000, giveUp: false });
    const matchA = { outboxId: a!, incidentId: 'inc-1', recipientId: 'p-1' };
    expect(await store.byProviderId('sms', 'biz-a')).toEqual(matchA);
    expect(await store.byProviderId('voice', 'biz-a')).toBeUndefined();
    expect(await store.byProviderId('sms', 'biz-unknown')).toBeUndefined();
    // An unknown provider id that names its row: the row's last attempt.
    expect(await store.byProviderId('sms', 'biz-unknown', b!)).toEqual({ outboxId: b, incidentId: 'inc-2', recipientId: 'p-2' });
    expect(await store.byProviderId('voice', 'biz-unknown', b!)).toBeUndefined();
    // Only a sent row answers an SMS reply; b failed.
    expect(await store.lastSentTo('sms', '+8613800000001', 1_000)).toEqual(matchA);
    expect(await store.lastSentTo('sms', '+8613800000001', 1_101)).toBeUndefined();
    expect(await store.lastSentTo('sms', '+8613800000002', 0)).toBeUndefined();

    expect(await store.recordReceipt({ channel: 'sms', providerId: 'biz-a', status: 'delivered', at: 1_500, detail: 'DELIVRD \u0000' })).toBe(true);
    expect(await store.recordReceipt({ channel: 'sms', providerId: 'biz-x', outboxId: b!, status: 'failed', at: 1_600 })).toBe(true);
    expect(await store.recordReceipt({ channel: 'sms', providerId: 'biz-x', status: 'failed', at: 1_600 })).toBe(false);
    expect((await store.attempts(a!)).at(-1)).toMatchObject({ receipt: 'delivered', receiptAt: 1_500, receiptDetail: 'DELIVRD \uFFFD' });
    expect((await store.attempts(b!)).at(-1)).toMatchObject({ receipt: 'failed', receiptAt: 1_600, receiptDetail: null });
  });

  it("lists an incident's deliveries but the console's, each with its newest receipt and last finished attempt", async () => {
    const store = createOutboxStorage({ sql: (await backend.open()).runner });
    const [mail, voice, , other] = await store.enqueue([
      row(1, { incidentId: 'inc-d' }), row(2, { channel: 'voice', incidentId: 'inc-d' }), row(3, { channel: 'console', incidentId: 'inc-d' }), row(4, { incidentId: 'inc-e' }),
    ], 1_000);
    const [cm] = await store.claim({ channel: 'email', worker: 'w', now: 1_000, limit: 1, leaseMs: 60_000 });
    await store.finish(cm!, { sent: false, at: 1_200, error: 'mailbox unknown', retryAt: 2_000, giveUp: true });
    const [v1] = await store.claim({ channel: 'voice', worker: 'w', now: 1_000, limit: 1, leaseMs: 60_000 });
    await store.finish(v1!, { sent: false, at: 1_100, error: 'busy', retryAt: 1_500, giveUp: false });
    const [v2] = await store.claim({ channel: 'voice', worker: 'w', now: 1_500, limit: 1, leaseMs: 60_000 });
    await store.finish(v2!, { sent: true, at: 1_600, providerId: 'call-2' });
    await store.recordReceipt({ channel: 'voice', providerId: 'call-2', status: 'no_answer', at: 1_700, detail: 'no one' });
    const base = { kind: 'alarm', step: 'first', recipientKind: 'contact', createdAt: 1_000 };
    expect(await store.deliveries('inc-d')).toEqual([
      { ...base, id: mail, channel: 'email', recipientId: 'p-1', recipientName: '联系人1', status: 'failed', attempts: 1, sentAt: null, lastError: 'mailbox unknown',
        receipt: null, receiptAt: null, receiptDetail: null, failedAt: 1_200 },
      { ...base, id: voice, channel: 'voice', recipientId: 'p-2', recipientName: '联系人2', status: 'sent', attempts: 2, sentAt: 1_600, lastError: null,
        receipt: 'no_answer', receiptAt: 1_700, receiptDetail: 'no one', failedAt: 1_600 },
    ]);
    expect((await store.deliveries('inc-e')).map((d) => d.id)).toEqual([other]);
    expect(await store.deliveries('inc-none')).toEqual([]);
  });
});
