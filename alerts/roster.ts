// Duty rosters: who is on duty at a center at a given moment. A shift starts at a cron pattern in
// the roster's time zone and lasts durationMinutes (contracts/registry.ts Shift); it is on duty
// when its latest start at or before the moment is less than a duration ago.
import { CronExpressionParser } from 'cron-parser';
import type { RegistryReader } from '../contracts/ports.ts';
import type { Person, Roster, Shift } from '../contracts/registry.ts';

export interface ActiveShift {
  readonly shift: Shift;
  readonly startedAt: number;
  readonly endsAt: number;
}

export interface OnDuty {
  readonly centerId: string;
  readonly at: number;
  readonly timezone: string;
  readonly shifts: readonly ActiveShift[];
  /** Operators of every active shift, each once, in roster order. */
  readonly operators: readonly Person[];
  readonly supervisors: readonly Person[];
  readonly liaison: Person | undefined;
  readonly manager: Person | undefined;
}

/** The latest start of the shift at or before `at` (cron-parser's prev() is strictly before its date). */
export function lastStart(shift: Shift, at: number, timezone: string): number | undefined {
  try {
    const expr = CronExpressionParser.parse(shift.start, { currentDate: new Date(at + 1), tz: timezone });
    return expr.prev().getTime();
  } catch {
    return undefined;
  }
}

export function nextStart(pattern: string, after: number, timezone: string): number | undefined {
  try {
    return CronExpressionParser.parse(pattern, { currentDate: new Date(after), tz: timezone }).next().getTime();
  } catch {
    return undefined;
  }
}

export function createRosters(deps: { registry: RegistryReader; timezone: string }) {
  const { registry } = deps;

  function timezoneOf(centerId: string): string {
    return registry.roster(centerId)?.timezone ?? registry.center(centerId)?.timezone ?? deps.timezone;
  }

  // cron-parser costs about a millisecond per prev()/next() here, too much for the alarm path: the
  // shifts on duty are computed once per center and reused until the next shift starts or ends
  // (or the roster object is replaced by a registry write).
  const cache = new Map<string, { roster: Roster; from: number; until: number; shifts: ActiveShift[] }>();

  function activeShifts(centerId: string, at: number): ActiveShift[] {
    const roster = registry.roster(centerId);
    if (!roster) return [];
    const hit = cache.get(centerId);
    if (hit && hit.roster === roster && at >= hit.from && at < hit.until) return hit.shifts;
    const out: ActiveShift[] = [];
    let from = -Infinity;
    let until = Infinity;
    for (const shift of roster.shifts) {
      const start = lastStart(shift, at, roster.timezone);
      if (start === undefined) continue;
      const end = start + shift.durationMinutes * 60_000;
      if (at < end) {
        out.push({ shift, startedAt: start, endsAt: end });
        until = Math.min(until, end);
      } else from = Math.max(from, end);
      from = Math.max(from, start);
      const next = nextStart(shift.start, at, roster.timezone);
      if (next !== undefined) until = Math.min(until, next);
    }
    cache.set(centerId, { roster, from, until, shifts: out });
    return out;
  }

  function people(ids: Iterable<string | undefined>): Person[] {
    const seen = new Set<string>();
    const out: Person[] = [];
    for (const id of ids) {
      if (!id || seen.has(id)) continue;
      seen.add(id);
      const p = registry.person(id);
      if (p) out.push(p);
    }
    return out;
  }

  function onDuty(centerId: string, at: number): OnDuty {
    const roster = registry.roster(centerId);
    const shifts = activeShifts(centerId, at);
    return {
      centerId,
      at,
      timezone: timezoneOf(centerId),
      shifts,
      operators: people(shifts.flatMap((s) => s.shift.operators)),
      supervisors: people(shifts.map((s) => s.shift.supervisor)),
      liaison: roster?.liaison ? registry.person(roster.liaison) : undefined,
      manager: roster?.manager ? registry.person(roster.manager) : undefined,
    };
  }

  /** Everyone who supervises any shift of the center (reports go to them, not only to the one on duty). */
  function supervisorsOf(centerId: string): Person[] {
    return people((registry.roster(centerId)?.shifts ?? []).map((s) => s.supervisor));
  }

  return { onDuty, activeShifts, supervisorsOf, timezoneOf };
}

export type Rosters = ReturnType<typeof createRosters>;
