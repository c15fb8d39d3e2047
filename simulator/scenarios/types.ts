// A scenario is a named, documented script over one or more simulated devices, with the incidents
// it is expected to produce written down beside it (the scenario tests check exactly those).
import type { Logger } from 'pino';
import type { Category, Level } from '../../contracts/findings.ts';
import type { ErrorCode } from '../../contracts/errors.ts';
import type { Device, RegistryFile } from '../../contracts/registry.ts';
import type { Rng } from '../prng.ts';
import type { Fleet, SimDevice } from '../fleet.ts';
import type { TrafficRecord } from '../device-client.ts';

export interface Text {
  readonly en: string;
  readonly zh: string;
}

/** The site a scenario acts on and the devices it drives. */
export interface Targets {
  readonly siteId: string;
  readonly deviceIds: readonly string[];
}

export interface ExpectedIncident {
  /** How the incident is keyed (contracts/incidents.ts): per site, per panel zone, per device. */
  readonly key: 'site' | 'panel_zone' | 'device';
  readonly category: Category;
  /** The highest level it reaches. */
  readonly level: Level;
  /** Levels in the order they are reached, when the incident is raised on the way (creep: yellow, red). */
  readonly levels?: readonly Level[];
  readonly condition?: string;
  readonly confirmed?: boolean;
  /** How many: a number, or one per affected panel zone / per target device. */
  readonly count: number | 'per_zone' | 'per_device';
  /** Resolves by itself before the script ends (the condition cleared). */
  readonly resolvesItself?: boolean;
  readonly text: Text;
}

export interface Expectations {
  readonly incidents: readonly ExpectedIncident[];
  /** Dead-letter reason codes the gateway must record (malformed traffic). */
  readonly deadLetters?: readonly ErrorCode[];
  readonly text: Text;
}

export interface ScenarioOptions {
  /** How long a silenced device or home stays dark (wall ms); default long enough to be declared offline. */
  holdMs?: number;
  /** Panel storm: zones hit (default 3). */
  zones?: number;
}

export interface ScenarioContext {
  readonly fleet: Fleet;
  readonly targets: Targets;
  readonly speed: number;
  readonly rng: Rng;
  readonly options: ScenarioOptions;
  readonly signal: AbortSignal;
  device(id: string): SimDevice;
  /** Waits simulated seconds (simSec / speed of wall time). */
  sleep(simSec: number): Promise<void>;
  /** Waits wall-clock ms: for what the gateway times on its own clock (offline thresholds). */
  sleepWall(ms: number): Promise<void>;
  /** Waits until pred holds, checking every simulated second, at most maxSimSec; returns whether it held. */
  until(pred: () => boolean, maxSimSec: number): Promise<boolean>;
  log(msg: string, extra?: Record<string, unknown>): void;
}

export interface Scenario {
  readonly name: string;
  readonly title: Text;
  readonly description: Text;
  readonly expects: Expectations;
  /** Picks the site and devices from the registry; undefined when the registry has none that fit. */
  select(registry: RegistryFile, rng: Rng, exclude?: ReadonlySet<string>): Targets | undefined;
  run(ctx: ScenarioContext): Promise<void>;
}

export interface ScenarioRun {
  readonly name: string;
  readonly targets: Targets;
  readonly startedAt: number;
  readonly endedAt: number;
}

export interface RunScenarioDeps {
  scenario: Scenario;
  /** Background traffic to run on top of; without one, a fleet of just the targets is started and stopped. */
  fleet?: Fleet;
  url?: string;
  registry: RegistryFile;
  credentials?: Readonly<Record<string, string>>;
  speed: number;
  seed?: number | string;
  targets?: Targets;
  exclude?: ReadonlySet<string>;
  options?: ScenarioOptions;
  logger?: Logger | undefined;
  signal?: AbortSignal;
  /** Sees every publish of a fleet started for the run (record mode). */
  tap?: (rec: TrafficRecord) => void;
}

// ---- helpers shared by the scenario scripts ----------------------------------------------------

export const devicesOfSite = (r: RegistryFile, siteId: string): Device[] => r.devices.filter((d) => d.siteId === siteId && d.enabled !== false);

/** Homes whose detectors match, in a seeded random order. */
export function pickHome(r: RegistryFile, rng: Rng, exclude: ReadonlySet<string> | undefined, fits: (devs: Device[]) => boolean): string | undefined {
  const homes = r.sites.filter((s) => s.kind === 'home' && !exclude?.has(s.id));
  const bySite = new Map<string, Device[]>();
  for (const d of r.devices) {
    if (d.type !== 'smoke_detector' || d.enabled === false) continue;
    const l = bySite.get(d.siteId) ?? [];
    l.push(d);
    bySite.set(d.siteId, l);
  }
  const fitting = homes.filter((h) => fits(bySite.get(h.id) ?? []));
  return fitting.length ? rng.pick(fitting).id : undefined;
}

export const room = (d: Device): unknown => d.meta?.room;
export const isMains = (d: Device): boolean => d.meta?.power !== 'battery';
