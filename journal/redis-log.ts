// The partitioned log of contracts/cluster.ts on Redis Streams: one stream per partition
// (`wf:log:{p}`, the braces a Redis Cluster hash tag), one consumer group `rules` per stream, one
// lease key per partition. Why Redis Streams and not NATS JetStream: the gateways already share
// one Redis (gateway/cluster.ts), streams give consumer groups with pending lists and claiming,
// which is the failover this needs, and an operator runs, backs up and watches one server, not two.
//
// Durable, as Redis defines it: `appendfsync always` (the append-only file is fsynced before the
// reply; contracts/cluster.ts). Appends of one event-loop turn travel in one pipeline and Redis
// fsyncs them together: a group commit, as the local journal does.
import { Redis } from 'ioredis';
import { WatchfireError } from '../contracts/errors.ts';
import { compareOffsets, LOG_START, partitionOf, type LogOffset, type LogRecord, type PartitionedLog } from '../contracts/cluster.ts';

const GROUP = 'rules';

// A lease is taken when free and renewed by its holder, in one step (no one can slip between),
// answering with its term (contracts/cluster.ts, fencing): a new one for every new holder; the same
// for a holder whose lease ran out unclaimed by anyone, and who says which term it held.
const CLAIM = `local v = redis.call('GET', KEYS[1])
local t = tonumber(redis.call('GET', KEYS[2]) or '0')
if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return t end
if v then return 0 end
if ARGV[3] == '' or tonumber(ARGV[3]) ~= t then t = redis.call('INCR', KEYS[2]) end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return t`;
// An acknowledgement under a term that is no longer current changes nothing.
const ACK = `if tonumber(redis.call('GET', KEYS[1]) or '0') ~= tonumber(ARGV[1]) then return -1 end
return redis.call('XACK', KEYS[2], ARGV[2], unpack(ARGV, 3))`;
/** Offsets per fenced XACK: Lua's unpack() takes a few thousand arguments at most. */
const ACK_CHUNK = 1_000;
// Membership by heartbeat, on Redis's clock (one clock for every node): those heard within ttl.
const WORKERS = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return redis.call('ZCARD', KEYS[1])`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;
// A snapshot (or a stored mark) is written only under the current term, and replaces the last one
// in one SET (a reader sees the old or the new, never half of one). They share the partition's hash tag.
const SNAPSHOT = `if tonumber(redis.call('GET', KEYS[1]) or '0') ~= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[2], ARGV[2])
return 1`;

type Entry = [id: Buffer, fields: Buffer[] | null];

export interface RedisLogOptions {
  redisUrl: string;
  partitions: number;
  /** Key prefix, so several deployments (or test cases) can share one Redis. */
  prefix?: string;
  /**
   * Refuse to start unless Redis fsyncs every write (appendonly yes, appendfsync always). False
   * accepts less (a managed Redis that hides CONFIG, or a test); then an acknowledged record can
   * be lost to a Redis crash, as the operator chose.
   */
  requireFsync?: boolean;
  /**
   * Connections appends go through, each partition always through the same one (so a site's
   * records keep their order). Redis reads at most 16 KiB per connection per event-loop turn and
   * fsyncs once per turn: one connection caps a group commit at ≈ 60 readings of 250 bytes;
   * several let a turn take more. Default 4 (not yet measured on a quiet machine:
   * `npm run bench -- cluster-log`).
   */
  appendConnections?: number;
  /** A connection error (ioredis reconnects by itself; commands meanwhile fail or wait). */
  onError?: (err: Error) => void;
}

export function createRedisLog(opts: RedisLogOptions): PartitionedLog {
  const prefix = opts.prefix ?? 'wf:';
  const key = (p: number): string => `${prefix}log:{${p}}`;
  const leaseKey = (p: number): string => `${prefix}lease:{${p}}`;
  const snapshotKey = (p: number): string => `${prefix}snap:{${p}}`;
  const termKey = (p: number): string => `${prefix}term:{${p}}`;
  const storedKey = (p: number): string => `${prefix}stored:{${p}}`;
  const keys = (parts: readonly number[]): string[] => parts.map(key);
  let db: Redis | undefined;
  /** Append connections; writers[p % length] carries partition p. */
  let writers: Redis[] = [];
  /** Blocking reads hold their connection: they get one of their own. */
  let blocking: Redis | undefined;

  const live = (): Redis => {
    if (!db) throw new Error('the partitioned log is not started');
    return db;
  };
  const check = (p: number): void => {
    if (!Number.isInteger(p) || p < 0 || p >= opts.partitions) throw new RangeError(`no partition ${p} (0..${opts.partitions - 1})`);
  };

  function record(partition: number, [id, fields]: Entry): LogRecord | undefined {
    if (!fields) return undefined;
    let siteId = '';
    let frame: Buffer = Buffer.alloc(0);
    for (let i = 0; i + 1 < fields.length; i += 2) {
      const f = fields[i]!.toString();
      if (f === 's') siteId = fields[i + 1]!.toString();
      else if (f === 'f') frame = fields[i + 1]!;
    }
    return { partition, offset: id.toString(), siteId, frame };
  }
  async function claimTerm(partition: number, worker: string, leaseMs: number, term?: number): Promise<number> {
    check(partition);
    return Number(await live().eval(CLAIM, 2, leaseKey(partition), termKey(partition), worker, String(leaseMs), term === undefined ? '' : String(term)));
  }

  const records = (partition: number, entries: Entry[]): LogRecord[] =>
    entries.map((e) => record(partition, e)).filter((r): r is LogRecord => r !== undefined);

  return {
    partitions: opts.partitions,

    async start() {
      if (db) return;
      const conn = new Redis(opts.redisUrl, { lazyConnect: true });
      const onError = (err: Error): void => opts.onError?.(err);
      conn.on('error', onError);
      try {
        await conn.connect();
        if (opts.requireFsync ?? true) {
          const [, appendonly] = (await conn.config('GET', 'appendonly')) as string[];
          const [, appendfsync] = (await conn.config('GET', 'appendfsync')) as string[];
          if (appendonly !== 'yes' || appendfsync !== 'always') {
            throw new WatchfireError('WF_CLUSTER_LOG_NOT_DURABLE', `Redis at ${opts.redisUrl.replace(/\/\/[^@]*@/, '//')} has appendonly ${appendonly}, appendfsync ${appendfsync}: an acknowledged reading could be lost; set appendonly yes and appendfsync always`);
          }
        }
        for (let p = 0; p < opts.partitions; p++) {
          try {
            await conn.xgroup('CREATE', key(p), GROUP, '0', 'MKSTREAM');
          } catch (err) {
            if (!String((err as Error).message).startsWith('BUSYGROUP')) throw err;
          }
        }
      } catch (err) {
        conn.disconnect();
        throw err;
      }
      db = conn;
      blocking = conn.duplicate();
      blocking.on('error', onError);
      writers = [conn];
      for (let i = 1; i < (opts.appendConnections ?? 4); i++) {
        const w = conn.duplicate();
        w.on('error', onError);
        writers.push(w);
      }
    },

    async stop() {
      const conns = [db, blocking, ...writers.slice(1)];
      db = blocking = undefined;
      writers = [];
      for (const c of conns) c?.disconnect();
    },

    async append(siteId, frame) {
      const partition = partitionOf(siteId, opts.partitions);
      live();
      const offset = await writers[partition % writers.length]!.xadd(key(partition), '*', 's', siteId, 'f', frame);
      return { partition, offset: offset! };
    },

    claimTerm,

    async claim(partition, worker, leaseMs) {
      return (await claimTerm(partition, worker, leaseMs)) > 0;
    },

    async terms(parts) {
      for (const p of parts) check(p);
      if (parts.length === 0) return [];
      const got = await live().mget(...parts.map(termKey));
      return got.map((v) => Number(v ?? 0));
    },

    async owner(partition) {
      check(partition);
      return (await live().get(leaseKey(partition))) ?? undefined;
    },

    async workers(worker, ttlMs) {
      return Number(await live().eval(WORKERS, 1, `${prefix}workers`, worker, String(ttlMs)));
    },

    async release(partition, worker) {
      check(partition);
      await live().eval(RELEASE, 1, leaseKey(partition), worker);
    },

    async read(partition, after, count) {
      check(partition);
      const entries = (await live().xrangeBuffer(key(partition), `(${after}`, '+', 'COUNT', count)) as Entry[];
      return records(partition, entries);
    },

    async readNew(partition, worker, { count, blockMs }) {
      const parts = typeof partition === 'number' ? [partition] : partition;
      if (parts.length === 0) return [];
      for (const p of parts) check(p);
      const conn = blocking ?? live();
      const reply = (await conn.callBuffer('XREADGROUP', 'GROUP', GROUP, worker, 'COUNT', count, 'BLOCK', blockMs, 'STREAMS', ...parts.map(key), ...parts.map(() => '>'))) as Array<[Buffer, Entry[]]> | null;
      if (!reply) return [];
      const out: LogRecord[] = [];
      for (const [k, entries] of reply) out.push(...records(parts[keys(parts).indexOf(k.toString())]!, entries));
      return out;
    },

    async delivered(partition) {
      check(partition);
      const groups = (await live().xinfo('GROUPS', key(partition))) as Array<Array<string | number>>;
      for (const g of groups) {
        const f = new Map<string, string | number>();
        for (let i = 0; i + 1 < g.length; i += 2) f.set(String(g[i]), g[i + 1]!);
        if (f.get('name') === GROUP) return String(f.get('last-delivered-id') ?? LOG_START);
      }
      return LOG_START;
    },

    async trim(partition, ageMs, keep) {
      check(partition);
      // Stream ids are Redis's clock in ms: the cut is taken from Redis's TIME, not this node's.
      const [sec, usec] = await live().time();
      const cut = Number(sec) * 1000 + Math.floor(Number(usec) / 1000) - ageMs;
      if (cut <= 0) return;
      // MINID drops ids below it: a cut at `keep` keeps `keep` and everything after it.
      const minId = keep !== undefined && compareOffsets(keep, `${cut}-0`) < 0 ? keep : `${cut}-0`;
      await live().xtrim(key(partition), 'MINID', '~', minId);
    },

    async ack(partition, offsets: readonly LogOffset[], term) {
      check(partition);
      if (offsets.length === 0) return true;
      if (term === undefined) {
        await live().xack(key(partition), GROUP, ...offsets);
        return true;
      }
      for (let i = 0; i < offsets.length; i += ACK_CHUNK) {
        const chunk = offsets.slice(i, i + ACK_CHUNK);
        if (Number(await live().eval(ACK, 2, termKey(partition), key(partition), String(term), GROUP, ...chunk)) < 0) return false;
      }
      return true;
    },

    async takeOver(partition, worker, count, minIdleMs = 0) {
      check(partition);
      const out: LogRecord[] = [];
      let from = '0-0';
      do {
        // Idle 0 by default: the caller holds the lease, so whoever read these is gone.
        const [next, entries] = (await live().callBuffer('XAUTOCLAIM', key(partition), GROUP, worker, minIdleMs, from, 'COUNT', count - out.length)) as [Buffer, Entry[]];
        out.push(...records(partition, entries));
        from = next.toString();
      } while (from !== '0-0' && out.length < count);
      return out;
    },

    async saveSnapshot(partition, term, snapshot) {
      check(partition);
      return (await live().eval(SNAPSHOT, 2, termKey(partition), snapshotKey(partition), String(term), snapshot)) === 1;
    },

    async saveStored(partition, term, offset) {
      check(partition);
      return (await live().eval(SNAPSHOT, 2, termKey(partition), storedKey(partition), String(term), offset)) === 1;
    },

    async loadStored(partition) {
      check(partition);
      return (await live().get(storedKey(partition))) ?? undefined;
    },

    async retained(partition) {
      check(partition);
      const info = (await live().xinfo('STREAM', key(partition))) as unknown[];
      const field = (name: string): unknown => info[info.indexOf(name) + 1];
      const first = field('first-entry') as [string, unknown] | null;
      return { first: first ? first[0] : undefined, last: String(field('last-generated-id') ?? LOG_START) };
    },

    async loadSnapshot(partition) {
      check(partition);
      return (await live().getBuffer(snapshotKey(partition))) ?? undefined;
    },
  };
}
