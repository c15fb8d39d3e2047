// The rule set is data: thresholds per device type, validated with every problem reported by
// path. A file (or an API body, or a device's override) may give only what differs from the
// defaults; it is deep-merged over them and the result is validated as a whole.
import { z } from 'zod';
import { parse as parseYaml } from 'yaml';
import { formatIssues } from '../contracts/errors.ts';
import type { DeviceType } from '../contracts/protocol.ts';
import { DEFAULT_RULE_SET } from './defaults.ts';

const score = z.number().min(0).max(100);
const positive = z.number().positive();
const ratio = z.number().gt(0).lt(1);
const scored = z.strictObject({ score });

const Offline = z.strictObject({
  intervals: z.number().min(1).max(100),
  graceSec: z.number().min(0),
  maxLateSec: positive,
  /** Offline at once when the device's will message (or a closed socket) says so. */
  atDisconnect: z.boolean(),
  score,
});
const common = { offline: Offline, clock: scored, seqGap: scored, fault: scored };
const Battery = z.strictObject({ lowPct: z.number().min(0).max(100), clearPct: z.number().min(0).max(100), score });
const Limit = z.strictObject({ alarm: positive, warnRatio: ratio, alarmScore: score, warnScore: score });

type Ctx = z.core.$RefinementCtx;
function ordered(ctx: Ctx, lo: number, hi: number, path: string[], what: string): void {
  if (!(lo < hi)) ctx.addIssue({ code: 'custom', path, message: `must be above ${what} (${lo}), got ${hi}` });
}
function batteryOk(b: { lowPct: number; clearPct: number }, ctx: Ctx): void {
  if (b.clearPct < b.lowPct) ctx.addIssue({ code: 'custom', path: ['battery', 'clearPct'], message: `must be at least lowPct (${b.lowPct}), got ${b.clearPct}` });
}

export const SmokeRules = z.strictObject({
  ...common,
  confirmWindowSec: positive,
  confirmedScore: score,
  alarm: scored,
  smoke: z.strictObject({ preAlarm: positive, alarm: positive, preAlarmScore: score, alarmScore: score }),
  heat: z.strictObject({ fixedC: z.number(), rateCPerMin: positive, rateWindowSec: positive, rateMinSpanSec: positive, score }),
  co: z.strictObject({ warnPpm: positive, warnForSec: z.number().min(0), alarmPpm: positive, warnScore: score, alarmScore: score }),
  hush: scored,
  battery: Battery,
  tamper: scored,
  test: scored,
}).superRefine((r, ctx) => {
  ordered(ctx, r.smoke.preAlarm, r.smoke.alarm, ['smoke', 'alarm'], 'smoke.preAlarm');
  ordered(ctx, r.co.warnPpm, r.co.alarmPpm, ['co', 'alarmPpm'], 'co.warnPpm');
  if (r.heat.rateMinSpanSec > r.heat.rateWindowSec) ctx.addIssue({ code: 'custom', path: ['heat', 'rateMinSpanSec'], message: `must not exceed heat.rateWindowSec (${r.heat.rateWindowSec})` });
  batteryOk(r.battery, ctx);
});
export type SmokeRules = z.infer<typeof SmokeRules>;

export const PanelRules = z.strictObject({
  ...common,
  confirmWindowSec: positive,
  confirmedScore: score,
  fire: scored,
  manualCall: scored,
  pointsInAlarm: scored,
  supervisory: scored,
  disabled: scored,
  power: z.strictObject({ oneFailedScore: score, bothFailedScore: score }),
});
export type PanelRules = z.infer<typeof PanelRules>;

/** Rate buckets per device are bounded (memory per device state, issue 3 point 8). */
export const MAX_RATE_BUCKETS = 512;

export const SettlementRules = z.strictObject({
  ...common,
  settlement: Limit,
  tilt: Limit,
  crack: Limit,
  rate: z.strictObject({
    slowMmPerDay: positive,
    slowWindowHours: positive,
    fastMmPerDay: positive,
    fastWindowHours: positive,
    bucketMinutes: positive,
    /** The data must span at least this fraction of a window before its slope is trusted. */
    minCoverage: z.number().gt(0).max(1),
    minPoints: z.number().int().min(3),
    slowScore: score,
    fastScore: score,
  }),
  battery: Battery,
}).superRefine((r, ctx) => {
  const { rate } = r;
  ordered(ctx, rate.slowMmPerDay, rate.fastMmPerDay, ['rate', 'fastMmPerDay'], 'rate.slowMmPerDay');
  if (rate.fastWindowHours > rate.slowWindowHours) ctx.addIssue({ code: 'custom', path: ['rate', 'fastWindowHours'], message: `must not exceed rate.slowWindowHours (${rate.slowWindowHours})` });
  const buckets = (rate.slowWindowHours * 60) / rate.bucketMinutes;
  if (!Number.isInteger(buckets) || buckets > MAX_RATE_BUCKETS || buckets < 2) {
    ctx.addIssue({ code: 'custom', path: ['rate', 'bucketMinutes'], message: `slowWindowHours × 60 / bucketMinutes must be a whole number of buckets, 2..${MAX_RATE_BUCKETS}, got ${buckets}` });
  }
  if (!Number.isInteger((rate.fastWindowHours * 60) / rate.bucketMinutes)) {
    ctx.addIssue({ code: 'custom', path: ['rate', 'fastWindowHours'], message: 'must be a whole number of rate.bucketMinutes' });
  }
  batteryOk(r.battery, ctx);
});
export type SettlementRules = z.infer<typeof SettlementRules>;

export const RuleSetSchema = z.strictObject({
  version: z.literal(1),
  smoke_detector: SmokeRules,
  fire_panel: PanelRules,
  settlement_sensor: SettlementRules,
});
export type RuleSet = z.infer<typeof RuleSetSchema>;
export type TypeRules = RuleSet[DeviceType];

const SECTION: { [K in DeviceType]: z.ZodType<RuleSet[K]> } = {
  smoke_detector: SmokeRules,
  fire_panel: PanelRules,
  settlement_sensor: SettlementRules,
};

export type Parsed<T> = { ok: true; value: T } | { ok: false; errors: string[] };

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Objects merge key by key; anything else in `over` replaces what is in `base`. */
export function deepMerge(base: unknown, over: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(over)) return over === undefined ? base : over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = deepMerge(base[k], v);
  return out;
}

function deepFreeze<T>(v: T): T {
  if (isPlainObject(v) && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v)) deepFreeze(x);
  }
  return v;
}

/**
 * A rule set from YAML text or an object (an API body). Missing keys take their defaults;
 * unknown keys and bad values are errors, every one reported as `path: reason`.
 */
export function parseRuleSet(input: unknown): { ok: true; ruleSet: RuleSet } | { ok: false; errors: string[] } {
  let raw: unknown = input;
  if (typeof input === 'string') {
    try {
      raw = parseYaml(input) ?? {};
    } catch (err) {
      return { ok: false, errors: [`(yaml): ${(err as Error).message.split('\n')[0]}`] };
    }
  }
  if (!isPlainObject(raw)) return { ok: false, errors: ['(root): expected a mapping of device types to their rules'] };
  const result = RuleSetSchema.safeParse(deepMerge(DEFAULT_RULE_SET, raw));
  if (!result.success) return { ok: false, errors: formatIssues(result.error.issues) };
  return { ok: true, ruleSet: deepFreeze(result.data) };
}

/** One device's override (DeviceInfo.rules) merged over its type's rules; errors carry `rules.` paths. */
export function resolveDeviceRules<K extends DeviceType>(ruleSet: RuleSet, type: K, override: unknown): Parsed<RuleSet[K]> {
  if (!isPlainObject(override)) return { ok: false, errors: ['rules: expected a mapping of thresholds'] };
  const result = SECTION[type].safeParse(deepMerge(ruleSet[type], override));
  if (!result.success) {
    return { ok: false, errors: formatIssues(result.error.issues.map((i) => ({ ...i, path: ['rules', ...i.path] }))) };
  }
  return { ok: true, value: deepFreeze(result.data) };
}
