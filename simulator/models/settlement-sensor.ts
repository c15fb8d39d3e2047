// A building deformation monitoring point: a hydrostatic levelling cell (settlement, mm) with a
// biaxial inclinometer (tilt, ‰), or a crack meter on a known crack. Old buildings settle very
// slowly; the noise is what real cells show, so rate rules must regress, not difference two points.
import { clamp, createOutbox, round, type DeviceModel, type ModelDeps } from './types.ts';

/** Hydrostatic levelling repeatability of about ±0.1–0.3 mm (vendor data sheets): σ 0.15 mm. */
const SETTLEMENT_NOISE_MM = 0.15;
/** MEMS inclinometer resolution about 0.01°, i.e. ≈0.17 ‰; σ 0.03 ‰ after on-board averaging. */
const TILT_NOISE_PERMIL = 0.03;
const CRACK_NOISE_MM = 0.01;
/** Differential settlement tilts the wall: ‰ of tilt per mm of settlement at this point (a 10 m lever arm). */
const TILT_PER_MM = 0.1;

export interface SettlementSensorModel extends DeviceModel {
  readonly type: 'settlement_sensor';
  readonly crackMeter: boolean;
  readonly state: Readonly<{ settlement: number; tiltX: number; tiltY: number; crack: number; battery: number; fault: string | undefined }>;
  /** Settlement rate in mm per day (an old building: 0.002; a nearby excavation: 0.5–3). */
  setCreepRate(mmPerDay: number): void;
  fault(code: string): void;
  clearFault(): void;
}

export function createSettlementSensor(deps: ModelDeps): SettlementSensorModel {
  const { rng, clock, meta } = deps;
  const out = createOutbox(clock);
  const crackMeter = meta?.crackMeter === true;
  const s = {
    settlement: Number(meta?.baseSettlementMm ?? rng.range(0, 5)),
    tiltX: Number(meta?.baseTiltPermil ?? rng.range(0, 1)),
    tiltY: rng.range(-0.3, 0.3),
    crack: Number(meta?.baseCrackMm ?? (crackMeter ? rng.range(0.2, 0.8) : 0)),
    battery: rng.int(60, 100),
    fault: undefined as string | undefined,
  };
  let rate = rng.range(0, 0.004); // mm/day: decades-old buildings have all but stopped settling
  const tiltDir = rng.range(0, 2 * Math.PI);

  return {
    deviceId: deps.deviceId,
    type: 'settlement_sensor',
    batchesEvents: false,
    crackMeter,
    state: s,
    reportEverySec: () => deps.intervalSec,
    active: () => false,
    step(dt) {
      const dd = (rate * dt) / 86_400;
      s.settlement += dd;
      s.tiltX += dd * TILT_PER_MM * Math.cos(tiltDir);
      s.tiltY += dd * TILT_PER_MM * Math.sin(tiltDir);
      if (crackMeter) s.crack += dd * 0.1; // a crack opens with the differential settlement
      s.battery = Math.max(0, s.battery - dt / (5 * 365 * 86_400) * 100); // five years on its pack
    },
    report() {
      if (s.fault) return; // a faulted cell sends no values until repaired
      if (crackMeter) {
        out.telemetry({ crack: round(clamp(s.crack + rng.normal(CRACK_NOISE_MM), 0, 1000), 3), battery: Math.round(s.battery) });
      } else {
        out.telemetry({
          settlement: round(clamp(s.settlement + rng.normal(SETTLEMENT_NOISE_MM), -1000, 1000), 2),
          tiltX: round(clamp(s.tiltX + rng.normal(TILT_NOISE_PERMIL), -1000, 1000), 3),
          tiltY: round(clamp(s.tiltY + rng.normal(TILT_NOISE_PERMIL), -1000, 1000), 3),
          battery: Math.round(s.battery),
        });
      }
    },
    drain: () => out.drain(),
    setCreepRate(mmPerDay) {
      rate = mmPerDay;
    },
    fault(code) {
      s.fault = code;
      out.event('fault', { code });
    },
    clearFault() {
      if (!s.fault) return;
      s.fault = undefined;
      out.event('fault_clear');
    },
  };
}
