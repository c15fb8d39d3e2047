// Admission control for connections (issue 16 point 2): before a socket costs the broker anything,
// a cap on open sockets and a token bucket of new connections per source address; after a failed
// CONNECT, a backoff per address and per device id that delays the next wrong answer.
//
// Throttling never refuses a correct secret: a device behind the same NAT as a guesser, or whose
// id a guesser targets, still connects at once. What the backoff slows is the guesser's feedback:
// a wrong CONNECT from an address or for a device id in backoff gets its CONNACK only after the
// backoff, so with maxConnectionsPerAddress sockets one address learns at most
// maxConnectionsPerAddress / backoff answers per second (secrets are ≥ 128 random bits anyway:
// PROTOCOL.md "Authentication"); the attempts bucket caps it further.
import { addressKey } from '../contracts/net.ts';
import type { Config } from '../contracts/config.ts';
import type { Clock } from '../contracts/ports.ts';
import { TokenBucket } from './rate-limit.ts';

export type AdmissionRefusal = 'address_connections' | 'address_rate';

interface Failures {
  count: number;
  last: number;
}

/** Failure records kept per kind: bounded, the oldest forgotten first (Map keeps insertion order). */
const MAX_FAILURE_RECORDS = 20_000;
/** Idle attempt buckets (full again) are dropped this often, so the map holds recent addresses only. */
const SWEEP_MS = 60_000;

export function createAdmission(deps: { config: Config['gateway']['admission']; clock: Clock }) {
  const { config, clock } = deps;
  // Exempt addresses are exact (a monitoring host, the load balancer); limits count by addressKey
  // (an IPv6 /64 is one subscriber, contracts/net.ts).
  const exempt = new Set(config.exemptAddresses.flatMap((a) => [a, `::ffff:${a}`]));
  const open = new Map<string, number>();
  const buckets = new Map<string, TokenBucket>();
  const byAddress = new Map<string, Failures>();
  const byDevice = new Map<string, Failures>();
  let sweeper: NodeJS.Timeout | undefined;

  function sweep(): void {
    const now = clock.now();
    for (const [a, b] of buckets) if (b.available(now) >= config.attemptsBurst) buckets.delete(a);
    // A record whose backoff has long run out is forgotten: the next failure starts afresh.
    const stale = now - 4 * config.authMaxBackoffMs;
    for (const m of [byAddress, byDevice]) for (const [k, f] of m) if (f.last < stale) m.delete(k);
  }

  function fail(m: Map<string, Failures>, key: string, now: number): void {
    const f = m.get(key);
    m.delete(key);
    const stale = f && now - f.last > 4 * config.authMaxBackoffMs;
    m.set(key, { count: f && !stale ? f.count + 1 : 1, last: now });
    if (m.size > MAX_FAILURE_RECORDS) m.delete(m.keys().next().value!);
  }

  function backoffOf(f: Failures | undefined, now: number): number {
    if (!f || f.count <= config.authFailuresFree || now - f.last > 4 * config.authMaxBackoffMs) return 0;
    const steps = Math.min(30, f.count - config.authFailuresFree - 1);
    return Math.min(config.authMaxBackoffMs, config.authBackoffMs * 2 ** steps);
  }

  return {
    start(): void {
      sweeper ??= setInterval(sweep, SWEEP_MS);
      sweeper.unref();
    },
    stop(): void {
      if (sweeper) clearInterval(sweeper);
      sweeper = undefined;
    },
    /** A new socket from `address`: admitted (and tracked until release) or why not. */
    accept(raw: string): AdmissionRefusal | undefined {
      if (exempt.has(raw)) return undefined;
      const address = addressKey(raw);
      const n = open.get(address) ?? 0;
      if (n >= config.maxConnectionsPerAddress) return 'address_connections';
      let b = buckets.get(address);
      if (!b) buckets.set(address, (b = new TokenBucket({ perSecond: config.attemptsPerSecond, burst: config.attemptsBurst, now: clock.now() })));
      if (!b.take(clock.now())) return 'address_rate';
      open.set(address, n + 1);
      return undefined;
    },
    /** An admitted socket closed. */
    release(raw: string): void {
      if (exempt.has(raw)) return;
      const address = addressKey(raw);
      const n = open.get(address);
      if (n === undefined) return;
      if (n <= 1) open.delete(address);
      else open.set(address, n - 1);
    },
    /** How long the answer to a wrong CONNECT from this address / for this device id is held now. */
    refusalDelayMs(address: string, deviceId: string | undefined): number {
      const now = clock.now();
      return Math.max(backoffOf(byAddress.get(addressKey(address)), now), deviceId ? backoffOf(byDevice.get(deviceId), now) : 0);
    },
    /** A CONNECT was refused for its credentials; deviceId only when the user name is a registered device. */
    failed(address: string, deviceId: string | undefined): void {
      const now = clock.now();
      if (!exempt.has(address)) fail(byAddress, addressKey(address), now);
      if (deviceId) fail(byDevice, deviceId, now);
    },
    /** A device authenticated: its id's record is cleared (the address's is not: a NAT hides guessers among devices). */
    succeeded(deviceId: string): void {
      byDevice.delete(deviceId);
    },
    /** Addresses with open sockets now (for the gauge). */
    addresses: (): number => open.size,
  };
}

export type Admission = ReturnType<typeof createAdmission>;
