// node-cron drives the reports: a handover summary at each shift start (the shift's own pattern
// and the roster's time zone), the daily report at 08:00 and the monthly grid-worker ratings on
// the 1st, each in the center's time zone. Reports are stored once per period, so a firing that
// repeats (or the catch-up after a restart) sends nothing twice. The reports are asynchronous (their
// database may be a PostgreSQL shared by several nodes): a job's promise is awaited, its failure
// logged, and stop() waits for the jobs still running.
import { schedule, validate, type ScheduledTask } from 'node-cron';
import type { Logger } from 'pino';
import type { FiringClaims } from '../contracts/cluster.ts';
import type { Clock, RegistryReader } from '../contracts/ports.ts';
import type { Rosters } from './roster.ts';
import type { Reports } from './reports.ts';
import { dayRange, dayString, monthRange, monthString, zonedInstant, wallClock } from './zoned.ts';

export const DAILY_PATTERN = '0 8 * * *';
export const MONTHLY_PATTERN = '5 8 1 * *';

export interface PlannedTask {
  readonly name: string;
  readonly pattern: string;
  readonly timezone: string;
}

/** A job of another module run by this scheduler (issue 18 point 8: the nightly pseudonymisation). */
export interface ScheduledJob extends PlannedTask {
  run(): void | Promise<unknown>;
}

/** How long a firing's claim is kept: longer than any clock skew between nodes, shorter than a period. */
const FIRING_CLAIM_MS = 10 * 60_000;
/** A catch-up's claim (per report period): as long as a restart of the cluster may take. */
const CATCH_UP_CLAIM_MS = 6 * 3_600_000;

export function createSchedules(deps: {
  registry: RegistryReader; rosters: Rosters; reports: Reports; clock: Clock; logger: Logger; installedAt?: number | undefined; jobs?: readonly ScheduledJob[] | undefined;
  /** Cluster mode: each firing runs on one node only (contracts/cluster.ts). */
  claims?: FiringClaims | undefined;
}) {
  const { registry, rosters, reports, clock, logger } = deps;
  let tasks: Array<{ task: ScheduledTask; plan: PlannedTask }> = [];
  let unsubscribe: (() => void) | undefined;

  const cronLogger = {
    info: (m: string) => logger.debug(m),
    warn: (m: string) => logger.warn(m),
    error: (m: string | Error, err?: Error) => logger.error({ err: err ?? m }, 'cron'),
    debug: (m: string | Error) => logger.debug(String(m)),
  };

  /** Firings under way (a claim being asked, a job running): stop() waits for them, so nothing writes after the module stopped. */
  const running = new Set<Promise<void>>();

  /** The job, awaited; a failure is logged, never thrown. */
  async function run(name: string, fn: () => unknown): Promise<void> {
    try {
      await fn();
    } catch (err) {
      logger.error({ err, task: name }, 'scheduled task failed');
    }
  }

  /**
   * Runs a firing here when this node claims it (always without claims). When the claim cannot be
   * asked (Redis away), the job runs: a report made twice is better than a duty skipped (and a
   * report's insert makes it once all the same).
   */
  function runClaimed(name: string, firing: string, ttlMs: number, fn: () => unknown): void {
    const claims = deps.claims;
    const firingDone = (async () => {
      if (claims) {
        let mine: boolean;
        try {
          mine = await claims.claim(name, firing, ttlMs);
        } catch (err) {
          logger.warn({ err, task: name, firing }, 'could not claim a scheduled firing: running it here');
          mine = true;
        }
        if (!mine) {
          logger.debug({ task: name, firing }, 'another node runs this firing');
          return;
        }
      }
      await run(name, fn);
    })();
    running.add(firingDone);
    void firingDone.finally(() => running.delete(firingDone));
  }

  function add(plan: PlannedTask, fn: () => unknown): void {
    if (!validate(plan.pattern)) {
      logger.error({ task: plan.name, pattern: plan.pattern }, 'invalid cron pattern: task not scheduled');
      return;
    }
    // The firing is the second the plan matched (the same on every node), not when it ran.
    const task = schedule(plan.pattern, (ctx) => runClaimed(plan.name, String(Math.floor(ctx.date.getTime() / 1000)), FIRING_CLAIM_MS, fn), { timezone: plan.timezone, name: plan.name, noOverlap: true, logger: cronLogger });
    tasks.push({ task, plan });
  }

  const previousDay = (centerId: string) => dayString(clock.now() - 12 * 3_600_000, rosters.timezoneOf(centerId));
  const previousMonth = (centerId: string) => {
    const tz = rosters.timezoneOf(centerId);
    const w = wallClock(clock.now(), tz);
    return monthString(zonedInstant(tz, w.year, w.month, 1) - 86_400_000, tz);
  };

  // Issue 18 point 7: a fresh install mailed the monthly ratings of a month it did not exist in. A
  // daily or monthly report is made only for a period that ended after the installation began.
  const existed = (range: [number, number], what: string): boolean => {
    if (deps.installedAt === undefined || range[1] > deps.installedAt) return true;
    logger.info({ period: what, installedAt: deps.installedAt }, 'no report for a period before the installation');
    return false;
  };
  const daily = (centerId: string, day: string) => (existed(dayRange(day, rosters.timezoneOf(centerId)), day) ? reports.daily(centerId, day) : undefined);
  const monthly = (centerId: string, month: string) =>
    (existed(monthRange(month, rosters.timezoneOf(centerId)), month) ? reports.monthlyRatings(centerId, month) : undefined);

  function plan(): void {
    clear();
    for (const j of deps.jobs ?? []) add({ name: j.name, pattern: j.pattern, timezone: j.timezone }, () => j.run());
    for (const c of registry.centers()) {
      const tz = rosters.timezoneOf(c.id);
      const roster = registry.roster(c.id);
      for (const s of roster?.shifts ?? []) {
        add({ name: `handover:${c.id}:${s.id}`, pattern: s.start, timezone: roster!.timezone }, () => reports.handover(c.id, clock.now()));
      }
      add({ name: `daily:${c.id}`, pattern: DAILY_PATTERN, timezone: tz }, () => daily(c.id, previousDay(c.id)));
      add({ name: `monthly:${c.id}`, pattern: MONTHLY_PATTERN, timezone: tz }, () => monthly(c.id, previousMonth(c.id)));
    }
  }

  /** After a restart: the last daily and monthly reports that were due and are missing are made now. */
  async function catchUp(): Promise<void> {
    const now = clock.now();
    const due: Array<{ name: string; period: string; kind: 'daily' | 'monthly'; centerId: string; make: () => unknown }> = [];
    for (const c of registry.centers()) {
      const tz = rosters.timezoneOf(c.id);
      const w = wallClock(now, tz);
      if (now >= zonedInstant(tz, w.year, w.month, w.day, 8)) {
        const day = previousDay(c.id);
        due.push({ name: `daily:${c.id}`, period: day, kind: 'daily', centerId: c.id, make: () => daily(c.id, day) });
      }
      if (now >= zonedInstant(tz, w.year, w.month, 1, 8, 5)) {
        const month = previousMonth(c.id);
        due.push({ name: `monthly:${c.id}`, period: month, kind: 'monthly', centerId: c.id, make: () => monthly(c.id, month) });
      }
    }
    await Promise.all(due.map(async (d) => {
      try {
        if (await reports.exists(d.kind, d.centerId, d.period)) return;
      } catch (err) {
        // Whether it exists cannot be asked: make it anyway, as its insert does nothing when it does.
        logger.warn({ err, task: d.name, period: d.period }, 'could not ask whether a due report exists: making it');
      }
      runClaimed(d.name, `catch-up:${d.period}`, CATCH_UP_CLAIM_MS, d.make);
    }));
  }

  function clear(): void {
    for (const t of tasks) void Promise.resolve(t.task.destroy()).catch(() => undefined);
    tasks = [];
  }

  return {
    /** Plans the tasks; resolves once the catch-up has asked which due reports are missing and started making them. */
    async start(): Promise<void> {
      plan();
      await catchUp();
      const changes = registry as Partial<{ onChange(l: (c: ReadonlyArray<{ kind: string }>) => void): () => void }>;
      if (typeof changes.onChange === 'function') {
        unsubscribe = changes.onChange((cs) => {
          if (cs.some((c) => c.kind === 'roster' || c.kind === 'center')) plan();
        });
      }
    },
    /** Stops planning and firing; resolves once the jobs running now have ended. */
    async stop(): Promise<void> {
      unsubscribe?.();
      unsubscribe = undefined;
      clear();
      await Promise.allSettled([...running]);
    },
    planned(): PlannedTask[] {
      return tasks.map((t) => t.plan);
    },
  };
}
