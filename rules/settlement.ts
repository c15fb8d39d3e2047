// Settlement sensor rules (DESIGN.md "Rules", settlement sensor): cumulative values against the
// alarm value and its warning fraction, and settlement rate by regression over days, never from
// two noisy points.
import type { EventReading, TelemetryReading } from '../contracts/reading.ts';
import { at, fmt, type Collector } from './finding.ts';
import { battery, condition } from './common.ts';
import { BucketRegression } from './ring.ts';
import { COND, type DeviceState, type SettlementState } from './state.ts';
import type { SettlementRules } from './schema.ts';

/** Installer baselines from the registry's device meta (`settlementBaseline`, `tiltXBaseline`, …). */
function baseline(st: DeviceState, key: string): number {
  const v = st.info?.meta?.[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

function limit(out: Collector, value: number, l: SettlementRules['settlement'], rule: string, unit: string, en: string, zh: string, where: string): void {
  const a = Math.abs(value);
  if (a >= l.alarm) {
    out.add(`settlement.${rule}`, l.alarmScore, 'structural', rule, `${en} ${fmt(value)} ${unit} at or beyond the alarm value ${fmt(l.alarm)} ${unit}${where}`, `${zh} ${fmt(value)} ${unit}，已达报警值 ${fmt(l.alarm)} ${unit}${where}`);
  } else if (a >= l.alarm * l.warnRatio) {
    out.add(`settlement.${rule}_warning`, l.warnScore, 'structural', rule, `${en} ${fmt(value)} ${unit}, ${Math.round(l.warnRatio * 100)} % of the alarm value ${fmt(l.alarm)} ${unit}${where}`, `${zh} ${fmt(value)} ${unit}，已达报警值 ${fmt(l.alarm)} ${unit} 的 ${Math.round(l.warnRatio * 100)}%${where}`);
  }
}

function regression(s: SettlementState, rate: SettlementRules['rate']): BucketRegression {
  const bucketMs = rate.bucketMinutes * 60_000;
  const size = Math.round((rate.slowWindowHours * 60) / rate.bucketMinutes);
  const fast = Math.round((rate.fastWindowHours * 60) / rate.bucketMinutes);
  const reg = s.reg;
  // A reloaded rule set with other windows starts the rate history afresh.
  if (reg && reg.size === size && reg.fastSize === fast && reg.bucketMs === bucketMs) return reg;
  return (s.reg = new BucketRegression(size, fast, bucketMs));
}

function rateRule(out: Collector, st: DeviceState, ts: number, value: number, where: string): void {
  const rate = st.settlementRules.rate;
  const s = st.settlement!;
  const reg = regression(s, rate);
  reg.add(ts, value);
  const fit = reg.fit(true, s.fit);
  if (fit.points >= rate.minPoints && fit.coverage >= rate.minCoverage && Math.abs(fit.slopePerDay) >= rate.fastMmPerDay) {
    out.add('settlement.rate_fast', rate.fastScore, 'structural', 'settlement_rate', `Settling ${fmt(fit.slopePerDay)} mm/day over ${rate.fastWindowHours} h${where}`, `${rate.fastWindowHours} 小时内沉降速率 ${fmt(fit.slopePerDay)} mm/天${where}`);
    return;
  }
  reg.fit(false, fit);
  if (fit.points >= rate.minPoints && fit.coverage >= rate.minCoverage && Math.abs(fit.slopePerDay) >= rate.slowMmPerDay) {
    const days = fmt(rate.slowWindowHours / 24, 1);
    out.add('settlement.rate_slow', rate.slowScore, 'structural', 'settlement_rate', `Settling ${fmt(fit.slopePerDay)} mm/day over ${days} days${where}`, `${days} 天内沉降速率 ${fmt(fit.slopePerDay)} mm/天${where}`);
  }
}

export function settlementTelemetry(out: Collector, st: DeviceState, r: TelemetryReading): void {
  const rules = st.settlementRules;
  const s = st.settlement!;
  const v = r.values;
  const where = at(st.info?.location);
  const settlement = v.settlement;
  if (typeof settlement === 'number') {
    limit(out, settlement - baseline(st, 'settlementBaseline'), rules.settlement, 'settlement', 'mm', 'Settlement', '累计沉降', where);
    rateRule(out, st, r.ts, settlement, where);
  }
  const tx = v.tiltX, ty = v.tiltY;
  if (typeof tx === 'number' || typeof ty === 'number') {
    if (typeof tx === 'number') s.tiltX = tx;
    if (typeof ty === 'number') s.tiltY = ty;
    const dx = Number.isNaN(s.tiltX) ? 0 : s.tiltX - baseline(st, 'tiltXBaseline');
    const dy = Number.isNaN(s.tiltY) ? 0 : s.tiltY - baseline(st, 'tiltYBaseline');
    limit(out, Math.sqrt(dx * dx + dy * dy), rules.tilt, 'tilt', '‰', 'Tilt', '倾斜', where);
  }
  const crack = v.crack;
  if (typeof crack === 'number') {
    const meta = st.info?.meta?.crackBaseline;
    if (Number.isNaN(s.crack0)) s.crack0 = crack;
    const base = typeof meta === 'number' && Number.isFinite(meta) ? meta : s.crack0;
    limit(out, crack - base, rules.crack, 'crack', 'mm', 'Crack growth', '裂缝扩展', where);
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
