// The rule engine's state as bytes, for a partition snapshot in cluster mode (issue 21 point 4:
// a partition's rule state "rebuilt from the log or a snapshot"; worker/rule-worker.ts). A new
// owner that loads it has every window the old owner had — settlement's 48 h and 7-day
// regressions, re-armed smoke confirmations, a panel's faulted points — and replays only the log
// after it, so nothing depends on how much of the log is still retained.
//
// Everything a device's or a site's state holds, field by field (rules/state.ts), nothing derived
// from the rule set: a device's rules (and its override) are resolved again on its next reading,
// as after a reload. A settlement point's windows are its one ArrayBuffer, copied as it is (rules/
// trend.ts lays it out). Bytes per device with an id of 10 characters (RULE_STATE_VERSION 1,
// pinned by tests/rules.snapshot.test.ts), fixed whatever the device sent: a smoke detector 334, a
// panel 241 (more by the zone names of its last 8 fire points), a settlement point 602 (settlement
// only) to 1,618 (settlement, tilt and crack); a site that had a fire signal adds ≈ 80 and its ids.
//
// RULE_STATE_VERSION says which layout this is. Change it with any change to what a state class
// holds or to a window's byte layout (rules/trend.ts's offsets, FAST_POINTS, SLOW_POINTS): a
// node reading another version refuses the snapshot (decode throws) and its worker replays the
// log instead. The section sizes are written beside it and checked too, so a layout change that
// forgot the version is still refused, not misread.
import { ByteReader, ByteWriter } from '../contracts/bytes.ts';
import type { DeviceType } from '../contracts/protocol.ts';
import type { TypeRules } from './schema.ts';
import { DeviceState, SettlementState, SiteFire, type PanelState, type Persisting, type SmokeState, type Zero } from './state.ts';

export const RULE_STATE_VERSION = 1;

/** One code per device type: a type added to contracts/protocol.ts is a compile error here until it has one. */
const TYPE_CODE: { readonly [K in DeviceType]: number } = { smoke_detector: 1, fire_panel: 2, settlement_sensor: 3 };
const TYPE_OF = new Map(Object.entries(TYPE_CODE).map(([t, c]) => [c, t as DeviceType]));

/** The byte layout this version writes, as sizes: checked on read beside the version. */
const LAYOUT = [SettlementState.SETTLEMENT.bytes, SettlementState.TILT.bytes, SettlementState.CRACK.bytes] as const;

export interface RuleState {
  readonly states: Map<string, DeviceState>;
  readonly sites: Map<string, SiteFire>;
}

function saveZero(w: ByteWriter, z: Zero): void {
  w.f64(z.value);
  w.f64(z.lastTs);
  w.f64(z.above);
}
function loadZero(r: ByteReader, z: Zero): void {
  z.value = r.f64();
  z.lastTs = r.f64();
  z.above = r.f64();
}
function savePersisting(w: ByteWriter, p: Persisting): void {
  w.f64(p.bits);
  w.f64(p.since);
}
function loadPersisting(r: ByteReader, p: Persisting): void {
  p.bits = r.f64();
  p.since = r.f64();
}

function saveSmoke(w: ByteWriter, s: SmokeState): void {
  for (let i = 0; i < 3; i++) w.f64(s.signalTs[i]!);
  w.bool(s.alarmActive);
  saveZero(w, s.smokeZero);
  savePersisting(w, s.smokeAlarm);
  savePersisting(w, s.smokePre);
  savePersisting(w, s.heatFixed);
  saveZero(w, s.coZero);
  w.f64(s.coDose);
  w.f64(s.coLast);
  w.f64(s.coLastTs);
  s.temps.save(w);
}
function loadSmoke(r: ByteReader, s: SmokeState): void {
  for (let i = 0; i < 3; i++) s.signalTs[i] = r.f64();
  s.alarmActive = r.bool();
  loadZero(r, s.smokeZero);
  loadPersisting(r, s.smokeAlarm);
  loadPersisting(r, s.smokePre);
  loadPersisting(r, s.heatFixed);
  loadZero(r, s.coZero);
  s.coDose = r.f64();
  s.coLast = r.f64();
  s.coLastTs = r.f64();
  s.temps.load(r);
}

function savePanel(w: ByteWriter, p: PanelState): void {
  for (let i = 0; i < 8; i++) {
    w.f64(p.fireKeys[i]!);
    w.f64(p.fireTs[i]!);
    const zone = p.fireZones[i];
    w.bool(zone !== undefined);
    if (zone !== undefined) w.str(zone);
  }
  w.u8(p.fireNext);
  w.bool(p.pointFireSinceReset);
  w.f64(p.actionTs);
  p.faults.save(w);
  p.supervisory.save(w);
  p.disabled.save(w);
  w.f64(p.telFault);
  w.f64(p.telDisabled);
  w.bool(p.mainFail);
  w.bool(p.backupFail);
}
function loadPanel(r: ByteReader, p: PanelState): void {
  for (let i = 0; i < 8; i++) {
    p.fireKeys[i] = r.f64();
    p.fireTs[i] = r.f64();
    p.fireZones[i] = r.bool() ? r.str() : undefined;
  }
  p.fireNext = r.u8() & 7;
  p.pointFireSinceReset = r.bool();
  p.actionTs = r.f64();
  p.faults.load(r);
  p.supervisory.load(r);
  p.disabled.load(r);
  p.telFault = r.f64();
  p.telDisabled = r.f64();
  p.mainFail = r.bool();
  p.backupFail = r.bool();
}

function saveDevice(w: ByteWriter, st: DeviceState): void {
  w.str(st.deviceId);
  w.u8(TYPE_CODE[st.type]);
  w.f64(st.lastSeen);
  w.bool(st.offline);
  w.f64(st.lastSeq);
  w.f64(st.seqGaps);
  w.f64(st.seqMissing);
  w.u32(st.active);
  if (st.smoke) saveSmoke(w, st.smoke);
  if (st.panel) savePanel(w, st.panel);
  const s = st.settlement;
  if (s) {
    w.i32(s.settlementAt);
    w.i32(s.tiltAt);
    w.i32(s.crackAt);
    w.block(new Uint8Array(s.buffer, s.byteOffset, s.byteLength));
  }
}
function loadDevice(r: ByteReader, rulesOf: (type: DeviceType) => TypeRules): DeviceState {
  const id = r.str();
  const code = r.u8();
  const type = TYPE_OF.get(code);
  if (!type) throw new RangeError(`device ${id} has type code ${code}, unknown here`);
  const st = new DeviceState(id, type, rulesOf(type));
  st.lastSeen = r.f64();
  st.offline = r.bool();
  st.lastSeq = r.f64();
  st.seqGaps = r.f64();
  st.seqMissing = r.f64();
  st.active = r.u32();
  if (st.smoke) loadSmoke(r, st.smoke);
  if (st.panel) loadPanel(r, st.panel);
  if (st.settlement) {
    const settlementAt = r.i32(), tiltAt = r.i32(), crackAt = r.i32();
    st.settlement = SettlementState.restore(r.block(), settlementAt, tiltAt, crackAt);
  }
  return st;
}

/** The engine's per-device and per-site state as bytes (RULE_STATE_VERSION). */
export function encodeRuleState(s: RuleState): Uint8Array {
  const w = new ByteWriter(64 + 400 * s.states.size + 100 * s.sites.size);
  w.u16(RULE_STATE_VERSION);
  w.u8(LAYOUT.length);
  for (const n of LAYOUT) w.u32(n);
  w.u32(s.states.size);
  for (const st of s.states.values()) saveDevice(w, st);
  w.u32(s.sites.size);
  for (const [id, site] of s.sites) {
    w.str(id);
    site.save(w);
  }
  return w.finish();
}

/**
 * The state of encodeRuleState, new objects throughout (nothing is shared with a running engine);
 * `rulesOf` gives a device its type's rules until its next reading resolves its own. Throws on
 * another version or layout, or on bytes that do not parse to the end.
 */
export function decodeRuleState(bytes: Uint8Array, rulesOf: (type: DeviceType) => TypeRules): RuleState {
  const r = new ByteReader(bytes);
  const version = r.u16();
  if (version !== RULE_STATE_VERSION) throw new RangeError(`rule state version ${version}; this node reads version ${RULE_STATE_VERSION}`);
  const n = r.u8();
  const layout = Array.from({ length: n }, () => r.u32());
  if (layout.join() !== LAYOUT.join()) throw new RangeError(`rule state laid out as [${layout.join(', ')}]; this node lays it out as [${LAYOUT.join(', ')}]`);
  const states = new Map<string, DeviceState>();
  for (let i = r.u32(); i > 0; i--) {
    const st = loadDevice(r, rulesOf);
    states.set(st.deviceId, st);
  }
  const sites = new Map<string, SiteFire>();
  for (let i = r.u32(); i > 0; i--) {
    const id = r.str();
    const site = new SiteFire();
    site.load(r);
    sites.set(id, site);
  }
  r.end();
  return { states, sites };
}
