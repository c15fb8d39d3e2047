// Test inputs for the gateway suites: an in-memory DeviceDirectory with salted secret hashes,
// a FrameSink that records what it was handed, and a real gateway on free loopback ports with
// real MQTT clients.
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import pino from 'pino';
import { Registry } from 'prom-client';
import { createEventBus, type DevicePresence, type EventBus } from '../contracts/bus.ts';
import { Config } from '../contracts/config.ts';
import type { AuthResult, DeviceDirectory, Frame, FrameSink, IngestOutcome } from '../contracts/ports.ts';
import type { DeviceInfo } from '../contracts/registry.ts';
import { hashSecret, verifySecret } from '../contracts/secrets.ts';
import { createGateway, type Gateway, type GatewayDeps } from '../gateway/index.ts';

export interface TestDevice {
  id: string;
  secret: string;
  enabled?: boolean;
}

export function memoryDirectory(devices: readonly TestDevice[]): DeviceDirectory & { setEnabled(id: string, on: boolean): void } {
  const infos = new Map<string, DeviceInfo>();
  const hashes = new Map<string, string>();
  for (const d of devices) {
    infos.set(d.id, { id: d.id, type: 'smoke_detector', siteId: 's1', centerId: 'c1', gridId: undefined, location: '', intervalSec: 300, enabled: d.enabled ?? true, rules: undefined, meta: undefined });
    hashes.set(d.id, hashSecret(d.secret));
  }
  return {
    get: (id) => infos.get(id),
    verifySecret(id, secret): AuthResult {
      const info = infos.get(id);
      if (!info) return 'unknown';
      if (!verifySecret(secret, hashes.get(id))) return 'bad_secret';
      return info.enabled ? 'ok' : 'disabled';
    },
    all: () => infos.values(),
    setEnabled(id, on) {
      const info = infos.get(id);
      if (info) infos.set(id, { ...info, enabled: on });
    },
  };
}

export interface RecordingSink extends FrameSink {
  frames: Frame[];
  onAccept?: (frame: Frame) => void;
}

/** Records every frame; with `forward` (a real ingest), hands it on and returns its outcome. */
export function recordingSink(forward?: FrameSink): RecordingSink {
  const sink: RecordingSink = {
    frames: [],
    accept(frame): IngestOutcome {
      sink.frames.push(frame);
      sink.onAccept?.(frame);
      return forward ? forward.accept(frame) : { accepted: 1, rejected: 0, duplicates: 0 };
    },
  };
  return sink;
}

export const DEVICES: readonly TestDevice[] = [
  { id: 'sd-1', secret: 'secret-one-0123456789abcdef' },
  { id: 'sd-2', secret: 'secret-two-0123456789abcdef' },
  { id: 'sd-3', secret: 'secret-three-0123456789abcd' },
  { id: 'sd-4', secret: 'secret-four-0123456789abcde' },
  { id: 'sd-5', secret: 'secret-five-0123456789abcde' },
  { id: 'sd-6', secret: 'secret-six-0123456789abcdef' },
  { id: 'sd-7', secret: 'secret-seven-0123456789abcd' },
  { id: 'sd-off', secret: 'secret-off-0123456789abcdef', enabled: false },
];
export const secretOf = (id: string): string => DEVICES.find((d) => d.id === id)!.secret;

export interface TestGateway {
  gateway: Gateway;
  sink: RecordingSink;
  bus: EventBus;
  presence: DevicePresence[];
  directory: ReturnType<typeof memoryDirectory>;
  metrics: Registry;
  url: string;
  /** Connects with the given credentials; resolves on CONNACK 0, rejects with the refusal. */
  connect(id: string, secret?: string, opts?: IClientOptions): Promise<MqttClient>;
  /** Connects as a device with its registry secret. */
  device(id: string, opts?: IClientOptions): Promise<MqttClient>;
  stop(): Promise<void>;
}

export async function startTestGateway(opts: {
  config?: Record<string, unknown>;
  backlog?: () => number;
  observers?: GatewayDeps['observers'];
  changes?: GatewayDeps['changes'];
  logger?: GatewayDeps['logger'];
  /** A real ingest behind the recording sink (its directory: this fixture's, via `directory`). */
  forward?: (directory: ReturnType<typeof memoryDirectory>) => FrameSink;
  durable?: GatewayDeps['durable'];
  /** Issue 21: a node of a cluster sharing through this Redis. */
  cluster?: { redisUrl: string; nodeId: string; heartbeatMs?: number };
} = {}): Promise<TestGateway> {
  const config = Config.parse({ gateway: { host: '127.0.0.1', port: 0, ...opts.config } }).gateway;
  const directory = memoryDirectory(DEVICES);
  const sink = recordingSink(opts.forward?.(directory));
  const bus = createEventBus();
  const presence: DevicePresence[] = [];
  bus.on('device.presence', 'test', (p) => presence.push(p));
  const metrics = new Registry();
  const gateway = createGateway({
    config, directory, sink, bus, metrics,
    logger: opts.logger ?? pino({ level: 'silent' }),
    ...(opts.backlog ? { backlog: opts.backlog } : {}),
    ...(opts.observers ? { observers: opts.observers } : {}),
    ...(opts.changes ? { changes: opts.changes } : {}),
    ...(opts.durable ? { durable: opts.durable } : {}),
    ...(opts.cluster ? { cluster: Config.parse({ cluster: { enabled: true, ...opts.cluster } }).cluster } : {}),
  });
  await gateway.start();
  const url = `mqtt://127.0.0.1:${gateway.addresses().mqtt}`;
  const clients = new Set<MqttClient>();
  const connect = (id: string, secret?: string, o: IClientOptions = {}): Promise<MqttClient> => {
    const c = mqtt.connect(url, { username: id, ...(secret !== undefined ? { password: secret } : {}), reconnectPeriod: 0, connectTimeout: 5000, ...o });
    clients.add(c);
    return awaitConnect(c);
  };
  return {
    gateway, sink, bus, presence, directory, metrics, url, connect,
    device: (id, o) => connect(id, secretOf(id), o),
    async stop() {
      for (const c of clients) c.end(true);
      await gateway.stop();
    },
  };
}

export function awaitConnect(c: MqttClient): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const onConnect = (): void => { off(); resolve(c); };
    const onError = (err: Error): void => { off(); c.end(true); reject(err); };
    const onClose = (): void => { off(); reject(new Error('closed before CONNACK')); };
    const off = (): void => { c.off('connect', onConnect); c.off('error', onError); c.off('close', onClose); };
    c.on('connect', onConnect);
    c.on('error', onError);
    c.on('close', onClose);
  });
}

/** Resolves when the client's connection closes. */
export function closed(c: MqttClient): Promise<void> {
  return new Promise((resolve) => {
    if (!c.connected && c.disconnected) resolve();
    else c.once('close', () => resolve());
  });
}

export function publish(c: MqttClient, topic: string, payload: string | Buffer, opts: { qos?: 0 | 1; retain?: boolean } = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    c.publish(topic, payload, { qos: opts.qos ?? 1, retain: opts.retain ?? false }, (err) => (err ? reject(err) : resolve()));
  });
}

/** SUBSCRIBEs at QoS 1 and gives the granted codes, 0x80 for a refusal (mqtt.js reports a SUBACK 0x80 as an error carrying the packet). */
export function subscribe(c: MqttClient, topic: string): Promise<number[]> {
  return new Promise((resolve, reject) => {
    c.subscribe(topic, { qos: 1 }, (err, granted) => {
      const refused = (err as { packet?: { granted?: number[] } } | null)?.packet?.granted;
      if (refused) resolve(refused);
      else if (err) reject(err);
      else resolve((granted ?? []).map((g) => g.qos));
    });
  });
}
