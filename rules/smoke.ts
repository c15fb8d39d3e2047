// Smoke detector rules (DESIGN.md "Rules", smoke detector). Numbers come from the rule set; see
// rules/default-rules.yaml for their sources.
import type { EventReading, TelemetryReading } from '../contracts/reading.ts';
import { at, fmt, type Collector } from './finding.ts';
import { battery, condition } from './common.ts';
import { COND, SIGNAL, type DeviceState, type Persisting, type SiteFire, type Zero } from './state.ts';
import type { SmokeRules } from './schema.ts';

export interface FireContext {
  readonly out: Collector;
  /** The site's recent fire signals, created on first use. */
  site(siteId: string): SiteFire;
}

const KIND_EN = ['smoke alarm', 'smoke at alarm level', 'heat'] as const;
const KIND_ZH = ['烟感报警', '烟雾浓度达到报警值', '温度异常'] as const;
const KIND_COND = ['alarm', 'smoke', 'heat'] as const;

/**
 * One fire signal (alarm event, smoke ≥ alarm level, heat). Confirmed when a second kind on the same
 * detector or any signal from a second detector of the site falls within the window.
 */
/** `detail` follows the kind in both languages (a value with its unit); `detailZh` where words differ. */
function fireSignal(ctx: FireContext, st: DeviceState, siteId: string, kind: 0 | 1 | 2, t: number, score: number, detail: string, detailZh = detail): void {
  const rules = st.smokeRules;
  const sm = st.smoke!;
  const windowMs = rules.confirmWindowSec * 1000;
  let by = -1;
  for (let k = 0; k < 3; k++) {
    if (k !== kind && Math.abs(t - sm.signalTs[k]!) <= windowMs) by = k;
  }
  const site = ctx.site(siteId);
  const other = site.other(st.deviceId, t, windowMs);
  if (t > sm.signalTs[kind]!) sm.signalTs[kind] = t;
  site.record(st.deviceId, t);
  const where = at(st.info?.location);
  if (other !== undefined || by >= 0) {
    const en = other !== undefined ? `second detector ${other} of the site` : KIND_EN[by]!;
    const zh = other !== undefined ? `同一住所第二个探测器 ${other}` : KIND_ZH[by]!;
    ctx.out.add(`smoke.${KIND_COND[kind]}_confirmed`, rules.confirmedScore, 'fire', KIND_COND[kind], `Fire confirmed: ${KIND_EN[kind]}${detail}${where}, confirmed by ${en}`, `火警确认：${KIND_ZH[kind]}${detailZh}${where}，经${zh}确认`, undefined, true);
  } else {
    ctx.out.add(`smoke.${KIND_COND[kind]}`, score, 'fire', KIND_COND[kind], `Fire: ${KIND_EN[kind]}${detail}${where}`, `火警：${KIND_ZH[kind]}${detailZh}${where}`);
  }
}

/** Popcount of the low `of` bits. */
function hits(bits: number, of: number): number {
  let b = bits & ((1 << of) - 1);
  let n = 0;
  while (b) {
    b &= b - 1;
    n++;
  }
  return n;
}

/**
 * One sample against a threshold; true when the evidence persists: `count` of the last `of`
 * samples above, or above without a break for `forSec` (at least two samples, from timestamps).
 */
export function persists(p: Persisting, above: boolean, ts: number, rules: SmokeRules['persist']): boolean {
  // 30 bits: the field stays a small integer (a bit 31 would box a heap number per sample)
  p.bits = ((p.bits << 1) | (above ? 1 : 0)) & 0x3fffffff;
  if (!above) {
    p.since = NaN;
    return false;
  }
  if (Number.isNaN(p.since)) p.since = ts;
  return hits(p.bits, rules.of) >= rules.count || ts - p.since >= rules.forSec * 1000;
}

/**
 * The detector's zero (issue 14): the first sample sets it, a falling signal pulls it down fast, a
 * rising one below `freeze` above zero lifts it by at most maxRisePerHour. Sets z.above to the
 * sample above zero.
 */
export function aboveZero(z: Zero, raw: number, ts: number, b: { maxRisePerHour: number }, freeze: number): void {
  // Obscuration and ppm are never negative (contracts/protocol.ts MEASURED_RANGES): a reading below
  // 0 is stored flagged out_of_range but must not drag the zero down and make clean air look smoky.
  const v = raw < 0 ? 0 : raw;
  if (Number.isNaN(z.value)) {
    z.value = v;
    z.lastTs = ts;
    z.above = 0;
    return;
  }
  const dt = ts - z.lastTs;
  if (dt > 0) {
    z.lastTs = ts;
    const d = v - z.value;
    if (d < 0) z.value += d * 0.25;
    else if (d < freeze) z.value += Math.min(d, (b.maxRisePerHour * dt) / 3_600_000);
  }
  z.above = v > z.value ? v - z.value : 0;
}

function offset(out: Collector, st: DeviceState, bit: number, z: Zero, b: SmokeRules['smoke']['baseline'], ruleId: string, unit: string, digits: number, en: string, zh: string): void {
  if (z.value >= b.offsetWarn) {
    if (!(st.active & bit)) {
      const where = at(st.info?.location);
      condition(out, st, bit, true, ruleId, 'sensor_offset', b.score, `${en} reads ${fmt(z.value, digits)} ${unit} in clean air: dirty or drifting sensor, service it${where}`, `${zh}在洁净空气中读数 ${fmt(z.value, digits)} ${unit}：传感器脏污或漂移，请维护${where}`);
    }
  } else if (st.active & bit && z.value < b.offsetWarn * 0.8) {
    const where = at(st.info?.location);
    condition(out, st, bit, false, ruleId, 'sensor_offset', 0, `${en} zero back to ${fmt(z.value, digits)} ${unit}${where}`, `${zh}零点已恢复至 ${fmt(z.value, digits)} ${unit}${where}`);
  }
}

/** Minutes to alarm at `ppm` on the curve: log-log interpolation, extended along the end segments. */
export function minutesToAlarm(curve: ReadonlyArray<readonly [number, number]>, ppm: number): number {
  let i = 1;
  while (i < curve.length - 1 && ppm > curve[i]![0]) i++;
  const [c0, m0] = curve[i - 1]!, [c1, m1] = curve[i]!;
  const k = Math.log(m1 / m0) / Math.log(c1 / c0);
  return Math.max(0.25, m0 * Math.pow(ppm / c0, k));
}

function coRule(out: Collector, st: DeviceState, co: number, ts: number): void {
  const c = st.smokeRules.co;
  const sm = st.smoke!;
  aboveZero(sm.coZero, co, ts, c.baseline, c.floorPpm);
  const ppm = sm.coZero.above;
  offset(out, st, COND.coOffset, sm.coZero, c.baseline, 'smoke.co_offset', 'ppm', 0, 'CO sensor', '一氧化碳传感器');
  const dt = ts - sm.coLastTs;
  const gapMs = (st.info?.intervalSec ?? 300) * c.gapIntervals * 1000;
  if (dt <= 0) return;
  if (dt > gapMs || Number.isNaN(sm.coLast)) {
    // A gap longer than the reporting interval: nothing is known of the time between, start again.
    sm.coDose = 0;
  } else {
    const mean = (sm.coLast + ppm) / 2;
    if (mean >= c.floorPpm) sm.coDose += dt / 60_000 / minutesToAlarm(c.curve, mean);
    else sm.coDose *= Math.pow(0.5, dt / 60_000 / c.recoveryHalfLifeMin);
  }
  sm.coLast = ppm;
  sm.coLastTs = ts;
  if (sm.coDose < c.warnDose) return;
  const where = at(st.info?.location);
  const pct = Math.round(sm.coDose * 100);
  if (sm.coDose >= 1) {
    out.add('smoke.co_alarm', c.alarmScore, 'co', 'co', `Carbon monoxide ${fmt(co, 0)} ppm, exposure at the alarm curve (EN 50291 / UL 2034)${where}`, `一氧化碳 ${fmt(co, 0)} ppm，累积暴露已达报警曲线${where}`);
  } else if (sm.coDose >= c.warnDose) {
    out.add('smoke.co_warning', c.warnScore, 'co', 'co', `Carbon monoxide ${fmt(co, 0)} ppm, exposure ${pct} % of the alarm curve${where}`, `一氧化碳 ${fmt(co, 0)} ppm，累积暴露达报警曲线的 ${pct}%${where}`);
  }
}

export function smokeTelemetry(ctx: FireContext, st: DeviceState, r: TelemetryReading): void {
  const rules = st.smokeRules;
  const v = r.values;
  const out = ctx.out;
  const sm = st.smoke!;
  const smoke = v.smoke;
  if (typeof smoke === 'number') {
    const s = rules.smoke;
    aboveZero(sm.smokeZero, smoke, r.ts, s.baseline, s.preAlarm);
    const d = sm.smokeZero.above;
    offset(out, st, COND.smokeOffset, sm.smokeZero, s.baseline, 'smoke.offset', 'dB/m', 3, 'Smoke chamber', '烟雾探测室');
    const alarm = persists(sm.smokeAlarm, d >= s.alarm, r.ts, rules.persist);
    const pre = persists(sm.smokePre, d >= s.preAlarm, r.ts, rules.persist);
    if (alarm) {
      fireSignal(ctx, st, r.siteId, SIGNAL.smoke, r.ts, s.alarmScore, ` ${fmt(smoke, 3)} dB/m`);
    } else if (pre) {
      const where = at(st.info?.location);
      out.add('smoke.pre_alarm', s.preAlarmScore, 'fire', 'smoke', `Smoke pre-alarm: ${fmt(smoke, 3)} dB/m${where}`, `烟雾预警：${fmt(smoke, 3)} dB/m${where}`);
    }
  }
  const temp = v.temp;
  if (typeof temp === 'number') {
    sm.temps.push(r.ts, temp);
    const h = rules.heat;
    if (persists(sm.heatFixed, temp >= h.fixedC, r.ts, rules.persist)) {
      fireSignal(ctx, st, r.siteId, SIGNAL.heat, r.ts, h.score, ` ${fmt(temp, 1)} °C`);
    } else {
      const perMin = sm.temps.slope(h.rateWindowSec * 1000, h.rateMinSpanSec * 1000) * 60_000;
      if (perMin >= h.rateCPerMin) fireSignal(ctx, st, r.siteId, SIGNAL.heat, r.ts, h.score, ` rising ${fmt(perMin, 1)} °C/min`, ` 每分钟升温 ${fmt(perMin, 1)} °C`);
    }
  }
  const co = v.co;
  if (typeof co === 'number') coRule(out, st, co, r.ts);
  const b = v.battery;
  if (typeof b === 'number') battery(out, st, b, rules.battery, 'smoke');
}

export function smokeEvent(ctx: FireContext, st: DeviceState, r: EventReading): void {
  const rules = st.smokeRules;
  const sm = st.smoke!;
  const out = ctx.out;
  const where = at(st.info?.location);
  switch (r.event.type) {
    case 'alarm':
      sm.alarmActive = true;
      fireSignal(ctx, st, r.siteId, SIGNAL.alarm, r.ts, rules.alarm.score, '');
      return;
    case 'alarm_clear':
      // Recorded only: a red incident is closed by a person, never by the device (DESIGN.md).
      sm.alarmActive = false;
      out.add('smoke.alarm_clear', 0, 'fire', 'alarm_clear', `Alarm cleared at the detector${where}`, `探测器报警已恢复${where}`);
      return;
    case 'hush':
      // A silenced alarm in the home of someone living alone still needs a call: hush never clears.
      if (sm.alarmActive || Math.abs(r.ts - sm.signalTs[SIGNAL.alarm]!) <= rules.confirmWindowSec * 1000) {
        out.add('smoke.hush', rules.hush.score, 'fire', 'hush', `Alarm silenced at the detector${where}: call the resident`, `报警已在探测器上消音${where}：仍需电话联系住户`);
      } else {
        out.add('smoke.hush', 0, 'info', 'hush', `Detector silenced${where}`, `探测器消音${where}`);
      }
      return;
    case 'test':
      out.add('smoke.test', rules.test.score, 'info', 'test', `Self-test at the detector${where}`, `探测器自检${where}`);
      return;
    case 'fault':
      condition(out, st, COND.fault, true, 'smoke.fault', 'fault', rules.fault.score, `Detector fault${where}`, `探测器故障${where}`);
      return;
    case 'fault_clear':
      condition(out, st, COND.fault, false, 'smoke.fault', 'fault', 0, `Detector fault cleared${where}`, `探测器故障已恢复${where}`);
      return;
    case 'low_battery':
      condition(out, st, COND.battery, true, 'smoke.low_battery', 'low_battery', rules.battery.score, `Low battery${where}`, `低电量${where}`);
      return;
    case 'tamper':
      condition(out, st, COND.tamper, true, 'smoke.tamper', 'tamper', rules.tamper.score, `Detector taken off its base${where}`, `探测器被拆除${where}`);
      return;
    case 'tamper_clear':
      condition(out, st, COND.tamper, false, 'smoke.tamper', 'tamper', 0, `Detector back on its base${where}`, `探测器已复位安装${where}`);
      return;
    default:
      return; // command_ack and types of other families: nothing to score
  }
}
