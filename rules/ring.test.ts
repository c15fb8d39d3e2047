// The O(1) windows against brute force: the running regression must equal a direct least-squares
// fit over the same bucketed points, through gaps, late samples and many ring turns.
import { describe, expect, it } from 'vitest';
import { BucketRegression, SampleRing, type WindowFit } from './ring.ts';
import { prng } from './test-support.ts';

function direct(points: Array<[number, number]>, head: number, span: number, bucketMs: number): { slope: number; n: number } {
  let n = 0, sk = 0, skk = 0, sv = 0, skv = 0;
  for (const [t, v] of points) {
    const k = Math.floor(t / bucketMs);
    if (k > head || k <= head - span) continue;
    const kr = k - head;
    n++; sk += kr; skk += kr * kr; sv += v; skv += kr * v;
  }
  return { slope: ((n * skv - sk * sv) / (n * skk - sk * sk)) * (86_400_000 / bucketMs), n };
}

describe('BucketRegression', () => {
  it('matches a direct fit of both windows through gaps and late samples', () => {
    const bucketMs = 3_600_000;
    const reg = new BucketRegression(168, 48, bucketMs);
    const rnd = prng(42);
    const points: Array<[number, number]> = [];
    let t = Date.UTC(2026, 0, 1);
    const fit: WindowFit = { slopePerDay: 0, points: 0, coverage: 0 };
    let head = -1;
    for (let i = 0; i < 5000; i++) {
      t += rnd() < 0.02 ? 30 * 3_600_000 : rnd() * 2 * 3_600_000; // now and then a long silence
      const late = rnd() < 0.05 ? t - rnd() * 72 * 3_600_000 : t; // now and then a buffered old sample
      const v = 50 + (i / 200) + (rnd() - 0.5);
      reg.add(late, v);
      points.push([late, v]);
      head = Math.max(head, Math.floor(late / bucketMs));
      if (i % 97 === 0) {
        for (const [fast, span] of [[false, 168], [true, 48]] as const) {
          const d = direct(points, head, span, bucketMs);
          reg.fit(fast, fit);
          expect(fit.points).toBe(d.n);
          if (d.n >= 2 && Number.isFinite(d.slope)) expect(fit.slopePerDay).toBeCloseTo(d.slope, 3);
        }
      }
    }
  });
});

describe('SampleRing', () => {
  it('fits the slope of the newest window and ignores samples not newer than the last', () => {
    const r = new SampleRing(8);
    for (let i = 0; i < 20; i++) r.push(i * 1000, i < 10 ? 0 : (i - 10) * 2);
    r.push(5000, 1000); // older: ignored
    expect(r.slope(5000, 1000)).toBeCloseTo(2 / 1000, 9);
    expect(r.slope(5000, 10_000)).toBeNaN();
  });
});
