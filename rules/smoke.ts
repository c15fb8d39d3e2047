// Smoke detector rules (DESIGN.md "Rules", smoke detector). Numbers come from the rule set; see
// rules/default-rules.yaml for their sources.
import type { EventReading, TelemetryReading } from '../contracts/reading.ts';
import { at, fmt, type Collector } from './finding.ts';
import { battery, condition } from './common.ts';
import { COND, SIGNAL, type DeviceState, type SiteFire } from './state.ts';

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
function fireSignal(ctx: FireContext, st: DeviceState, siteId: string, kind: 0 | 1 | 2, t: number, score: number, detail: string): void {
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
    ctx.out.add(`smoke.${KIND_COND[kind]}_confirmed`, rules.confirmedScore, 'fire', KIND_COND[kind], `Fire confirmed: ${KIND_EN[kind]}${detail}${where}, confirmed by ${en}`, `火警确认：${KIND_ZH[kind]}${detail}${where}，经${zh}确认`, undefined, true);
  } else {
    ctx.out.add(`smoke.${KIND_COND[kind]}`, score, 'fire', KIND_COND[kind], `Fire: ${KIND_EN[kind]}${detail}${where}`, `火警：${KIND_ZH[kind]}${detail}${where}`);
  }
}

export function smokeTelemetry(ctx: FireContext, st: DeviceState, r: TelemetryReading): void {
  const rules = st.smokeRules;
  const v = r.values;
  const out = ctx.out;
  const smoke = v.smoke;
  if (typeof smoke === 'number') {
    if (smoke >= rules.smoke.alarm) {
      fireSignal(ctx, st, r.siteId, SIGNAL.smoke, r.ts, rules.smoke.alarmScore, ` ${fmt(smoke, 3)} dB/m`);
    } else if (smoke >= rules.smoke.preAlarm) {
      const where = at(st.info?.location);
      out.add('smoke.pre_alarm', rules.smoke.preAlarmScore, 'fire', 'smoke', `Smoke pre-alarm: ${fmt(smoke, 3)} dB/m${where}`, `烟雾预警：${fmt(smoke, 3)} dB/m${where}`);
    }
  }
  const temp = v.temp;
  if (typeof temp === 'number') {
    const sm = st.smoke!;
    sm.temps.push(r.ts, temp);
    const h = rules.heat;
    if (temp >= h.fixedC) {
      fireSignal(ctx, st, r.siteId, SIGNAL.heat, r.ts, h.score, ` ${fmt(temp, 1)} °C`);
    } else {
      const perMin = sm.temps.slope(h.rateWindowSec * 1000, h.rateMinSpanSec * 1000) * 60_000;
      if (perMin >= h.rateCPerMin) fireSignal(ctx, st, r.siteId, SIGNAL.heat, r.ts, h.score, ` rising ${fmt(perMin, 1)} °C/min`);
    }
  }
  const co = v.co;
  if (typeof co === 'number') {
    const c = rules.co;
    const sm = st.smoke!;
    if (co >= c.warnPpm) {
      if (Number.isNaN(sm.coSince) || r.ts < sm.coSince) sm.coSince = r.ts;
    } else sm.coSince = NaN;
    const where = at(st.info?.location);
    if (co >= c.alarmPpm) {
      out.add('smoke.co_alarm', c.alarmScore, 'co', 'co', `Carbon monoxide ${fmt(co, 0)} ppm${where}`, `一氧化碳 ${fmt(co, 0)} ppm${where}`);
    } else if (co >= c.warnPpm && r.ts - sm.coSince >= c.warnForSec * 1000) {
      const min = Math.round((r.ts - sm.coSince) / 60_000);
      out.add('smoke.co_warning', c.warnScore, 'co', 'co', `Carbon monoxide ${fmt(co, 0)} ppm for ${min} min${where}`, `一氧化碳 ${fmt(co, 0)} ppm 持续 ${min} 分钟${where}`);
    }
  }
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
