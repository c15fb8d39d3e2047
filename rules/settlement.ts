// Settlement sensor rules (DESIGN.md "Rules", settlement sensor): cumulative values against the
// alarm value and its warning fraction, judged on the median of a trailing window, and settlement
// rate by regression over days, never from two noisy points; a value no structure can take is a
// sensor fault, not movement.
import type { EventReading, TelemetryReading } from '../contracts/reading.ts';
import { MEASURED_RANGES } from '../contracts/protocol.ts';
import { at, fmt, type Collector } from './finding.ts';
import { battery, condition } from './common.ts';
import { BucketSeries, LEVEL_SUB, SUB, WindowFilter } from './trend.ts';
import { COND, SettlementState, type DeviceState } from './state.ts';
import type { SettlementRules } from './schema.ts';

/** Installer baselines from the registry's device meta (`settlementBaseline`, `tiltXBaseline`, …). */
function baseline(st: DeviceState, key: string): number {
  const v = st.info?.meta?.[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

function limit(out: Collector, value: number, l: Pick<SettlementRules['settlement'], 'alarm' | 'warnRatio' | 'alarmScore' | 'warnScore'>, rule: string, unit: string, en: string, zh: string, loc: string | undefined): void {
  const a = Math.abs(value);
  if (a < l.alarm * l.warnRatio) return;
  const where = at(loc);
  if (a >= l.alarm) {
    out.add(`settlement.${rule}`, l.alarmScore, 'structural', rule, `${en} ${fmt(value)} ${unit} at or beyond the alarm value ${fmt(l.alarm)} ${unit}${where}`, `${zh} ${fmt(value)} ${unit}，已达报警值 ${fmt(l.alarm)} ${unit}${where}`);
  } else if (a >= l.alarm * l.warnRatio) {
    out.add(`settlement.${rule}_warning`, l.warnScore, 'structural', rule, `${en} ${fmt(value)} ${unit}, ${Math.round(l.warnRatio * 100)} % of the alarm value ${fmt(l.alarm)} ${unit}${where}`, `${zh} ${fmt(value)} ${unit}，已达报警值 ${fmt(l.alarm)} ${unit} 的 ${Math.round(l.warnRatio * 100)}%${where}`);
  }
}

type Rate = SettlementRules['rate'];
type RateWindowRules = Rate['fast'];

/**
 * Takes the series' slope again (into series.slopePerDay) when a point changed: weekly rods each
 * time, per-minute sensors once per bucket. Nothing is returned: a double returned from a call
 * that is not inlined is boxed, one allocation per reading on the hot path.
 */
function slopeOf(series: BucketSeries, opened: boolean, w: RateWindowRules): void {
  if (opened || series.dirty && Number.isNaN(series.slopePerDay)) series.slope(w.windowDays * 86_400_000, w.minPoints, w.minSpanDays * 86_400_000);
}

function rateRule(out: Collector, fast: BucketSeries, slow: BucketSeries, ts: number, value: number, rate: Rate, what: 'settlement_rate' | 'crack_rate', loc: string | undefined): void {
  const of = fast.add(ts, value);
  const os = slow.add(ts, value);
  slopeOf(fast, of, rate.fast);
  slopeOf(slow, os, rate.slow);
  const f = fast.slopePerDay, sl = slow.slopePerDay;
  const fastHit = Math.abs(f) >= rate.fast.perDay;
  if (!fastHit && !(Math.abs(sl) >= rate.slow.perDay)) return;
  const en = what === 'settlement_rate' ? 'Settling' : 'Crack growing', zh = what === 'settlement_rate' ? '沉降速率' : '裂缝扩展速率';
  const rule = what === 'settlement_rate' ? 'settlement.rate' : 'settlement.crack_rate';
  const where = at(loc);
  if (fastHit) {
    out.add(`${rule}_fast`, rate.fast.score, 'structural', what, `${en} ${fmt(f)} mm/day (robust fit over ${fmt(rate.fast.windowDays, 1)} days)${where}`, `${zh} ${fmt(f)} mm/天（${fmt(rate.fast.windowDays, 1)} 天稳健拟合）${where}`);
  } else if (Math.abs(sl) >= rate.slow.perDay) {
    out.add(`${rule}_slow`, rate.slow.score, 'structural', what, `${en} ${fmt(sl)} mm/day (robust fit over ${fmt(rate.slow.windowDays, 1)} days)${where}`, `${zh} ${fmt(sl)} mm/天（${fmt(rate.slow.windowDays, 1)} 天稳健拟合）${where}`);
  }
}

/**
 * Cursors over a point's windows (rules/trend.ts), pointed at the point's state for one reading:
 * the state itself is bytes in one buffer, no objects per point. One set per process, as the
 * scratch of rules/trend.ts: a reading is scored to the end before the next.
 */
const FAST = new BucketSeries(1, 1), SLOW = new BucketSeries(1, 1), TILT_SLOW = new BucketSeries(1, 1);
const CRACK_FAST = new BucketSeries(1, 1), CRACK_SLOW = new BucketSeries(1, 1);
const LEVEL = new WindowFilter(undefined, 0, LEVEL_SUB, true), CRACK_LEVEL = new WindowFilter(undefined, 0, LEVEL_SUB, true);
const TILT_X = new WindowFilter(), TILT_Y = new WindowFilter();

/** Series made under other bucket sizes (a reloaded rule set) start afresh. */
function resetOnNewBuckets(st: DeviceState): void {
  const r = st.settlementRules.rate;
  const s = st.settlement!;
  if (s.settlementAt >= 0) {
    const fast = FAST.at(s, s.settlementAt + SettlementState.SETTLEMENT.fast).bucketMs;
    const slow = SLOW.at(s, s.settlementAt + SettlementState.SETTLEMENT.slow).bucketMs;
    if (fast !== r.fast.bucketHours * 3_600_000 || slow !== r.slow.bucketHours * 3_600_000) st.settlement = SettlementState.EMPTY;
  }
}

function tiltRule(out: Collector, st: DeviceState, ts: number, tx: unknown, ty: unknown, loc: string | undefined): void {
  const t = st.settlementRules.tilt;
  const subMs = (t.windowSec * 1000) / SUB;
  let opened = false;
  const s = (st.settlement = st.settlement!.withTilt(st.settlementRules)), sec = s.tiltAt;
  // an axis never reported has no reading in its filter (count 0): judged on the other alone
  const fx = TILT_X.at(s, sec + SettlementState.TILT.x), fy = TILT_Y.at(s, sec + SettlementState.TILT.y);
  if (typeof tx === 'number') opened = fx.add(ts, tx, subMs) || opened;
  if (typeof ty === 'number') opened = fy.add(ts, ty, subMs) || opened;
  const median = t.filter === 'median';
  // Judged once three sub-windows hold data: never on one sample, whatever the sensor's rate.
  if (fx.count < 3 && fy.count < 3) return;
  let dx = 0, dy = 0;
  if (fx.count >= 3) {
    fx.filter(median);
    dx = fx.value - baseline(st, 'tiltXBaseline');
  }
  if (fy.count >= 3) {
    fy.filter(median);
    dy = fy.value - baseline(st, 'tiltYBaseline');
  }
  const mag = Math.sqrt(dx * dx + dy * dy);
  const before = out.findings?.length ?? 0;
  // The labels are built only when a limit is reached: nothing is allocated for a quiet reading.
  if (mag >= t.alarm * t.warnRatio) limit(out, mag, t, 'tilt', '‰', `Tilt (${t.filter} over ${fmt(t.windowSec, 0)} s)`, `倾斜（${fmt(t.windowSec, 0)} 秒${median ? '中位数' : '均值'}）`, loc);
  if (opened) {
    const series = TILT_SLOW.at(s, sec + SettlementState.TILT.slow);
    const o = series.add(ts, mag);
    slopeOf(series, o, t.rate);
    const r = series.slopePerDay;
    if ((out.findings?.length ?? 0) === before && Math.abs(r) >= t.rate.perDay) {
      const where = at(loc);
      out.add('settlement.tilt_rate', t.rate.score, 'structural', 'tilt_rate', `Tilt changing ${fmt(r, 3)} ‰/day (robust fit over ${fmt(t.rate.windowDays, 1)} days)${where}`, `倾斜变化速率 ${fmt(r, 3)} ‰/天${where}`);
    }
  }
}

type LevelRules = SettlementRules['settlement'];

/**
 * A cumulative level (settlement, crack) judged on the median of the readings of its trailing
 * window, never on one reading of a point that reports often (issue 14: a laser obstructed for a
 * few readings made false reds); a point read hourly or weekly has one reading in its window.
 */
function levelRule(out: Collector, f: WindowFilter, ts: number, v: number, base: number, l: LevelRules, rule: 'settlement' | 'crack', loc: string | undefined): void {
  f.add(ts, v, (l.windowSec * 1000) / LEVEL_SUB);
  f.filter(true);
  // Of an even count's two middle readings the one nearer the baseline: a level is reached when a
  // strict majority of the window's readings is there, so two readings of a point reporting every
  // 60 s need both, never one spike.
  const lo = f.lower - base, hi = f.upper - base;
  const d = Math.abs(lo) <= Math.abs(hi) ? lo : hi;
  // The labels are built only when a limit is reached: nothing is allocated for a quiet reading.
  if (!(Math.abs(d) >= l.alarm * l.warnRatio)) return;
  const over = f.count > 1 ? ` (median over ${fmt(l.windowSec, 0)} s)` : '', overZh = f.count > 1 ? `（${fmt(l.windowSec, 0)} 秒中位数）` : '';
  if (rule === 'settlement') limit(out, d, l, rule, 'mm', `Settlement${over}`, `累计沉降${overZh}`, loc);
  else limit(out, d, l, rule, 'mm', `Crack growth${over}`, `裂缝扩展${overZh}`, loc);
}

const RANGE = MEASURED_RANGES.settlement_sensor;
type Structural = 'settlement' | 'tiltX' | 'tiltY' | 'crack';

/**
 * A structural value beyond any physical one (contracts/protocol.ts MEASURED_RANGES) is not
 * evidence of movement but a sensor fault (a laser's -1000000 error code is not a settlement of
 * 1 km): ingest stores it flagged out_of_range, and here it is kept out of every level and rate
 * and raises a yellow maintenance finding. Unlike a fire value (200 °C in a home is a fire), it
 * says nothing about the structure. It does not clear by itself: a sensor that now and then sends
 * an error code would otherwise open and close an incident each time; someone has to look.
 * Returns the value when it is physical, undefined otherwise (or when there is none).
 */
function physical(out: Collector, st: DeviceState, field: Structural, v: unknown, loc: string | undefined): number | undefined {
  if (typeof v !== 'number') return undefined;
  const r = RANGE[field];
  if (v >= r.min && v <= r.max) return v;
  const where = at(loc);
  out.add('settlement.sensor_fault', st.settlementRules.fault.score, 'maintenance', 'sensor_fault', `Sensor fault: ${field} reads ${fmt(v)} ${r.unit}, beyond any physical value (${r.min} to ${r.max} ${r.unit}); not judged as movement, check the sensor${where}`, `传感器故障：${field} 读数 ${fmt(v)} ${r.unit}，超出物理可能范围（${r.min} 至 ${r.max} ${r.unit}），不作为变形判定，请检查传感器${where}`);
  return undefined;
}

export function settlementTelemetry(out: Collector, st: DeviceState, r: TelemetryReading): void {
  const rules = st.settlementRules;
  // a reloaded rule set with other bucket sizes starts afresh; each section below may replace the
  // state with a larger one (a new quantity), so st.settlement is read again where it is used
  resetOnNewBuckets(st);
  const v = r.values;
  const where = st.info?.location;
  const settlement = physical(out, st, 'settlement', v.settlement, where);
  if (settlement !== undefined) {
    const s = (st.settlement = st.settlement!.withSettlement(rules)), sec = s.settlementAt, L = SettlementState.SETTLEMENT;
    levelRule(out, LEVEL.at(s, sec + L.level), r.ts, settlement, baseline(st, 'settlementBaseline'), rules.settlement, 'settlement', where);
    rateRule(out, FAST.at(s, sec + L.fast), SLOW.at(s, sec + L.slow), r.ts, settlement, rules.rate, 'settlement_rate', where);
  }
  const tx = physical(out, st, 'tiltX', v.tiltX, where), ty = physical(out, st, 'tiltY', v.tiltY, where);
  if (tx !== undefined || ty !== undefined) tiltRule(out, st, r.ts, tx, ty, where);
  const crack = physical(out, st, 'crack', v.crack, where);
  if (crack !== undefined) {
    const meta = st.info?.meta?.crackBaseline;
    const s = (st.settlement = st.settlement!.withCrack(rules)), sec = s.crackAt, C = SettlementState.CRACK;
    // the first crack width seen, the growth baseline when the installer gave none
    if (Number.isNaN(s.getFloat64(sec + C.crack0, true))) s.setFloat64(sec + C.crack0, crack, true);
    const base = typeof meta === 'number' && Number.isFinite(meta) ? meta : s.getFloat64(sec + C.crack0, true);
    levelRule(out, CRACK_LEVEL.at(s, sec + C.level), r.ts, crack, base, rules.crack, 'crack', where);
    rateRule(out, CRACK_FAST.at(s, sec + C.fast), CRACK_SLOW.at(s, sec + C.slow), r.ts, crack, rules.crackRate, 'crack_rate', where);
  }
  const b = v.battery;
  if (typeof b === 'number') battery(out, st, b, rules.battery, 'settlement');
}

export function settlementEvent(out: Collector, st: DeviceState, r: EventReading): void {
  const where = at(st.info?.location);
  if (r.event.type === 'fault') {
    condition(out, st, COND.fault, true, 'settlement.fault', 'fault', st.settlementRules.fault.score, `Sensor fault${where}`, `监测点故障${where}`);
  } else if (r.event.type === 'fault_clear') {
    condition(out, st, COND.fault, false, 'settlement.fault', 'fault', 0, `Sensor fault cleared${where}`, `监测点故障已恢复${where}`);
  }
}
