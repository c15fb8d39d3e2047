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
/**
 * A cumulative level (settlement, crack) judged on the median of the readings of the last windowSec
 * (rules/trend.ts): a point read hourly or weekly is judged on each reading, a point reporting every
 * few seconds on the median of its window, so a few obstructed readings do not make a red.
 */
const Level = z.strictObject({ ...Limit.shape, windowSec: positive });

type Ctx = z.core.$RefinementCtx;
function ordered(ctx: Ctx, lo: number, hi: number, path: string[], what: string): void {
  if (!(lo < hi)) ctx.addIssue({ code: 'custom', path, message: `must be above ${what} (${lo}), got ${hi}` });
}
function batteryOk(b: { lowPct: number; clearPct: number }, ctx: Ctx): void {
  if (b.clearPct < b.lowPct) ctx.addIssue({ code: 'custom', path: ['battery', 'clearPct'], message: `must be at least lowPct (${b.lowPct}), got ${b.clearPct}` });
}

/** N of the last M samples, or above for a time (at least two samples): one noisy sample is never evidence. */
const Persist = z.strictObject({ count: z.number().int().min(1).max(30), of: z.number().int().min(1).max(30), forSec: positive });
/**
 * Per-detector zero: starts at the first sample, follows a falling signal at once and a rising one
 * at most maxRisePerHour (chamber drift is slow, smoke is not). At or above offsetWarn it is a
 * maintenance finding (dirty or drifting chamber / sensor offset), never a fire.
 */
const Baseline = z.strictObject({ maxRisePerHour: z.number().min(0), offsetWarn: positive, score });
/** (ppm, minutes to alarm) points of a time-weighted CO curve, concentration rising, time falling. */
const CoCurve = z.array(z.tuple([positive, positive])).min(2).max(8);

export const SmokeRules = z.strictObject({
  ...common,
  confirmWindowSec: positive,
  confirmedScore: score,
  alarm: scored,
  persist: Persist,
  smoke: z.strictObject({ preAlarm: positive, alarm: positive, preAlarmScore: score, alarmScore: score, baseline: Baseline }),
  heat: z.strictObject({ fixedC: z.number(), rateCPerMin: positive, rateWindowSec: positive, rateMinSpanSec: positive, score }),
  co: z.strictObject({
    curve: CoCurve,
    floorPpm: positive,
    warnDose: ratio,
    gapIntervals: z.number().min(1),
    recoveryHalfLifeMin: positive,
    baseline: Baseline,
    warnScore: score,
    alarmScore: score,
  }),
  hush: scored,
  battery: Battery,
  tamper: scored,
  test: scored,
}).superRefine((r, ctx) => {
  ordered(ctx, r.smoke.preAlarm, r.smoke.alarm, ['smoke', 'alarm'], 'smoke.preAlarm');
  if (r.persist.count > r.persist.of) ctx.addIssue({ code: 'custom', path: ['persist', 'count'], message: `must not exceed persist.of (${r.persist.of})` });
  const c = r.co.curve;
  for (let i = 1; i < c.length; i++) {
    if (!(c[i]![0] > c[i - 1]![0] && c[i]![1] <= c[i - 1]![1])) ctx.addIssue({ code: 'custom', path: ['co', 'curve', i], message: 'points must rise in ppm and not rise in minutes' });
  }
  if (r.co.floorPpm >= c[0]![0]) ctx.addIssue({ code: 'custom', path: ['co', 'floorPpm'], message: `must be below the curve's first point (${c[0]![0]} ppm)` });
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

/** Points kept per rate window (rules/trend.ts): bounded memory per device (issue 14 point 8). */
export const FAST_POINTS = 8;
export const SLOW_POINTS = 32;

/**
 * A rate by Theil–Sen regression over the points (bucket means) of a time window, trusted once it
 * holds minPoints spanning minSpanDays: weekly rods, hourly points and per-minute sensors alike.
 */
const RateWindow = z.strictObject({
  perDay: positive,
  windowDays: positive,
  bucketHours: positive,
  minPoints: z.number().int().min(2),
  minSpanDays: positive,
  score,
});
const Rate = z.strictObject({ fast: RateWindow, slow: RateWindow });

export const SettlementRules = z.strictObject({
  ...common,
  settlement: Level,
  tilt: z.strictObject({
    ...Limit.shape,
    /** Filter: the median (or mean) of the newest 5 sub-window means; vibration averages out. */
    filter: z.enum(['median', 'mean']),
    windowSec: positive,
    rate: RateWindow,
  }),
  crack: Level,
  rate: Rate,
  crackRate: Rate,
  battery: Battery,
}).superRefine((r, ctx) => {
  for (const key of ['rate', 'crackRate'] as const) {
    const { fast, slow } = r[key];
    if (fast.perDay <= slow.perDay) ctx.addIssue({ code: 'custom', path: [key, 'fast', 'perDay'], message: `must be above ${key}.slow.perDay (${slow.perDay})` });
  }
  const windows: Array<[string[], z.infer<typeof RateWindow>, number]> = [
    [['rate', 'fast'], r.rate.fast, FAST_POINTS], [['rate', 'slow'], r.rate.slow, SLOW_POINTS],
    [['crackRate', 'fast'], r.crackRate.fast, FAST_POINTS], [['crackRate', 'slow'], r.crackRate.slow, SLOW_POINTS],
    [['tilt', 'rate'], r.tilt.rate, SLOW_POINTS],
  ];
  for (const [path, w, cap] of windows) {
    if (w.minPoints > cap) ctx.addIssue({ code: 'custom', path: [...path, 'minPoints'], message: `at most ${cap} points are kept` });
    if (w.minSpanDays > w.windowDays) ctx.addIssue({ code: 'custom', path: [...path, 'minSpanDays'], message: `must not exceed windowDays (${w.windowDays})` });
  }
  batteryOk(r.battery, ctx);
});
export type SettlementRules = z.infer<typeof SettlementRules>;
export type RateWindowRules = z.infer<typeof RateWindow>;

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

/** The problems of one device's override (`rules.…: reason`), none when it is valid: what `registry check` reports. */
export function checkDeviceRules(ruleSet: RuleSet, type: DeviceType, override: unknown): string[] {
  const r = resolveDeviceRules(ruleSet, type, override);
  return r.ok ? [] : r.errors;
}

function withoutPath(v: unknown, path: readonly PropertyKey[]): unknown {
  if (!isPlainObject(v) || path.length === 0) return undefined;
  const [head, ...rest] = path;
  const key = String(head);
  if (!(key in v)) return v;
  const out: Record<string, unknown> = { ...v };
  if (rest.length === 0 || !isPlainObject(out[key])) delete out[key];
  else out[key] = withoutPath(out[key], rest);
  return out;
}

/**
 * At run time an invalid override is never dropped whole: the keys that fail are left out (their
 * reasons reported), the valid ones apply. A key whose problem spans several (preAlarm above
 * alarm) is left out with its whole top-level section, so what applies is always valid.
 */
export function resolveDeviceRulesLenient<K extends DeviceType>(ruleSet: RuleSet, type: K, override: unknown): { value: RuleSet[K]; errors: string[] } {
  if (!isPlainObject(override)) return { value: ruleSet[type], errors: ['rules: expected a mapping of thresholds'] };
  const first = SECTION[type].safeParse(deepMerge(ruleSet[type], override));
  if (first.success) return { value: deepFreeze(first.data), errors: [] };
  const errors = formatIssues(first.error.issues.map((i) => ({ ...i, path: ['rules', ...i.path] })));
  let pruned: unknown = override;
  for (const i of first.error.issues) {
    // unknown keys are reported on their parent with `keys`: drop those keys
    const keys = (i as { keys?: string[] }).keys;
    if (i.code === 'unrecognized_keys' && keys) for (const k of keys) pruned = withoutPath(pruned, [...i.path, k]);
    else pruned = withoutPath(pruned, i.path);
  }
  const second = SECTION[type].safeParse(deepMerge(ruleSet[type], pruned ?? {}));
  if (second.success) return { value: deepFreeze(second.data), errors };
  for (const i of second.error.issues) pruned = withoutPath(pruned, i.path.slice(0, 1));
  const third = SECTION[type].safeParse(deepMerge(ruleSet[type], pruned ?? {}));
  return { value: third.success ? deepFreeze(third.data) : ruleSet[type], errors };
}
