// Escalation steps behind the storage seam (issue 21 point 5, "no escalation skipped or
// doubled"): the same cases on SQLite and a real PostgreSQL. Two nodes running due steps at once
// run each exactly once, with the step's own writes in the same transaction.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EscalationStep, EscalationStepNew } from '../contracts/storage.ts';
import { createEscalationStorage, createOutboxStorage, tx, type SqlRunner, type StepOutcome, type TxBody } from '../storage/index.ts';
import { insertOutboxRows } from '../storage/outbox.ts';
import { sqlBackends } from './support/sql-backends.ts';

const backends = sqlBackends();
beforeAll(() => Promise.all(backends.map((b) => b.setup())));
afterAll(() => Promise.all(backends.map((b) => b.teardown())));

function step(i: number, over: Partial<EscalationStepNew> = {}): EscalationStepNew {
  return { incidentId: `inc-${i}`, policy: 'red', step: 'escalate', untilState: 'acknowledged', dueAt: 1_000 + i, stage: null, ...over };
}

/** A step's work, as alerts/escalation.ts does it: one outbox row written in the step's transaction. */
function notifyBody(runner: SqlRunner, now: number, node: string) {
  return function* (s: EscalationStep): TxBody<StepOutcome<string>> {
    yield* tx.run(insertOutboxRows(runner.q, [{
      channel: 'email', incidentId: s.incidentId, reportId: null, kind: 'alarm', step: `step-${s.id}`, recipientKind: 'supervisor',
      recipientId: node, recipientName: node, address: `${node}@example.test`, locale: 'zh-CN',
    }], now));
    return { outcome: 'done', value: node };
  };
}

/** A body with no statements of its own. */
function* outcome<R>(o: StepOutcome<R>): TxBody<StepOutcome<R>> {
  yield* [];
  return o;
}

describe.each(backends)('escalation contract on $name', (backend) => {
  it('runs due steps oldest first up to the limit, marks them done, and leaves the rest', async () => {
    const db = await backend.open();
    const store = createEscalationStorage({ sql: db.runner });
    const ids = await store.schedule([step(3), step(1), step(2), step(50, { dueAt: 9_000 })], 500);
    expect(await store.nextDueAt()).toBe(1_001);
    const ran = await store.runDue(5_000, 2, function* (s) {
      yield* tx.all(db.runner.q.selectFrom('alert_escalations').select('id').where('id', '=', s.id));
      return { outcome: 'done', value: s.incidentId };
    });
    expect(ran.map((r) => r.value)).toEqual(['inc-1', 'inc-2']);
    expect(ran[0]!.step).toMatchObject({ id: ids[1], done: 0, dueAt: 1_001, createdAt: 500, untilState: 'acknowledged', stage: null });
    expect(await store.of('inc-1')).toEqual([expect.objectContaining({ done: 1, doneAt: 5_000 })]);
    const rest = await store.runDue(5_000, 10, () => outcome({ outcome: 'cancelled' }));
    expect(rest.map((r) => r.step.incidentId)).toEqual(['inc-3']);
    expect((await store.of('inc-3'))[0]).toMatchObject({ done: 2, doneAt: 5_000 });
    expect(await store.runDue(5_000, 10, () => outcome({ outcome: 'done' }))).toEqual([]);
    expect(await store.nextDueAt()).toBe(9_000);
  });

  it('two nodes running due steps at once run each exactly once, its notification written once', async () => {
    const db = await backend.open();
    const a = createEscalationStorage({ sql: db.runner });
    const other = db.another();
    const b = createEscalationStorage({ sql: other });
    await a.schedule(Array.from({ length: 60 }, (_, i) => step(i)), 0);
    const drain = async (store: typeof a, runner: SqlRunner, node: string) => {
      const mine: string[] = [];
      for (;;) {
        const ran = await store.runDue(10_000, 4, notifyBody(runner, 10_000, node));
        if (!ran.length) return mine;
        mine.push(...ran.map((r) => r.step.incidentId));
      }
    };
    const [byA, byB] = await Promise.all([drain(a, db.runner, 'node-a'), drain(b, other, 'node-b')]);
    expect([...byA, ...byB].sort()).toEqual(Array.from({ length: 60 }, (_, i) => `inc-${i}`).sort());
    expect(byA.filter((x) => byB.includes(x))).toEqual([]);
    expect(byA.length).toBeGreaterThan(0);
    expect(byB.length).toBeGreaterThan(0);
    const rows = await db.query<{ incident_id: string; recipient_id: string }>('SELECT incident_id, recipient_id FROM alert_outbox ORDER BY id');
    expect(rows).toHaveLength(60);
    expect(new Set(rows.map((r) => r.incident_id)).size).toBe(60);
    const outbox = createOutboxStorage({ sql: db.runner });
    expect(await outbox.nextDueAt('email')).toBe(10_000);
  });

  it('a body that throws rolls its whole call back: the steps stay due, nothing of theirs is written', async () => {
    const db = await backend.open();
    const store = createEscalationStorage({ sql: db.runner });
    await store.schedule([step(1), step(2)], 0);
    const notify = notifyBody(db.runner, 5_000, 'node-a');
    await expect(store.runDue(5_000, 10, function* (s) {
      const r = yield* notify(s);
      if (s.incidentId === 'inc-2') throw new Error('policy vanished');
      return r;
    })).rejects.toThrow('policy vanished');
    expect((await store.of('inc-1'))[0]!.done).toBe(0);
    expect(await db.query('SELECT id FROM alert_outbox')).toEqual([]);
    expect((await store.runDue(5_000, 10, notify)).map((r) => r.step.incidentId)).toEqual(['inc-1', 'inc-2']);
  });

  it('cancels an incident\'s pending steps, or only those ending at given states', async () => {
    const store = createEscalationStorage({ sql: (await backend.open()).runner });
    await store.schedule([step(1), step(1, { untilState: 'on_site' }), step(1, { untilState: 'accepted', stage: 0 }), step(2)], 0);
    expect(await store.cancel('inc-1', 100, ['accepted'])).toBe(1);
    expect(await store.cancel('inc-1', 100, [])).toBe(0);
    expect(await store.cancel('inc-1', 200)).toBe(2);
    expect(await store.cancel('inc-1', 300)).toBe(0);
    expect((await store.of('inc-1')).map((s) => [s.untilState, s.done, s.doneAt])).toEqual([['acknowledged', 2, 200], ['on_site', 2, 200], ['accepted', 2, 100]]);
    expect((await store.of('inc-2'))[0]!.done).toBe(0);
    await expect(store.runDue(0, 0, () => outcome({ outcome: 'done' }))).rejects.toBeInstanceOf(RangeError);
  });
});
