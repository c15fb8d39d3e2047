// Latency histogram with log-spaced buckets (2 % wide, 10 µs to 2 min): fixed memory, cheap to
// record on the hot path, and mergeable across worker processes by adding the counts.

const MIN_MS = 0.01;
const FACTOR = 1.02;
const BUCKETS = Math.ceil(Math.log(120_000 / MIN_MS) / Math.log(FACTOR)) + 1;

export interface Histogram {
  record(ms: number): void;
  merge(counts: readonly number[], max: number): void;
  readonly count: number;
  readonly max: number;
  readonly counts: readonly number[];
  /** The value below which q (0..1) of the samples lie, at the bucket's upper edge (≤ 2 % high). */
  quantile(q: number): number;
  mean(): number;
}

const upper = (i: number) => MIN_MS * FACTOR ** i;

export function createHistogram(): Histogram {
  const counts = new Array<number>(BUCKETS).fill(0);
  let count = 0;
  let max = 0;
  let sum = 0;
  return {
    record(ms) {
      const i = ms <= MIN_MS ? 0 : Math.min(BUCKETS - 1, Math.ceil(Math.log(ms / MIN_MS) / Math.log(FACTOR)));
      counts[i]!++;
      count++;
      sum += ms;
      if (ms > max) max = ms;
    },
    merge(other, otherMax) {
      for (let i = 0; i < BUCKETS; i++) {
        const n = other[i] ?? 0;
        counts[i]! += n;
        count += n;
        sum += n * upper(i);
      }
      if (otherMax > max) max = otherMax;
    },
    get count() {
      return count;
    },
    get max() {
      return max;
    },
    counts,
    quantile(q) {
      if (count === 0) return 0;
      const rank = Math.max(1, Math.ceil(q * count));
      let seen = 0;
      for (let i = 0; i < BUCKETS; i++) {
        seen += counts[i]!;
        if (seen >= rank) return Math.min(upper(i), max);
      }
      return max;
    },
    mean: () => (count ? sum / count : 0),
  };
}
