// Cluster mode's console relay (contracts/cluster.ts ConsoleRelay) over Redis pub/sub: each node
// publishes its incident and presence events on one channel, tagged with its id, and hands the
// other nodes' to its stream. Pub/sub is fire-and-forget, as the stream is: a console that missed
// an event while its node was cut off reloads its queue (the stream's `reset`).
import { hostname } from 'node:os';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { ConsoleEvent, ConsoleRelay } from '../contracts/cluster.ts';

const CHANNEL = 'watchfire:console';

export function createRedisConsoleRelay(opts: { redisUrl: string; nodeId?: string | undefined; logger: Logger }): ConsoleRelay & { start(): Promise<void>; close(): Promise<void> } {
  const node = opts.nodeId ?? `${hostname()}-${process.pid}`;
  const onError = (err: Error): void => opts.logger.warn({ err: err.message, code: 'WF_CLUSTER_REDIS' }, 'console relay: Redis error');
  // Publishing never waits for a Redis that is away: the event is dropped, not queued.
  const pub = new Redis(opts.redisUrl, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  const sub = new Redis(opts.redisUrl, { lazyConnect: true });
  pub.on('error', onError);
  sub.on('error', onError);
  const listeners = new Set<(e: ConsoleEvent) => void>();
  sub.on('message', (_channel: string, message: string) => {
    let m: { node?: unknown; e?: ConsoleEvent };
    try {
      m = JSON.parse(message) as typeof m;
    } catch {
      return;
    }
    if (m.node === node || !m.e) return;
    for (const l of listeners) l(m.e);
  });
  return {
    async start() {
      await Promise.all([pub.connect(), sub.connect()]);
      await sub.subscribe(CHANNEL);
    },
    tell(e) {
      if (pub.status !== 'ready') return;
      pub.publish(CHANNEL, JSON.stringify({ node, e })).catch(onError);
    },
    listen(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async close() {
      listeners.clear();
      pub.disconnect();
      sub.disconnect();
    },
  };
}
