// The county every Watchfire scenario loads: simulator/county.ts's seeded demo county (homes of
// elderly residents with one to three detectors, panels, settlement points, rosters, contacts),
// sized to the number of devices a scenario connects. Smoke detectors carry the load; a few
// homes are set aside for alarms so that no loaded device is also an alarming one.
import { generateCounty } from '../../simulator/county.ts';
import type { RegistryFile } from '../../contracts/registry.ts';
import type { WorkerDevice } from './load-protocol.ts';

export interface BenchCounty {
  registry: RegistryFile;
  /** Smoke detectors for the load pool, with their secrets. */
  load: WorkerDevice[];
  /** One detector per home, for alarms (not in `load`). */
  alarm: WorkerDevice[];
  /** Fire panels, for the alarm storm (not in `load`). */
  panels: WorkerDevice[];
}

/** Detectors per home average ≈ 1.98 in the demo county (simulator/county.ts). */
const DETECTORS_PER_HOME = 1.98;

export function benchCounty(loadDevices: number, alarmHomes = 0, seed = 7): BenchCounty {
  const homes = Math.ceil((loadDevices + alarmHomes * 3) / DETECTORS_PER_HOME) + 20;
  const c = generateCounty({ seed, homes });
  const cred = (id: string): WorkerDevice => ({ id, secret: c.credentials[id]! });
  const detectors = c.registry.devices.filter((d) => d.type === 'smoke_detector');
  // Alarm homes: every k-th site, all of its detectors kept out of the load pool.
  const reserved = new Set<string>();
  const alarm: WorkerDevice[] = [];
  const sites = c.registry.sites.filter((s) => s.kind === 'home');
  const step = Math.max(1, Math.floor(sites.length / Math.max(1, alarmHomes)));
  for (let i = 0; alarm.length < alarmHomes && i < sites.length; i += step) {
    const ds = detectors.filter((d) => d.siteId === sites[i]!.id);
    if (!ds.length) continue;
    for (const d of ds) reserved.add(d.id);
    alarm.push(cred(ds[0]!.id));
  }
  const load = detectors.filter((d) => !reserved.has(d.id)).slice(0, loadDevices).map((d) => cred(d.id));
  const panels = c.registry.devices.filter((d) => d.type === 'fire_panel').map((d) => cred(d.id));
  return { registry: c.registry, load, alarm, panels };
}
