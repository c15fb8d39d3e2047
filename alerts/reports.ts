// Reports (DESIGN.md "Incidents and escalation"): the shift handover summary, the daily report
// with its enforcement list, and the monthly grid-worker ratings. Each is stored once per center
// and period (a restart or a second cron firing finds it and sends nothing again) and emailed to
// the supervisors and the manager through the outbox.
//
// The SQL runs through a SqlRunner (storage/): the embedded SQLite file or a PostgreSQL shared by
// several nodes. A report's facts are read on one snapshot (storage/report-facts.ts); the report and
// its email rows are written in one transaction, whose insert does nothing when the (kind, center,
// period) is stored already, so two nodes making the same report store one and mail it once.
import type { Logger } from 'pino';
import type { Clock, RegistryReader } from '../contracts/ports.ts';
import type { Incident } from '../contracts/incidents.ts';
import type { Person } from '../contracts/registry.ts';
import type { StoredReport } from '../contracts/storage.ts';
import { createReportFacts, createReportStorage, insertReport, type SqlRunner, type TxBody } from '../storage/index.ts';
import type { ChannelName } from './policies.ts';
import type { NewOutboxRow } from './outbox.ts';
import type { Rosters } from './roster.ts';
import { rateGridWorker, type Rating, type WorkerMonth } from './rating.ts';
import { dayRange, formatLocal, monthRange } from './zoned.ts';

export type ReportKind = 'handover' | 'daily' | 'monthly';

export interface Report {
  readonly id: number;
  readonly kind: ReportKind;
  readonly centerId: string;
  readonly period: string;
  readonly createdAt: number;
  readonly body: ReportBody;
  /** False when the report for this period existed already (nothing was sent again). */
  readonly created: boolean;
}

export interface ReportBody {
  readonly from: number;
  readonly to: number;
  readonly lines: { readonly zh: readonly string[]; readonly en: readonly string[] };
  readonly data: Readonly<Record<string, unknown>>;
}

export interface WorkerRating extends Rating {
  readonly personId: string;
  readonly name: string;
  readonly month: WorkerMonth;
}

/** Targets for "closed within target": red the same shift's first hours, yellow before the 72 h warning. */
export const CLOSURE_TARGET_MS = { red: 2 * 3_600_000, yellow: 72 * 3_600_000, green: 72 * 3_600_000 } as const;
const FEEDBACK_MIN_CHARS = 10;

/** The outbox as a report uses it: rows queued inside the report's transaction, then a kick once it committed. */
export interface ReportOutbox {
  /** Inside the caller's runner.transaction: `const ids = yield* outbox.enqueue(rows, now)`. */
  enqueue(rows: readonly NewOutboxRow[], now: number): TxBody<number[]>;
  has(channel: ChannelName): boolean;
  kick(channel?: ChannelName): void;
}

/** A stored report as this module reads it (its body parsed); `created` as given. */
export function toReport(r: StoredReport, created: boolean): Report {
  return { id: r.id, kind: r.kind as ReportKind, centerId: r.centerId, period: r.period, createdAt: r.createdAt, body: JSON.parse(r.body) as ReportBody, created };
}

export function createReports(deps: {
  sql: SqlRunner; registry: RegistryReader; rosters: Rosters; outbox: ReportOutbox; clock: Clock; logger: Logger;
  /** When this installation began (wf_meta.installed_at): no report covers time before it (issue 18 point 7). */
  installedAt?: number | undefined;
}) {
  const { sql, registry, rosters, outbox, clock, logger } = deps;
  const stored = createReportStorage({ sql });
  const facts = createReportFacts({ sql });
  // Issue 18 point 7: a report never covers time before the installation. The scheduler makes no
  // report for a period that ended before it; a period it began inside is reported from the
  // installation on, and says so (a first handover looked back 24 h, a first month from the 1st).
  const since = (from: number): number => (deps.installedAt !== undefined && deps.installedAt > from ? deps.installedAt : from);
  const sinceLines = (from: number, periodFrom: number, zone: string): { zh: string[]; en: string[] } =>
    from > periodFrom ? { zh: [`（自系统安装 ${formatLocal(from, zone)} 起）`], en: [`(since the installation at ${formatLocal(from, zone)})`] } : { zh: [], en: [] };
  const tz = (centerId: string) => rosters.timezoneOf(centerId);
  const line = (i: Incident, zone: string) => ({
    zh: `[${i.level === 'red' ? '红' : i.level === 'yellow' ? '黄' : '绿'}] ${i.title.zh} — ${registry.site(i.siteId)?.name ?? i.siteId} (${i.state}, ${formatLocal(i.openedAt, zone)})`,
    en: `[${i.level}] ${i.title.en} — ${registry.site(i.siteId)?.name ?? i.siteId} (${i.state}, opened ${formatLocal(i.openedAt, zone)})`,
  });

  /** Stores the report once and queues its email in the same transaction; an existing one is returned as is. */
  async function store(kind: ReportKind, centerId: string, period: string, body: ReportBody, to: readonly Person[]): Promise<Report> {
    const now = clock.now();
    const email = outbox.has('email');
    const put = await sql.transaction(function* () {
      const r = yield* insertReport(sql.q, { kind, centerId, period, createdAt: now, body: JSON.stringify(body) });
      // Only the node whose insert made the report queues its email: another's found it made.
      if (!r.created) return { ...r, rows: 0 };
      const seen = new Set<string>();
      const mails: NewOutboxRow[] = [];
      if (email) {
        for (const p of to) {
          if (!p.email || seen.has(p.email)) continue;
          seen.add(p.email);
          mails.push({ channel: 'email', incidentId: null, reportId: r.report.id, kind: `report:${kind}`, step: null, recipientKind: p.role, recipientId: p.id, recipientName: p.name, address: p.email, locale: p.locale });
        }
      }
      yield* outbox.enqueue(mails, now);
      return { ...r, rows: mails.length };
    });
    if (put.created && put.rows === 0) logger.warn({ code: 'WF_NOTIFY_NO_RECIPIENT', kind, centerId, period }, 'report stored but nobody with an email to send it to');
    return toReport(put.report, put.created);
  }

  async function finish(made: Promise<Report>): Promise<Report> {
    const r = await made;
    if (r.created) outbox.kick('email');
    return r;
  }

  async function handover(centerId: string, at: number): Promise<Report> {
    const zone = tz(centerId);
    const last = await stored.last('handover', centerId);
    const from = since(last ? (JSON.parse(last.body) as ReportBody).to : at - 24 * 3_600_000);
    const { active, opened, resolved, pendingSteps: pending } = await facts.handover(centerId, from, at);
    const duty = rosters.onDuty(centerId, at);
    const shiftNames = duty.shifts.map((s) => s.shift.name).join(', ') || '—';
    const lines = {
      zh: [`交接班：${formatLocal(at, zone)}，接班：${shiftNames}`, `上一班期间：新警情 ${opened.length} 起，处置完毕 ${resolved.length} 起`, `未闭环警情 ${active.length} 起（红色 ${active.filter((i) => i.level === 'red').length}），待执行升级 ${pending} 项`, ...active.map((i) => line(i, zone).zh)],
      en: [`Handover at ${formatLocal(at, zone)}, incoming: ${shiftNames}`, `Previous shift: ${opened.length} opened, ${resolved.length} resolved`, `${active.length} still open (${active.filter((i) => i.level === 'red').length} red), ${pending} escalation step(s) pending`, ...active.map((i) => line(i, zone).en)],
    };
    const body: ReportBody = { from, to: at, lines, data: { active: active.map((i) => i.id), opened: opened.length, resolved: resolved.length, pendingEscalations: pending, shifts: duty.shifts.map((s) => s.shift.id) } };
    return finish(store('handover', centerId, formatLocal(at, zone), body, [...duty.supervisors, ...duty.operators]));
  }

  async function daily(centerId: string, day: string): Promise<Report> {
    const zone = tz(centerId);
    const [dayFrom, to] = dayRange(day, zone);
    const from = since(dayFrom);
    const sinceNote = sinceLines(from, dayFrom, zone);
    const { opened, resolved, active, enforcement } = await facts.daily(centerId, from, to);
    const count = <K extends string>(xs: readonly Incident[], f: (i: Incident) => K | null) => xs.reduce<Record<string, number>>((acc, i) => {
      const k = f(i);
      if (k !== null) acc[k] = (acc[k] ?? 0) + 1;
      return acc;
    }, {});
    const acks = opened.filter((i) => i.level === 'red' && i.acknowledgedAt !== null).map((i) => (i.acknowledgedAt! - i.openedAt) / 1000).sort((a, b) => a - b);
    const medianAck = acks.length ? acks[acks.length >> 1]! : null;
    const recurrences = opened.filter((i) => i.recurrenceOf !== null);
    const byLevel = count(opened, (i) => i.level);
    const byDisposition = count(resolved, (i) => i.disposition);
    const lines = {
      zh: [
        `${day} 日报`, ...sinceNote.zh,
        `新警情 ${opened.length} 起：红色 ${byLevel.red ?? 0}，黄色 ${byLevel.yellow ?? 0}；处置完毕 ${resolved.length} 起`,
        `红色警情接警时间中位数：${medianAck === null ? '—' : `${Math.round(medianAck)} 秒`}`,
        `处置结果：${Object.entries(byDisposition).map(([k, n]) => `${k} ${n}`).join('，') || '—'}`,
        `复发 ${recurrences.length} 起；未闭环 ${active.length} 起`,
        `执法清单（三次执法）${enforcement.length} 起：`, ...enforcement.map((i) => line(i, zone).zh),
      ],
      en: [
        `Daily report ${day}`, ...sinceNote.en,
        `${opened.length} incidents opened: ${byLevel.red ?? 0} red, ${byLevel.yellow ?? 0} yellow; ${resolved.length} resolved`,
        `Median time to acknowledge a red incident: ${medianAck === null ? '—' : `${Math.round(medianAck)} s`}`,
        `Dispositions: ${Object.entries(byDisposition).map(([k, n]) => `${k} ${n}`).join(', ') || '—'}`,
        `${recurrences.length} recurrence(s); ${active.length} still open`,
        `Enforcement list: ${enforcement.length}`, ...enforcement.map((i) => line(i, zone).en),
      ],
    };
    const body: ReportBody = {
      from, to, lines,
      data: { opened: opened.length, byLevel, byCategory: count(opened, (i) => i.category), resolved: resolved.length, byDisposition, medianAckSec: medianAck, recurrences: recurrences.map((i) => i.id), active: active.length, enforcement: enforcement.map((i) => i.id) },
    };
    const duty = rosters.onDuty(centerId, clock.now());
    return finish(store('daily', centerId, day, body, [...rosters.supervisorsOf(centerId), ...(duty.manager ? [duty.manager] : [])]));
  }

  /** The month's facts for one grid worker: the incidents assigned to them, or of their grid when unassigned. */
  function workerMonth(worker: Person, opened: readonly Incident[], takeUps: ReadonlyMap<string, number>): WorkerMonth {
    const mine = opened.filter((i) => i.assignee === worker.id || (i.assignee === null && i.gridId !== null && registry.grid(i.gridId)?.workerId === worker.id));
    const ackSeconds: number[] = [];
    const toSiteSeconds: number[] = [];
    let closed = 0;
    let within = 0;
    let feedback = 0;
    for (const i of mine) {
      if (i.dispatchedAt !== null) {
        const took = takeUps.get(i.id);
        if (took !== undefined) ackSeconds.push((took - i.dispatchedAt) / 1000);
        if (i.onSiteAt !== null) toSiteSeconds.push((i.onSiteAt - i.dispatchedAt) / 1000);
      }
      if (i.resolvedAt !== null && i.disposition !== 'condition_cleared') {
        closed++;
        if (i.resolvedAt - i.openedAt <= CLOSURE_TARGET_MS[i.level]) within++;
        if (i.disposition !== null && i.disposition !== 'unknown' && (i.feedback?.trim().length ?? 0) >= FEEDBACK_MIN_CHARS) feedback++;
      }
    }
    return { tasks: mine.length, ackSeconds, toSiteSeconds, closed, closedWithinTarget: within, feedbackComplete: feedback };
  }

  async function monthlyRatings(centerId: string, month: string): Promise<Report & { ratings: WorkerRating[] }> {
    const zone = tz(centerId);
    const [monthFrom, to] = monthRange(month, zone);
    const from = since(monthFrom);
    const sinceNote = sinceLines(from, monthFrom, zone);
    const { opened, takeUps } = await facts.month(centerId, from, to);
    const workers = registry.people().filter((p) => p.role === 'grid_worker' && p.centerId === centerId);
    const ratings: WorkerRating[] = workers.map((w) => {
      const m = workerMonth(w, opened, takeUps);
      return { personId: w.id, name: w.name, month: m, ...rateGridWorker(m) };
    });
    const stars = (r: WorkerRating) => (r.stars === null ? '—' : '★'.repeat(r.stars) + '☆'.repeat(5 - r.stars));
    const lines = {
      zh: [`${month} 网格员月度星级评定`, ...sinceNote.zh, ...ratings.map((r) => `${r.name}：${stars(r)}（任务 ${r.month.tasks}，闭环 ${r.month.closed}）`)],
      en: [`Grid-worker ratings ${month}`, ...sinceNote.en, ...ratings.map((r) => `${r.name}: ${stars(r)} (${r.month.tasks} task(s), ${r.month.closed} closed)`)],
    };
    const body: ReportBody = { from, to, lines, data: { ratings } };
    const duty = rosters.onDuty(centerId, clock.now());
    const report = await finish(store('monthly', centerId, month, body, [...rosters.supervisorsOf(centerId), ...(duty.manager ? [duty.manager] : [])]));
    return { ...report, ratings: (report.body.data.ratings as WorkerRating[] | undefined) ?? ratings };
  }

  async function get(id: number): Promise<Report | undefined> {
    const r = await stored.byId(id);
    return r ? toReport(r, false) : undefined;
  }

  async function exists(kind: ReportKind, centerId: string, period: string): Promise<boolean> {
    return (await stored.get(kind, centerId, period)) !== undefined;
  }

  return { handover, daily, monthlyRatings, get, exists };
}

export type Reports = ReturnType<typeof createReports>;
