// One simulated device's MQTT connection, exactly as firmware holds it (PROTOCOL.md): username =
// device id, password = its secret, a retained `{"online":false}` will on its status topic and a
// retained `{"online":true}` on connect, a seq counter on every reading and event, QoS 1 events.
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { topics } from '../contracts/protocol.ts';
import type { Clock } from '../contracts/ports.ts';
import { systemClock } from '../contracts/ports.ts';
import type { Payload } from './models/types.ts';

/** One outgoing (or observed) MQTT publish, as the recorder writes it. */
export interface TrafficRecord {
  /** ms epoch when it was sent or seen. */
  t: number;
  topic: string;
  /** UTF-8 text of the payload, or base64 when `enc` says so (malformed bytes are kept exactly). */
  payload: string;
  enc?: 'base64';
  qos: 0 | 1 | 2;
  retain: boolean;
  deviceId: string;
}

export interface DeviceClientDeps {
  url: string;
  deviceId: string;
  secret: string;
  logger?: Logger | undefined;
  clock?: Clock | undefined;
  /** Sees every publish this device makes (record mode). */
  tap?: ((rec: TrafficRecord) => void) | undefined;
  /** Reconnect after a lost connection, as firmware does; 0 disables. Default 3000 ms. */
  reconnectMs?: number | undefined;
  keepaliveSec?: number | undefined;
  /** Telemetry QoS (PROTOCOL.md allows 0 or 1); events are always QoS 1. */
  telemetryQos?: 0 | 1 | undefined;
  mqttOptions?: IClientOptions | undefined;
  /** Publish retained `{"online":true}` on every connect (firmware does; a replay has its own). Default true. */
  announceOnline?: boolean | undefined;
}

export interface DeviceClientStats {
  sent: number;
  acked: number;
  errors: number;
  connects: number;
}

export interface DeviceClient {
  readonly deviceId: string;
  readonly connected: boolean;
  readonly stats: Readonly<DeviceClientStats>;
  start(): Promise<void>;
  /** Publishes one reading/event or an array of them, each stamped with the next seq. */
  publish(kind: 'telemetry' | 'events', payload: Payload | Payload[]): Promise<void>;
  /** Bytes as they are, on any topic: for malformed-message scenarios. */
  publishRaw(topic: string, payload: string | Buffer, opts?: { qos?: 0 | 1; retain?: boolean }): Promise<void>;
  /** The radio dies: the socket closes without DISCONNECT, so the broker publishes the will; no reconnect. */
  dropConnection(): void;
  /** Power is back: connect again (and announce online). */
  reconnect(): Promise<void>;
  /** Graceful stop: retained offline status (unless told not to), DISCONNECT, nothing left running. */
  stop(opts?: { announceOffline?: boolean }): Promise<void>;
}

const OFFLINE = Buffer.from('{"online":false}');

export function createDeviceClient(deps: DeviceClientDeps): DeviceClient {
  const clock = deps.clock ?? systemClock;
  const statusTopic = topics.status(deps.deviceId);
  const stats: DeviceClientStats = { sent: 0, acked: 0, errors: 0, connects: 0 };
  let client: MqttClient | undefined;
  let seq = 0;
  let stopped = false;

  function tap(topic: string, payload: string | Buffer, qos: 0 | 1 | 2, retain: boolean): void {
    if (!deps.tap) return;
    const buf = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
    const text = buf.toString('utf8');
    const exact = Buffer.from(text, 'utf8').equals(buf);
    deps.tap({ t: clock.now(), topic, payload: exact ? text : buf.toString('base64'), ...(exact ? {} : { enc: 'base64' as const }), qos, retain, deviceId: deps.deviceId });
  }

  async function send(topic: string, payload: string | Buffer, qos: 0 | 1, retain: boolean): Promise<void> {
    const c = client;
    if (!c || !c.connected) {
      stats.errors++;
      return;
    }
    stats.sent++;
    tap(topic, payload, qos, retain);
    try {
      await c.publishAsync(topic, payload, { qos, retain });
      stats.acked++;
    } catch (err) {
      stats.errors++;
      deps.logger?.debug({ err, deviceId: deps.deviceId, topic }, 'publish failed');
    }
  }

  async function connect(): Promise<void> {
    const reconnectPeriod = deps.reconnectMs ?? 3000;
    const c = mqtt.connect(deps.url, {
      clientId: deps.deviceId,
      username: deps.deviceId,
      password: deps.secret,
      protocolVersion: 4, // Aedes speaks MQTT 3.1.1 (PROTOCOL.md "Transport")
      clean: true,
      keepalive: deps.keepaliveSec ?? 120,
      reconnectPeriod,
      connectTimeout: 10_000,
      will: { topic: statusTopic, payload: OFFLINE, qos: 1, retain: true },
      ...deps.mqttOptions,
    });
    client = c;
    c.on('connect', () => {
      stats.connects++;
      // Announce online on every (re)connect: the broker replaced it with the will while we were gone.
      if (deps.announceOnline !== false) void send(statusTopic, JSON.stringify({ online: true, ts: clock.now() }), 1, true);
    });
    c.on('error', (err) => {
      stats.errors++;
      deps.logger?.debug({ err, deviceId: deps.deviceId }, 'mqtt error');
    });
    await new Promise<void>((resolve, reject) => {
      const ok = () => {
        c.off('error', fail);
        resolve();
      };
      const fail = (err: Error & { code?: unknown }) => {
        // A refused CONNACK (4 bad credentials, 5 not authorised) will not heal by retrying; a
        // network error might, and firmware keeps trying: the 'connect' event resolves later.
        if (reconnectPeriod > 0 && typeof err.code !== 'number') return;
        c.off('error', fail);
        c.off('connect', ok);
        c.end(true);
        reject(err);
      };
      c.once('connect', ok);
      c.on('error', fail);
    });
  }

  return {
    deviceId: deps.deviceId,
    get connected() {
      return !!client?.connected;
    },
    stats,
    async start() {
      stopped = false;
      await connect();
    },
    publish(kind, payload) {
      const stamp = (p: Payload): Payload => (p.seq === undefined ? { ...p, seq: seq++ } : p);
      const body = Array.isArray(payload) ? payload.map(stamp) : stamp(payload);
      const topic = kind === 'telemetry' ? topics.telemetry(deps.deviceId) : topics.events(deps.deviceId);
      const qos = kind === 'events' ? 1 : (deps.telemetryQos ?? 1);
      return send(topic, JSON.stringify(body), qos, false);
    },
    publishRaw(topic, payload, opts = {}) {
      return send(topic, payload, opts.qos ?? 1, opts.retain ?? false);
    },
    dropConnection() {
      const c = client;
      if (!c) return;
      c.options.reconnectPeriod = 0;
      c.end(true); // forced: the stream is destroyed without a DISCONNECT packet, so the will is sent
      client = undefined;
    },
    async reconnect() {
      if (stopped) return;
      if (client?.connected) return;
      await connect();
    },
    async stop(opts = {}) {
      stopped = true;
      const c = client;
      client = undefined;
      if (!c) return;
      if (c.connected && opts.announceOffline !== false) {
        tap(statusTopic, OFFLINE, 1, true);
        await c.publishAsync(statusTopic, OFFLINE, { qos: 1, retain: true }).catch(() => undefined);
      }
      c.options.reconnectPeriod = 0;
      await c.endAsync(!c.connected).catch(() => undefined);
    },
  };
}
