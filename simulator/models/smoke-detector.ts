// A networked home smoke alarm (optical chamber, heat element, optional CO cell, battery, radio).
// Scenarios set sources (smoke, heat, CO); the detector sees them through a first-order lag and
// measurement noise, alarms on its own thresholds, and reports like firmware does.
import { approach, clamp, createOutbox, round, type DeviceModel, type ModelDeps } from './types.ts';

/**
 * The detector's own alarm point: EN 14604 / EN 54-7 optical smoke alarms respond between about
 * 0.05 and 0.2 dB/m; 0.12 sits inside that band, below the 0.15 dB/m red line of the rules.
 */
export const DETECTOR_SMOKE_ALARM = 0.12;
/** Clears with hysteresis, so a drifting haze does not flap alarm/alarm_clear. */
export const DETECTOR_SMOKE_CLEAR = 0.05;
/** Fixed heat element, class A1 of EN 54-5 (static response 54–65 °C). */
export const DETECTOR_HEAT_ALARM_C = 57;
/** The chirp threshold of most lithium-powered alarms. */
export const DETECTOR_LOW_BATTERY_PCT = 20;
/** EN 14604 5.21: a hush (alarm silence) lasts at most 15 minutes. */
export const HUSH_SEC = 10 * 60;
/** Measurement noise of an optical chamber (dB/m), a thermistor (°C) and an electrochemical CO cell (ppm). */
const SMOKE_NOISE = 0.002;
const TEMP_NOISE = 0.1;
const CO_NOISE = 0.5;
/** Mean time between presses of the test button by a diligent resident: a month. */
const MONTHLY_TEST_SEC = 30 * 86_400;
/** While in alarm or smoke is rising, firmware reports every 10 s instead of its interval. */
export const FAST_REPORT_SEC = 10;

export interface Source {
  /** Where the quantity is heading, and the time constant of the approach (seconds). */
  target: number;
  tauSec: number;
}

export interface SmokeDetectorModel extends DeviceModel {
  readonly type: 'smoke_detector';
  readonly state: Readonly<{ smoke: number; temp: number; co: number; battery: number; rssi: number; alarm: boolean; hushed: boolean; tampered: boolean; fault: string | undefined }>;
  /** Smoke in the room heading to `target` dB/m (cooking: 0.2 over a minute or two; a fire: 1+). */
  setSmoke(src: Source): void;
  setHeat(src: Source): void;
  setCo(src: Source): void;
  /** Window opened / fire out: everything drifts back to the room's normal. */
  ventilate(tauSec?: number): void;
  hush(): void;
  pressTest(): void;
  removeFromBase(): void;
  mount(): void;
  fault(code: string): void;
  clearFault(): void;
  /** Drain the battery towards `toPct` over `overSec` simulated seconds (a dying battery). */
  drainBattery(toPct: number, overSec: number): void;
  replaceBattery(): void;
}

export function createSmokeDetector(deps: ModelDeps): SmokeDetectorModel {
  const { rng, clock } = deps;
  const out = createOutbox(clock);
  const battPowered = deps.meta?.power === 'battery';
  const hasCo = deps.meta?.co === true;
  const roomBase = rng.range(17, 25);
  const rssiBase = battPowered ? rng.range(-105, -88) : rng.range(-82, -60);
  let simT = rng.range(0, 86_400); // phase of the day, so homes do not all warm up together
  const s = { smoke: rng.range(0.002, 0.01), temp: roomBase, co: hasCo ? rng.range(0, 3) : 0, battery: battPowered ? rng.int(55, 100) : rng.int(85, 100), rssi: rssiBase, alarm: false, hushed: false, tampered: false, fault: undefined as string | undefined };
  const room = { smoke: s.smoke, temp: s.temp, co: s.co };
  let smokeSrc: Source = { target: s.smoke, tauSec: 600 };
  let heatSrc: Source | undefined;
  let coSrc: Source = { target: s.co, tauSec: 600 };
  let hushLeft = 0;
  let drain: { perSec: number; to: number } | undefined;
  let lowSent = false;
  const ambient = () => roomBase + 2 * Math.sin((2 * Math.PI * simT) / 86_400); // a flat's day–night swing

  function checkAlarm(): void {
    const smoky = s.smoke >= DETECTOR_SMOKE_ALARM || s.temp >= DETECTOR_HEAT_ALARM_C;
    if (!s.alarm && smoky) {
      s.alarm = true;
      out.event('alarm', { cause: s.temp >= DETECTOR_HEAT_ALARM_C && s.smoke < DETECTOR_SMOKE_ALARM ? 'heat' : 'smoke', smoke: round(s.smoke, 3), temp: round(s.temp, 1) });
      // An immediate reading with the alarm: firmware sends what it measured when it went off.
      report();
    } else if (s.alarm && s.smoke < DETECTOR_SMOKE_CLEAR && s.temp < DETECTOR_HEAT_ALARM_C - 5) {
      s.alarm = false;
      s.hushed = false;
      hushLeft = 0;
      out.event('alarm_clear');
      report();
    }
  }

  function report(): void {
    const v: Record<string, number> = {
      smoke: round(clamp(s.smoke, 0, 2), 3),
      temp: round(clamp(s.temp, -40, 150), 1),
      battery: Math.round(clamp(s.battery, 0, 100)),
      rssi: Math.round(clamp(s.rssi, -140, 0)),
    };
    if (hasCo) v.co = round(clamp(s.co, 0, 10_000), 1);
    out.telemetry(v);
  }

  return {
    deviceId: deps.deviceId,
    type: 'smoke_detector',
    batchesEvents: false,
    state: s,
    reportEverySec: () => (s.alarm || s.smoke >= DETECTOR_SMOKE_ALARM / 2 || (heatSrc && s.temp > 40) ? FAST_REPORT_SEC : deps.intervalSec),
    active: () => s.alarm || smokeSrc.target > 0.03 || heatSrc !== undefined || coSrc.target > 10 || drain !== undefined || s.smoke > 0.03,
    step(dt) {
      if (dt <= 0) return;
      simT += dt;
      // The room follows its sources smoothly; what the sensors read carries measurement noise.
      room.smoke = approach(room.smoke, smokeSrc.target, dt, smokeSrc.tauSec);
      room.temp = approach(room.temp, heatSrc ? heatSrc.target : ambient(), dt, heatSrc ? heatSrc.tauSec : 1800);
      room.co = approach(room.co, coSrc.target, dt, coSrc.tauSec);
      s.smoke = Math.max(0, room.smoke + rng.normal(SMOKE_NOISE));
      s.temp = room.temp + rng.normal(TEMP_NOISE);
      if (hasCo) s.co = Math.max(0, room.co + rng.normal(CO_NOISE));
      s.rssi = clamp(s.rssi + rng.normal(0.8) + (rssiBase - s.rssi) * 0.1, -140, 0);
      if (drain) {
        s.battery = Math.max(drain.to, s.battery - drain.perSec * dt);
        if (s.battery <= drain.to) drain = undefined;
      } else if (battPowered) {
        s.battery = Math.max(0, s.battery - dt / (10 * 365 * 86_400) * 100); // a 10-year lithium cell
      }
      if (!lowSent && s.battery <= DETECTOR_LOW_BATTERY_PCT) {
        lowSent = true;
        out.event('low_battery', { battery: Math.round(s.battery) });
      }
      // Residents are asked to press the test button monthly (EN 14604 user instructions); some do.
      if (rng.chance(dt / MONTHLY_TEST_SEC)) out.event('test');
      if (hushLeft > 0) {
        hushLeft -= dt;
        if (hushLeft <= 0) s.hushed = false;
      }
      if (heatSrc && Math.abs(room.temp - ambient()) < 0.5 && heatSrc.target <= ambient()) heatSrc = undefined;
      checkAlarm();
    },
    report,
    drain: () => out.drain(),
    setSmoke(src) {
      smokeSrc = src;
    },
    setHeat(src) {
      heatSrc = src;
    },
    setCo(src) {
      coSrc = src;
    },
    ventilate(tauSec = 180) {
      smokeSrc = { target: rng.range(0.002, 0.008), tauSec };
      if (heatSrc) heatSrc = { target: ambient(), tauSec: tauSec * 2 };
      coSrc = { target: hasCo ? rng.range(0, 3) : 0, tauSec };
    },
    hush() {
      s.hushed = true;
      hushLeft = HUSH_SEC;
      out.event('hush');
    },
    pressTest() {
      out.event('test');
    },
    removeFromBase() {
      if (s.tampered) return;
      s.tampered = true;
      out.event('tamper');
    },
    mount() {
      if (!s.tampered) return;
      s.tampered = false;
      out.event('tamper_clear');
    },
    fault(code) {
      s.fault = code;
      out.event('fault', { code });
    },
    clearFault() {
      if (s.fault === undefined) return;
      s.fault = undefined;
      out.event('fault_clear');
    },
    drainBattery(toPct, overSec) {
      drain = { to: toPct, perSec: Math.max(0, s.battery - toPct) / Math.max(1, overSec) };
    },
    replaceBattery() {
      drain = undefined;
      s.battery = 100;
      lowSent = false;
      report();
    },
  };
}
