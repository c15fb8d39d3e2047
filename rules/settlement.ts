// Settlement sensor rules (DESIGN.md "Rules", settlement sensor): cumulative values against the
// alarm value and its warning fraction, judged on the median of a trailing window, and settlement
// rate by regression over days, never from two noisy points; a value no structure can take is a
// sensor fault, not movement.
import type { EventReading, TelemetryReading } from '../contracts/reading.ts';
import { MEASURED_RANGES } from '../contracts/protocol.ts';
import { at, fmt, type Collector } from './finding.ts';
import { battery, condition } from './common.ts';
import { BucketSeries, LEVEL_SUB, SUB, WindowFilter } from './trend.ts';
import { COND, newSettlementState, SettlementState, type DeviceState } from './state.ts';
import { FAST_POINTS, SLOW_POINTS, type SettlementRules } from './schema.ts';

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

/** Series made under other bucket sizes (a reloaded rule set) start afresh. */
function stateFor(st: DeviceState): SettlementState {
  const r = st.settlementRules.rate;
  let s = st.settlement!;
  if (s.fast.bucketMs !== r.fast.bucketHours * 3_600_000 || s.slow.bucketMs !== r.slow.bucketHours * 3_600_000) s = st.settlement = newSettlementState(st.settlementRules);
  return s;
}

function tiltRule(out: Collector, st: DeviceState, s: SettlementState, ts: number, tx: unknown, ty: unknown, loc: string | undefined): void {
  const t = st.settlementRules.tilt;
  const subMs = (t.windowSec * 1000) / SUB;
  let opened = false;
  const sums = s.filterSums();
  if (typeof tx === 'number') opened = (s.tiltX ??= new WindowFilter(sums, 0)).add(ts, tx, subMs) || opened;
  if (typeof ty === 'number') opened = (s.tiltY ??= new WindowFilter(sums, SettlementState.TILT_Y)).add(ts, ty, subMs) || opened;
  const median = t.filter === 'median';
  const fx = s.tiltX, fy = s.tiltY;
  // Judged once three sub-windows hold data: never on one sample, whatever the sensor's rate.
  if ((fx?.count ?? 0) < 3 && (fy?.count ?? 0) < 3) return;
  let dx = 0, dy = 0;
  if (fx && fx.count >= 3) {
    fx.filter(median);
    dx = fx.value - baseline(st, 'tiltXBaseline');
  }
  if (fy && fy.count >= 3) {
    fy.filter(median);
    dy = fy.value - baseline(st, 'tiltYBaseline');
  }
  const mag = Math.sqrt(dx * dx + dy * dy);
  const before = out.findings?.length ?? 0;
  // The labels are built only when a limit is reached: nothing is allocated for a quiet reading.
  if (mag >= t.alarm * t.warnRatio) limit(out, mag, t, 'tilt', '‰', `Tilt (${t.filter} over ${fmt(t.windowSec, 0)} s)`, `倾斜（${fmt(t.windowSec, 0)} 秒${median ? '中位数' : '均值'}）`, loc);
  if (opened) {
    const series = (s.tiltSlow ??= new BucketSeries(SLOW_POINTS, t.rate.bucketHours * 3_600_000, s.series, SettlementState.TILT_SLOW));
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
  const s = stateFor(st);
  const v = r.values;
  const where = st.info?.location;
  const settlement = physical(out, st, 'settlement', v.settlement, where);
  if (settlement !== undefined) {
    s.level ??= new WindowFilter(s.filterSums(), SettlementState.LEVEL, LEVEL_SUB, true);
    levelRule(out, s.level, r.ts, settlement, baseline(st, 'settlementBaseline'), rules.settlement, 'settlement', where);
    rateRule(out, s.fast, s.slow, r.ts, settlement, rules.rate, 'settlement_rate', where);
  }
  const tx = physical(out, st, 'tiltX', v.tiltX, where), ty = physical(out, st, 'tiltY', v.tiltY, where);
  if (tx !== undefined || ty !== undefined) tiltRule(out, st, s, r.ts, tx, ty, where);
  const crack = physical(out, st, 'crack', v.crack, where);
  if (crack !== undefined) {
    const meta = st.info?.meta?.crackBaseline;
    if (Number.isNaN(s.crack0)) s.crack0 = crack;
    const base = typeof meta === 'number' && Number.isFinite(meta) ? meta : s.crack0;
    s.crackLevel ??= new WindowFilter(s.filterSums(), SettlementState.CRACK_LEVEL, LEVEL_SUB, true);
    levelRule(out, s.crackLevel, r.ts, crack, base, rules.crack, 'crack', where);
    const cr = rules.crackRate;
    s.crackFast ??= new BucketSeries(FAST_POINTS, cr.fast.bucketHours * 3_600_000, s.series, SettlementState.CRACK_FAST);
    s.crackSlow ??= new BucketSeries(SLOW_POINTS, cr.slow.bucketHours * 3_600_000, s.series, SettlementState.CRACK_SLOW);
    rateRule(out, s.crackFast, s.crackSlow, r.ts, crack, cr, 'crack_rate', where);
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
