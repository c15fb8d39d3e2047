// Issue 21 point 3: gateways that share through Redis. Aedes' two seams take Redis versions:
// `mq` (mqemitter-redis: every routed message goes through Redis pub/sub, so a command published
// on node A reaches a device connected to node B) and `persistence` (aedes-persistence-redis:
// subscriptions, retained messages, commands queued for offline sessions and wills live in Redis,
// so a device's session follows it to whichever node it reconnects to). Aedes' own cluster
// messages then do the rest: `$SYS/<node>/new/clients` closes a device's connection on the other
// nodes when it connects to this one (client takeover, as [MQTT-3.1.4-2] within one node).
//
// Why Redis and not MongoDB for the persistence: the mq must be Redis (or another pub/sub) anyway,
// so one server does both, the later partitioned log (Redis Streams) is the same server again,
// and the persistence keeps its subscription trie in memory (MongoDB's does too) with Redis
// holding only small keys per session; one service less to run, back up and watch.
//
// Versions (package.json pins them exactly, STYLE.md "Pin what you patch"): aedes 1.2 declares
// aedes-persistence-redis ^11.2.1 and needs its async interface (asyncPersistence.js; the
// package's main export is the old callback one). 11.x has no cleanIncoming (only QoS 2 state,
// which the gateway refuses: PROTOCOL.md); 12.0.0 adds it but is outside aedes 1.2's peer range.
import { hostname } from 'node:os';
import { Readable } from 'node:stream';
import { Redis } from 'ioredis';
import MQEmitterRedis from 'mqemitter-redis';
import AsyncRedisPersistence, { type WillPacket } from 'aedes-persistence-redis/asyncPersistence.js';
import type { Config } from '../contracts/config.ts';

/** The aedes options of a node that shares through Redis. */
export interface Sharing {
  readonly id: string;
  readonly mq: unknown;
  readonly persistence: unknown;
  /** Maintainers' observers connected to the other nodes (they may subscribe to this node's devices). */
  remoteObservers(): number;
  /** This node's observer count changed: told to the others. */
  announceObservers(count: number): void;
  /** Records that a device connected to this node (the device's latest node, cluster-wide). */
  connected(deviceId: string): void;
  /**
   * Whether this node is the one to publish a dead node's will: the dead node still was the
   * device's latest, and no other node claimed this will first (aedes has every node stream the
   * dead node's wills at the same time; without the claim two nodes published it twice, found by
   * the full suite under load).
   */
  claimWill(deviceId: string, brokerId: string): Promise<boolean>;
  /** Deletes a will another node stored. */
  dropWill(clientId: string, brokerId: string): void;
  /** After the broker closed (aedes closes the mq itself): the persistence's connection. */
  close(): Promise<void>;
}

interface MqPacket {
  topic: string;
  payload: Buffer | string;
}
type Listener = (packet: MqPacket, done: () => void) => void;
interface Mq {
  on(topic: string, listener: Listener, done?: () => void): unknown;
  emit(packet: Record<string, unknown> & { topic: string }, done?: (err?: Error) => void): void;
  close(done: () => void): void;
  state: NodeJS.EventEmitter;
}

export const defaultNodeId = (): string => `${hostname()}-${process.pid}`.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 64);

const OBSERVERS = (node: string): string => `$SYS/${node}/watchfire/observers`;
/** Redis hash: device id → the node it last connected to (a will of another node is then stale). */
const LAST_NODE = 'watchfire:last-node';
/** Prefix of the key a node sets (NX) to be the one that publishes a dead node's will. */
const WILL_CLAIM = 'watchfire:will-claim:';

export async function createSharing(deps: {
  cluster: Config['cluster'];
  /**
   * A device (client id = device id: hooks.ts preConnect) connected to another node. Called
   * before aedes closes this node's connection of it, so its will can be suppressed: the device
   * is online, elsewhere.
   */
  onConnectedElsewhere(clientId: string): void;
  /** This node's observer count, re-announced when another node starts. */
  localObservers(): number;
  /**
   * Whether a will of a dead node is to be published by this node (gateway/hooks.ts
   * admitOrphanWill); asked before aedes' will sweep sees it, which then only gets those.
   */
  admitWill(packet: WillPacket): Promise<boolean>;
  onError(err: Error): void;
}): Promise<Sharing> {
  const id = deps.cluster.nodeId ?? defaultNodeId();
  const mq = MQEmitterRedis({
    connectionString: deps.cluster.redisUrl,
    // What aedes' default mq sets [MQTT-4.7.1-3].
    matchEmptyLevels: true,
  }) as unknown as Mq;
  mq.state.on('error', deps.onError);
  const remote = new Map<string, number>();
  const subscribe = (topic: string, listener: Listener): Promise<void> => new Promise((resolve) => mq.on(topic, listener, resolve));
  // Registered before aedes' own closeSameClients (the broker is created after this): ours runs
  // first for the same message, while the old connection is still this node's.
  await subscribe('$SYS/+/new/clients', (packet, done) => {
    if (packet.topic.split('/')[1] !== id) deps.onConnectedElsewhere(packet.payload.toString());
    done();
  });
  await subscribe(OBSERVERS('+'), (packet, done) => {
    const node = packet.topic.split('/')[1]!;
    const n = Number(packet.payload.toString());
    if (node !== id && Number.isInteger(n) && n >= 0) {
      if (n === 0) remote.delete(node);
      else remote.set(node, n);
    }
    done();
  });
  const announce = (count: number): void => {
    mq.emit({ topic: OBSERVERS(id), payload: Buffer.from(String(count)) }, (err) => err && deps.onError(err));
  };
  // A node that starts knows no one's observers: whoever has some says so again.
  await subscribe('$SYS/+/birth', (packet, done) => {
    if (packet.payload.toString() !== id && deps.localObservers() > 0) announce(deps.localObservers());
    done();
  });
  const conn = new Redis(deps.cluster.redisUrl, { lazyConnect: true });
  conn.on('error', deps.onError);
  try {
    await conn.connect();
  } catch (err) {
    conn.disconnect();
    await new Promise<void>((resolve) => mq.close(resolve));
    throw err;
  }
  const persistence = new AsyncRedisPersistence({ conn });
  // aedes 1.2 (lib/handlers/subscribe.js completeSubscribe) calls .pipe() on the retained stream,
  // and aedes-persistence-redis 11.2.2 (and 12.0.0) returns an async generator: every SUBSCRIBE
  // that matched a retained message threw in aedes' callback (an uncaught TypeError, found by
  // tests/gateway.cluster.test.ts). A Readable over the same generator is what aedes' memory
  // persistence returns.
  const combi = persistence.createRetainedStreamCombi.bind(persistence);
  persistence.createRetainedStreamCombi = (patterns) => Readable.from(combi(patterns));
  // Aedes' will sweep (_clearWills) authorizes the dead nodes' wills 16 at a time under one
  // Promise.all: each refusal past the first was an unhandled rejection, a crash under Node's
  // default. The stream it reads yields only the wills to publish; the others are deleted.
  const streamWill = persistence.streamWill.bind(persistence);
  persistence.streamWill = (brokers) => admitting(streamWill(brokers), brokers, deps.admitWill, deps.onError);
  return {
    id,
    mq,
    persistence,
    remoteObservers() {
      let n = 0;
      for (const c of remote.values()) n += c;
      return n;
    },
    announceObservers: announce,
    connected(deviceId) {
      conn.hset(LAST_NODE, deviceId, id).catch(deps.onError);
    },
    async claimWill(deviceId, brokerId) {
      const last = await conn.hget(LAST_NODE, deviceId);
      if (last !== null && last !== brokerId) return false;
      // Kept long enough for every node's next will sweep (every 4 heartbeats) to see it.
      const won = await conn.set(`${WILL_CLAIM}${brokerId}:${deviceId}`, id, 'PX', 10 * deps.cluster.heartbeatMs, 'NX');
      return won === 'OK';
    },
    dropWill(clientId, brokerId) {
      persistence.delWill({ id: clientId, brokerId }).catch(deps.onError);
    },
    async close() {
      // Aedes closes the mq when the broker closes; not when the broker never started.
      await new Promise<void>((resolve) => mq.close(resolve));
      try {
        await persistence.destroy();
      } catch {
        // destroy() fails when setup() never ran (the broker did not start): the connection is ours.
        conn.disconnect();
      }
    },
  };
}

async function* admitting(
  wills: AsyncIterable<WillPacket>,
  alive: Record<string, number> | undefined,
  admit: (packet: WillPacket) => Promise<boolean>,
  onError: (err: Error) => void,
): AsyncGenerator<WillPacket> {
  for await (const will of wills) {
    // A live node's will: aedes passes it over itself (notPublish).
    if (will.brokerId !== undefined && alive?.[will.brokerId] !== undefined) {
      yield will;
      continue;
    }
    let yes = false;
    try {
      yes = await admit(will);
    } catch (err) {
      // Redis did not answer: the will stays stored and the next sweep asks again.
      onError(err as Error);
    }
    if (yes) yield will;
  }
}
