// Escalation steps against an incident's transition on PostgreSQL (issue 21 point 6): a due step's
// transaction writes its incident (alerts/escalation.ts touches it), and a transition (an
// acknowledgement, alerts/incidents.ts) writes the incident and then cancels its pending steps —
// the same two rows locked in opposite orders. Before storage/escalations.ts locked the incident
// with the step, an acknowledgement arriving inside a step's transaction was aborted by
// PostgreSQL's deadlock detector (40P01: the operator's 接警 lost). SQLite has one writer at a time,
// so only PostgreSQL is at stake here. Each window is held open by an advisory lock the test
// holds, and released once the other side is seen waiting: no timing.
import pg from 'pg';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditNew } from '../contracts/storage.ts';
import {
  cancelSteps, createEscalationStorage, createIncidentStorage, incidentById, migratePostgres, postgresRunner, touchIncident, tx, type SqlRunner, type TxBody,
} from '../storage/index.ts';
import { join } from 'node:path';
import { parsePolicies } from '../alerts/index.ts';
import { DAY_SHIFT_TIME, finding, shiftedClock, startAlerts, tempDir } from './alerts.fixture.ts';
import { startTestPostgres, type TestPostgres } from './support/postgres.ts';
import { waitFor } from './support/wait.ts';

let server: TestPostgres;
/** Migrated once, copied per case. */
const TEMPLATE = 'wf_locks_template';
const closers: Array<() => Promise<void>> = [];

beforeAll(async () => {
  server = await startTestPostgres();
  const url = await server.createDatabase({ name: TEMPLATE });
  const r = postgresRunner({ connectionString: url });
  await migratePostgres(r);
  await r.close();
}, 60_000);

afterAll(async () => {
  for (const c of closers.splice(0)) await c();
  await server?.stop();
});

const T = 1_000_000;
const ack: AuditNew = { actor: 'op', action: 'acknowledge', note: null, noteZh: null };

/** A database with one open incident and its step due at T; the runners of two nodes and a gate (an advisory lock). */
async function setup() {
  const url = await server.createDatabase({ template: TEMPLATE });
  const node = (): SqlRunner => {
    const r = postgresRunner({ connectionString: url });
    closers.push(() => r.close());
    return r;
  };
  const [a, b] = [node(), node()];
  const gate = new pg.Client({ connectionString: url });
  await gate.connect();
  closers.push(() => gate.end());
  await gate.query('SELECT pg_advisory_lock(21)');
  await createIncidentStorage({ sql: a }).open({
    id: 'i1', key: 'site:h-1:fire', level: 'red', score: 90, category: 'fire', condition: 'smoke', centerId: 'fc-1', siteId: 'h-1', gridId: null,
    deviceId: 'sd-1', zone: null, title: { en: 'Smoke', zh: '烟雾' }, confirmed: false, lastReading: null, recurrenceOf: null,
  }, T, { actor: 'system', action: 'opened', note: null, noteZh: null });
  await createEscalationStorage({ sql: a }).schedule([{ incidentId: 'i1', policy: 'red', step: 'unacknowledged', untilState: 'acknowledged', dueAt: T, stage: null }], T);
  /** Sessions of the database waiting: at the gate (advisory), or for a row lock. */
  const waiting = async (at: 'gate' | 'row') => (await gate.query<{ n: number }>(
    `SELECT COUNT(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND (wait_event = 'advisory') = $1`, [at === 'gate'])).rows[0]!.n;
  const open = () => gate.query('SELECT pg_advisory_unlock(21)');
  /** Inside a transaction body: wait at the gate. */
  const atGate = () => tx.all(sql`SELECT pg_advisory_xact_lock_shared(21)`.compile(a.q));
  return { a, b, waiting, open, atGate, steps: createEscalationStorage({ sql: a }) };
}

/** The acknowledgement as alerts/incidents.ts writes it: the incident, its entry, then its steps ending there cancelled. */
function acknowledge(r: SqlRunner, at: number, before?: () => TxBody<unknown>) {
  return createIncidentStorage({ sql: r }).transition('i1', { from: 'open', to: 'acknowledged', at, stamp: 'acknowledgedAt' }, ack, function* () {
    if (before) yield* before();
    return yield* tx.run(cancelSteps(r.q, 'i1', at, ['open', 'acknowledged']));
  });
}

describe('a due step and an acknowledgement of its incident at once (PostgreSQL)', () => {
  it('an acknowledgement arriving inside the step\'s transaction waits for it, then applies', async () => {
    const { a, b, waiting, open, atGate, steps } = await setup();
    const s = createEscalationStorage({ sql: b });
    // The step's transaction: the step taken, the incident read; held at the gate before its writes.
    const step = s.runDue(T + 1, 10, function* (row) {
      yield* tx.all(incidentById(b.q, row.incidentId));
      yield* atGate();
      yield* tx.run(touchIncident(b.q, row.incidentId, T + 1));
      return { outcome: 'done' as const };
    });
    await waitFor(async () => (await waiting('gate')) === 1, { what: 'the step at the gate' });
    const acked = acknowledge(a, T + 2);
    // The acknowledgement waits (for a row the step holds), then the gate opens.
    await waitFor(async () => (await waiting('row')) === 1, { what: 'the acknowledgement to wait' });
    await open();
    const [ran, applied] = await Promise.allSettled([step, acked]);
    expect(ran).toMatchObject({ status: 'fulfilled', value: [{ outcome: 'done' }] });
    expect(applied).toMatchObject({ status: 'fulfilled', value: { ok: true } });
    expect((await steps.of('i1')).map((r) => r.done)).toEqual([1]);
  });

  it('a step due while an acknowledgement holds its incident is left due, and the acknowledgement cancels it', async () => {
    const { a, b, waiting, open, atGate, steps } = await setup();
    // The acknowledgement has written the incident and waits at the gate before cancelling.
    const acked = acknowledge(a, T + 2, atGate);
    await waitFor(async () => (await waiting('gate')) === 1, { what: 'the acknowledgement at the gate' });
    // The pass neither waits for the incident nor runs the step: it is not this pass's. (Had it
    // waited, the acknowledgement's cancelling would wait for its step: the gate opens then too.)
    const pass = createEscalationStorage({ sql: b }).runDue(T + 1, 10, function* (row) {
      yield* tx.run(touchIncident(b.q, row.incidentId, T + 1));
      return { outcome: 'done' as const };
    });
    let ended = false;
    void pass.finally(() => {
      ended = true;
    }).catch(() => undefined);
    await waitFor(async () => ended || (await waiting('row')) > 0, { what: 'the pass to end or wait' });
    await open();
    const [ran, applied] = await Promise.allSettled([pass, acked]);
    expect(ran).toEqual({ status: 'fulfilled', value: [] });
    expect(applied).toMatchObject({ status: 'fulfilled', value: { ok: true } });
    expect((await steps.of('i1')).map((r) => r.done)).toEqual([2]);
    expect(await createEscalationStorage({ sql: b }).runDue(T + 3, 10, function* () {
      yield* [];
      return { outcome: 'done' as const };
    })).toEqual([]);
  });
  it('a node whose due step another transaction holds looks again every 50 ms, not in a loop, and runs it once free', async () => {
    const url = await server.createDatabase({ template: TEMPLATE });
    const runner = postgresRunner({ connectionString: url });
    closers.push(() => runner.close());
    // The real runner; the start of each transaction (a pass of the scheduler) noted.
    let passes: number[] = [];
    const noted: SqlRunner = { ...runner, transaction: (body) => {
      passes.push(performance.now());
      return runner.transaction(body);
    } };
    // Steps that write no notification (no webhook channel here): only the scheduling is at stake.
    const quiet = [{ to: 'liaison' as const, via: ['webhook' as const] }];
    const policies = parsePolicies({ policies: [
      { id: 'red', level: 'red', steps: [{ id: 'alarm', kind: 'alarm', notify: quiet }, { id: 'soon', kind: 'escalation', after: 1_500, until: 'acknowledged', notify: quiet }] },
      { id: 'yellow', level: 'yellow', steps: [{ id: 'notice', kind: 'notice', notify: quiet }] },
    ] });
    const tmp = tempDir();
    const h = await startAlerts({ file: join(tmp.dir, 'a.db'), clock: shiftedClock(DAY_SHIFT_TIME), alerts: { sql: noted, policies, escalationPollMs: 0 } });
    const other = new pg.Client({ connectionString: url });
    try {
      await other.connect();
      await h.alerts.handleFinding(finding());
      // Another node's pass holds the step (its row locked) from before it is due until released.
      await other.query('BEGIN');
      expect((await other.query('SELECT id FROM alert_escalations WHERE done = 0 FOR UPDATE')).rowCount).toBe(1);
      passes = [];
      await waitFor(() => passes.length >= 5, { what: 'five passes at the held step' });
      // Four intervals of at least BUSY_RETRY_MS (alerts/escalation.ts), timers firing no earlier than set.
      expect(passes[4]! - passes[0]!).toBeGreaterThanOrEqual(4 * 50 - 5);
      await other.query('COMMIT');
      const [incident] = await h.alerts.service.list({});
      await waitFor(async () => (await h.alerts.escalations.of(incident!.id)).some((s) => s.step === 'soon' && s.status === 'done'), { what: 'the step to run once free' });
    } finally {
      await other.end();
      await h.close();
      tmp.remove();
    }
  });
});
