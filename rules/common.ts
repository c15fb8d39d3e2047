// Conditions shared by device families: maintenance conditions that clear by themselves, and battery.
import { fmt, at, type Collector } from './finding.ts';
import { COND, type DeviceState } from './state.ts';

/**
 * A maintenance condition: active → a finding every time (the reading is scored by it); inactive
 * after being active → one clearing finding, so the incident manager can resolve it.
 */
export function condition(out: Collector, st: DeviceState, bit: number, active: boolean, ruleId: string, name: string, score: number, en: string, zh: string, zone?: string): void {
  if (active) {
    st.active |= bit;
    out.add(ruleId, score, 'maintenance', name, en, zh, zone);
  } else if (st.active & bit) {
    st.active &= ~bit;
    out.clear(`${ruleId}_clear`, name, en, zh, zone);
  }
}

/** Battery at or below lowPct: low_battery; it clears once at or above clearPct (hysteresis, no flapping). */
export function battery(out: Collector, st: DeviceState, pct: number, rules: { lowPct: number; clearPct: number; score: number }, family: string): void {
  const BIT = COND.battery;
  if (pct <= rules.lowPct) {
    const where = at(st.info?.location);
    condition(out, st, BIT, true, `${family}.low_battery`, 'low_battery', rules.score, `Low battery: ${fmt(pct, 0)} %${where}`, `低电量：${fmt(pct, 0)}%${where}`);
  } else if (st.active & BIT && pct >= rules.clearPct) {
    const where = at(st.info?.location);
    condition(out, st, BIT, false, `${family}.low_battery`, 'low_battery', 0, `Battery back to ${fmt(pct, 0)} %${where}`, `电量已恢复至 ${fmt(pct, 0)}%${where}`);
  }
}
