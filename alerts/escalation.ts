// The escalation scheduler. Due steps are rows (incident, policy, step, due time, done) in the
// database the alerts run on (storage/escalations.ts: the SQLite file, or the PostgreSQL several
// nodes share), so a restart or another node finds them; one timer on the clock points at the
// earliest due step and is re-armed when steps are added. Running due steps is one transaction —
// lock them (FOR UPDATE SKIP LOCKED on PostgreSQL), write their outbox rows, entries and
// repetitions, mark them done — so a node that dies mid-way did none of it and another node runs
// them; a step runs exactly once. With several nodes each also looks every `pollMs` for steps it
// did not schedule itself (another node's, or a dead node's).
// A call tree (issue 19 point 4) is the same: each stage is a row with its `stage` number, and
// running a stage stores the next one `wait` later; acknowledging (or a keypress) cancels the rest.
import type { Logger } from 'pino';
import type { Clock } from '../contracts/ports.ts';
import type { Incident, IncidentEvent, IncidentState } from '../contracts/incidents.ts';
import type { EventBus } from '../contracts/bus.ts';
import type { AuditNew, EscalationStep } from '../contracts/storage.ts';
import {
  cancelSteps, cancelTreeSteps, createEscalationStorage, digestedOf, incidentById, insertAudit, scheduleSteps, toIncident, touchIncident, tx,
  type SqlRunner, type StepOutcome, type TxBody,
} from '../storage/index.ts';
import { policyFor, untilRank, type ChannelName, type EscalationPolicies, type Notify, type Policy, type Step, type StepKind } from './policies.ts';
import { STATE_RANK, statesUpTo } from './store.ts';
import type { Outbox, NewOutboxRow } from './outbox.ts';
import type { Recipients } from './recipients.ts';
import type { AlertMetrics } from './metrics.ts';

/** Words for a call tree's people, for the timeline. */
const TO_WORDS: Record<Notify['to'], { en: string; zh: string }> = {
  console: { en: 'the console', zh: '接警台' }, operators: { en: 'operators', zh: '值班员' }, supervisor: { en: 'supervisor', zh: '值班长' },
  grid_worker: { en: 'grid worker', zh: '网格员' }, contacts: { en: 'emergency contacts', zh: '紧急联系人' }, liaison: { en: 'fire-brigade liaison', zh: '消防联络员' },
  manager: { en: 'manager', zh: '中心负责人' }, maintainers: { en: 'maintainers', zh: '维保人员' }, assignee: { en: 'assignee', zh: '处置人' }, resident: { en: 'resident', zh: '住户' },
};

/** GLOSSARY.md words for a step's kind, for the Chinese timeline. */
const STEP_ZH: Record<StepKind, string> = { alarm: '报警通知', escalation: '未接警升级', not_on_site: '未到场升级', notice: '通知', reminder: '一次提醒', warning: '二次警示', enforcement: '三次执法', dispatch: '派单通知', not_accepted: '未出发升级' };

/** setTimeout's largest delay; a step further out gets another look then. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Steps run per transaction: a long backlog after a restart is worked through in passes of this many. */
const PASS = 100;

/**
 * A pass that took no step while one is due (another node's pass holds it, or a transition holds
 * its incident: storage/escalations.ts skips those) looks again this much later. Re-armed at the
 * due time itself, which is past, it would pass again at once, two queries per turn of the event
 * loop for as long as the other transaction lasts.
 */
const BUSY_RETRY_MS = 50;

export interface EscalationDeps {
  sql: SqlRunner;
  clock: Clock;
  logger: Logger;
  bus: EventBus;
  outbox: Pick<Outbox, 'enqueue' | 'has' | 'kick'>;
  recipients: Recipients;
  policies: EscalationPolicies;
  metrics: AlertMetrics;
  /**
   * Look for due steps this often besides the timer (0: never). With several nodes on one
   * PostgreSQL a node's timer knows only the steps it scheduled itself; this is how a step whose
   * node died, or that another node scheduled, is run by a living one.
   */
  pollMs?: number;
}

export function createEscalation(deps: EscalationDeps) {
  const { sql, clock, logger, bus, outbox, recipients, policies, metrics } = deps;
  const { q } = sql;
  const storage = createEscalationStorage({ sql });
  let timer: NodeJS.Timeout | undefined;
  let timerAt = Infinity;
  let poll: NodeJS.Timeout | undefined;
  let running = false;
  /** The pass in progress: one at a time per node (other nodes' passes skip the rows it locked). */
  let pass: Promise<void> | undefined;
  let again = false;

  function level(i: Incident): 'red' | 'yellow' | undefined {
    return i.level === 'green' ? undefined : i.level;
  }

  function policyOf(i: Incident): Policy | undefined {
    const l = level(i);
    return l ? policyFor(policies, l, i.category) : undefined;
  }

  const system = (action: string, note: string, noteZh: string): AuditNew => ({ actor: 'system', action, note, noteZh });

  /**
   * Outbox rows for one step; logs and counts WF_NOTIFY_NO_RECIPIENT for every notify entry that
   * reached nobody. Runs inside the caller's transaction.
   */
  function* notify(i: Incident, step: Step, kind: string, now: number, entries: readonly Notify[] = step.notify): TxBody<number> {
    const seen = new Set<string>();
    const available = (c: ChannelName) => outbox.has(c);
    // Storm digest (issue 17 point 3): within the window (and within one repeat of the step), a
    // person already told of this step for another incident of the site is not told again.
    const window = Math.min(policyOf(i)?.storm.window ?? 0, step.every ?? Infinity);
    const planned = entries.map((n) => ({ n, ...recipients.rows(n, i, now, kind, step.id, available, seen) }));
    const candidates = planned.flatMap((p) => p.rows);
    // One question for every candidate row, and one INSERT for the rows that remain.
    const told = new Set<string>();
    if (window > 0 && candidates.length) {
      const ids = [...new Set(candidates.map((r) => r.recipientId))];
      for (const d of yield* tx.all(digestedOf(q, { step: step.id, recipientIds: ids, since: now - window, siteId: i.siteId, incidentId: i.id }))) told.add(`${d.recipient_id}\u0000${d.channel}`);
    }
    const rows: NewOutboxRow[] = [];
    for (const { n, rows: all, targets } of planned) {
      const kept = all.filter((r) => !told.has(`${r.recipientId}\u0000${r.channel}`));
      rows.push(...kept);
      if (all.length > kept.length) metrics.digested.inc({ step: step.id }, all.length - kept.length);
      if (all.length === 0 && !n.via.every((c) => !available(c))) {
        metrics.noRecipient.inc({ step: step.id, to: n.to });
        logger.error({ code: 'WF_NOTIFY_NO_RECIPIENT', incident: i.id, level: i.level, step: step.id, to: n.to, via: n.via, site: i.siteId, center: i.centerId, candidates: targets },
          `nobody to notify: ${n.to} of site ${i.siteId} (center ${i.centerId}) has no one reachable by ${n.via.join('/')}`);
      }
    }
    yield* outbox.enqueue(rows, now);
    return rows.length;
  }

  function* schedule(i: Incident, p: Policy, s: Step, dueAt: number, now: number, stage: number | null = null): TxBody<void> {
    yield* tx.run(scheduleSteps(q, [{ incidentId: i.id, policy: p.id, step: s.id, untilState: s.until, dueAt, stage }], now));
    // Armed before the commit: a transaction that rolls back leaves a timer that finds nothing due.
    if (dueAt < timerAt) arm(dueAt);
  }

  /**
   * One stage of a call tree: its people's rows now, the next stage `wait` later (at once when
   * this stage reached nobody: a home without a resident's phone calls the contacts straight away).
   */
  function* runStage(i: Incident, p: Policy, s: Step, stage: number, now: number): TxBody<number> {
    const tree = s.sequence!;
    const here = tree[stage]!;
    const written = yield* notify(i, s, s.kind, now, [{ to: here.to, via: here.via }]);
    if (stage + 1 < tree.length) yield* schedule(i, p, s, written > 0 ? now + here.wait : now, now, stage + 1);
    const next = tree[stage + 1];
    const w = TO_WORDS[here.to];
    const then = next ? { en: `; ${TO_WORDS[next.to].en} ${written > 0 ? `in ${Math.round(here.wait / 1000)} s unless answered` : 'now'}`, zh: `；${written > 0 ? `${Math.round(here.wait / 1000)} 秒内无人应答则` : '随即'}通知${TO_WORDS[next.to].zh}` } : { en: '', zh: '' };
    yield* tx.run(insertAudit(q, i.id, now, i.state, i.state, system(`tree:${s.id}`,
      `call tree ${stage + 1}/${tree.length}, ${w.en}: ${written} notification(s) queued${then.en}`,
      `呼叫树第 ${stage + 1}/${tree.length} 级，${w.zh}：已发出 ${written} 条通知${then.zh}`)));
    return written;
  }

  /**
   * Starts the policy's steps anchored at `anchor` for the incident: immediate ones write their rows
   * now (in the caller's transaction), later ones are stored for the timer. `kindOverride` marks
   * the immediate step of a level raise as 'raised'.
   */
  function* begin(i: Incident, anchor: Step['from'], now: number, kindOverride?: string): TxBody<number> {
    const p = policyOf(i);
    if (!p) return 0;
    let written = 0;
    for (const s of p.steps) {
      if (s.from !== anchor) continue;
      if (STATE_RANK[i.state] >= untilRank(s.until, STATE_RANK)) continue;
      if (s.sequence) {
        if (s.after === 0) written += yield* runStage(i, p, s, 0, now);
        else yield* schedule(i, p, s, now + s.after, now, 0);
      } else if (s.after === 0) {
        written += yield* notify(i, s, kindOverride ?? s.kind, now);
        if (s.every) yield* schedule(i, p, s, now + s.every, now);
      } else yield* schedule(i, p, s, now + s.after, now);
    }
    return written;
  }

  /** Cancels the incident's pending steps that end at `reached` or earlier (all of them on resolve). */
  function* cancelUpTo(incidentId: string, reached: IncidentState, now: number): TxBody<number> {
    if (STATE_RANK[reached] >= STATE_RANK.resolved) return yield* tx.run(cancelSteps(q, incidentId, now));
    const states: string[] = statesUpTo(reached);
    if (STATE_RANK[reached] >= STATE_RANK.on_site) states.push('accepted');
    return yield* tx.run(cancelSteps(q, incidentId, now, states));
  }

  /** The assignee set out (出发): the steps waiting for that end (issue 17 point 4). */
  function* cancelAccepted(incidentId: string, now: number): TxBody<number> {
    return yield* tx.run(cancelSteps(q, incidentId, now, ['accepted']));
  }

  function* cancelAll(incidentId: string, now: number): TxBody<number> {
    return yield* tx.run(cancelSteps(q, incidentId, now));
  }

  /**
   * A call of a tree's stage came back unanswered (no answer, busy, failed). When every call of
   * that stage has, nobody is going to answer it: the next stage is due now rather than at the end
   * of the wait. Texts do not count — delivered is not read. Returns whether it moved.
   */
  async function unanswered(outboxId: number, now: number): Promise<boolean> {
    if (!(await storage.hurryNextStage(outboxId, now))) return false;
    arm(now);
    return true;
  }

  /** Someone answered (a keypress in a call): the incident's call trees call nobody else. */
  async function stopTree(incidentId: string, now: number): Promise<number> {
    const n = await storage.cancelTree(incidentId, now);
    if (n > 0) await rearm();
    return n;
  }

  /** Same, inside the caller's transaction (acknowledging from a message). */
  function* stopTreeTx(incidentId: string, now: number): TxBody<number> {
    return yield* tx.run(cancelTreeSteps(q, incidentId, now));
  }

  /** One due step, inside runDue's transaction: its rows, entry and repetition; the event to emit once committed. */
  function* runOne(row: EscalationStep, now: number): TxBody<StepOutcome<IncidentEvent | undefined>> {
    const [found] = yield* tx.all(incidentById(q, row.incidentId));
    const i = found ? toIncident(found) : undefined;
    const p = policies.policies.find((x) => x.id === row.policy);
    const s = p?.steps.find((x) => x.id === row.step);
    if (!i || !p || !s || STATE_RANK[i.state] >= untilRank(row.untilState as Step['until'], STATE_RANK) || policyOf(i)?.id !== p.id) {
      if (i && (!p || !s)) logger.warn({ incident: row.incidentId, policy: row.policy, step: row.step }, 'escalation step no longer in the policies: cancelled');
      return { outcome: 'cancelled' };
    }
    if (s.sequence) {
      if (row.stage === null || row.stage >= s.sequence.length) {
        logger.warn({ incident: row.incidentId, step: row.step, stage: row.stage }, 'call tree stage no longer in the policies: cancelled');
        return { outcome: 'done' };
      }
      yield* runStage(i, p, s, row.stage, now);
      const [after] = yield* tx.all(touchIncident(q, i.id, now).returningAll());
      metrics.escalations.inc({ step: s.id });
      return { outcome: 'done', value: { kind: 'escalated', incident: toIncident(after!), at: now, actor: 'system', note: `${s.id}#${row.stage + 1}` } };
    }
    const written = yield* notify(i, s, s.kind, now);
    // The entry's own time is when it ran; the note says what it did, in both languages (issue 17).
    yield* tx.run(insertAudit(q, i.id, now, i.state, i.state, system(`escalation:${s.id}`, `${s.kind}: ${written} notification(s) queued`, `${STEP_ZH[s.kind]}：已发出 ${written} 条通知`)));
    const [after] = yield* tx.all(touchIncident(q, i.id, now).returningAll());
    if (s.every) {
      // Repeats missed while the process was down collapse into this one; the cadence resumes from now.
      const periods = Math.max(1, Math.ceil((now - row.dueAt + 1) / s.every));
      yield* schedule(i, p, s, row.dueAt + periods * s.every, now);
    }
    metrics.escalations.inc({ step: s.id });
    return { outcome: 'done', value: { kind: 'escalated', incident: toIncident(after!), at: now, actor: 'system', note: s.id } };
  }

  /** Runs every due step, PASS per transaction, then points the timer at the next one. */
  async function runDue(): Promise<void> {
    let took = 0;
    for (;;) {
      if (!running) return;
      const now = clock.now();
      let ran: Awaited<ReturnType<typeof storage.runDue<IncidentEvent | undefined>>>;
      try {
        ran = await storage.runDue(now, PASS, (step) => runOne(step, now));
      } catch (err) {
        // Rolled back: every step of the pass is still due, and the next pass tries again rather than losing one.
        logger.error({ err }, 'escalation pass failed; retried in 1 s');
        arm(clock.now() + 1_000);
        return;
      }
      took += ran.length;
      for (const r of ran) if (r.value) bus.emit('incident', r.value);
      if (ran.length) outbox.kick();
      if (ran.length < PASS) break;
    }
    await rearm(took === 0);
  }

  /** A pass now, or right after the one in progress (a timer or a poll while it runs). */
  function runSoon(): Promise<void> {
    if (pass) {
      again = true;
      return pass;
    }
    pass = (async () => {
      try {
        do {
          again = false;
          await runDue();
        } while (again && running);
      } catch (err) {
        logger.error({ err }, 'escalation pass failed');
      } finally {
        pass = undefined;
      }
    })();
    return pass;
  }

  function arm(at: number): void {
    if (!running) return;
    if (timer) clearTimeout(timer);
    timerAt = at;
    const delay = Math.min(Math.max(0, at - clock.now()), MAX_TIMER_MS);
    timer = setTimeout(() => {
      timer = undefined;
      timerAt = Infinity;
      void runSoon();
    }, delay);
  }

  /** Points the timer at the earliest pending step; `busy`: the last pass took none, so a step already due is held by someone else. */
  async function rearm(busy = false): Promise<void> {
    let t: number | undefined;
    try {
      t = await storage.nextDueAt();
    } catch (err) {
      logger.error({ err }, 'could not read the next escalation due; looking again in 1 s');
      arm(clock.now() + 1_000);
      return;
    }
    if (t === undefined) {
      if (timer) clearTimeout(timer);
      timer = undefined;
      timerAt = Infinity;
    } else {
      const now = clock.now();
      arm(busy && t <= now ? now + BUSY_RETRY_MS : t);
    }
  }

  return {
    begin,
    notify,
    cancelUpTo,
    cancelAll,
    cancelAccepted,
    stopTree,
    stopTreeTx,
    unanswered,
    policyOf,
    /** Picks up every due and overdue step once, then follows the timer (and the poll, with several nodes). */
    start(): Promise<void> {
      running = true;
      if (deps.pollMs) {
        poll = setInterval(() => void runSoon(), deps.pollMs);
        poll.unref();
      }
      return runSoon();
    },
    /** Stops the timers and waits for a pass in progress (its transaction commits or rolls back whole). */
    async stop(): Promise<void> {
      running = false;
      if (timer) clearTimeout(timer);
      if (poll) clearInterval(poll);
      timer = undefined;
      poll = undefined;
      timerAt = Infinity;
      await pass;
    },
    async steps(incidentId: string) {
      return (await storage.of(incidentId)).map((r) => ({ id: r.id, policy: r.policy, step: r.step, ...(r.stage !== null ? { stage: r.stage } : {}), until: r.untilState as Step['until'], dueAt: r.dueAt, status: r.done === 0 ? 'pending' as const : r.done === 1 ? 'done' as const : 'cancelled' as const }));
    },
    async pending() {
      return (await storage.pending()).map((r) => ({ id: r.id, incidentId: r.incidentId, step: r.step, dueAt: r.dueAt }));
    },
  };
}

export type Escalation = ReturnType<typeof createEscalation>;
