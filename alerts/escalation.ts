// The escalation scheduler. Due steps live in SQLite (incident, policy, step, due time, done), so a
// restart finds them; one timer on the clock points at the earliest due step and is re-armed when
// steps are added. Executing a step is one transaction — mark it done, write its outbox rows, add
// its repetition — so a crash either did all of it or none, and a step runs exactly once.
// A call tree (issue 19 point 4) is the same: each stage is a row with its `stage` number, and
// running a stage stores the next one `wait` later; acknowledging (or a keypress) cancels the rest.
import type { Database } from 'better-sqlite3';
import type { Logger } from 'pino';
import type { Clock } from '../contracts/ports.ts';
import type { Incident, IncidentEvent, IncidentState } from '../contracts/incidents.ts';
import type { EventBus } from '../contracts/bus.ts';
import { policyFor, untilRank, type ChannelName, type EscalationPolicies, type Notify, type Policy, type Step, type StepKind } from './policies.ts';
import { STATE_RANK, statesUpTo, type IncidentStore } from './store.ts';
import type { NewOutboxRow } from './outbox.ts';
import type { LegacyOutbox as Outbox } from './outbox-bridge.ts';
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

interface EscalationRow { id: number; incident_id: string; policy: string; step: string; until_state: Step['until']; due_at: number; done: number; stage: number | null }

export interface EscalationDeps {
  db: Database;
  clock: Clock;
  logger: Logger;
  bus: EventBus;
  store: IncidentStore;
  outbox: Outbox;
  recipients: Recipients;
  policies: EscalationPolicies;
  metrics: AlertMetrics;
}

export function createEscalation(deps: EscalationDeps) {
  const { db, clock, logger, bus, store, outbox, recipients, policies, metrics } = deps;
  const st = {
    insert: db.prepare('INSERT INTO alert_escalations (incident_id, policy, step, until_state, due_at, done, created_at, stage) VALUES (?, ?, ?, ?, ?, 0, ?, ?)'),
    cancelTree: db.prepare('UPDATE alert_escalations SET done = 2, done_at = ? WHERE incident_id = ? AND done = 0 AND stage IS NOT NULL'),
    // A stage's rows and its successor share the instant the stage ran (created_at).
    rowOf: db.prepare('SELECT incident_id, step, created_at FROM alert_outbox WHERE id = ?'),
    nextStage: db.prepare('SELECT id FROM alert_escalations WHERE incident_id = ? AND step = ? AND created_at = ? AND stage IS NOT NULL AND done = 0').pluck(),
    stageCalls: db.prepare(`SELECT o.status, (SELECT a.receipt FROM alert_outbox_attempts a WHERE a.outbox_id = o.id AND a.receipt IS NOT NULL ORDER BY a.id DESC LIMIT 1) AS receipt
      FROM alert_outbox o WHERE o.incident_id = ? AND o.step = ? AND o.created_at = ? AND o.channel = 'voice'`),
    hurry: db.prepare('UPDATE alert_escalations SET due_at = ? WHERE id = ? AND done = 0 AND due_at > ?'),
    due: db.prepare('SELECT * FROM alert_escalations WHERE done = 0 AND due_at <= ? ORDER BY due_at, id LIMIT 100'),
    earliest: db.prepare('SELECT MIN(due_at) FROM alert_escalations WHERE done = 0').pluck(),
    finish: db.prepare('UPDATE alert_escalations SET done = ?, done_at = ? WHERE id = ? AND done = 0'),
    cancelAll: db.prepare('UPDATE alert_escalations SET done = 2, done_at = ? WHERE incident_id = ? AND done = 0'),
    cancelAccepted: db.prepare("UPDATE alert_escalations SET done = 2, done_at = ? WHERE incident_id = ? AND done = 0 AND until_state = 'accepted'"),
    pendingOf: db.prepare('SELECT * FROM alert_escalations WHERE incident_id = ? ORDER BY id'),
    pendingAll: db.prepare('SELECT * FROM alert_escalations WHERE done = 0 ORDER BY due_at, id'),
    // A row of this step to this person on this channel, for another incident of the same site,
    // within the storm window (index alert_outbox_digest, migration 6).
    digested: db.prepare(`SELECT 1 FROM alert_outbox o JOIN alert_incidents i ON i.id = o.incident_id
      WHERE o.step = ? AND o.recipient_id = ? AND o.channel = ? AND o.created_at > ? AND i.site_id = ? AND o.incident_id != ? LIMIT 1`).pluck(),
  };
  let timer: NodeJS.Timeout | undefined;
  let timerAt = Infinity;
  let running = false;

  function level(i: Incident): 'red' | 'yellow' | undefined {
    return i.level === 'green' ? undefined : i.level;
  }

  function policyOf(i: Incident): Policy | undefined {
    const l = level(i);
    return l ? policyFor(policies, l, i.category) : undefined;
  }

  /**
   * Outbox rows for one step; logs and counts WF_NOTIFY_NO_RECIPIENT for every notify entry that
   * reached nobody. Runs inside the caller's transaction.
   */
  function notify(i: Incident, step: Step, kind: string, now: number, entries: readonly Notify[] = step.notify): number {
    const seen = new Set<string>();
    let written = 0;
    const available = (c: ChannelName) => outbox.has(c);
    // Storm digest (issue 17 point 3): within the window (and within one repeat of the step), a
    // person already told of this step for another incident of the site is not told again.
    const window = Math.min(policyOf(i)?.storm.window ?? 0, step.every ?? Infinity);
    for (const n of entries) {
      const { rows: all, targets } = recipients.rows(n, i, now, kind, step.id, available, seen);
      const rows = window > 0 ? all.filter((r) => !st.digested.get(step.id, r.recipientId, r.channel, now - window, i.siteId, i.id)) : all;
      for (const r of rows) outbox.enqueue(r as NewOutboxRow, now);
      written += rows.length;
      if (all.length > rows.length) metrics.digested.inc({ step: step.id }, all.length - rows.length);
      if (all.length === 0 && !n.via.every((c) => !available(c))) {
        metrics.noRecipient.inc({ step: step.id, to: n.to });
        logger.error({ code: 'WF_NOTIFY_NO_RECIPIENT', incident: i.id, level: i.level, step: step.id, to: n.to, via: n.via, candidates: targets },
          `nobody to notify: ${n.to} of ${i.centerId} has no one reachable by ${n.via.join('/')}`);
      }
    }
    return written;
  }

  function schedule(i: Incident, p: Policy, s: Step, dueAt: number, now: number, stage: number | null = null): void {
    st.insert.run(i.id, p.id, s.id, s.until, dueAt, now, stage);
    if (dueAt < timerAt) arm(dueAt);
  }

  /**
   * One stage of a call tree: its people's rows now, the next stage `wait` later (at once when
   * this stage reached nobody: a home without a resident's phone calls the contacts straight away).
   */
  function runStage(i: Incident, p: Policy, s: Step, stage: number, now: number): number {
    const tree = s.sequence!;
    const here = tree[stage]!;
    const written = notify(i, s, s.kind, now, [{ to: here.to, via: here.via }]);
    if (stage + 1 < tree.length) schedule(i, p, s, written > 0 ? now + here.wait : now, now, stage + 1);
    const next = tree[stage + 1];
    const w = TO_WORDS[here.to];
    const then = next ? { en: `; ${TO_WORDS[next.to].en} ${written > 0 ? `in ${Math.round(here.wait / 1000)} s unless answered` : 'now'}`, zh: `；${written > 0 ? `${Math.round(here.wait / 1000)} 秒内无人应答则` : '随即'}通知${TO_WORDS[next.to].zh}` } : { en: '', zh: '' };
    store.audit(i.id, now, 'system', `tree:${s.id}`, i.state, i.state,
      `call tree ${stage + 1}/${tree.length}, ${w.en}: ${written} notification(s) queued${then.en}`,
      `呼叫树第 ${stage + 1}/${tree.length} 级，${w.zh}：已发出 ${written} 条通知${then.zh}`);
    return written;
  }

  /**
   * Starts the policy's steps anchored at `anchor` for the incident: immediate ones write their rows
   * now (in the caller's transaction), later ones are stored for the timer. `kindOverride` marks
   * the immediate step of a level raise as 'raised'.
   */
  function begin(i: Incident, anchor: Step['from'], now: number, kindOverride?: string): number {
    const p = policyOf(i);
    if (!p) return 0;
    let written = 0;
    for (const s of p.steps) {
      if (s.from !== anchor) continue;
      if (STATE_RANK[i.state] >= untilRank(s.until, STATE_RANK)) continue;
      if (s.sequence) {
        if (s.after === 0) written += runStage(i, p, s, 0, now);
        else schedule(i, p, s, now + s.after, now, 0);
      } else if (s.after === 0) {
        written += notify(i, s, kindOverride ?? s.kind, now);
        if (s.every) schedule(i, p, s, now + s.every, now);
      } else schedule(i, p, s, now + s.after, now);
    }
    return written;
  }

  /** Cancels the incident's pending steps that end at `reached` or earlier (all of them on resolve). */
  function cancelUpTo(incidentId: string, reached: IncidentState, now: number): number {
    if (STATE_RANK[reached] >= STATE_RANK.resolved) return st.cancelAll.run(now, incidentId).changes;
    const states: string[] = statesUpTo(reached);
    if (STATE_RANK[reached] >= STATE_RANK.on_site) states.push('accepted');
    return db.prepare(`UPDATE alert_escalations SET done = 2, done_at = ? WHERE incident_id = ? AND done = 0 AND until_state IN (${states.map(() => '?').join(',')})`)
      .run(now, incidentId, ...states).changes;
  }

  /** The assignee set out (出发): the steps waiting for that end (issue 17 point 4). */
  function cancelAccepted(incidentId: string, now: number): number {
    return st.cancelAccepted.run(now, incidentId).changes;
  }

  function cancelAll(incidentId: string, now: number): number {
    return st.cancelAll.run(now, incidentId).changes;
  }

  /**
   * A call of a tree's stage came back unanswered (no answer, busy, failed). When every call of
   * that stage has, nobody is going to answer it: the next stage is due now rather than at the end
   * of the wait. Texts do not count — delivered is not read. Returns whether it moved.
   */
  function unanswered(outboxId: number, now: number): boolean {
    const row = st.rowOf.get(outboxId) as { incident_id: string | null; step: string | null; created_at: number } | undefined;
    if (!row?.incident_id || !row.step) return false;
    const next = st.nextStage.get(row.incident_id, row.step, row.created_at) as number | undefined;
    if (next === undefined) return false;
    const calls = st.stageCalls.all(row.incident_id, row.step, row.created_at) as Array<{ status: string; receipt: string | null }>;
    const dead = (c: { status: string; receipt: string | null }) => c.status === 'failed' || c.receipt === 'no_answer' || c.receipt === 'busy' || c.receipt === 'failed';
    if (calls.length === 0 || !calls.every(dead)) return false;
    if (st.hurry.run(now, next, now).changes !== 1) return false;
    arm(now);
    return true;
  }

  /** Someone answered (a keypress in a call): the incident's call trees call nobody else. */
  function stopTree(incidentId: string, now: number): number {
    const n = st.cancelTree.run(now, incidentId).changes;
    if (n > 0) rearm();
    return n;
  }

  /** Runs one due step: done + outbox rows + repetition in one transaction; returns the event to emit. */
  const runOne = db.transaction((row: EscalationRow, now: number): IncidentEvent | undefined => {
    const i = store.get(row.incident_id);
    const p = policies.policies.find((x) => x.id === row.policy);
    const s = p?.steps.find((x) => x.id === row.step);
    if (!i || !p || !s || STATE_RANK[i.state] >= untilRank(row.until_state, STATE_RANK) || policyOf(i)?.id !== p.id) {
      if (i && (!p || !s)) logger.warn({ incident: row.incident_id, policy: row.policy, step: row.step }, 'escalation step no longer in the policies: cancelled');
      st.finish.run(2, now, row.id);
      return undefined;
    }
    if (st.finish.run(1, now, row.id).changes !== 1) return undefined;
    if (s.sequence) {
      if (row.stage === null || row.stage >= s.sequence.length) {
        logger.warn({ incident: row.incident_id, step: row.step, stage: row.stage }, 'call tree stage no longer in the policies: cancelled');
        return undefined;
      }
      runStage(i, p, s, row.stage, now);
      store.s.touch.run(now, i.id);
      metrics.escalations.inc({ step: s.id });
      return { kind: 'escalated', incident: store.get(i.id)!, at: now, actor: 'system', note: `${s.id}#${row.stage + 1}` };
    }
    const written = notify(i, s, s.kind, now);
    // The entry's own time is when it ran; the note says what it did, in both languages (issue 17).
    store.audit(i.id, now, 'system', `escalation:${s.id}`, i.state, i.state, `${s.kind}: ${written} notification(s) queued`, `${STEP_ZH[s.kind]}：已发出 ${written} 条通知`);
    store.s.touch.run(now, i.id);
    if (s.every) {
      // Repeats missed while the process was down collapse into this one; the cadence resumes from now.
      const periods = Math.max(1, Math.ceil((now - row.due_at + 1) / s.every));
      schedule(i, p, s, row.due_at + periods * s.every, now);
    }
    metrics.escalations.inc({ step: s.id });
    return { kind: 'escalated', incident: store.get(i.id)!, at: now, actor: 'system', note: s.id };
  });

  function runDue(): void {
    if (!running) return;
    for (;;) {
      const now = clock.now();
      const rows = st.due.all(now) as EscalationRow[];
      if (rows.length === 0) break;
      for (const row of rows) {
        let ev: IncidentEvent | undefined;
        try {
          ev = runOne(row, now);
        } catch (err) {
          // Leave it pending: the next pass tries again rather than losing the step.
          logger.error({ err, escalation: row.id, incident: row.incident_id }, 'escalation step failed; retried on the next pass');
          arm(now + 1_000);
          return;
        }
        if (ev) bus.emit('incident', ev);
      }
      outbox.kick();
    }
    rearm();
  }

  function arm(at: number): void {
    if (!running) return;
    if (timer) clearTimeout(timer);
    timerAt = at;
    const delay = Math.min(Math.max(0, at - clock.now()), MAX_TIMER_MS);
    timer = setTimeout(() => {
      timer = undefined;
      timerAt = Infinity;
      runDue();
    }, delay);
  }

  function rearm(): void {
    const t = st.earliest.get() as number | null;
    if (t === null) {
      if (timer) clearTimeout(timer);
      timer = undefined;
      timerAt = Infinity;
    } else arm(t);
  }

  return {
    begin,
    notify,
    cancelUpTo,
    cancelAll,
    cancelAccepted,
    stopTree,
    unanswered,
    policyOf,
    /** Picks up every due and overdue step once, then follows the timer. */
    start(): void {
      running = true;
      runDue();
    },
    stop(): void {
      running = false;
      if (timer) clearTimeout(timer);
      timer = undefined;
      timerAt = Infinity;
    },
    steps(incidentId: string) {
      return (st.pendingOf.all(incidentId) as EscalationRow[]).map((r) => ({ id: r.id, policy: r.policy, step: r.step, ...(r.stage !== null ? { stage: r.stage } : {}), until: r.until_state, dueAt: r.due_at, status: r.done === 0 ? 'pending' as const : r.done === 1 ? 'done' as const : 'cancelled' as const }));
    },
    pending() {
      return (st.pendingAll.all() as EscalationRow[]).map((r) => ({ id: r.id, incidentId: r.incident_id, step: r.step, dueAt: r.due_at }));
    },
  };
}

export type Escalation = ReturnType<typeof createEscalation>;
