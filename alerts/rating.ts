// The monthly grid-worker rating (月度星级评定): 1–5 stars from how fast the worker took up a task,
// how fast they reached the site, whether the incident was closed within its target, and whether
// the feedback is complete. A pure function, so the rule is easy to read, test and argue about.

export interface WorkerMonth {
  /** Incidents the worker was responsible for in the month. */
  readonly tasks: number;
  /** Seconds from dispatch to the worker's first "on my way" or "arrived", per dispatched task. */
  readonly ackSeconds: readonly number[];
  /** Seconds from dispatch to arrival on site, per task that reached the site. */
  readonly toSiteSeconds: readonly number[];
  /** Of the tasks closed (resolved by a person), how many within their target time. */
  readonly closed: number;
  readonly closedWithinTarget: number;
  /** Of the tasks closed, how many with a usable disposition (not unknown) and feedback of substance. */
  readonly feedbackComplete: number;
}

export interface Rating {
  /** 1..5, or null when the worker had no task in the month (no data is not a bad mark). */
  readonly stars: number | null;
  /** 0..1, the weighted score behind the stars. */
  readonly score: number | null;
  readonly parts: { readonly ack: number | null; readonly site: number | null; readonly closure: number | null; readonly feedback: number | null };
}

export const RATING_TARGETS = {
  /** Taking up a task within 2 min is full marks, 30 min or more none. */
  ackFullSec: 120,
  ackZeroSec: 1800,
  /** DESIGN.md escalates when nobody is on site 10 min after acknowledgement: full marks within that, none past 60 min. */
  siteFullSec: 600,
  siteZeroSec: 3600,
  weights: { ack: 0.25, site: 0.3, closure: 0.25, feedback: 0.2 },
} as const;

function median(xs: readonly number[]): number | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** 1 at or below `full`, 0 at or above `zero`, linear between. */
function ramp(v: number | undefined, full: number, zero: number): number | null {
  if (v === undefined) return null;
  if (v <= full) return 1;
  if (v >= zero) return 0;
  return (zero - v) / (zero - full);
}

export function rateGridWorker(m: WorkerMonth): Rating {
  const t = RATING_TARGETS;
  const parts = {
    ack: ramp(median(m.ackSeconds), t.ackFullSec, t.ackZeroSec),
    site: ramp(median(m.toSiteSeconds), t.siteFullSec, t.siteZeroSec),
    closure: m.closed > 0 ? m.closedWithinTarget / m.closed : null,
    feedback: m.closed > 0 ? m.feedbackComplete / m.closed : null,
  };
  if (m.tasks === 0) return { stars: null, score: null, parts };
  // A part without data (no dispatch that month, nothing closed) leaves its weight to the others.
  let sum = 0;
  let weight = 0;
  for (const k of ['ack', 'site', 'closure', 'feedback'] as const) {
    const v = parts[k];
    if (v === null) continue;
    sum += v * t.weights[k];
    weight += t.weights[k];
  }
  // Tasks that were never taken up, reached or closed earn nothing rather than nothing to judge.
  const score = weight === 0 ? 0 : sum / weight;
  return { stars: Math.min(5, Math.max(1, 1 + Math.round(score * 4))), score, parts };
}
