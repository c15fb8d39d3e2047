// Devices as they actually arrive (issue 20 point 4): fire panels behind simulated GB/T 26875.3
// transmission units over TCP, and NB-IoT smoke detectors behind a simulated CTWing or OneNET
// pushing over HTTP. `withIngressDevices` adds a few of each to a registry (their way in is in
// `meta`, contracts/GBT26875.md and NBIOT.md); `startIngressFleet` runs them: periodic reports,
// and the two ingress scenarios below, which the demo plays in its rotation.
import type { Logger } from 'pino';
import type { Device, RegistryFile } from '../contracts/registry.ts';
import type { Clock } from '../contracts/ports.ts';
import { systemClock } from '../contracts/ports.ts';
import { createRng } from './prng.ts';
import { createFirePanel, type FirePanelModel } from './models/index.ts';
import { connectTransmissionUnit, type TransmissionUnit } from './gbt26875-unit.ts';
import { createNbiotPlatform, type NbDevice, type NbiotPlatform } from './nbiot-platform.ts';
import type { Text } from './scenarios/types.ts';

export interface IngressFleetDeps {
  /** The registry with the ingress devices (withIngressDevices). */
  registry: RegistryFile;
  gbt?: { host: string; port: number; centerAddress?: string } | undefined;
  /** Watchfire's HTTP base URL and the push secrets, for the NB-IoT platforms. */
  nbiot?: { baseUrl: string; onenetToken?: string | undefined; ctwingToken?: string | undefined } | undefined;
  /** Simulated seconds per wall second. */
  speed: number;
  logger: Logger;
  clock?: Clock;
  seed?: number | string;
}

export interface IngressScenario {
  readonly name: string;
  readonly title: Text;
  /** What Watchfire should make of it. */
  readonly expects: Text;
}

export const INGRESS_SCENARIOS: readonly IngressScenario[] = [
  {
    name: 'gbt-panel-fire',
    title: { en: 'A fire at a panel behind a GB/T 26875.3 transmission unit', zh: '用户信息传输装置上报的火警' },
    expects: { en: 'One red panel-zone fire incident; the unit is confirmed frame by frame; the point clears and the panel is reset.', zh: '一起红色火警事件（按防火分区）；每帧均获确认；点位恢复，主机复位。' },
  },
  {
    name: 'nbiot-home-alarm',
    title: { en: 'An NB-IoT smoke alarm in a home, pushed by CTWing or OneNET', zh: '经电信/移动物联网平台推送的NB烟感报警' },
    expects: { en: 'One red fire incident for the home; the alarm clears a minute later.', zh: '该住户一起红色火警事件；一分钟后报警解除。' },
  },
];

/** Adds two GB/T panels and four NB-IoT detectors (two per platform) to a registry's buildings and homes. */
export function withIngressDevices(registry: RegistryFile): RegistryFile {
  // Buildings first, then compounds and businesses: the demo county has one building, and a panel
  // behind a transmission unit is as much at home in a compound's control room.
  const buildings = (['building', 'compound', 'business'] as const).flatMap((k) => registry.sites.filter((s) => s.kind === k)).slice(0, 2);
  const homes = registry.sites.filter((s) => s.kind === 'home').slice(0, 4);
  const extra: Device[] = [
    ...buildings.map((b, i): Device => ({
      id: `gbt-${i + 1}`, type: 'fire_panel', siteId: b.id, location: '消控室 (GB/T 26875.3)', enabled: true,
      meta: { gbtAddress: `0000000a00${String(i + 1).padStart(2, '0')}`, loops: 2, pointsPerLoop: 40 },
    })),
    ...homes.map((h, i): Device => ({
      id: `nb-${i + 1}`, type: 'smoke_detector', siteId: h.id, location: '卧室 (NB-IoT)', enabled: true,
      meta: { imei: `86900000000${String(i + 1).padStart(4, '0')}`, nbDeviceId: `${600000000 + i + 1}`, nbPlatform: i % 2 === 0 ? 'ctwing' : 'onenet', nbProductId: 15000001 },
    })),
  ];
  return { ...registry, devices: [...registry.devices, ...extra] };
}

export async function startIngressFleet(deps: IngressFleetDeps) {
  const clock = deps.clock ?? systemClock;
  const { logger } = deps;
  const rng = createRng(deps.seed ?? 1).fork('ingress');
  const units = new Map<string, { unit: TransmissionUnit; model: FirePanelModel }>();
  const detectors = new Map<string, { dev: NbDevice; platform: NbiotPlatform }>();
  const timers: NodeJS.Timeout[] = [];
  const every = (simSec: number, fn: () => Promise<unknown>) => {
    const t = setInterval(() => {
      fn().catch((err: unknown) => logger.warn({ err }, 'ingress device report failed'));
    }, Math.max(200, (simSec * 1000) / deps.speed));
    t.unref();
    timers.push(t);
  };

  if (deps.gbt) {
    for (const d of deps.registry.devices.filter((x) => typeof x.meta?.gbtAddress === 'string')) {
      const unit = await connectTransmissionUnit({ host: deps.gbt.host, port: deps.gbt.port, address: String(d.meta!.gbtAddress), ...(deps.gbt.centerAddress ? { centerAddress: deps.gbt.centerAddress } : {}), clock });
      const model = createFirePanel({ deviceId: d.id, rng: rng.fork(d.id), clock, intervalSec: d.intervalSec ?? 60, meta: d.meta });
      units.set(d.id, { unit, model });
      await unit.heartbeat();
      // The unit's heartbeat and the panel's state, once per reporting interval (60 s for panels).
      every(d.intervalSec ?? 60, async () => {
        model.report();
        await unit.emit(model.drain());
      });
    }
  }
  if (deps.nbiot) {
    const nb = deps.nbiot;
    const platforms = {
      ctwing: nb.ctwingToken ? createNbiotPlatform({ platform: 'ctwing', baseUrl: nb.baseUrl, token: nb.ctwingToken, clock }) : undefined,
      onenet: nb.onenetToken ? createNbiotPlatform({ platform: 'onenet', baseUrl: nb.baseUrl, token: nb.onenetToken, clock }) : undefined,
    };
    for (const d of deps.registry.devices.filter((x) => x.meta?.nbPlatform === 'ctwing' || x.meta?.nbPlatform === 'onenet')) {
      const platform = platforms[d.meta!.nbPlatform as 'ctwing' | 'onenet'];
      if (!platform) continue;
      const dev: NbDevice = { imei: String(d.meta!.imei), platformId: String(d.meta!.nbDeviceId) };
      detectors.set(d.id, { dev, platform });
      await platform.online(dev, true);
      let battery = 95 - rng.int(0, 10);
      every(d.intervalSec ?? 300, async () => {
        battery = Math.max(5, battery - 0.01);
        await platform.dataReport(dev, { battery_value: Math.round(battery), signal_strength: -90 - rng.int(0, 20), smoke: 0.02 });
      });
    }
  }
  logger.info({ units: units.size, nbiot: detectors.size }, 'ingress devices running (GB/T 26875.3 units, NB-IoT platforms)');

  const sleep = (simSec: number) => new Promise<void>((r) => setTimeout(r, (simSec * 1000) / deps.speed));
  let turn = 0;

  return {
    units: () => [...units.keys()],
    detectors: () => [...detectors.keys()],
    /** Plays an ingress scenario on one of its devices (the next one in turn when none is named). */
    async runScenario(name: IngressScenario['name'], deviceId?: string): Promise<string | undefined> {
      turn++;
      if (name === 'gbt-panel-fire') {
        const ids = [...units.keys()];
        const id = deviceId ?? ids[turn % Math.max(1, ids.length)];
        const u = id ? units.get(id) : undefined;
        if (!u) return undefined;
        const p = u.model.points.find((x) => x.kind === 'smoke')!;
        u.model.fire(p);
        await u.unit.emit(u.model.drain());
        await sleep(120);
        u.model.reset();
        await u.unit.emit(u.model.drain());
        return id;
      }
      const ids = [...detectors.keys()];
      const id = deviceId ?? ids[turn % Math.max(1, ids.length)];
      const det = id ? detectors.get(id) : undefined;
      if (!det) return undefined;
      await det.platform.dataReport(det.dev, { smoke_state: 1, smoke: 1.2 });
      await sleep(60);
      await det.platform.dataReport(det.dev, { smoke_state: 0, smoke: 0.03 });
      return id;
    },
    async stop(): Promise<void> {
      for (const t of timers) clearInterval(t);
      await Promise.all([...units.values()].map((u) => u.unit.close().catch(() => undefined)));
    },
  };
}

export type IngressFleet = Awaited<ReturnType<typeof startIngressFleet>>;
