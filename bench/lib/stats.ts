// Latency histograms that merge across worker processes, percentiles, medians and ratios.
// Log-scale buckets with 32 per doubling: ≈ 2.2 % relative error, constant memory, summable.

const PER_DOUBLING = 32;
const BUCKETS = 28 * PER_DOUBLING; // up to 2^28 µs ≈ 268 s

export type Histogram = number[];

export function newHistogram(): Histogram {
  return new Array<number>(BUCKETS).fill(0);
}

export function record(h: Histogram, micros: number): void {
  const i = Math.min(BUCKETS - 1, Math.max(0, Math.round(Math.log2(micros + 1) * PER_DOUBLING)));
  h[i]!++;
}

export function merge(into: Histogram, from: Histogram): Histogram {
  for (let i = 0; i < BUCKETS; i++) into[i]! += from[i] ?? 0;
  return into;
}

export function count(h: Histogram): number {
  let n = 0;
  for (const c of h) n += c;
  return n;
}

/** Value in ms at quantile q (0..1), or null for an empty histogram. */
export function quantileMs(h: Histogram, q: number): number | null {
  const n = count(h);
  if (n === 0) return null;
  const rank = Math.max(1, Math.ceil(q * n));
  let seen = 0;
  for (let i = 0; i < h.length; i++) {
    seen += h[i]!;
    if (seen >= rank) return round3((2 ** (i / PER_DOUBLING) - 1) / 1000);
  }
  return null;
}

export function maxMs(h: Histogram): number | null {
  for (let i = h.length - 1; i >= 0; i--) if (h[i]! > 0) return round3((2 ** (i / PER_DOUBLING) - 1) / 1000);
  return null;
}

export interface LatencySummary {
  n: number;
  p50: number | null;
  p90: number | null;
  p99: number | null;
  max: number | null;
}

export function summarize(h: Histogram): LatencySummary {
  return { n: count(h), p50: quantileMs(h, 0.5), p90: quantileMs(h, 0.9), p99: quantileMs(h, 0.99), max: maxMs(h) };
}

/** Exact percentiles of a small sample (alarms: a few hundred values), in the sample's unit. */
export function percentiles(values: readonly number[]): { n: number; p50: number | null; p99: number | null; max: number | null } {
  if (values.length === 0) return { n: 0, p50: null, p99: null, max: null };
  const s = [...values].sort((a, b) => a - b);
  const at = (q: number) => round3(s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!);
  return { n: s.length, p50: at(0.5), p99: at(0.99), max: round3(s[s.length - 1]!) };
}

export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function ratio(a: number | null | undefined, b: number | null | undefined): number | null {
  if (a === null || a === undefined || b === null || b === undefined || b === 0) return null;
  return Math.round((a / b) * 100) / 100;
}

export function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/**
 * Quantiles (ms) of what a cumulative histogram counted between two reads (`[upper bound s,
 * count ≤ it]`, Prometheus' shape), interpolated linearly inside a bucket as Prometheus'
 * histogram_quantile does; null when nothing was counted.
 */
export function bucketQuantilesMs(before: ReadonlyArray<readonly [number, number]> | undefined, after: ReadonlyArray<readonly [number, number]> | undefined, qs: readonly number[]): Array<number | null> {
  if (!after?.length) return qs.map(() => null);
  const prev = new Map(before ?? []);
  const cum = after.map(([le, n]) => [le, n - (prev.get(le) ?? 0)] as const);
  const total = cum[cum.length - 1]![1];
  if (total <= 0) return qs.map(() => null);
  return qs.map((q) => {
    const rank = q * total;
    let lo = 0;
    let below = 0;
    for (const [le, n] of cum) {
      if (n >= rank) {
        // Beyond the last finite bound: the bound is all that is known.
        const hi = Number.isFinite(le) ? le : lo;
        const inBucket = n - below;
        return round3((lo + (inBucket > 0 ? ((rank - below) / inBucket) * (hi - lo) : 0)) * 1000);
      }
      lo = le;
      below = n;
    }
    return round3(lo * 1000);
  });
}
