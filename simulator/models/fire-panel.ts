// A fire alarm control panel as its user information transmission unit (用户信息传输装置, GB 26875)
// reports it: points on addressable loops grouped into zones, heartbeats with power and counts,
// point events (fire, manual call, fault, disable) and linked outputs (pump, smoke fan) that start
// after a fire and send back feedback.
import { createOutbox, type DeviceModel, type ModelDeps } from './types.ts';

export type PointKind = 'smoke' | 'heat' | 'manual_call' | 'output';
export interface PanelPoint {
  readonly loop: number;
  readonly point: number;
  readonly zone: number;
  readonly kind: PointKind;
  readonly label: string;
}

/** Linked outputs start this long after a fire (GB 50116: automatic linkage after confirmation). */
export const LINKAGE_DELAY_SEC = 15;
/** Output feedback (the pump's pressure switch, the fan's running contact) follows after this. */
export const FEEDBACK_DELAY_SEC = 10;

export interface FirePanelModel extends DeviceModel {
  readonly type: 'fire_panel';
  readonly points: readonly PanelPoint[];
  readonly zones: readonly number[];
  pointsOfZone(zone: number): readonly PanelPoint[];
  readonly state: Readonly<{ mainPower: 'ok' | 'fail'; backupPower: 'ok' | 'fail'; inAlarm: number; inFault: number; disabled: number }>;
  fire(p: PanelPoint): void;
  fault(p?: PanelPoint, code?: string): void;
  faultClear(p?: PanelPoint): void;
  disable(p: PanelPoint): void;
  enable(p: PanelPoint): void;
  supervisory(p: PanelPoint): void;
  powerFail(which: 'main' | 'backup'): void;
  powerRestore(which: 'main' | 'backup'): void;
  /** The operator resets the panel: alarms and outputs clear. */
  reset(): void;
  /** Automatic linkage starts outputs on a fire; in manual mode (手动状态) a person must start them. */
  setLinkage(mode: 'auto' | 'manual'): void;
}

const key = (p: { loop: number; point: number }) => p.loop * 10_000 + p.point;

export function createFirePanel(deps: ModelDeps): FirePanelModel {
  const { rng, clock, meta } = deps;
  const out = createOutbox(clock);
  const loops = Number(meta?.loops ?? 2);
  const perLoop = Number(meta?.pointsPerLoop ?? 100);
  const zonesPerLoop = Number(meta?.zonesPerLoop ?? 4);
  const floors = Number(meta?.floors ?? 6);
  const points: PanelPoint[] = [];
  const byZone = new Map<number, PanelPoint[]>();
  const outputs: PanelPoint[] = [];
  for (let l = 1; l <= loops; l++) {
    for (let p = 1; p <= perLoop; p++) {
      const zone = (l - 1) * zonesPerLoop + Math.min(zonesPerLoop, Math.floor(((p - 1) * zonesPerLoop) / perLoop) + 1);
      const floor = ((zone - 1) % floors) + 1;
      // The last two addresses of loop 1 are input/output modules of the pump and the smoke fan;
      // every 25th point is a manual call point near a stair; a few heat detectors in kitchens.
      const kind: PointKind = l === 1 && p > perLoop - 2 ? 'output' : p % 25 === 0 ? 'manual_call' : p % 17 === 0 ? 'heat' : 'smoke';
      const label = kind === 'output' ? (p === perLoop ? '消防泵 fire pump' : '排烟风机 smoke fan') : `${floor}F ${kind === 'manual_call' ? '手动报警按钮 manual call point' : kind === 'heat' ? '感温 heat' : '感烟 smoke'} ${l}-${p}`;
      const pt: PanelPoint = { loop: l, point: p, zone, kind, label };
      points.push(pt);
      if (kind === 'output') outputs.push(pt);
      else {
        const z = byZone.get(zone) ?? [];
        z.push(pt);
        byZone.set(zone, z);
      }
    }
  }
  const alarms = new Set<number>();
  const faults = new Set<number>();
  const disabled = new Set<number>();
  let panelFault = false;
  const state = { mainPower: 'ok' as 'ok' | 'fail', backupPower: 'ok' as 'ok' | 'fail', inAlarm: 0, inFault: 0, disabled: 0 };
  const timers: Array<{ at: number; fire: () => void; linkage?: boolean }> = [];
  let simT = 0;
  let outputsRunning = false;
  let linkage: 'auto' | 'manual' = meta?.linkage === 'manual' ? 'manual' : 'auto';
  // An installed panel usually carries a few isolated points (a detector removed for renovation).
  for (let i = rng.chance(0.3) ? rng.int(1, 2) : 0; i > 0; i--) disabled.add(key(rng.pick(points)));

  const pointFields = (p: PanelPoint) => ({ loop: p.loop, point: p.point, zone: p.zone, label: p.label });
  const sync = () => {
    state.inAlarm = alarms.size;
    state.inFault = faults.size + (panelFault ? 1 : 0);
    state.disabled = disabled.size;
  };
  sync();

  const model: FirePanelModel = {
    deviceId: deps.deviceId,
    type: 'fire_panel',
    batchesEvents: true,
    points,
    zones: [...byZone.keys()],
    pointsOfZone: (z) => byZone.get(z) ?? [],
    state,
    reportEverySec: () => deps.intervalSec,
    active: () => timers.some((t) => t.linkage),
    step(dt) {
      simT += dt;
      for (let i = 0; i < timers.length; ) {
        if (timers[i]!.at <= simT) {
          const t = timers.splice(i, 1)[0]!;
          t.fire();
        } else i++;
      }
      // Background: a dusty detector or a loop wiring fault, about once a month per panel.
      if (rng.chance(dt / (30 * 86_400))) {
        const p = rng.pick(points);
        if (!faults.has(key(p)) && !disabled.has(key(p))) {
          model.fault(p, rng.pick(['dirty', 'open_circuit', 'communication']));
          const heal = simT + rng.range(600, 6 * 3600);
          timers.push({ at: heal, fire: () => model.faultClear(p) });
        }
      }
    },
    report() {
      sync();
      out.telemetry({ mainPower: state.mainPower, backupPower: state.backupPower, pointsInAlarm: state.inAlarm, pointsInFault: state.inFault, pointsDisabled: state.disabled });
    },
    drain: () => out.drain(),
    fire(p) {
      if (disabled.has(key(p)) || alarms.has(key(p))) return;
      alarms.add(key(p));
      out.event(p.kind === 'manual_call' ? 'manual_call' : 'fire', pointFields(p));
      if (linkage === 'auto' && !outputsRunning && outputs.length) {
        outputsRunning = true;
        for (const o of outputs) {
          timers.push({ at: simT + LINKAGE_DELAY_SEC, fire: () => out.event('action', pointFields(o)), linkage: true });
          timers.push({ at: simT + LINKAGE_DELAY_SEC + FEEDBACK_DELAY_SEC, fire: () => out.event('action_feedback', pointFields(o)), linkage: true });
        }
      }
      sync();
    },
    fault(p, code = 'fault') {
      if (p) {
        if (faults.has(key(p))) return;
        faults.add(key(p));
        out.event('fault', { ...pointFields(p), code });
      } else {
        panelFault = true;
        out.event('fault', { code });
      }
      sync();
    },
    faultClear(p) {
      if (p) {
        if (!faults.delete(key(p))) return;
        out.event('fault_clear', pointFields(p));
      } else {
        if (!panelFault) return;
        panelFault = false;
        out.event('fault_clear');
      }
      sync();
    },
    disable(p) {
      if (disabled.has(key(p))) return;
      disabled.add(key(p));
      out.event('disable', pointFields(p));
      sync();
    },
    enable(p) {
      if (!disabled.delete(key(p))) return;
      out.event('enable', pointFields(p));
      sync();
    },
    supervisory(p) {
      out.event('supervisory', pointFields(p));
    },
    powerFail(which) {
      if (which === 'main' && state.mainPower === 'ok') {
        state.mainPower = 'fail';
        out.event('main_power_fail');
      } else if (which === 'backup' && state.backupPower === 'ok') {
        state.backupPower = 'fail';
        out.event('backup_power_fail');
      }
      model.report();
    },
    powerRestore(which) {
      if (which === 'main' && state.mainPower === 'fail') {
        state.mainPower = 'ok';
        out.event('main_power_restore');
      } else if (which === 'backup' && state.backupPower === 'fail') {
        state.backupPower = 'ok';
        out.event('backup_power_restore');
      }
      model.report();
    },
    setLinkage(mode) {
      linkage = mode;
    },
    reset() {
      for (const k of alarms) {
        const p = points.find((x) => key(x) === k);
        if (p) out.event('fire_clear', pointFields(p));
      }
      alarms.clear();
      outputsRunning = false;
      for (let i = timers.length - 1; i >= 0; i--) if (timers[i]!.linkage) timers.splice(i, 1);
      out.event('reset');
      sync();
      model.report();
    },
  };
  return model;
}
