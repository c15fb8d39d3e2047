// Messages between the benchmark runner and its load worker processes (child_process IPC).
import type { Histogram } from './stats.ts';

export interface WorkerDevice {
  id: string;
  /** Undefined: connect without credentials (Mosquitto baseline with anonymous access). */
  secret?: string;
}

export interface WorkerInit {
  cmd: 'init';
  host: string;
  port: number;
  devices: WorkerDevice[];
  /** Loopback source addresses to spread connections over (ephemeral ports are per address). */
  localAddresses: string[];
  keepaliveSec: number;
  /** Unacknowledged QoS 1 publishes a device keeps before it waits (firmware holds very few). */
  inflightPerDevice: number;
  /** Set a retained offline will and publish a retained online status on connect (PROTOCOL.md). */
  announce: boolean;
  /** Reconnect after a lost or refused connection, as firmware does; 0 = never. */
  retryMs: number;
}

export type WorkerCommand =
  | WorkerInit
  | { cmd: 'connect'; perSec: number; timeoutMs: number }
  | { cmd: 'rate'; perSec: number; qos: 0 | 1 }
  | { cmd: 'snapshot'; reset: boolean }
  | { cmd: 'drop' }
  | { cmd: 'end' }
  | { cmd: 'subscribe'; filter: string; qos: 0 | 1 };

export interface WorkerSnapshot {
  /** Publishes due at the offered rate. */
  offered: number;
  /** Publishes written to a socket. */
  sent: number;
  /** PUBACKs received (QoS 1): what the broker took responsibility for. */
  acked: number;
  /** Due but not sent: every device of this worker was waiting on PUBACKs or a paused socket. */
  deferred: number;
  /** Sent, then the connection closed before the PUBACK. */
  unackedAtClose: number;
  inflight: number;
  connected: number;
  disconnects: number;
  refused: number;
  errors: number;
  /** publish → PUBACK, µs buckets (see stats.ts). */
  hist: Histogram;
  /** Subscriber mode: messages received, and publish → delivery latency (ms resolution). */
  received: number;
  recvHist: Histogram;
  /**
   * The worker's own event-loop delay since the last reset, ms: while it is high, the PUBACK
   * latency it measures includes time its own thread could not read the PUBACK (a reconnect of a
   * thousand MQTT.js clients holds one worker for hundreds of ms); real devices have a CPU each.
   */
  loop: { p99: number; max: number };
}

export type WorkerReply =
  | { ev: 'ready' }
  | { ev: 'connected'; connected: number; refused: number; errors: number; ms: number; complete: boolean }
  | { ev: 'snapshot'; snap: WorkerSnapshot }
  | { ev: 'done' }
  | { ev: 'subscribed' };
