// Fire alarm control panel rules (DESIGN.md "Rules", fire panel). Incidents for panels are per
// panel zone, so every point finding carries the zone (or the loop when the panel gives none).
import type { EventReading, TelemetryReading } from '../contracts/reading.ts';
import { at, type Collector } from './finding.ts';
import { condition } from './common.ts';
import { COND, type DeviceState, type PanelState, type PointSet } from './state.ts';

interface PointFields {
  loop?: unknown;
  point?: unknown;
  zone?: unknown;
  label?: unknown;
}

const PANEL_KEY = -1;
const LOOP_SPAN = 1_000_000;

function pointKey(e: PointFields): number {
  return typeof e.loop === 'number' && typeof e.point === 'number' ? e.loop * LOOP_SPAN + e.point : PANEL_KEY;
}

function zoneOf(e: PointFields): string | undefined {
  if (typeof e.zone === 'string' || typeof e.zone === 'number') return String(e.zone);
  return typeof e.loop === 'number' ? `loop ${e.loop}` : undefined;
}

function pointName(e: PointFields): { en: string; zh: string } {
  const label = typeof e.label === 'string' && e.label ? ` "${e.label}"` : '';
  if (typeof e.loop !== 'number' || typeof e.point !== 'number') return { en: `the panel${label}`, zh: `主机${label}` };
  return { en: `loop ${e.loop} point ${e.point}${label}`, zh: `${e.loop} 回路 ${e.point} 号点${label}` };
}

function keyName(key: number): { en: string; zh: string } {
  const loop = Math.floor(key / LOOP_SPAN);
  const point = key - loop * LOOP_SPAN;
  return { en: `loop ${loop} point ${point}`, zh: `${loop} 回路 ${point} 号点` };
}

function recordFire(p: PanelState, key: number, t: number, zone: string | undefined): void {
  for (let i = 0; i < 8; i++) {
    if (p.fireKeys[i] === key && p.fireTs[i]! > -Infinity) {
      if (t > p.fireTs[i]!) p.fireTs[i] = t;
      p.fireZones[i] = zone;
      return;
    }
  }
  p.fireKeys[p.fireNext] = key;
  p.fireTs[p.fireNext] = t;
  p.fireZones[p.fireNext] = zone;
  p.fireNext = (p.fireNext + 1) & 7;
}

function firePoint(out: Collector, st: DeviceState, e: PointFields, t: number, manual: boolean, where: string): void {
  const rules = st.panelRules;
  const p = st.panel!;
  const windowMs = rules.confirmWindowSec * 1000;
  const key = pointKey(e);
  const zone = zoneOf(e);
  let by: { en: string; zh: string } | undefined;
  for (let i = 0; i < 8; i++) {
    const k = p.fireKeys[i]!;
    if (k !== key && Math.abs(t - p.fireTs[i]!) <= windowMs) {
      const n = keyName(k);
      by = { en: `a second point, ${n.en}`, zh: `第二个点位 ${n.zh}` };
      break;
    }
  }
  if (!by && Math.abs(t - p.actionTs) <= windowMs) by = { en: 'a started output', zh: '联动设备启动' };
  recordFire(p, key, t, zone);
  p.pointFireSinceReset = true;
  const name = pointName(e);
  const what = manual ? { en: 'Manual call point', zh: '手动报警按钮' } : { en: 'Fire alarm', zh: '火警' };
  const cond = manual ? 'manual_call' : 'fire';
  const z = zone ? `, zone ${zone}` : '';
  if (by) {
    out.add(`panel.${cond}_confirmed`, rules.confirmedScore, 'fire', cond, `${what.en} confirmed at ${name.en}${z}${where}, by ${by.en}`, `${what.zh}确认：${name.zh}${z}${where}，经${by.zh}确认`, zone, true);
  } else {
    out.add(`panel.${cond}`, manual ? rules.manualCall.score : rules.fire.score, 'fire', cond, `${what.en} at ${name.en}${z}${where}`, `${what.zh}：${name.zh}${z}${where}`, zone);
  }
}

function action(out: Collector, st: DeviceState, e: PointFields, t: number, where: string): void {
  const rules = st.panelRules;
  const p = st.panel!;
  p.actionTs = t;
  const windowMs = rules.confirmWindowSec * 1000;
  let best = -1;
  for (let i = 0; i < 8; i++) {
    if (Math.abs(t - p.fireTs[i]!) <= windowMs && (best < 0 || p.fireTs[i]! > p.fireTs[best]!)) best = i;
  }
  const name = pointName(e);
  if (best < 0) {
    out.add('panel.action', 0, 'info', 'action', `Output started: ${name.en}${where}`, `联动启动：${name.zh}${where}`, zoneOf(e));
    return;
  }
  const zone = p.fireZones[best];
  const fire = keyName(p.fireKeys[best]!);
  out.add('panel.action_confirmed', rules.confirmedScore, 'fire', 'fire', `Fire confirmed at ${fire.en}${zone ? `, zone ${zone}` : ''}${where}: output started (${name.en})`, `火警确认：${fire.zh}${where}，联动设备已启动（${name.zh}）`, zone, true);
}

/** Faulted, supervisory and disabled points: one incident per panel and condition, cleared when none are left. */
function points(out: Collector, st: DeviceState, set: PointSet, tel: number, bit: number, add: boolean, e: PointFields, ruleId: string, name: string, score: number, en: string, zh: string, where: string): void {
  const key = pointKey(e);
  if (add) set.add(key);
  else set.remove(key);
  const n = pointName(e);
  if (add) condition(out, st, bit, true, ruleId, name, score, `${en}: ${n.en}${where}`, `${zh}：${n.zh}${where}`, zoneOf(e));
  else if (set.size === 0 && tel === 0) condition(out, st, bit, false, ruleId, name, 0, `${en} cleared: ${n.en}${where}`, `${zh}已恢复：${n.zh}${where}`, zoneOf(e));
}

function power(out: Collector, st: DeviceState, where: string): void {
  const p = st.panel!;
  const r = st.panelRules.power;
  if (p.mainFail && p.backupFail) {
    condition(out, st, COND.power, true, 'panel.power_both_failed', 'power', r.bothFailedScore, `Main and backup power both failed${where}`, `主电、备电均故障${where}`);
  } else if (p.mainFail) {
    condition(out, st, COND.power, true, 'panel.main_power_fail', 'power', r.oneFailedScore, `Main power failed${where}`, `主电故障${where}`);
  } else if (p.backupFail) {
    condition(out, st, COND.power, true, 'panel.backup_power_fail', 'power', r.oneFailedScore, `Backup power failed${where}`, `备电故障${where}`);
  } else {
    condition(out, st, COND.power, false, 'panel.power', 'power', 0, `Power restored${where}`, `电源已恢复${where}`);
  }
}

export function panelEvent(out: Collector, st: DeviceState, r: EventReading): void {
  const rules = st.panelRules;
  const p = st.panel!;
  const e = r.event as PointFields & { type: string };
  const where = at(st.info?.location);
  switch (r.event.type) {
    case 'fire':
    case 'manual_call':
      firePoint(out, st, e, r.ts, r.event.type === 'manual_call', where);
      return;
    case 'action':
      action(out, st, e, r.ts, where);
      return;
    case 'fire_clear': {
      const n = pointName(e);
      // Recorded only: red incidents close by a person.
      out.add('panel.fire_clear', 0, 'fire', 'fire_clear', `Fire alarm cleared at ${n.en}${where}`, `火警已恢复：${n.zh}${where}`, zoneOf(e));
      return;
    }
    case 'reset':
      p.pointFireSinceReset = false;
      out.add('panel.reset', 0, 'info', 'reset', `Panel reset${where}`, `主机复位${where}`);
      return;
    case 'fault':
    case 'fault_clear':
      points(out, st, p.faults, p.telFault, COND.fault, r.event.type === 'fault', e, 'panel.fault', 'fault', rules.fault.score, 'Fault', '故障', where);
      return;
    case 'supervisory':
    case 'supervisory_clear':
      points(out, st, p.supervisory, 0, COND.supervisory, r.event.type === 'supervisory', e, 'panel.supervisory', 'supervisory', rules.supervisory.score, 'Supervisory signal', '监管报警', where);
      return;
    case 'disable':
    case 'enable':
      points(out, st, p.disabled, p.telDisabled, COND.disabled, r.event.type === 'disable', e, 'panel.disabled', 'disabled', rules.disabled.score, 'Point disabled', '点位屏蔽', where);
      return;
    case 'main_power_fail':
    case 'main_power_restore':
      p.mainFail = r.event.type === 'main_power_fail';
      power(out, st, where);
      return;
    case 'backup_power_fail':
    case 'backup_power_restore':
      p.backupFail = r.event.type === 'backup_power_fail';
      power(out, st, where);
      return;
    default:
      return; // action_feedback, command_ack: nothing to score
  }
}

export function panelTelemetry(out: Collector, st: DeviceState, r: TelemetryReading): void {
  const rules = st.panelRules;
  const p = st.panel!;
  const v = r.values;
  const where = at(st.info?.location);
  const alarm = v.pointsInAlarm;
  // The heartbeat's count matters when no point event told us where the fire is (events lost or
  // a panel that reports counts only); once point events arrived, their zones carry the incident
  // and a panel-wide one beside them would only double the alarm storm on the console.
  if (typeof alarm === 'number' && alarm > 0 && !p.pointFireSinceReset) {
    out.add('panel.points_in_alarm', rules.pointsInAlarm.score, 'fire', 'fire', `${alarm} point(s) in fire alarm${where}`, `${alarm} 个点位火警${where}`);
  }
  const fault = v.pointsInFault;
  if (typeof fault === 'number') {
    p.telFault = fault;
    const n = Math.max(fault, p.faults.size);
    if (n > 0) condition(out, st, COND.fault, true, 'panel.fault', 'fault', rules.fault.score, `${n} point(s) in fault${where}`, `${n} 个点位故障${where}`);
    else condition(out, st, COND.fault, false, 'panel.fault', 'fault', 0, `No points in fault${where}`, `故障已全部恢复${where}`);
  }
  const disabled = v.pointsDisabled;
  if (typeof disabled === 'number') {
    p.telDisabled = disabled;
    const n = Math.max(disabled, p.disabled.size);
    if (n > 0) condition(out, st, COND.disabled, true, 'panel.disabled', 'disabled', rules.disabled.score, `${n} point(s) disabled${where}`, `${n} 个点位屏蔽${where}`);
    else condition(out, st, COND.disabled, false, 'panel.disabled', 'disabled', 0, `No points disabled${where}`, `屏蔽已全部解除${where}`);
  }
  const main = v.mainPower, backup = v.backupPower;
  if (main === 'ok' || main === 'fail' || backup === 'ok' || backup === 'fail') {
    if (main === 'ok' || main === 'fail') p.mainFail = main === 'fail';
    if (backup === 'ok' || backup === 'fail') p.backupFail = backup === 'fail';
    power(out, st, where);
  }
}
