// The windows against brute force: Theil–Sen over bucket means equals a direct median of pairwise
// slopes, through gaps (which clear nothing) and outliers; the tilt filter ignores vibration.
import { describe, expect, it } from 'vitest';
import { SampleRing } from './ring.ts';
import { BucketSeries, LEVEL_SUB, SUB, WindowFilter } from './trend.ts';
import { prng } from './test-support.ts';

describe('SampleRing', () => {
  it('fits the slope of the newest window and ignores samples not newer than the last', () => {
    const r = new SampleRing(8);
    for (let i = 0; i < 20; i++) r.push(i * 1000, i < 10 ? 0 : (i - 10) * 2);
    r.push(5000, 1000); // older: ignored
    expect(r.slope(5000, 1000)).toBeCloseTo(2 / 1000, 9);
    expect(r.slope(5000, 10_000)).toBeNaN();
  });
});

function theilSen(points: Array<[number, number]>): number {
  const s: number[] = [];
  for (let i = 0; i < points.length; i++) for (let j = i + 1; j < points.length; j++) {
    const dt = points[j]![0] - points[i]![0];
    if (dt !== 0) s.push((points[j]![1] - points[i]![1]) / dt);
  }
  s.sort((a, b) => a - b);
  const m = s.length;
  return (m & 1 ? s[m >> 1]! : (s[m / 2 - 1]! + s[m / 2]!) / 2) * 86_400_000;
}

describe('BucketSeries', () => {
  const DAY = 86_400_000;
  it('equals a direct Theil–Sen over the bucket means, through gaps, and keeps history across them', () => {
    const rnd = prng(7);
    const bucketMs = DAY;
    const s = new BucketSeries(32, bucketMs);
    const means = new Map<number, [number, number, number]>();
    let t = Date.UTC(2026, 0, 1);
    for (let i = 0; i < 400; i++) {
      t += rnd() < 0.05 ? 20 * DAY : Math.floor(rnd() * 6) * 3_600_000 + 3_600_000; // a 20-day gap now and then
      const v = 0.5 * ((t - Date.UTC(2026, 0, 1)) / DAY) + (rnd() < 0.1 ? 30 : rnd());
      s.add(t, v);
      const k = Math.floor(t / bucketMs);
      const m = means.get(k) ?? [0, 0, 0];
      means.set(k, [m[0] + t, m[1] + v, m[2] + 1]);
      if (i % 37 !== 0) continue;
      const pts = [...means.entries()].sort((a, b) => a[0] - b[0]).slice(-32).map(([, m]) => [m[0] / m[2], m[1] / m[2]] as [number, number]);
      const newest = pts.at(-1)![0];
      const inWindow = pts.filter(([pt]) => newest - pt <= 30 * DAY);
      s.slope(30 * DAY, 4, 14 * DAY);
      const got = s.slopePerDay;
      // Float32 state: equal to 1e-3 mm/day
      if (inWindow.length >= 4 && newest - inWindow[0]![0] >= 14 * DAY) expect(got).toBeCloseTo(theilSen(inWindow), 3);
      else expect(got).toBeNaN();
    }
  });

  it('is not moved by a minority of outliers (a misread rod)', () => {
    const s = new BucketSeries(32, DAY);
    const t0 = Date.UTC(2026, 0, 1);
    for (let w = 0; w < 10; w++) s.add(t0 + w * 7 * DAY, w * 7 * 0.2 + (w === 4 ? 50 : 0));
    s.slope(90 * DAY, 4, 14 * DAY);
    expect(s.slopePerDay).toBeCloseTo(0.2, 4);
  });
});

describe('WindowFilter', () => {
  it('a 100 Hz vibration of ±3 ‰ filters to its mean; a sustained step shows within one window', () => {
    const f = new WindowFilter();
    const subMs = 60_000 / SUB;
    let t = 0;
    for (; t < 120_000; t += 10) f.add(t, 0.2 + 3 * Math.sin(t / 37), subMs);
    f.filter(true);
    expect(Math.abs(f.value - 0.2)).toBeLessThan(0.05);
    for (const end = t + 60_000; t < end; t += 10) f.add(t, 6 + 3 * Math.sin(t / 37), subMs);
    f.filter(true);
    expect(f.value).toBeGreaterThan(5.9);
    expect(f.count).toBe(SUB);
    expect(subMs).toBe(12_000);
  });

  it('a sparse sensor\'s single bad reading is one of five: the median ignores it, the mean does not', () => {
    const f = new WindowFilter();
    [1, 1.1, 25, 0.9, 1].forEach((v, i) => f.add(i * 3_600_000, v, 12_000));
    f.filter(true);
    expect(f.value).toBe(1);
    f.filter(false);
    expect(f.value).toBeCloseTo(5.8, 6);
  });
});

describe('WindowFilter for a level (settlement and crack)', () => {
  const level = () => new WindowFilter(undefined, 0, LEVEL_SUB, true);
  const subMs = 120_000 / LEVEL_SUB;

  it('a reading every 10 s over 120 s: the median of the last 12 readings; older ones leave by time', () => {
    const f = level();
    const values = [5, 5, 160, 5, 160, 160, 160, 5, 5, 160, 5, 5];
    values.forEach((v, i) => f.add(i * 10_000, v, subMs));
    f.filter(true);
    expect(f.count).toBe(12);
    expect(f.value).toBe(5); // 7 of 12 at 5 mm
    f.add(12 * 10_000, 160, subMs); // the first 5 leaves the window: 6 and 6
    f.filter(true);
    expect([f.lower, f.upper, f.value]).toEqual([5, 160, 82.5]); // a level takes the one nearer its baseline
  });

  it('a sparse point has one reading in its window, judged on that reading (what a one-sample rule did)', () => {
    const f = level();
    for (const [h, v] of [[0, 1], [1, 25], [2, 1]] as const) {
      f.add(h * 3_600_000, v, subMs);
      f.filter(true);
      expect(f.count).toBe(1);
      expect(f.value).toBe(v);
    }
  });

  it('a faster sensor: each sub-window holds its latest reading (a time-lapse ramp in one instant is its last value)', () => {
    const f = level();
    for (let i = 0; i <= 10; i++) f.add(i * 20, 2 * i, subMs);
    f.filter(true);
    expect([f.count, f.value]).toEqual([1, 20]);
  });

  it('a gap empties the sub-windows it spans; a reloaded window length starts afresh', () => {
    const f = level();
    for (let i = 0; i < 12; i++) f.add(i * 10_000, 30, subMs);
    f.add(11 * 10_000 + 60_000, 2, subMs); // 6 sub-windows later: 6 of the 12 left the window
    f.filter(true);
    expect([f.count, f.value]).toEqual([7, 30]);
    f.add(11 * 10_000 + 70_000, 2, 60_000 / LEVEL_SUB);
    f.filter(true);
    expect([f.count, f.value]).toEqual([1, 2]);
  });
});
