// Issue 16 point 3: console sign-in that holds under a flood. A login costs one scrypt (N=2^17:
// 128 MiB and ~0.3 s of a libuv thread), known user or not, so the number of hashes at once is
// the resource to protect. Before any hashing:
//   - failures per address and per address + user name in one-minute windows (429): guessing is
//     slowed, yet a user is never locked out from another address;
//   - logins in flight per address (429): one address cannot fill the queue;
//   - a bounded queue in front of `concurrency` hashing slots (503 at once when full, or after
//     maxWaitMs in it): memory and the thread pool stay bounded, a refusal costs microseconds,
//     and nobody waits longer than maxWaitMs for a slot.
// An address that signed in as that user before (the audit says) waits in a lane of its own that
// is served first and is not refused for others' failures: the supervisor at her usual desk gets
// in while strangers flood.
import { httpError } from './http-errors.ts';

export interface LoginGuardOptions {
  concurrency: number;
  queue: number;
  perAddressInFlight: number;
  perAddressFailuresPerMinute: number;
  perAccountFailuresPerMinute: number;
  /** Longest wait for a hashing slot; then 503 (a login queued behind a minute of hashes helps nobody). */
  maxWaitMs: number;
}

export type Refusal = 'rate_limited' | 'busy';

const WINDOW_MS = 60_000;

interface Waiter {
  start: () => void;
  timer?: NodeJS.Timeout;
}

export function createLoginGuard(opts: LoginGuardOptions, deps: { now: () => number; onRefuse?: (why: Refusal, address: string) => void }) {
  let windowStart = 0;
  // Entries are added only after a hash has run, so a window holds at most (hashes per minute) keys.
  let addressFailures = new Map<string, number>();
  let accountFailures = new Map<string, number>();
  const inFlight = new Map<string, number>();
  let active = 0;
  const trustedLane: Waiter[] = [];
  const otherLane: Waiter[] = [];

  function roll(): void {
    const now = deps.now();
    if (now - windowStart >= WINDOW_MS) {
      windowStart = now;
      addressFailures = new Map();
      accountFailures = new Map();
    }
  }

  function retryAfterSec(): number {
    return Math.max(1, Math.ceil((windowStart + WINDOW_MS - deps.now()) / 1000));
  }

  function refuse(why: Refusal, address: string, message: string, retryAfter: number): never {
    deps.onRefuse?.(why, address);
    const e = httpError(why === 'busy' ? 'WF_HTTP_BUSY' : 'WF_HTTP_RATE_LIMITED', message) as ReturnType<typeof httpError> & { retryAfter?: number };
    e.retryAfter = retryAfter;
    throw e;
  }

  function release(): void {
    const next = trustedLane.shift() ?? otherLane.shift();
    if (next) {
      clearTimeout(next.timer);
      next.start();
    } else {
      active--;
    }
  }

  /** Waits in its lane for a slot; rejects with 503 after maxWaitMs still waiting. */
  function wait(lane: Waiter[], address: string): Promise<void> {
    return new Promise<void>((start, reject) => {
      const w: Waiter = { start };
      w.timer = setTimeout(() => {
        const i = lane.indexOf(w);
        if (i < 0) return;
        lane.splice(i, 1);
        try {
          refuse('busy', address, 'Sign-in is busy; retry in a few seconds', 2);
        } catch (err) {
          reject(err as Error);
        }
      }, opts.maxWaitMs);
      w.timer.unref();
      lane.push(w);
    });
  }

  return {
    /**
     * Runs `verify` (the hash) when this login is admitted, or throws a 429/503 error carrying
     * `retryAfter` seconds without hashing. `trusted`: this address signed in as this user before.
     */
    async run<T extends { ok: boolean }>(address: string, username: string, trusted: boolean, verify: () => Promise<T>): Promise<T> {
      roll();
      const account = `${address}|${username.toLowerCase()}`;
      if ((accountFailures.get(account) ?? 0) >= opts.perAccountFailuresPerMinute) {
        refuse('rate_limited', address, `Too many failed logins for ${username} from this address; retry in ${retryAfterSec()} s`, retryAfterSec());
      }
      if (!trusted && (addressFailures.get(address) ?? 0) >= opts.perAddressFailuresPerMinute) {
        refuse('rate_limited', address, `Too many failed logins from this address; retry in ${retryAfterSec()} s`, retryAfterSec());
      }
      const mine = inFlight.get(address) ?? 0;
      if (mine >= opts.perAddressInFlight) refuse('rate_limited', address, 'A login from this address is already being checked; retry in a second', 1);
      if (active >= opts.concurrency) {
        const lane = trusted ? trustedLane : otherLane;
        if (lane.length >= opts.queue) refuse('busy', address, 'Sign-in is busy; retry in a few seconds', 2);
      }
      inFlight.set(address, mine + 1);
      try {
        if (active < opts.concurrency) active++;
        // The slot is handed over by release() as it is: `active` stays the same for the waiter.
        else await wait(trusted ? trustedLane : otherLane, address);
        let result: T;
        try {
          result = await verify();
        } finally {
          release();
        }
        if (!result.ok) {
          roll();
          addressFailures.set(address, (addressFailures.get(address) ?? 0) + 1);
          accountFailures.set(account, (accountFailures.get(account) ?? 0) + 1);
        }
        return result;
      } finally {
        const n = (inFlight.get(address) ?? 1) - 1;
        if (n > 0) inFlight.set(address, n);
        else inFlight.delete(address);
      }
    },
    /** For /metrics: hashing now, and waiting. */
    stats(): { active: number; queued: number } {
      return { active, queued: trustedLane.length + otherLane.length };
    },
  };
}
export type LoginGuard = ReturnType<typeof createLoginGuard>;

/**
 * One log line per minute at most about refused logins (how many, of which kind, from how many
 * addresses), never a line per request: a flood must not fill the disk.
 */
export function aggregateRefusals(log: { warn(o: object, m: string): void }, now: () => number) {
  let last = -Infinity;
  let counts: Record<Refusal, number> = { rate_limited: 0, busy: 0 };
  let addresses = new Set<string>();
  // The first refusal is logged at once; the rest of a minute's go into the next line (the
  // counters in /metrics have them all, even when a flood stops mid-minute).
  return (why: Refusal, address: string): void => {
    counts[why]++;
    if (addresses.size < 10_000) addresses.add(address);
    if (now() - last < WINDOW_MS) return;
    log.warn({ ...counts, addresses: addresses.size }, 'logins refused before hashing (flood or guessing), counts since the last such line');
    last = now();
    counts = { rate_limited: 0, busy: 0 };
    addresses = new Set();
  };
}
