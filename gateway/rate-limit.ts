// A token bucket per device (PROTOCOL.md: 20 messages/s sustained, burst 200). Refilled lazily
// from the clock on each take, so an idle device costs nothing and no timer runs per device.
// A class, not closures: one small object per device (bench/lib/memory-probe.ts).

export class TokenBucket {
  private tokens: number;
  private last: number;
  private readonly perMs: number;
  private readonly burst: number;

  constructor(opts: { perSecond: number; burst: number; now: number }) {
    this.perMs = opts.perSecond / 1000;
    this.burst = opts.burst;
    this.tokens = opts.burst;
    this.last = opts.now;
  }

  private refill(now: number): void {
    if (now > this.last) {
      this.tokens = Math.min(this.burst, this.tokens + (now - this.last) * this.perMs);
      this.last = now;
    }
  }

  /** Takes one token if there is one; refills first. */
  take(now: number): boolean {
    this.refill(now);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Tokens available now (after refill). */
  available(now: number): number {
    this.refill(now);
    return this.tokens;
  }

  /** Milliseconds until one whole token is available (0 if one is). */
  waitMs(now: number): number {
    this.refill(now);
    return this.tokens >= 1 ? 0 : Math.ceil((1 - this.tokens) / this.perMs);
  }
}

export function createTokenBucket(opts: { perSecond: number; burst: number; now: number }): TokenBucket {
  return new TokenBucket(opts);
}
