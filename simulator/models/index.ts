// One model per device type, built from the registry entry of the device.
import type { Device } from '../../contracts/registry.ts';
import { DEFAULT_INTERVAL_SEC } from '../../contracts/registry.ts';
import type { Clock } from '../../contracts/ports.ts';
import type { Rng } from '../prng.ts';
import { createSmokeDetector, type SmokeDetectorModel } from './smoke-detector.ts';
import { createFirePanel, type FirePanelModel, type PanelPoint } from './fire-panel.ts';
import { createSettlementSensor, type SettlementSensorModel } from './settlement-sensor.ts';

export type AnyModel = SmokeDetectorModel | FirePanelModel | SettlementSensorModel;

export function createModel(device: Pick<Device, 'id' | 'type' | 'intervalSec' | 'meta'>, rng: Rng, clock: Clock): AnyModel {
  const deps = { deviceId: device.id, rng, clock, intervalSec: device.intervalSec ?? DEFAULT_INTERVAL_SEC[device.type], meta: device.meta };
  switch (device.type) {
    case 'smoke_detector':
      return createSmokeDetector(deps);
    case 'fire_panel':
      return createFirePanel(deps);
    case 'settlement_sensor':
      return createSettlementSensor(deps);
  }
}

export type { DeviceModel, Emission, Payload } from './types.ts';
export type { SmokeDetectorModel, FirePanelModel, SettlementSensorModel, PanelPoint };
export { createSmokeDetector, createFirePanel, createSettlementSensor };
