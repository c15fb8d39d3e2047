// Rules for any device: offline (sweep and will message), back online, clock far off, seq gaps.
import type { Reading } from '../contracts/reading.ts';
import { at, fmt, type Collector } from './finding.ts';
import { condition } from './common.ts';
import { COND, type DeviceState } from './state.ts';
import type { TypeRules } from './schema.ts';

/** If seq goes back by more than this, the device restarted its counter (a reboot), not a late message. */
const SEQ_RESTART = 1000;

/**
 * DESIGN.md: silent longer than interval × 2 + grace → offline (panel 60 s → 180 s). A daily
 * NB-IoT detector would then wait two days; maxLate caps the wait at one interval plus an hour
 * (24 h → 25 h, as DESIGN.md asks for those).
 */
export function offlineAfterMs(rules: TypeRules, intervalSec: number): number {
  const o = rules.offline;
  return Math.min(intervalSec * o.intervals + o.graceSec, intervalSec + o.maxLateSec) * 1000;
}

/** Everything that holds for any reading of any device; runs before the family's rules. */
export function anyReading(out: Collector, st: DeviceState, r: Reading): void {
  if (r.receivedAt > st.lastSeen) st.lastSeen = r.receivedAt;
  if (st.offline) backOnline(out, st);
  const seq = r.seq;
  if (seq !== undefined) {
    const last = st.lastSeq;
    if (seq > last) {
      if (last >= 0 && seq > last + 1) {
        const missing = seq - last - 1;
        st.seqGaps++;
        st.seqMissing += missing;
        out.add('any.seq_gap', st.rules.seqGap.score, 'maintenance', 'seq_gap', `${fmt(missing, 0)} message(s) missing before seq ${seq}${at(st.info?.location)}`, `seq ${seq} 之前缺失 ${fmt(missing, 0)} 条消息${at(st.info?.location)}`);
      }
      st.lastSeq = seq;
    } else if (last - seq > SEQ_RESTART) {
      st.lastSeq = seq;
    }
  }
  const bad = r.flags.length !== 0 && r.flags.includes('clock_bad');
  if (bad || st.active & COND.clock) {
    const where = at(st.info?.location);
    condition(out, st, COND.clock, bad, 'any.clock', 'clock', st.rules.clock.score, bad ? `Device clock far off: timestamp not trusted${where}` : `Device clock correct again${where}`, bad ? `设备时钟偏差过大，时间戳不可信${where}` : `设备时钟已恢复正常${where}`);
  }
}

export function backOnline(out: Collector, st: DeviceState): void {
  st.offline = false;
  const where = at(st.info?.location);
  out.clear('any.offline_clear', 'offline', `Device back online${where}`, `设备已恢复在线${where}`);
}

export function wentOffline(out: Collector, st: DeviceState, ruleId: string, silentMs: number | undefined): void {
  st.offline = true;
  const where = at(st.info?.location);
  if (silentMs === undefined) {
    out.add(ruleId, st.rules.offline.score, 'maintenance', 'offline', `Device offline: connection lost${where}`, `设备离线：连接已断开${where}`);
  } else {
    const min = Math.round(silentMs / 60_000);
    out.add(ruleId, st.rules.offline.score, 'maintenance', 'offline', `Device offline: silent for ${min} min${where}`, `设备离线：已 ${min} 分钟无数据${where}`);
  }
}
