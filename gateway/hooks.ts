// The aedes hooks: who may connect, publish and subscribe, and the hand-off of every authorised
// device PUBLISH to ingest. In aedes 1.2 (lib/handlers/publish.js) a QoS 1 PUBACK is written only
// after authorizePublish calls back, and `published` runs after the PUBACK; so the hand-off happens
// inside authorizePublish, before its callback: once a device holds its PUBACK, ingest holds the
// frame. Holding the callback is also how flow.ts throttles.
import type { AedesOptions, AuthenticateError, Client, PublishPacket, Subscription } from 'aedes';
import type { Logger } from 'pino';
import type { Config } from '../contracts/config.ts';
import type { ErrorCode } from '../contracts/errors.ts';
import type { Clock, DeviceDirectory, Frame, FrameSink } from '../contracts/ports.ts';
import { KEEP_PAYLOAD_BYTES } from '../contracts/protocol.ts';
import { parseTopic } from '../contracts/protocol.ts';
import { publishKind, subscribeAllowed, type Identity } from './acl.ts';
import { authenticate, CONNACK_UNACCEPTABLE_PROTOCOL, type ObserverAccounts } from './auth.ts';
import type { Flow, FlowSession } from './flow.ts';
import type { GatewayMetrics, MessageKind, RefusalReason } from './metrics.ts';
import type { Presence } from './presence.ts';
import type { Admission } from './admission.ts';
import type { RefusalLog } from './refusal-log.ts';

/** What the gateway knows of one connection, from its socket to its close. */
export interface Conn {
  readonly client: Client;
  readonly address: string;
  /** The source IP, the key of admission control. */
  readonly ip: string;
  /** Filters this connection holds (issue 16: capped per connection). */
  subscriptions: Set<string> | undefined;
  /** Payload bytes of this connection's publishes held for budget or admission. */
  heldBytes: number;
  /** The client id was over gateway.limits.maxClientIdLength: authenticate answers CONNACK 2. */
  clientIdTooLong: boolean;
  /** A wrong CONNECT's refusal waiting for the failed-auth backoff. */
  delayed: NodeJS.Timeout | undefined;
  keepalive: number;
  identity: Identity | undefined;
  session: FlowSession | undefined;
  /** The gateway closed or refused it on purpose and counted why: its error event is not news. */
  expected: boolean;
  /** Counted in connectionsCurrent (after CONNACK). */
  counted: boolean;
}

const REFUSAL_CODE: Record<RefusalReason, ErrorCode> = {
  unknown: 'WF_AUTH_UNKNOWN_DEVICE',
  bad_secret: 'WF_AUTH_BAD_SECRET',
  disabled: 'WF_AUTH_DISABLED',
  protocol: 'WF_AUTH_PROTOCOL',
  keepalive: 'WF_AUTH_KEEPALIVE',
  client_id: 'WF_AUTH_CLIENT_ID',
};

/** MQTT 3.1.1 §3.2.2.3: identifier rejected. */
const CONNACK_IDENTIFIER_REJECTED = 2;

export interface HookContext {
  config: Config['gateway'];
  directory: DeviceDirectory;
  observers: ObserverAccounts | undefined;
  sink: FrameSink;
  logger: Logger;
  clock: Clock;
  metrics: GatewayMetrics;
  presence: Presence;
  flow: Flow;
  conns: WeakMap<Client, Conn>;
  admission: Admission;
  refusals: RefusalLog;
  isStopping(): boolean;
  /** Cluster mode: the last wills of devices that were connected to another node (gateway/cluster.ts). */
  wills?: ClusterWills;
  /** An observer connected (cluster mode tells the other nodes: gateway/cluster.ts). */
  observersChanged?: () => void;
  /** Calls back once everything handed off so far is durable (the journal's group commit). */
  durable: ((done: (err?: Error) => void) => void) | undefined;
}

export interface ClusterWills {
  /** A will stored by another node (aedes' _clearWills publishes those of nodes that stopped heart-beating). */
  isForeign(packet: PublishPacket): boolean;
  /**
   * Whether this node publishes it: the device's latest connection, cluster-wide, was on the node
   * that stored this will, and no other node has claimed it.
   */
  stillLast(deviceId: string, packet: PublishPacket): Promise<boolean>;
  /** A will not to be published: deleted, so that no node tries it again. */
  drop(packet: PublishPacket): void;
  /** A device connected to this node. */
  connected(deviceId: string): void;
}

/** A peer's string as it may go into a log line: control characters escaped, at most 256 characters. */
export function printable(s: string): string {
  // eslint-disable-next-line no-control-regex
  const t = s.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return t.length > 256 ? `${t.slice(0, 256)}…(${s.length})` : t;
}

type AedesHooks = Required<Pick<AedesOptions, 'preConnect' | 'authenticate' | 'authorizePublish' | 'authorizeSubscribe'>>;

export interface Hooks {
  /** Given to aedes as its options. */
  readonly aedes: AedesHooks;
  /**
   * Cluster mode: decides, once, whether a dead node's will is published here; one that is not is
   * deleted. Asked by the will stream (gateway/cluster.ts) before aedes' sweep sees the will, so
   * the sweep's authorizePublish never refuses one: aedes 1.2's _clearWills awaits its wills 16 at
   * a time with Promise.all, and a second refusal in a batch was an unhandled rejection — a crash
   * of the gateway under Node's default --unhandled-rejections=throw (found by CI, stop 14).
   */
  admitOrphanWill(packet: PublishPacket): Promise<boolean>;
}

export function createHooks(ctx: HookContext): Hooks {
  const { metrics, logger, presence, conns } = ctx;

  function handOff(deviceId: string, packet: PublishPacket, kind: MessageKind, receivedAt: number, oversize?: Frame['oversize']): void {
    const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
    const frame: Frame = oversize
      // Only the first 4 KiB go on, copied, so the big buffer is freed with the packet.
      ? { deviceId, topic: packet.topic, payload: Buffer.from(payload.subarray(0, KEEP_PAYLOAD_BYTES)), qos: packet.qos, retain: packet.retain, receivedAt, oversize }
      : { deviceId, topic: packet.topic, payload, qos: packet.qos, retain: packet.retain, receivedAt };
    try {
      ctx.sink.accept(frame);
    } catch (err) {
      // An ingest bug loses this frame, not the connection, and never the broker.
      metrics.sinkError();
      logger.error({ err, deviceId, topic: packet.topic }, 'ingest threw on a frame');
    }
    metrics.message(kind);
    if (kind === 'status' && !oversize) presence.fromStatus(deviceId, payload);
  }

  /** Lets aedes write a QoS 1 PUBACK, timed from `since` (its PUBLISH's arrival): watchfire_gateway_puback_hold_seconds. */
  function released(since: number, done: (err?: Error | null) => void): void {
    metrics.pubackHold.observe((performance.now() - since) / 1000);
    done(null);
  }

  /** A QoS 1 PUBLISH's acknowledgement, timed from `since`: after the journal's group commit when there is a journal. */
  function qos1Ack(conn: Conn, deviceId: string, since: number, done: (err?: Error | null) => void): () => void {
    return ctx.durable ? () => durableAck(conn, deviceId, since, done) : () => released(since, done);
  }

  /** Lets aedes write the PUBACK once the journal has the message; a disk failure acks nothing. */
  function durableAck(conn: Conn, deviceId: string, since: number, done: (err?: Error | null) => void): void {
    ctx.durable!((err) => {
      if (!err) {
        released(since, done);
        return;
      }
      // aedes closes the connection on an error: the device keeps the message and re-sends it.
      conn.expected = true;
      logger.error({ code: 'WF_JOURNAL_WRITE', deviceId, err: err.message }, 'journal could not make a message durable: not acknowledged');
      done(err);
    });
  }

  /** Drops a publish that breaks the ACL and closes the connection (3.1.1 has no negative PUBACK). */
  function refusePublish(conn: Conn, topic: string, why: string, done: (err?: Error | null) => void): void {
    metrics.aclDrop('publish');
    metrics.disconnect('acl');
    conn.expected = true;
    ctx.refusals.refused('WF_ACL_PUBLISH', conn.ip, { port: conn.address, who: conn.identity, topic: printable(topic) }, why);
    done(new Error(`publish to ${topic} not allowed`));
  }

  /** Breaks the protocol as PROTOCOL.md narrows it: counted, logged (sampled), connection closed. */
  function violation(conn: Conn | undefined, kind: 'qos2' | 'topic_nul' | 'held_publishes', code: ErrorCode, fields: Record<string, unknown>, why: string): Error {
    metrics.violation(kind);
    metrics.disconnect(kind === 'held_publishes' ? 'held' : 'protocol');
    if (conn) conn.expected = true;
    ctx.refusals.refused(code, conn?.ip, { port: conn?.address, who: conn?.identity, ...fields }, why);
    return new Error(why);
  }

  /** A CONNECT refused: at once, or after the failed-auth backoff of its address or device id. */
  function refuseConnect(conn: Conn, reason: RefusalReason, returnCode: number, username: string | undefined, done: (err: AuthenticateError, ok: false) => void): void {
    metrics.refusal(reason);
    conn.expected = true;
    const err = Object.assign(new Error(`refused: ${reason}`), { returnCode }) as AuthenticateError;
    let delayMs = 0;
    if (reason === 'unknown' || reason === 'bad_secret') {
      // Per device id only for registered ids: a guesser's random names cannot grow the table.
      const deviceId = username !== undefined && ctx.directory.get(username) ? username : undefined;
      delayMs = ctx.admission.refusalDelayMs(conn.ip, deviceId);
      ctx.admission.failed(conn.ip, deviceId);
    }
    // The user name is a device id, not a secret; the password is never logged.
    ctx.refusals.refused(REFUSAL_CODE[reason], conn.ip, { port: conn.address, user: username === undefined ? undefined : printable(username), returnCode, keepalive: conn.keepalive, delayMs }, 'CONNECT refused');
    if (delayMs === 0) {
      done(err, false);
      return;
    }
    metrics.stats.authDelayed++;
    // aedes ignores the answer when the client closed meanwhile (lib/handlers/connect.js negate).
    conn.delayed = setTimeout(() => {
      conn.delayed = undefined;
      done(err, false);
    }, delayMs);
  }

  /** The last will of a connection that ended without DISCONNECT (aedes lib/client.js close()). */
  function will(client: Client, conn: Conn, packet: PublishPacket, done: (err?: Error | null) => void): void {
    const id = conn.identity;
    // On shutdown the gateway, not the device, went away: no will reaches ingest as "offline".
    // A superseded connection's will would mark a device offline that is connected anew.
    if (ctx.isStopping() || id?.kind !== 'device' || !presence.owns(id.deviceId, client)) {
      done(new Error('will suppressed'));
      return;
    }
    // [MQTT-4.7.3-2] as for any PUBLISH; PROTOCOL.md has no QoS 2, the will goes on as QoS 1.
    const kind = packet.topic.includes('\0') ? undefined : publishKind(id, packet.topic);
    if (packet.qos === 2) packet.qos = 1;
    if (!kind) {
      metrics.aclDrop('publish');
      ctx.refusals.refused('WF_ACL_PUBLISH', conn.ip, { port: conn.address, who: id, topic: printable(packet.topic) }, 'will outside the device topics dropped');
      done(new Error('will not allowed'));
      return;
    }
    if (kind !== 'status') packet.retain = false;
    handOff(id.deviceId, packet, 'will', ctx.clock.now());
    presence.set(id.deviceId, false, 'will');
    done(null);
  }

  /** Dead nodes' wills this node decided to publish (admitOrphanWill), until aedes publishes them. */
  const admitted = new WeakSet<PublishPacket>();

  /**
   * A will published by the broker for a client of a broker that died (a cluster). Not when the
   * device is connected here, nor (issue 21) when it connected to any node since: aedes deletes a
   * will only on the node that stored it, so a device that moved from a dead node to another would
   * otherwise be marked offline minutes later by a third.
   */
  async function admitOrphanWill(packet: PublishPacket): Promise<boolean> {
    const t = parseTopic(packet.topic);
    let publish = t !== undefined && t.kind === 'status' && !presence.owner(t.deviceId);
    if (publish && ctx.wills) publish = (await ctx.wills.stillLast(t!.deviceId, packet)) && !presence.owner(t!.deviceId);
    if (publish) admitted.add(packet);
    else ctx.wills?.drop(packet);
    return publish;
  }

  function orphanWill(packet: PublishPacket, done: (err?: Error | null) => void): void {
    const publish = (): void => {
      admitted.delete(packet);
      const t = parseTopic(packet.topic)!;
      handOff(t.deviceId, packet, 'will', ctx.clock.now());
      presence.set(t.deviceId, false, 'will');
      done(null);
    };
    if (admitted.has(packet)) {
      publish();
      return;
    }
    // Not through the admitting will stream (no cluster): decided here.
    admitOrphanWill(packet).then((yes) => (yes ? publish() : done(new Error('will suppressed'))), (err: Error) => done(err));
  }

  const aedes: AedesHooks = {
    preConnect(client, packet, done) {
      const conn = conns.get(client);
      if (conn) conn.keepalive = packet.keepalive ?? 0;
      // Only devices keep a session (commands queued while offline). An observer account always
      // starts clean: a recorder that went away must not have the broker queue every device
      // message for it in memory.
      const isDevice = packet.username !== undefined && ctx.directory.get(packet.username) !== undefined;
      if (!isDevice) packet.clean = true;
      // Issue 16: the client id is capped (MQTT 3.1.1 §3.1.3.1 lets a server refuse long ones);
      // authenticate answers CONNACK 2, counted.
      if (conn && (packet.clientId?.length ?? 0) > ctx.config.limits.maxClientIdLength) conn.clientIdTooLong = true;
      // A device has one session, keyed on its id whatever client id it sends (PROTOCOL.md: the
      // client id is free): a device cannot open a persistent session per invented client id,
      // each with its subscriptions and a copy of every command queued (README "Securing a
      // deployment" › MQTT). Only an authenticated CONNECT registers it (aedes: authenticate
      // comes before registerClient), so a wrong secret cannot take over the device's session.
      else if (isDevice) packet.clientId = packet.username!;
      // [MQTT-3.1.2-2]: aedes answers CONNACK 1 for anything but 3.1/3.1.1; counted here, where
      // the packet is still in hand.
      const v = packet.protocolVersion ?? 4;
      if (v < 3 || v > 4) {
        metrics.refusal('protocol');
        if (conn) conn.expected = true;
        ctx.refusals.refused(REFUSAL_CODE.protocol, conn?.ip, { port: conn?.address, protocolVersion: v, returnCode: CONNACK_UNACCEPTABLE_PROTOCOL }, 'CONNECT refused');
      }
      done(null, true);
    },

    authenticate(client, username, password, done) {
      const conn = conns.get(client);
      if (!conn) {
        done(Object.assign(new Error('no connection state'), { returnCode: 3 }) as AuthenticateError, false);
        return;
      }
      if (conn.clientIdTooLong) {
        metrics.violation('client_id');
        refuseConnect(conn, 'client_id', CONNACK_IDENTIFIER_REJECTED, username, done);
        return;
      }
      const d = authenticate({ directory: ctx.directory, observers: ctx.observers, maxKeepaliveSec: ctx.config.maxKeepaliveSec }, username, password, conn.keepalive);
      if (!d.ok) {
        refuseConnect(conn, d.reason, d.returnCode, username, done);
        return;
      }
      conn.identity = d.identity;
      if (d.identity.kind === 'device') {
        const id = d.identity.deviceId;
        ctx.admission.succeeded(id);
        ctx.wills?.connected(id);
        const prev = presence.claim(id, client);
        if (prev) {
          // Keyed on the device, not the client id: the newest authenticated connection wins.
          metrics.disconnect('takeover');
          const prevConn = conns.get(prev);
          if (prevConn) prevConn.expected = true;
          logger.info({ deviceId: id, address: conn.address, previous: prevConn?.address }, 'device reconnected; older connection closed');
          // With the same client id aedes closes the old one itself on registration [MQTT-3.1.4-2].
          if (prev.id !== client.id) prev.close();
        }
        conn.session = ctx.flow.session(id);
      }
      // Counted and online from here, not from aedes's 'clientReady': that fires only after the
      // CONNACK write completes, when the device may already be publishing.
      conn.counted = true;
      metrics.connected(d.identity.kind === 'observer');
      if (d.identity.kind === 'observer') ctx.observersChanged?.();
      if (d.identity.kind === 'device') presence.set(d.identity.deviceId, true, 'connect');
      done(null, true);
    },

    authorizePublish(client, packet, done) {
      // Aedes hands a dead node's will with this node's connection of the same client id, if any.
      if (!client || ctx.wills?.isForeign(packet)) {
        orphanWill(packet, done);
        return;
      }
      const conn = conns.get(client);
      if (!conn?.identity) {
        done(new Error('not authenticated'));
        return;
      }
      if (client.closed) {
        if ((client as unknown as { will?: unknown }).will === packet) will(client, conn, packet, done);
        else done(new Error('connection closed'));
        return;
      }
      // PROTOCOL.md "Payloads": QoS 2 is not supported; [MQTT-4.7.3-2]: no U+0000 in a topic.
      if (packet.qos === 2) {
        done(violation(conn, 'qos2', 'WF_PROTOCOL_QOS2', { topic: printable(packet.topic) }, 'QoS 2 PUBLISH refused; connection closed'));
        return;
      }
      if (packet.topic.includes('\0')) {
        done(violation(conn, 'topic_nul', 'WF_PROTOCOL_TOPIC_NUL', { topic: printable(packet.topic) }, 'PUBLISH topic with U+0000; connection closed'));
        return;
      }
      const id = conn.identity;
      if (id.kind !== 'device') {
        refusePublish(conn, packet.topic, 'observer tried to publish', done);
        return;
      }
      const kind = publishKind(id, packet.topic);
      if (!kind) {
        refusePublish(conn, packet.topic, 'publish outside the device topics dropped', done);
        return;
      }
      // Over maxPacketBytes but within the hard cap (packetSizeGuard let it be read): dead-lettered
      // by ingest and acknowledged, so a QoS 1 device does not re-send it forever (issue 15).
      // Beyond the hard cap: the backstop for packetSizeGuard, should an upgrade move the parser.
      const bytes = packet.payload.length + Buffer.byteLength(packet.topic);
      let oversize: Frame['oversize'];
      if (bytes > ctx.config.maxPacketBytes && bytes <= Math.max(ctx.config.maxPacketHardBytes, ctx.config.maxPacketBytes)) {
        metrics.error('packet_too_large');
        ctx.refusals.refused('WF_INGEST_TOO_LARGE', conn.ip, { port: conn.address, deviceId: id.deviceId, bytes }, 'packet too large; dead-lettered and acknowledged');
        oversize = { bytes, limit: ctx.config.maxPacketBytes };
      } else if (bytes > ctx.config.maxPacketBytes) {
        metrics.error('packet_too_large');
        metrics.disconnect('packet_too_large');
        conn.expected = true;
        ctx.refusals.refused('WF_PACKET_TOO_LARGE', conn.ip, { port: conn.address, deviceId: id.deviceId, bytes }, 'packet too large');
        done(new Error('packet too large'));
        return;
      }
      // Only the status is retained (PROTOCOL.md); a retained flag elsewhere would let a device
      // grow the broker's retained store.
      if (kind !== 'status') packet.retain = false;
      const receivedAt = ctx.clock.now();
      const deviceId = id.deviceId;
      const session = conn.session!;
      const urgent = kind !== 'telemetry';
      // Issue 15: a QoS 1 PUBACK is a promise that the message is on disk, so aedes is let
      // write it only once the journal's group commit holding this message's readings (and its
      // alarm's incident) has been flushed. Rules and incidents have already run in handOff: an
      // alarm never waits on storage, only its acknowledgement does. QoS 0 has nothing to hold.
      const ack = packet.qos === 0 ? () => done(null) : qos1Ack(conn, deviceId, performance.now(), done);
      if (ctx.flow.admit(session, urgent)) {
        handOff(deviceId, packet, kind, receivedAt, oversize);
        ack();
        return;
      }
      // Issue 16: what one connection may have held is bounded, in number and in bytes; an
      // honest device waits for its PUBACKs long before (mqtt.js and firmware keep a window).
      const size = packet.payload.length;
      const limits = ctx.config.limits;
      if (session.queue.length >= limits.maxHeldPublishes || conn.heldBytes + size > limits.maxHeldBytes) {
        ctx.flow.end(session);
        done(violation(conn, 'held_publishes', 'WF_HELD_LIMIT', { deviceId, held: session.queue.length, heldBytes: conn.heldBytes }, 'too many publishes held for budget; connection closed'));
        return;
      }
      conn.heldBytes += size;
      ctx.flow.wait(session, {
        urgent,
        hand: () => handOff(deviceId, packet, kind, receivedAt, oversize),
        done: () => {
          conn.heldBytes -= size;
          ack();
        },
      });
    },

    authorizeSubscribe(client, sub: Subscription, done) {
      const conn = conns.get(client);
      if (sub.topic.includes('\0')) {
        done(violation(conn, 'topic_nul', 'WF_PROTOCOL_TOPIC_NUL', { topic: printable(sub.topic) }, 'SUBSCRIBE filter with U+0000; connection closed'), null);
        return;
      }
      if (conn?.identity && subscribeAllowed(conn.identity, sub.topic)) {
        const subs = (conn.subscriptions ??= new Set());
        if (subs.has(sub.topic)) {
          done(null, sub);
          return;
        }
        if (subs.size < ctx.config.limits.maxSubscriptionsPerConnection) {
          subs.add(sub.topic);
          metrics.stats.subscriptionsCurrent++;
          done(null, sub);
          return;
        }
        metrics.violation('subscriptions');
        ctx.refusals.refused('WF_SUBSCRIBE_LIMIT', conn.ip, { port: conn.address, who: conn.identity, topic: printable(sub.topic), held: subs.size }, 'subscription over the per-connection cap refused (SUBACK 0x80)', 'info');
        done(null, null);
        return;
      }
      metrics.aclDrop('subscribe');
      ctx.refusals.refused('WF_ACL_SUBSCRIBE', conn?.ip, { port: conn?.address, who: conn?.identity, topic: printable(sub.topic) }, 'subscription refused (SUBACK 0x80)', 'info');
      // A null subscription is aedes's way to answer SUBACK 0x80 (MQTT 3.1.1 §3.9.3).
      done(null, null);
    },
  };
  return { aedes, admitOrphanWill };
}
