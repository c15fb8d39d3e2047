// The fleet and its device clients over a real broker: compressed-time reports with protocol-valid
// payloads and rising seq, the retained online status, the will when a device goes silent, and a
// retained offline status when the simulator stops.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server, type AddressInfo } from 'node:net';
import { Aedes } from 'aedes';
import mqtt, { type MqttClient } from 'mqtt';
import { TelemetryByType, EventByType, parseTopic, type DeviceType } from '../contracts/protocol.ts';
import { generateCounty } from '../simulator/county.ts';
import { createFleet } from '../simulator/fleet.ts';

interface Msg { topic: string; payload: string; retain: boolean }

describe('fleet over a real broker', () => {
  let broker: Aedes;
  let server: Server;
  let url: string;
  let observer: MqttClient;
  const msgs: Msg[] = [];
  const county = generateCounty({ seed: 3, homes: 3, centers: 1, panels: 1, settlementBuildings: 0, nbIotShare: 0 });

  beforeAll(async () => {
    broker = await Aedes.createBroker();
    server = createServer(broker.handle);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`;
    observer = await mqtt.connectAsync(url, { protocolVersion: 4 });
    observer.on('message', (topic, payload, packet) => msgs.push({ topic, payload: payload.toString(), retain: packet.retain }));
    await observer.subscribeAsync('v1/devices/#', { qos: 1 });
  });
  afterAll(async () => {
    await observer.endAsync();
    await new Promise<void>((r) => broker.close(() => r()));
    await new Promise<void>((r) => server.close(() => r()));
  });

  const until = async (pred: () => boolean, what: string) => {
    const deadline = Date.now() + 10_000;
    while (!pred()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const typeOf = (id: string): DeviceType => county.registry.devices.find((d) => d.id === id)!.type;

  it('reports every device in compressed time with valid payloads, seq rising, online status first', async () => {
    // 300× : a mains detector's 300 s interval is one wall second; a panel's 60 s heartbeat 0.2 s.
    const fleet = createFleet({ url, registry: county.registry, credentials: county.credentials, speed: 300, seed: 3 });
    await fleet.start();
    const ids = county.registry.devices.map((d) => d.id);
    await until(() => ids.every((id) => msgs.filter((m) => m.topic === `v1/devices/${id}/telemetry`).length >= 2), 'two reports from every device');
    await fleet.stop();
    for (const id of ids) {
      const mine = msgs.filter((m) => parseTopic(m.topic)?.deviceId === id);
      expect(JSON.parse(mine[0]!.payload)).toMatchObject({ online: true });
      expect(JSON.parse(mine.at(-1)!.payload)).toEqual({ online: false });
      let lastSeq = -1;
      for (const m of mine) {
        const kind = parseTopic(m.topic)!.kind;
        if (kind === 'status') continue;
        const schema = kind === 'telemetry' ? TelemetryByType[typeOf(id)] : EventByType[typeOf(id)];
        for (const el of [JSON.parse(m.payload) as unknown].flat()) {
          expect(schema.safeParse(el).success, m.payload).toBe(true);
          const { seq, ts } = el as { seq: number; ts: number };
          expect(seq).toBeGreaterThan(lastSeq);
          lastSeq = seq;
          // Simulated time is compressed, timestamps are not: never from the future.
          expect(ts).toBeLessThanOrEqual(Date.now());
        }
      }
    }
    expect(fleet.stats()).toMatchObject({ devices: ids.length, errors: 0 });
  });

  it('a silenced device leaves through its will; revived, it is online again and reports', async () => {
    // Two detectors with the same reporting interval: the second one's reports are the clock that
    // proves the silenced one had time to report and did not.
    const detectors = county.registry.devices.filter((d) => d.type === 'smoke_detector');
    const first = detectors[0]!;
    const twin = detectors.find((d) => d.id !== first.id && d.intervalSec === first.intervalSec)!;
    const id = first.id;
    const fleet = createFleet({ url, registry: county.registry, credentials: county.credentials, speed: 300, seed: 4, deviceIds: [id, twin.id], reconnectMs: 100 });
    await fleet.start();
    const dev = fleet.get(id)!;
    msgs.length = 0;
    dev.silence();
    await until(() => msgs.some((m) => m.topic === `v1/devices/${id}/status` && m.payload === '{"online":false}'), 'the will');
    const sentWhileSilent = dev.client.stats.sent;
    const twinReports = () => msgs.filter((m) => m.topic === `v1/devices/${twin.id}/telemetry`).length;
    const twinBefore = twinReports();
    await until(() => twinReports() >= twinBefore + 2, 'two reports of the twin: more than one report interval passed');
    expect(dev.client.stats.sent).toBe(sentWhileSilent);
    expect(dev.client.connected).toBe(false);
    msgs.length = 0;
    await dev.revive();
    await until(() => msgs.some((m) => m.topic === `v1/devices/${id}/telemetry`), 'a report after revival');
    expect(JSON.parse(msgs.find((m) => m.topic.endsWith('/status'))!.payload)).toMatchObject({ online: true });
    await fleet.stop();
  });
});
