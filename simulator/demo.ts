// The demo's traffic: every device of the demo county reporting in compressed time, and a
// scenario every few minutes on a fresh site (a fire first, so a newcomer sees one at once).
import type { Logger } from 'pino';
import type { RegistryFile } from '../contracts/registry.ts';
import { createFleet, type Fleet } from './fleet.ts';
import { createRng } from './prng.ts';
import { SCENARIOS, runScenario, type ScenarioRun } from './scenarios/index.ts';

export interface DemoDeps {
  mqttUrl: string;
  credentials: Readonly<Record<string, string>>;
  registry: RegistryFile;
  /** Simulated seconds per wall second. */
  speed: number;
  scenarioEveryMs: number;
  logger: Logger;
  seed?: number | string;
  /** When the first scenario starts (default: 15 s, or scenarioEveryMs if shorter). */
  firstScenarioMs?: number;
  /** Scenario names in rotation order (default: all, fire first). */
  rotation?: readonly string[];
}

export interface Demo {
  readonly fleet: Fleet;
  /** Scenarios finished so far. */
  readonly runs: readonly ScenarioRun[];
  stop(): Promise<void>;
}

export async function startDemo(deps: DemoDeps): Promise<Demo> {
  const { logger } = deps;
  const seed = deps.seed ?? 1;
  const fleet = createFleet({ url: deps.mqttUrl, registry: deps.registry, credentials: deps.credentials, speed: deps.speed, seed, logger, reconnectMs: 3000 });
  await fleet.start();
  const st = fleet.stats();
  logger.info({ devices: st.devices, connected: st.connected, speed: deps.speed }, 'simulated devices connected');

  const rotation = (deps.rotation ?? SCENARIOS.map((s) => s.name)).map((n) => {
    const s = SCENARIOS.find((x) => x.name === n);
    if (!s) throw new Error(`unknown scenario ${n}`);
    return s;
  });
  const used = new Set<string>();
  const runs: ScenarioRun[] = [];
  const running = new Set<Promise<unknown>>();
  const busy = new Map<Promise<unknown>, string>();
  const abort = new AbortController();
  let next = 0;
  let round = 0;
  let timer: NodeJS.Timeout | undefined;

  const launch = () => {
    const scenario = rotation[next % rotation.length]!;
    next++;
    round++;
    const rng = createRng(seed).fork(`demo/${round}`);
    let targets = scenario.select(deps.registry, rng, used);
    if (!targets) {
      // Every fitting site has had its turn: start over, avoiding only the sites busy right now.
      used.clear();
      for (const id of busy.values()) used.add(id);
      targets = scenario.select(deps.registry, rng, used);
    }
    if (!targets) {
      logger.warn({ scenario: scenario.name }, 'no fitting site left for the scenario; skipped');
      return;
    }
    used.add(targets.siteId);
    const siteId = targets.siteId;
    const p = runScenario({ scenario, fleet, registry: deps.registry, speed: deps.speed, seed: `${seed}/${round}`, targets, logger, signal: abort.signal })
      .then((r) => {
        runs.push(r);
      })
      .catch((err: unknown) => {
        if ((err as Error).name !== 'AbortError') logger.error({ err, scenario: scenario.name }, 'scenario failed');
      })
      .finally(() => {
        running.delete(p);
        busy.delete(p);
      });
    running.add(p);
    busy.set(p, siteId);
  };
  const schedule = (ms: number) => {
    timer = setTimeout(() => {
      launch();
      schedule(deps.scenarioEveryMs);
    }, ms);
  };
  schedule(deps.firstScenarioMs ?? Math.min(15_000, deps.scenarioEveryMs));

  return {
    fleet,
    runs,
    async stop() {
      if (timer) clearTimeout(timer);
      abort.abort();
      await Promise.all([...running]);
      await fleet.stop();
    },
  };
}
