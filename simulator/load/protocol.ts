// Messages between the load generator and its worker processes (node:child_process IPC).

export interface WorkerStart {
  type: 'start';
  url: string;
  devices: Array<{ id: string; secret: string }>;
  /** Messages per second per device. */
  rate: number;
  durationMs: number;
  /** CONNECTs per second for this worker. */
  connectPerSec: number;
  qos: 0 | 1;
  /** How long to wait for outstanding PUBACKs at the end. */
  drainMs: number;
  /** Loopback source addresses to spread connections over (empty: the system's choice). */
  sourceAddresses: string[];
}
export interface WorkerStop {
  type: 'stop';
}
export type ToWorker = WorkerStart | WorkerStop;

export interface WorkerCounters {
  connected: number;
  connectErrors: number;
  sent: number;
  acked: number;
  errors: number;
  /** Sends skipped because too many PUBACKs were outstanding (the broker is behind). */
  backpressure: number;
}
export interface WorkerProgress extends WorkerCounters {
  type: 'progress';
  /** Wall ms since this worker started its run. */
  elapsedMs: number;
}
export interface WorkerDone extends WorkerCounters {
  type: 'done';
  counts: number[];
  max: number;
  /** Wall ms from the first publish to the last. */
  publishMs: number;
}
export type FromWorker = WorkerProgress | WorkerDone | { type: 'ready' } | { type: 'error'; message: string };
