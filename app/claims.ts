// Cluster mode's scheduler claims (contracts/cluster.ts FiringClaims) in the Redis every node
// already shares: SET key value NX PX — the first node's SET wins, every other gets null, and the
// key lives on for ttlMs so that a node whose clock runs a little behind finds the firing taken.
import { hostname } from 'node:os';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { FiringClaims } from '../contracts/cluster.ts';

const PREFIX = 'watchfire:firing:';

export function createRedisFiringClaims(opts: { redisUrl: string; nodeId?: string | undefined; logger: Logger }): FiringClaims & { close(): Promise<void> } {
  const node = opts.nodeId ?? `${hostname()}-${process.pid}`;
  // A command waits at most a few seconds for a Redis that is away (then the job runs here:
  // alerts/cron.ts), instead of ioredis' default of queueing it until Redis comes back.
  const redis = new Redis(opts.redisUrl, { maxRetriesPerRequest: 1, connectTimeout: 3000, lazyConnect: true });
  redis.on('error', (err: Error) => opts.logger.warn({ err: err.message, code: 'WF_CLUSTER_REDIS' }, 'scheduler claims: Redis error'));
  return {
    async claim(job, firing, ttlMs) {
      if (redis.status === 'wait') await redis.connect();
      return (await redis.set(`${PREFIX}${job}:${firing}`, node, 'PX', ttlMs, 'NX')) === 'OK';
    },
    async close() {
      redis.disconnect();
    },
  };
}
