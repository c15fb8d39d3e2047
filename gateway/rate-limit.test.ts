import { describe, expect, it } from 'vitest';
import { createTokenBucket } from './rate-limit.ts';

describe('token bucket', () => {
  it('allows a burst, then the sustained rate', () => {
    const b = createTokenBucket({ perSecond: 20, burst: 200, now: 0 });
    let passed = 0;
    for (let i = 0; i < 300; i++) if (b.take(0)) passed++;
    expect(passed).toBe(200);
    expect(b.take(0)).toBe(false);
    expect(b.waitMs(0)).toBe(50);
    expect(b.take(49)).toBe(false);
    expect(b.take(50)).toBe(true);
    // One second refills 20, never above the burst.
    let next = 0;
    for (let i = 0; i < 100; i++) if (b.take(1050)) next++;
    expect(next).toBe(20);
    expect(b.available(1_000_000)).toBe(200);
  });

  it('does not go back in time', () => {
    const b = createTokenBucket({ perSecond: 1, burst: 1, now: 1000 });
    expect(b.take(1000)).toBe(true);
    expect(b.take(500)).toBe(false);
    expect(b.waitMs(1000)).toBe(1000);
  });
});
