// A fleet of simulated devices: each a model (physics, time-stepped) and a real MQTT connection,
// stepped on its own timer. Simulated time runs `speed` times faster than the wall clock; payload
// timestamps stay on the wall clock, so the gateway sees honest times (PROTOCOL.md `ts`).
import type { Logger } from 'pino';
import type { Device, RegistryFile } from '../contracts/registry.ts';
import type { Clock } from '../contracts/ports.ts';
import { systemClock } from '../contracts/ports.ts';
import { createRng } from './prng.ts';
import { createModel, type AnyModel } from './models/index.ts';
import type { Emission } from './models/types.ts';
import { createDeviceClient, type DeviceClient, type TrafficRecord } from './device-client.ts';

/** While something changes fast (smoke rising), physics are stepped at least this often (wall ms). */
const ACTIVE_STEP_MS = 1000;
/** Boot reports of a fleet starting together are spread over this much wall time. */
const BOOT_REPORT_SPREAD_MS = 3000;
/** Longest setTimeout Node accepts (2^31 − 1 ms). */
const MAX_TIMER_MS = 2_147_483_647;

export interface SimDevice {
  readonly device: Device;
  readonly model: AnyModel;
  readonly client: DeviceClient;
  /** Steps the physics to now and publishes what is queued (after a scenario changed something). */
  poke(): void;
  /** Time-lapse: advance the physics by simSec at once, then publish what is queued. */
  advance(simSec: number): void;
  /** Report now (a reading outside the periodic schedule), and publish. */
  reportNow(): void;
  /** Stops stepping and reporting, and drops the connection (the will says offline). */
  silence(): void;
  /** Reconnects and carries on reporting. */
  revive(): Promise<void>;
  readonly silenced: boolean;
}

export interface FleetDeps {
  url: string;
  registry: RegistryFile;
  credentials: Readonly<Record<string, string>>;
  /** Simulated seconds per wall second (demo: 10; tests: more). */
  speed: number;
  seed?: number | string;
  /** Only these devices (default: every device that has a credential). */
  deviceIds?: readonly string[];
  logger?: Logger | undefined;
  clock?: Clock;
  tap?: (rec: TrafficRecord) => void;
  /** CONNECTs per second while starting (a polite ramp rather than a reconnect storm). */
  connectPerSec?: number;
  reconnectMs?: number;
}

export interface Fleet {
  readonly speed: number;
  readonly registry: RegistryFile;
  start(): Promise<void>;
  stop(): Promise<void>;
  get(id: string): SimDevice | undefined;
  devices(): SimDevice[];
  /** Adds a device of the registry to a running fleet (a scenario running alone needs a few). */
  add(id: string): Promise<SimDevice>;
  stats(): { devices: number; connected: number; sent: number; acked: number; errors: number };
}

export function createFleet(deps: FleetDeps): Fleet {
  const clock = deps.clock ?? systemClock;
  const root = createRng(deps.seed ?? 1);
  const byId = new Map(deps.registry.devices.map((d) => [d.id, d]));
  const sims = new Map<string, SimDevice & { begin(): void; end(): void }>();
  let running = false;

  function build(device: Device) {
    const secret = deps.credentials[device.id];
    if (secret === undefined) throw new Error(`no credential for device ${device.id}`);
    const model = createModel(device, root.fork(device.id), clock);
    const client = createDeviceClient({ url: deps.url, deviceId: device.id, secret, logger: deps.logger, clock, tap: deps.tap, reconnectMs: deps.reconnectMs });
    let timer: NodeJS.Timeout | undefined;
    let lastStep = clock.now();
    // A random phase, so that thousands of devices do not report in the same second.
    let sinceReport = model.reportEverySec() * root.fork(`${device.id}/phase`).next();
    let silenced = false;

    const publish = (emissions: Emission[]) => {
      if (!emissions.length || silenced) return;
      const events = emissions.filter((e) => e.kind === 'events').map((e) => e.payload);
      for (const e of emissions) if (e.kind === 'telemetry') void client.publish('telemetry', e.payload);
      if (model.batchesEvents && events.length > 1) {
        // A panel's transmission unit sends what happened in one instant as one array (≤ 500).
        for (let i = 0; i < events.length; i += 500) void client.publish('events', events.slice(i, i + 500));
      } else for (const e of events) void client.publish('events', e);
    };
    const stepToNow = () => {
      const now = clock.now();
      const dtSim = ((now - lastStep) / 1000) * deps.speed;
      lastStep = now;
      if (dtSim > 0) model.step(dtSim);
      sinceReport += dtSim;
      if (sinceReport >= model.reportEverySec()) {
        sinceReport = 0;
        model.report();
      }
      publish(model.drain());
    };
    const schedule = () => {
      if (!running || silenced) return;
      const untilReportMs = ((model.reportEverySec() - sinceReport) / deps.speed) * 1000;
      const delay = Math.min(MAX_TIMER_MS, Math.max(20, model.active() ? Math.min(ACTIVE_STEP_MS, untilReportMs) : untilReportMs));
      timer = setTimeout(tick, delay);
    };
    const tick = () => {
      timer = undefined;
      stepToNow();
      schedule();
    };
    const sim = {
      device,
      model,
      client,
      get silenced() {
        return silenced;
      },
      poke() {
        if (timer) clearTimeout(timer);
        timer = undefined;
        stepToNow();
        schedule();
      },
      advance(simSec: number) {
        model.step(simSec);
        publish(model.drain());
      },
      reportNow() {
        stepToNow();
        model.report();
        sinceReport = 0;
        publish(model.drain());
      },
      silence() {
        silenced = true;
        if (timer) clearTimeout(timer);
        timer = undefined;
        client.dropConnection();
      },
      async revive() {
        if (!silenced) return;
        silenced = false;
        lastStep = clock.now();
        model.drain(); // what happened while it was dead is not remembered by this firmware
        await client.reconnect();
        schedule();
      },
      begin() {
        lastStep = clock.now();
        // Firmware reports once when it boots and joins the network, then on its own schedule
        // (with a random phase); a daily NB-IoT unit would otherwise stay blank for hours.
        const jitterMs = root.fork(`${device.id}/boot`).next() * BOOT_REPORT_SPREAD_MS;
        timer = setTimeout(() => {
          timer = undefined;
          if (!running || silenced) return;
          stepToNow();
          model.report();
          publish(model.drain());
          schedule();
        }, jitterMs);
      },
      end() {
        if (timer) clearTimeout(timer);
        timer = undefined;
      },
    };
    return sim;
  }

  async function connectAll(list: Array<SimDevice & { begin(): void }>): Promise<void> {
    const perSec = deps.connectPerSec ?? 200;
    const batch = Math.max(1, Math.round(perSec / 10));
    for (let i = 0; i < list.length; i += batch) {
      const slice = list.slice(i, i + batch);
      const t0 = Date.now();
      await Promise.all(slice.map(async (s) => {
        try {
          await s.client.start();
          s.begin();
        } catch (err) {
          deps.logger?.warn({ err, deviceId: s.device.id }, 'device could not connect');
        }
      }));
      const wait = 100 - (Date.now() - t0);
      if (wait > 0 && i + batch < list.length) await new Promise((r) => setTimeout(r, wait));
    }
  }

  const ids = deps.deviceIds ?? deps.registry.devices.filter((d) => deps.credentials[d.id] !== undefined && d.enabled !== false).map((d) => d.id);
  for (const id of ids) {
    const d = byId.get(id);
    if (!d) throw new Error(`device ${id} is not in the registry`);
    sims.set(id, build(d));
  }

  return {
    speed: deps.speed,
    registry: deps.registry,
    async start() {
      running = true;
      await connectAll([...sims.values()]);
    },
    async stop() {
      running = false;
      for (const s of sims.values()) s.end();
      await Promise.all([...sims.values()].map((s) => s.client.stop()));
    },
    get: (id) => sims.get(id),
    devices: () => [...sims.values()],
    async add(id) {
      const existing = sims.get(id);
      if (existing) return existing;
      const d = byId.get(id);
      if (!d) throw new Error(`device ${id} is not in the registry`);
      const s = build(d);
      sims.set(id, s);
      if (running) await connectAll([s]);
      return s;
    },
    stats() {
      let connected = 0, sent = 0, acked = 0, errors = 0;
      for (const s of sims.values()) {
        if (s.client.connected) connected++;
        sent += s.client.stats.sent;
        acked += s.client.stats.acked;
        errors += s.client.stats.errors;
      }
      return { devices: sims.size, connected, sent, acked, errors };
    },
  };
}
