// A token bucket per device (PROTOCOL.md: 20 messages/s sustained, burst 200). Refilled lazily
// from the clock on each take, so an idle device costs nothing and no timer runs per device.

export interface TokenBucket {
  /** Takes one token if there is one; refills first. */
  take(now: number): boolean;
  /** Tokens available now (after refill). */
  available(now: number): number;
  /** Milliseconds until one whole token is available (0 if one is). */
  waitMs(now: number): number;
}

export function createTokenBucket(opts: { perSecond: number; burst: number; now: number }): TokenBucket {
  const perMs = opts.perSecond / 1000;
  let tokens = opts.burst;
  let last = opts.now;
  const refill = (now: number): void => {
    if (now > last) {
      tokens = Math.min(opts.burst, tokens + (now - last) * perMs);
      last = now;
    }
  };
  return {
    take(now) {
      refill(now);
      if (tokens < 1) return false;
      tokens -= 1;
      return true;
    },
    available(now) {
      refill(now);
      return tokens;
    },
    waitMs(now) {
      refill(now);
      return tokens >= 1 ? 0 : Math.ceil((1 - tokens) / perMs);
    },
  };
}
