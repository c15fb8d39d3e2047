// The gateway: an embedded Aedes broker that authenticates devices, enforces the topic ACL,
// rate limits, tracks online/offline, and hands every authorised device PUBLISH to ingest
// synchronously, before its PUBACK (DESIGN.md "Data flow", PROTOCOL.md "Transport").
import { Aedes, type Client, type PublishPacket } from 'aedes';
import mqttPacket from 'mqtt-packet';
import type { Socket } from 'node:net';
import { Writable } from 'node:stream';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { EventBus } from '../contracts/bus.ts';
import type { Config } from '../contracts/config.ts';
import { WatchfireError } from '../contracts/errors.ts';
import { systemClock, type Clock, type DeviceDirectory, type FrameSink, type Lifecycle, type RegistryChanges } from '../contracts/ports.ts';
import { DEVICE_ID_RE, topics, type Command } from '../contracts/protocol.ts';
import type { ObserverAccounts } from './auth.ts';
import { createFlow } from './flow.ts';
import { createHooks, type Conn } from './hooks.ts';
import { openListeners, packetSizeGuard, type Listeners } from './listeners.ts';
import { createGatewayMetrics, type GatewayStats } from './metrics.ts';
import { createPresence } from './presence.ts';
import { createAdmission } from './admission.ts';
import { createRefusalLog } from './refusal-log.ts';
import { persistenceOf, queuedCommands, skipUndeliverable, storeOnlyGranted } from './aedes-seams.ts';
import { createSharing, type Sharing } from './cluster.ts';
import type { Peer } from './proxy-protocol.ts';

export type { GatewayStats } from './metrics.ts';
export type { ObserverAccounts } from './auth.ts';

/**
 * mqtt-packet (aedes' writer) builds a cache of the 65,536 two-byte numbers on the first packet it
 * writes: 22 ms on the event loop, which after a restart fell on the reconnect storm's first
 * CONNACK and held every reconnecting device's PUBACK (issue 15). Writing one packet to nowhere
 * before the listener opens moves it into the start.
 */
function warmPacketWriter(): void {
  mqttPacket.writeToStream({ cmd: 'pingresp' }, new Writable({ write: (_chunk, _enc, done) => done() }));
}

export interface GatewayDeps {
  config: Config['gateway'];
  directory: DeviceDirectory;
  sink: FrameSink;
  bus: EventBus;
  logger: Logger;
  metrics: Registry;
  clock?: Clock;
  /** Readings waiting for storage; above config.highWaterReadings device reading pauses. */
  backlog?: () => number;
  /** Maintainers' read-only accounts (a recorder of live traffic): may subscribe under v1/devices/. */
  observers?: ObserverAccounts;
  /** Registry writes: a device disabled or removed while connected is disconnected. */
  changes?: RegistryChanges;
  /**
   * The journal's group commit (contracts/journal.ts): a QoS 1 PUBACK waits for it. Unset, a
   * PUBACK goes out once ingest has the message (tests of the gateway alone).
   */
  durable?: (done: (err?: Error) => void) => void;
  /** Issue 21: with `enabled`, the broker shares sessions, routing and takeover with the other nodes through Redis. */
  cluster?: Config['cluster'];
}

export interface Gateway extends Lifecycle {
  /** The ports actually bound (port 0 in the config picks a free one). */
  addresses(): { mqtt?: number; mqtts?: number };
  /** Publishes to v1/devices/{id}/commands/{name} at QoS 1; resolves once the broker routed it. */
  publishCommand(deviceId: string, command: Command): Promise<void>;
  isOnline(deviceId: string): boolean;
  onlineCount(): number;
  stats(): GatewayStats;
}


const isLoopback = (host: string): boolean => host === 'localhost' || host === '::1' || host.startsWith('127.');

export function createGateway(deps: GatewayDeps): Gateway {
  const { config, logger } = deps;
  const clock = deps.clock ?? systemClock;
  const metrics = createGatewayMetrics(deps.metrics);
  const presence = createPresence({ bus: deps.bus, clock, metrics });
  const conns = new WeakMap<Client, Conn>();
  /** Open connections by socket, to settle on stop: a server's 'close' can precede its sockets' 'close'. */
  const live = new Map<Socket, Conn>();
  let broker: Aedes | undefined;
  let sharing: Sharing | undefined;
  let listeners: Listeners | undefined;
  let stopping = false;
  let unwatch: (() => void) | undefined;
  let guardWarned = false;
  const admission = createAdmission({ config: config.admission, clock });
  const refusals = createRefusalLog({ logger, windowMs: config.admission.logWindowMs, firstPerWindow: config.admission.logFirstPerWindow });

  const close = (client: Client, reason: 'rate' | 'disabled'): void => {
    const conn = conns.get(client);
    if (conn) conn.expected = true;
    metrics.disconnect(reason);
    client.close();
  };

  const flow = createFlow({
    rate: config.rate,
    budgetOf: (deviceId) => {
      const type = deps.directory.get(deviceId)?.type;
      return (type && config.rate.byType[type]) || config.rate;
    },
    highWater: config.highWaterReadings,
    backlog: deps.backlog,
    clock,
    metrics,
    onPersistentFlood(session) {
      const client = presence.owner(session.deviceId);
      refusals.refused('WF_RATE_LIMITED', client ? conns.get(client)?.ip : undefined, { deviceId: session.deviceId, throttledMs: config.rate.disconnectAfterMs }, 'device over its rate budget too long; disconnected');
      flow.end(session);
      if (client) close(client, 'rate');
    },
  });

  const hooks = createHooks({
    config, directory: deps.directory, observers: deps.observers, sink: deps.sink, logger, clock,
    metrics, presence, flow, conns, admission, refusals, isStopping: () => stopping, durable: deps.durable,
    observersChanged: () => sharing?.announceObservers(metrics.stats.observersCurrent),
    wills: deps.cluster?.enabled ? {
      isForeign: (packet) => {
        const from = (packet as { brokerId?: unknown }).brokerId;
        return typeof from === 'string' && sharing !== undefined && from !== sharing.id;
      },
      stillLast: async (deviceId, packet) => {
        const from = (packet as { brokerId?: unknown }).brokerId;
        return typeof from === 'string' && sharing !== undefined && sharing.claimWill(deviceId, from);
      },
      drop: (packet) => {
        const p = packet as { clientId?: unknown; brokerId?: unknown };
        if (typeof p.clientId === 'string' && typeof p.brokerId === 'string' && p.brokerId !== sharing?.id) sharing?.dropWill(p.clientId, p.brokerId);
      },
      connected: (deviceId) => sharing?.connected(deviceId),
    } : undefined,
  });

  const sizeGuard = packetSizeGuard({
    maxBytes: config.maxPacketBytes,
    hardBytes: config.maxPacketHardBytes,
    isDevice: (client) => conns.get(client as Client)?.identity?.kind === 'device',
  }, (client, bytes) => {
    const conn = conns.get(client as Client);
    if (conn) conn.expected = true;
    metrics.error('packet_too_large');
    metrics.disconnect('packet_too_large');
    refusals.refused('WF_PACKET_TOO_LARGE', conn?.ip, { port: conn?.address, who: conn?.identity, bytes }, 'packet too large; connection closed');
  });

  function onConnection(socket: Socket, peer: Peer): void {
    if (!broker) {
      socket.destroy();
      return;
    }
    const client = broker.handle(socket);
    const conn: Conn = {
      client, address: `${peer.address}:${peer.port}`, ip: peer.address, keepalive: 0, identity: undefined,
      session: undefined, expected: false, counted: false, subscriptions: undefined, heldBytes: 0, clientIdTooLong: false, delayed: undefined,
    };
    conns.set(client, conn);
    live.set(socket, conn);
    if (!sizeGuard.install(client) && !guardWarned) {
      guardWarned = true;
      logger.warn('aedes parser not as expected: oversize packets are caught only after buffering');
    }
    // One handler for every socket (no closure per connection: idle devices are many).
    socket.on('close', onSocketClose);
  }

  function onSocketClose(this: Socket): void {
    const conn = live.get(this);
    if (conn) ended(this, conn);
  }

  function ended(socket: Socket, conn: Conn): void {
    if (!live.delete(socket)) return;
    const client = conn.client;
    if (conn.counted) {
      metrics.disconnected(conn.identity?.kind === 'observer');
      if (conn.identity?.kind === 'observer') sharing?.announceObservers(metrics.stats.observersCurrent);
    }
    conn.counted = false;
    if (conn.session) flow.end(conn.session);
    if (conn.delayed) clearTimeout(conn.delayed);
    if (conn.subscriptions) metrics.stats.subscriptionsCurrent -= conn.subscriptions.size;
    conn.subscriptions = undefined;
    const id = conn.identity;
    if (id?.kind === 'device' && presence.release(id.deviceId, client)) {
      presence.set(id.deviceId, false, stopping ? 'shutdown' : 'socket');
    }
  }

  /** Cluster mode: Redis for aedes' mq and persistence (gateway/cluster.ts). */
  function share(cluster: Config['cluster']): Promise<Sharing> {
    return createSharing({
      cluster,
      localObservers: () => metrics.stats.observersCurrent,
      admitWill: (packet) => hooks.admitOrphanWill(packet as PublishPacket),
      onError: (err) => {
        metrics.error('connection');
        logger.error({ code: 'WF_CLUSTER_REDIS', err: err.message }, 'cluster: Redis error');
      },
      onConnectedElsewhere(deviceId) {
        const client = presence.owner(deviceId);
        if (!client || !presence.movedAway(deviceId, client)) return;
        // Aedes' closeSameClients closes it next; its will must not say the device went offline.
        const conn = conns.get(client);
        if (conn) conn.expected = true;
        metrics.disconnect('takeover');
        logger.info({ deviceId, address: conn?.address }, 'device connected to another node; this connection is closed');
      },
    });
  }

  function wire(b: Aedes): void {
    const onError = (kind: 'client' | 'connection') => (client: Client, err: Error) => {
      const conn = conns.get(client);
      if (conn?.expected) return;
      // aedes lib/client.js: the CONNECT timer's error (gateway.connectTimeoutMs).
      if (err.message === 'connect did not arrive in time') {
        metrics.violation('connect_timeout');
        refusals.refused('WF_CONNECT_TIMEOUT', conn?.ip, { port: conn?.address, timeoutMs: config.connectTimeoutMs }, 'no CONNECT in time; connection closed', 'info');
        return;
      }
      metrics.error(kind);
      logger.debug({ address: conn?.address, who: conn?.identity, err: err.message }, `MQTT ${kind} error`);
    };
    b.on('clientError', onError('client'));
    b.on('unsubscribe', (filters: string[], client: Client) => {
      const subs = conns.get(client)?.subscriptions;
      if (!subs) return;
      for (const f of filters) if (subs.delete(f)) metrics.stats.subscriptionsCurrent--;
    });
    b.on('connectionError', onError('connection'));
    // Persistence failures surface here; an 'error' without a listener would throw.
    (b as NodeJS.EventEmitter).on('error', (err: Error) => {
      // Aedes reports a dead cluster node's will that authorizePublish held back as an error.
      if (err.message === 'will suppressed') return;
      metrics.error('connection');
      logger.error({ err }, 'broker error');
    });
  }

  return {
    async start() {
      if (broker) return;
      if (!config.plain && !config.tls) throw new WatchfireError('WF_CONFIG_INVALID', 'gateway.plain is false and gateway.tls is not set: no MQTT listener would open');
      stopping = false;
      if (deps.cluster?.enabled) sharing = await share(deps.cluster);
      let b: Aedes;
      try {
        b = await Aedes.createBroker({
          ...hooks.aedes,
          ...(sharing ? { id: sharing.id, mq: sharing.mq, persistence: sharing.persistence, heartbeatInterval: deps.cluster!.heartbeatMs } : {}),
          // Issue 16: a socket that sends no CONNECT is closed after a few seconds, not aedes' 30.
          connectTimeout: config.connectTimeoutMs,
          // Used by aedes for MQTT 3.1 only; 3.1.1 client ids are checked in preConnect.
          maxClientsIdLength: config.limits.maxClientIdLength,
          // Keep-alive is checked by our authenticate (maxKeepaliveSec); aedes's own limit would
          // answer with return code 6, which MQTT 3.1.1 does not have.
          keepaliveLimit: 0,
        });
      } catch (err) {
        await sharing?.close();
        sharing = undefined;
        throw err;
      }
      wire(b);
      skipUndeliverable(b, (client) => conns.get(client)?.identity?.kind === 'device', () => metrics.stats.observersCurrent + (sharing?.remoteObservers() ?? 0));
      broker = b;
      storeOnlyGranted(b, (client, filter) => conns.get(client)?.subscriptions?.has(filter) === true);
      metrics.sessionSource.read = async () => {
        const c = await persistenceOf(b).countOffline();
        return { sessions: c.clientsCount, subscriptions: c.subsCount };
      };
      admission.start();
      warmPacketWriter();
      try {
        listeners = await openListeners({
          config,
          onConnection,
          admit(socket, address) {
            const why = admission.accept(address);
            if (!why) {
              metrics.stats.socketsOpen++;
              return true;
            }
            metrics.violation(why);
            refusals.refused(why === 'address_rate' ? 'WF_ADMISSION_RATE' : 'WF_ADMISSION_CONNECTIONS', address, {}, 'connection refused by admission control');
            return false;
          },
          release(_socket, address) {
            metrics.stats.socketsOpen--;
            admission.release(address);
          },
          onProxyError(err, socket) {
            // A balancer's TCP health check opens and closes without a header: not news.
            if (err.message === 'closed before its PROXY header') return;
            metrics.violation('proxy_header');
            refusals.refused('WF_PROXY_HEADER', socket.remoteAddress, { err: err.message }, 'PROXY protocol header missing or malformed; connection closed');
          },
          onHandshakeTimeout(socket) {
            metrics.violation('connect_timeout');
            refusals.refused('WF_CONNECT_TIMEOUT', socket.remoteAddress, { timeoutMs: config.connectTimeoutMs, tls: true }, 'no TLS handshake in time; connection closed', 'info');
          },
          onTlsReload(err) {
            if (err) logger.error({ code: 'WF_GATEWAY_TLS_RELOAD', err: err.message }, 'MQTTS certificate files changed but do not form a valid certificate and key; the previous one stays in use');
            else logger.info('MQTTS certificate reloaded from its files; new connections use it');
          },
          onTlsError(err, socket) {
            metrics.error('tls');
            logger.debug({ address: socket.remoteAddress, err: err.message }, 'TLS handshake failed');
          },
          onServerError(err) {
            metrics.error('connection');
            logger.error({ err }, 'MQTT listener error');
          },
        });
      } catch (err) {
        admission.stop();
        broker = undefined;
        await new Promise<void>((resolve) => b.close(() => resolve()));
        await sharing?.close();
        sharing = undefined;
        throw err;
      }
      unwatch = deps.changes?.onChange((changes) => {
        for (const c of changes) {
          if (c.kind !== 'device') continue;
          const client = presence.owner(c.id);
          if (client && deps.directory.get(c.id)?.enabled !== true) {
            logger.info({ deviceId: c.id }, 'device disabled or removed; disconnected');
            close(client, 'disabled');
          }
        }
      });
      logger.info(listeners.addresses(), 'MQTT gateway listening');
      if (config.plain && !isLoopback(config.host)) {
        logger.warn({ code: 'WF_GATEWAY_PLAINTEXT', host: config.host, port: listeners.addresses().mqtt },
          '!!! MQTT listens in PLAIN TEXT on a non-loopback address: device secrets and alarms cross the network readable by anyone on the path. Configure gateway.tls and set gateway.plain: false (README "Securing a deployment") !!!');
      }
    },

    async stop() {
      const b = broker;
      if (!b) return;
      stopping = true;
      unwatch?.();
      unwatch = undefined;
      flow.stop();
      admission.stop();
      refusals.flush();
      await new Promise<void>((resolve) => b.close(() => resolve()));
      await sharing?.close();
      sharing = undefined;
      await listeners?.close();
      listeners = undefined;
      broker = undefined;
      for (const [socket, conn] of [...live]) ended(socket, conn);
      for (const id of presence.onlineIds()) presence.set(id, false, 'shutdown');
    },

    addresses() {
      if (!listeners) throw new Error('gateway is not started');
      return listeners.addresses();
    },

    async publishCommand(deviceId, command) {
      const b = broker;
      if (!b) throw new Error('gateway is not started');
      if (!DEVICE_ID_RE.test(deviceId) || !deps.directory.get(deviceId)) {
        throw new WatchfireError('WF_REGISTRY_NOT_FOUND', `no device ${deviceId}`);
      }
      // Issue 16: a device offline with a persistent session gets its commands when it is back;
      // what waits for it is bounded (a command is not a reading: no alarm is lost by refusing it).
      if (!presence.isOnline(deviceId) && (await queuedCommands(b, deviceId, config.limits.maxQueuedCommands)) >= config.limits.maxQueuedCommands) {
        metrics.stats.commandsRefused++;
        throw new WatchfireError('WF_COMMAND_QUEUE_FULL', `device ${deviceId} is offline with ${config.limits.maxQueuedCommands} commands already queued`);
      }
      // PROTOCOL.md "Commands": the name is in the topic, the payload is {id, ts, ...args}.
      const { name, ...body } = command;
      await new Promise<void>((resolve, reject) => {
        b.publish(
          { cmd: 'publish', topic: topics.command(deviceId, name), payload: Buffer.from(JSON.stringify(body)), qos: 1, retain: false, dup: false },
          (err) => (err ? reject(err) : resolve()),
        );
      });
      metrics.command();
    },

    isOnline: (deviceId) => presence.isOnline(deviceId),
    onlineCount: () => presence.count(),
    stats: () => structuredClone(metrics.stats),
  };
}
