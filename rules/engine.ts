// The rule engine: (reading, per-device state) → findings. Pure and in memory: no I/O, no timers,
// no clock but the times handed in (reading ts / receivedAt, presence time, sweep time).
import type { DevicePresence } from '../contracts/bus.ts';
import { levelOf, type Finding, type Level } from '../contracts/findings.ts';
import type { DeviceDirectory } from '../contracts/ports.ts';
import type { DeviceType } from '../contracts/protocol.ts';
import { DEVICE_FAMILIES, type DeviceFamily } from '../contracts/families.ts';
import type { Reading } from '../contracts/reading.ts';
import type { DeviceInfo } from '../contracts/registry.ts';
import { anyReading, backOnline, offlineAfterMs, wentOffline } from './any.ts';
import { Collector, NO_FINDINGS, type Subject } from './finding.ts';
import { panelEvent, panelTelemetry } from './panel.ts';
import { parseRuleSet, resolveDeviceRulesLenient, type RuleSet } from './schema.ts';
import { settlementEvent, settlementTelemetry } from './settlement.ts';
import { smokeEvent, smokeTelemetry, type FireContext } from './smoke.ts';
import { condition } from './common.ts';
import { COND, DeviceState, SiteFire } from './state.ts';
import { decodeRuleState, encodeRuleState } from './snapshot.ts';
import type { EventReading, TelemetryReading } from '../contracts/reading.ts';

/** A device family (its row of contracts/families.ts: fields, events, ingress) and its rules. */
interface Family extends DeviceFamily {
  telemetry(ctx: FireContext, st: DeviceState, r: TelemetryReading): void;
  event(ctx: FireContext, st: DeviceState, r: EventReading): void;
}

/**
 * Every device type and its rules, in one table extending the device-family table the adapters
 * read (contracts/families.ts, issue 20 point 1): a device type added to contracts/protocol.ts is
 * a compile error there and here until it has fields and rules (issue 14 point 5), never a silent
 * fall into another branch.
 */
export const FAMILIES: { readonly [K in DeviceType]: Family & { readonly type: K } } = {
  smoke_detector: { ...DEVICE_FAMILIES.smoke_detector, telemetry: smokeTelemetry, event: smokeEvent },
  fire_panel: { ...DEVICE_FAMILIES.fire_panel, telemetry: (ctx, st, r) => panelTelemetry(ctx.out, st, r), event: (ctx, st, r) => panelEvent(ctx.out, st, r) },
  settlement_sensor: { ...DEVICE_FAMILIES.settlement_sensor, telemetry: (ctx, st, r) => settlementTelemetry(ctx.out, st, r), event: (ctx, st, r) => settlementEvent(ctx.out, st, r) },
};

/** A rule threw (a bug): what /metrics and the log say about it. */
export interface RuleError {
  readonly code: 'WF_RULE_EXCEPTION';
  readonly deviceId: string;
  readonly deviceType: DeviceType;
  readonly message: string;
}

export interface RuleEngineDeps {
  ruleSet: RuleSet;
  devices: DeviceDirectory;
  /**
   * A device's rule override (DeviceInfo.rules) is invalid: the failing keys are left out (listed
   * here), the valid ones apply, and the device gets a yellow maintenance finding.
   */
  onOverrideError?: (deviceId: string, errors: string[]) => void;
  /** A rule threw while scoring a reading: counted, and the reading keeps what was found before. */
  onRuleError?: (e: RuleError, err: unknown) => void;
}

export interface Evaluation {
  readonly score: number;
  readonly level: Level;
  readonly findings: readonly Finding[];
}

/** Most readings: nothing found. One shared frozen answer, so a green reading allocates nothing. */
const QUIET: Evaluation = Object.freeze({ score: 0, level: 'green', findings: NO_FINDINGS });

export type ReloadResult = { ok: true } | { ok: false; errors: string[] };

export interface RuleEngineStats {
  readonly devices: number;
  readonly sites: number;
  readonly readings: number;
  readonly findings: number;
  readonly red: number;
  readonly yellow: number;
  readonly clears: number;
  readonly seqGaps: number;
  readonly seqMissing: number;
  readonly offline: number;
  readonly reloads: number;
  readonly reloadFailures: number;
  readonly overrideErrors: number;
  readonly lastOverrideError: { deviceId: string; errors: string[] } | undefined;
  /** Exceptions inside a rule (a bug): counted, the reading keeps the findings made so far. */
  readonly internalErrors: number;
  readonly lastInternalError: RuleError | undefined;
  readonly ruleSetVersion: number;
}

export interface RuleEngine {
  evaluate(reading: Reading): Evaluation;
  /** Presence changes: panels go offline at once on a will/closed socket; coming online clears offline. */
  presence(p: DevicePresence): Finding[];
  /** Offline detection over last-seen times; each transition is reported once. */
  sweep(now: number): Finding[];
  reload(input: unknown): ReloadResult;
  ruleSet(): RuleSet;
  stats(): RuleEngineStats;
  /** Every device's and site's state as bytes (rules/snapshot.ts): a partition's snapshot in cluster mode. */
  saveState(): Uint8Array;
  /**
   * Replaces every device's and site's state with a saveState() of this or another engine. Throws,
   * changing nothing, on bytes of another version or layout.
   */
  loadState(bytes: Uint8Array): void;
}

function subjectOf(info: DeviceInfo): Subject {
  return { deviceId: info.id, deviceType: info.type, siteId: info.siteId, centerId: info.centerId, gridId: info.gridId };
}

export function createRuleEngine(deps: RuleEngineDeps): RuleEngine {
  const { devices } = deps;
  let current = deps.ruleSet;
  let version = 0;
  const states = new Map<string, DeviceState>();
  const sites = new Map<string, SiteFire>();
  const out = new Collector();
  const fire: FireContext = {
    out,
    site(siteId) {
      let s = sites.get(siteId);
      if (s === undefined) sites.set(siteId, (s = new SiteFire()));
      return s;
    },
  };
  let sweepEpoch = NaN;
  const c = { readings: 0, findings: 0, red: 0, yellow: 0, clears: 0, reloads: 0, reloadFailures: 0, overrideErrors: 0, internalErrors: 0 };
  let lastOverrideError: { deviceId: string; errors: string[] } | undefined;
  let lastInternalError: RuleError | undefined;

  /** Resolves the device's rules; the errors of an invalid override, or undefined. */
  function resolve(st: DeviceState, info: DeviceInfo | undefined): string[] | undefined {
    st.info = info;
    st.rulesVersion = version;
    const override = info?.rules;
    if (override === undefined || Object.keys(override).length === 0) {
      st.rules = current[st.type];
      return undefined;
    }
    const r = resolveDeviceRulesLenient(current, st.type, override);
    st.rules = r.value;
    if (r.errors.length === 0) return undefined;
    c.overrideErrors++;
    lastOverrideError = { deviceId: st.deviceId, errors: r.errors };
    deps.onOverrideError?.(st.deviceId, r.errors);
    return r.errors;
  }

  /** Says on the device's next findings that part of its override was refused (and when it is fixed). */
  function overrideFinding(st: DeviceState, errors: string[] | undefined): void {
    if (errors === undefined && !(st.active & COND.rulesInvalid)) return;
    const where = st.info?.location ? ` (${st.info.location})` : '';
    if (errors) {
      const list = errors.slice(0, 3).join('; ');
      condition(out, st, COND.rulesInvalid, true, 'any.rules_override', 'rules_override', 45, `Device rule override partly refused, its other keys apply: ${list}${where}`, `设备规则覆盖部分无效，其余键已生效：${list}${where}`);
    } else {
      condition(out, st, COND.rulesInvalid, false, 'any.rules_override', 'rules_override', 0, `Device rule override valid again${where}`, `设备规则覆盖已恢复有效${where}`);
    }
  }

  /** Errors of the override resolved by the last stateOf() call, for its finding. */
  let resolvedErrors: string[] | undefined;
  let resolvedNow = false;

  function stateOf(id: string, type: DeviceType, info: DeviceInfo | undefined): DeviceState {
    let st = states.get(id);
    if (st === undefined || st.type !== type) {
      st = new DeviceState(id, type, current[type]);
      states.set(id, st);
    }
    resolvedNow = false;
    if (st.rulesVersion !== version || st.info !== info) {
      resolvedErrors = resolve(st, info);
      resolvedNow = true;
    }
    return st;
  }

  function finish(): readonly Finding[] {
    const findings = out.take();
    for (let i = 0; i < findings.length; i++) {
      const f = findings[i]!;
      c.findings++;
      if (f.clears) c.clears++;
      else if (f.level === 'red') c.red++;
      else if (f.level === 'yellow') c.yellow++;
    }
    return findings;
  }

  function evaluate(r: Reading): Evaluation {
    c.readings++;
    const st = stateOf(r.deviceId, r.deviceType, devices.get(r.deviceId));
    out.begin(r, r.ts);
    try {
      if (resolvedNow) overrideFinding(st, resolvedErrors);
      anyReading(out, st, r);
      const family = FAMILIES[st.type];
      if (r.kind === 'telemetry') family.telemetry(fire, st, r);
      else family.event(fire, st, r);
    } catch (err) {
      c.internalErrors++;
      lastInternalError = { code: 'WF_RULE_EXCEPTION', deviceId: r.deviceId, deviceType: r.deviceType, message: err instanceof Error ? err.message : String(err) };
      deps.onRuleError?.(lastInternalError, err);
    }
    if (out.findings === null) {
      out.subject = null;
      return QUIET;
    }
    const score = out.score;
    return { score, level: levelOf(score), findings: finish() };
  }

  function presence(p: DevicePresence): Finding[] {
    const info = devices.get(p.deviceId);
    if (!info) return [];
    const st = stateOf(info.id, info.type, info);
    out.begin(subjectOf(info), p.at);
    if (p.online) {
      if (p.at > st.lastSeen) st.lastSeen = p.at;
      if (st.offline) backOnline(out, st);
    } else if ((p.reason === 'will' || p.reason === 'socket') && st.rules.offline.atDisconnect && !st.offline) {
      wentOffline(out, st, 'any.offline_disconnect', undefined);
    }
    return [...finish()];
  }

  function sweep(now: number): Finding[] {
    // Devices never heard from since the engine started count from its first sweep.
    if (Number.isNaN(sweepEpoch)) sweepEpoch = now;
    const found: Finding[] = [];
    for (const info of devices.all()) {
      if (!info.enabled) continue;
      const st = stateOf(info.id, info.type, info);
      if (st.offline) continue;
      const last = st.lastSeen > -Infinity ? st.lastSeen : sweepEpoch;
      const silent = now - last;
      if (silent > offlineAfterMs(st.rules, info.intervalSec)) {
        out.begin(subjectOf(info), now);
        wentOffline(out, st, 'any.offline', silent);
        found.push(...finish());
      }
    }
    return found;
  }

  function reload(input: unknown): ReloadResult {
    const r = parseRuleSet(input);
    if (!r.ok) {
      c.reloadFailures++;
      return { ok: false, errors: r.errors };
    }
    current = r.ruleSet;
    version++; // every device re-resolves its rules (and override) on its next reading
    c.reloads++;
    return { ok: true };
  }

  function stats(): RuleEngineStats {
    let seqGaps = 0, seqMissing = 0, offline = 0;
    for (const st of states.values()) {
      seqGaps += st.seqGaps;
      seqMissing += st.seqMissing;
      if (st.offline) offline++;
    }
    return { devices: states.size, sites: sites.size, ...c, seqGaps, seqMissing, offline, lastOverrideError, lastInternalError, ruleSetVersion: version };
  }

  function loadState(bytes: Uint8Array): void {
    const loaded = decodeRuleState(bytes, (type) => current[type]);
    states.clear();
    sites.clear();
    for (const [id, st] of loaded.states) states.set(id, st);
    for (const [id, site] of loaded.sites) sites.set(id, site);
  }

  return { evaluate, presence, sweep, reload, ruleSet: () => current, stats, saveState: () => encodeRuleState({ states, sites }), loadState };
}
