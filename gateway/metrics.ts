// The gateway's counters, twice: prom-client metrics for /metrics, and a plain stats() object
// that tests and the bench read without parsing the exposition format.
import { Gauge, type Registry } from 'prom-client';
import { collectedCounter, hotHistogram } from '../contracts/metrics.ts';

export type RefusalReason = 'unknown' | 'bad_secret' | 'disabled' | 'protocol' | 'keepalive' | 'client_id';
export type DisconnectReason = 'rate' | 'acl' | 'packet_too_large' | 'takeover' | 'disabled' | 'protocol' | 'held';
/** Issue 16: what a peer did that the gateway refused by its own rules (each also has a WF_ code). */
export type Violation = 'qos2' | 'topic_nul' | 'client_id' | 'subscriptions' | 'held_publishes' | 'connect_timeout' | 'address_connections' | 'address_rate' | 'proxy_header';
export const VIOLATIONS: readonly Violation[] = ['qos2', 'topic_nul', 'client_id', 'subscriptions', 'held_publishes', 'connect_timeout', 'address_connections', 'address_rate', 'proxy_header'];
export type MessageKind = 'telemetry' | 'events' | 'status' | 'will' | 'other';

export interface GatewayStats {
  connectionsCurrent: number;
  /** Of those, maintainers' observer accounts (the only subscribers to device topics). */
  observersCurrent: number;
  connectionsTotal: number;
  /** Authorised device messages handed to the sink, by topic kind. */
  messages: Record<MessageKind, number>;
  refusals: Record<RefusalReason, number>;
  aclDrops: { publish: number; subscribe: number };
  /** Messages that had to wait for rate budget. */
  rateLimited: number;
  disconnects: Record<DisconnectReason, number>;
  /** Sockets whose reading is held right now (rate limit or admission control). */
  pausedSockets: number;
  /** Device publishes held right now, their PUBACK waiting (rate limit or admission control). */
  heldPublishes: number;
  /** Times admission control closed (backlog above the high-water mark). */
  admissionPauses: number;
  admissionPaused: boolean;
  /** 'clientError' / 'connectionError' / TLS handshake failures: counted, never fatal. */
  clientErrors: number;
  connectionErrors: number;
  tlsErrors: number;
  packetTooLarge: number;
  sinkErrors: number;
  commands: number;
  onlineDevices: number;
  // Issue 16: bounds and admission control.
  violations: Record<Violation, number>;
  /** Wrong CONNECTs whose answer was held by the failed-auth backoff. */
  authDelayed: number;
  /** Commands refused because the device's offline queue was full. */
  commandsRefused: number;
  /** Subscriptions held by connections now (devices and observers). */
  subscriptionsCurrent: number;
  /** Sockets admitted and open now, before or after CONNECT (plain and TLS). */
  socketsOpen: number;
}

/** Seconds; fine around the 20 ms a PUBACK should take, coarse beyond. */
const PUBACK_HOLD_BUCKETS = [0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2, 5];

const zero = <K extends string>(keys: readonly K[]): Record<K, number> =>
  Object.fromEntries(keys.map((k) => [k, 0])) as Record<K, number>;

export function createGatewayMetrics(registry: Registry) {
  const stats: GatewayStats = {
    connectionsCurrent: 0,
    observersCurrent: 0,
    connectionsTotal: 0,
    messages: zero(['telemetry', 'events', 'status', 'will', 'other'] as const),
    refusals: zero(['unknown', 'bad_secret', 'disabled', 'protocol', 'keepalive', 'client_id'] as const),
    aclDrops: { publish: 0, subscribe: 0 },
    rateLimited: 0,
    disconnects: zero(['rate', 'acl', 'packet_too_large', 'takeover', 'disabled', 'protocol', 'held'] as const),
    pausedSockets: 0,
    heldPublishes: 0,
    admissionPauses: 0,
    admissionPaused: false,
    clientErrors: 0,
    connectionErrors: 0,
    tlsErrors: 0,
    packetTooLarge: 0,
    sinkErrors: 0,
    commands: 0,
    onlineDevices: 0,
    violations: zero(VIOLATIONS),
    authDelayed: 0,
    commandsRefused: 0,
    subscriptionsCurrent: 0,
    socketsOpen: 0,
  };
  const registers = [registry];
  // Every counter reads the stats object when /metrics is scraped: the hot path only bumps numbers.
  const mirror = (name: string, help: string, read: () => number): void => collectedCounter(registry, name, help, read);
  const mirrorBy = (name: string, help: string, label: string, read: () => Record<string, number>): void => collectedCounter(registry, name, help, read, label);
  new Gauge({ name: 'watchfire_gateway_connections', help: 'Authenticated MQTT connections now', registers, collect() { this.set(stats.connectionsCurrent); } });
  new Gauge({ name: 'watchfire_gateway_observers', help: 'Authenticated observer (maintainer) connections now', registers, collect() { this.set(stats.observersCurrent); } });
  mirror('watchfire_gateway_connections_total', 'Authenticated MQTT connections since start', () => stats.connectionsTotal);
  mirrorBy('watchfire_gateway_messages_total', 'Device messages handed to ingest, by topic kind', 'kind', () => stats.messages);
  mirrorBy('watchfire_gateway_refusals_total', 'CONNECTs refused, by reason', 'reason', () => stats.refusals);
  mirrorBy('watchfire_gateway_acl_drops_total', 'PUBLISH or SUBSCRIBE outside the topic ACL', 'op', () => stats.aclDrops);
  mirror('watchfire_gateway_rate_limited_total', 'Messages delayed because their device was over its rate budget', () => stats.rateLimited);
  mirrorBy('watchfire_gateway_disconnects_total', 'Connections closed by the gateway, by reason', 'reason', () => stats.disconnects);
  new Gauge({ name: 'watchfire_gateway_paused_sockets', help: 'Device sockets whose reading is held (rate limit or admission control)', registers, collect() { this.set(stats.pausedSockets); } });
  new Gauge({ name: 'watchfire_gateway_held_publishes', help: 'Device publishes held, PUBACK waiting (rate limit or admission control)', registers, collect() { this.set(stats.heldPublishes); } });
  mirror('watchfire_gateway_admission_pauses_total', 'Times the storage backlog passed the high-water mark and device reading paused', () => stats.admissionPauses);
  new Gauge({ name: 'watchfire_gateway_admission_paused', help: '1 while device reading is paused for the storage backlog', registers, collect() { this.set(stats.admissionPaused ? 1 : 0); } });
  mirrorBy('watchfire_gateway_client_errors_total', 'Per-connection failures (socket, protocol, TLS), counted and contained', 'kind', () => ({
    client: stats.clientErrors, connection: stats.connectionErrors, tls: stats.tlsErrors, packet_too_large: stats.packetTooLarge,
  }));
  mirror('watchfire_gateway_sink_errors_total', 'Frames whose hand-off to ingest threw', () => stats.sinkErrors);
  mirror('watchfire_gateway_commands_total', 'Commands published to devices', () => stats.commands);
  new Gauge({ name: 'watchfire_gateway_online_devices', help: 'Devices online now', registers, collect() { this.set(stats.onlineDevices); } });
  // Issue 16.
  mirrorBy('watchfire_gateway_violations_total', 'Peers refused by the gateway\'s bounds and admission control, by kind', 'kind', () => stats.violations);
  mirror('watchfire_gateway_auth_delayed_total', 'Wrong CONNECTs answered late by the failed-auth backoff', () => stats.authDelayed);
  mirror('watchfire_gateway_commands_refused_total', 'Commands refused because the device\'s offline queue was full', () => stats.commandsRefused);
  new Gauge({ name: 'watchfire_gateway_sockets', help: 'MQTT sockets open now, before or after CONNECT', registers, collect() { this.set(stats.socketsOpen); } });
  new Gauge({ name: 'watchfire_gateway_subscriptions', help: 'Subscriptions held by open connections now', registers, collect() { this.set(stats.subscriptionsCurrent); } });
  /** Set by the gateway once its broker exists: persistent sessions and their subscriptions, from aedes' persistence. */
  const sessionSource: { read?: () => Promise<{ sessions: number; subscriptions: number }> } = {};
  new Gauge({ name: 'watchfire_gateway_sessions', help: 'Persistent (clean session = false) device sessions stored by the broker', registers, async collect() { this.set((await sessionSource.read?.())?.sessions ?? 0); } });
  new Gauge({ name: 'watchfire_gateway_session_subscriptions', help: 'Subscriptions stored for persistent sessions', registers, async collect() { this.set((await sessionSource.read?.())?.subscriptions ?? 0); } });

  // Issue 15: what the gateway itself adds to a PUBACK, apart from the network and the client: from
  // the PUBLISH reaching authorizePublish to aedes being let write its PUBACK (the journal's group
  // commit, and any wait for rate budget or admission control).
  const pubackHold = hotHistogram(registry, 'watchfire_gateway_puback_hold_seconds',
    'QoS 1 PUBLISH from its arrival to its PUBACK being released (journal group commit, rate budget, admission control)', PUBACK_HOLD_BUCKETS);

  return {
    stats,
    pubackHold,
    connected(observer: boolean) { stats.connectionsCurrent++; stats.connectionsTotal++; if (observer) stats.observersCurrent++; },
    disconnected(observer: boolean) { stats.connectionsCurrent--; if (observer) stats.observersCurrent--; },
    message(kind: MessageKind) { stats.messages[kind]++; },
    refusal(reason: RefusalReason) { stats.refusals[reason]++; },
    aclDrop(op: 'publish' | 'subscribe') { stats.aclDrops[op]++; },
    rateLimited() { stats.rateLimited++; },
    disconnect(reason: DisconnectReason) { stats.disconnects[reason]++; },
    admissionPause() { stats.admissionPauses++; },
    error(kind: 'client' | 'connection' | 'tls' | 'packet_too_large') {
      if (kind === 'client') stats.clientErrors++;
      else if (kind === 'connection') stats.connectionErrors++;
      else if (kind === 'tls') stats.tlsErrors++;
      else stats.packetTooLarge++;
    },
    sinkError() { stats.sinkErrors++; },
    command() { stats.commands++; },
    violation(kind: Violation) { stats.violations[kind]++; },
    sessionSource,
  };
}

export type GatewayMetrics = ReturnType<typeof createGatewayMetrics>;
