// Every scenario, and how one runs: alone (a fleet of just its devices) or on top of background
// traffic (the devices of a running fleet).
import { createFleet, type Fleet, type SimDevice } from '../fleet.ts';
import { createRng } from '../prng.ts';
import { devicesOfSite, type RunScenarioDeps, type Scenario, type ScenarioContext, type ScenarioRun } from './types.ts';
import { kitchenSmoke } from './kitchen-smoke.ts';
import { fireSpread } from './fire-spread.ts';
import { panelStorm } from './panel-storm.ts';
import { dyingBattery } from './dying-battery.ts';
import { tamper } from './tamper.ts';
import { silentDevice } from './silent-device.ts';
import { powerLoss } from './power-loss.ts';
import { settlementCreep } from './settlement-creep.ts';
import { malformed } from './malformed.ts';

export const SCENARIOS: readonly Scenario[] = [fireSpread, kitchenSmoke, panelStorm, dyingBattery, tamper, silentDevice, powerLoss, settlementCreep, malformed];

export function findScenario(name: string): Scenario | undefined {
  return SCENARIOS.find((s) => s.name === name);
}

function abortError(): Error {
  const e = new Error('scenario aborted');
  e.name = 'AbortError';
  return e;
}

function wallSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(abortError());
    const onAbort = () => {
      clearTimeout(t);
      reject(abortError());
    };
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, Math.max(0, ms));
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

export async function runScenario(deps: RunScenarioDeps): Promise<ScenarioRun> {
  const { scenario, registry, speed } = deps;
  const rng = createRng(deps.seed ?? 1).fork(`scenario/${scenario.name}`);
  const targets = deps.targets ?? scenario.select(registry, rng, deps.exclude);
  if (!targets) throw new Error(`scenario ${scenario.name}: no fitting site in the registry`);
  const signal = deps.signal ?? new AbortController().signal;
  let fleet: Fleet | undefined = deps.fleet;
  let own = false;
  if (!fleet) {
    if (!deps.url || !deps.credentials) throw new Error(`scenario ${scenario.name}: a url and credentials are needed to run alone`);
    // Alone: the target devices and the rest of their site, so the home looks like a home.
    const ids = new Set([...targets.deviceIds, ...devicesOfSite(registry, targets.siteId).map((d) => d.id)]);
    fleet = createFleet({ url: deps.url, registry, credentials: deps.credentials, speed, seed: deps.seed ?? 1, deviceIds: [...ids].filter((id) => deps.credentials![id] !== undefined), logger: deps.logger, ...(deps.tap ? { tap: deps.tap } : {}) });
    own = true;
    await fleet.start();
  }
  const f = fleet;
  const log = deps.logger?.child({ scenario: scenario.name, site: targets.siteId });
  const ctx: ScenarioContext = {
    fleet: f,
    targets,
    speed,
    rng,
    options: deps.options ?? {},
    signal,
    device(id): SimDevice {
      const d = f.get(id);
      if (!d) throw new Error(`scenario ${scenario.name}: device ${id} is not in the fleet`);
      return d;
    },
    sleep: (simSec) => wallSleep((simSec / speed) * 1000, signal),
    sleepWall: (ms) => wallSleep(ms, signal),
    async until(pred, maxSimSec) {
      for (let t = 0; t < maxSimSec; t++) {
        if (pred()) return true;
        await wallSleep(1000 / speed, signal);
        // Step the devices of the scenario so that their state is current when pred looks at it.
        for (const id of targets.deviceIds) f.get(id)?.poke();
      }
      return pred();
    },
    log: (msg, extra) => log?.info({ ...extra }, msg),
  };
  const startedAt = Date.now();
  log?.info({ devices: targets.deviceIds }, `scenario ${scenario.name} starts`);
  try {
    await scenario.run(ctx);
  } finally {
    if (own) await f.stop();
  }
  const endedAt = Date.now();
  log?.info({ ms: endedAt - startedAt }, `scenario ${scenario.name} done`);
  return { name: scenario.name, targets, startedAt, endedAt };
}

export type { Scenario, ScenarioRun, Targets, ExpectedIncident, RunScenarioDeps, ScenarioOptions } from './types.ts';
