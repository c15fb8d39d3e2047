// Counters for the hot path. prom-client hashes the label set on every inc() — measurable at tens
// of thousands of messages a second (bench/results/profile-*.txt) — so the hot path bumps plain
// numbers and prom-client reads them only when /metrics is scraped.
import { Counter, type Registry } from 'prom-client';

/**
 * A counter whose value is read when scraped: `read` returns the count, or counts by the value of
 * `label`.
 */
export function collectedCounter(registry: Registry, name: string, help: string, read: () => number): void;
export function collectedCounter(registry: Registry, name: string, help: string, read: () => Readonly<Record<string, number>>, label: string): void;
export function collectedCounter(registry: Registry, name: string, help: string, read: () => number | Readonly<Record<string, number>>, label?: string): void {
  new Counter({
    name, help, registers: [registry], labelNames: label ? [label] : [],
    collect() {
      this.reset();
      const v = read();
      if (typeof v === 'number') this.inc(v);
      else for (const [k, n] of Object.entries(v)) this.inc({ [label!]: k }, n);
    },
  });
}

/** A counter without labels: `c.n++` on the hot path. */
export function hotCounter(registry: Registry, name: string, help: string): { n: number } {
  const state = { n: 0 };
  collectedCounter(registry, name, help, () => state.n);
  return state;
}

/** A counter with one label: `c[value]++` for the values named up front (exported from the start, at 0). */
export function hotLabelledCounter<K extends string>(registry: Registry, name: string, help: string, label: string, values: readonly K[]): Record<K, number> {
  const counts = Object.fromEntries(values.map((v) => [v, 0])) as Record<K, number>;
  collectedCounter(registry, name, help, () => counts, label);
  return counts;
}

/** What a hot histogram has counted: `counts[i]` observations ≤ `bounds[i]` (and above the one before), the last one above every bound. */
export interface HistogramCounts {
  readonly bounds: readonly number[];
  readonly counts: readonly number[];
  readonly sum: number;
  readonly count: number;
}

/**
 * A histogram without labels for the hot path: observe() finds the bucket in a short sorted array
 * and bumps two numbers (prom-client's observe hashes a label set each time); the exposition is
 * built only when scraped. read() gives the raw counts, for a difference over a window (the bench).
 */
export function hotHistogram(registry: Registry, name: string, help: string, bounds: readonly number[]): { observe(v: number): void; read(): HistogramCounts } {
  const upper = [...bounds].sort((a, b) => a - b);
  const counts = new Array<number>(upper.length + 1).fill(0);
  let sum = 0;
  let count = 0;
  const exposition = () => {
    const values: Array<{ metricName: string; labels: Record<string, string | number>; value: number }> = [];
    let cumulative = 0;
    for (let i = 0; i < upper.length; i++) {
      cumulative += counts[i]!;
      values.push({ metricName: `${name}_bucket`, labels: { le: upper[i]! }, value: cumulative });
    }
    values.push({ metricName: `${name}_bucket`, labels: { le: '+Inf' }, value: count });
    values.push({ metricName: `${name}_sum`, labels: {}, value: sum });
    values.push({ metricName: `${name}_count`, labels: {}, value: count });
    return { name, help, type: 'histogram', values, aggregator: 'sum' };
  };
  // prom-client's registry asks a metric only for name, get() and reset() (lib/registry.js).
  registry.registerMetric({ name, help, get: async () => exposition(), reset: () => undefined } as unknown as Parameters<Registry['registerMetric']>[0]);
  return {
    observe(v: number): void {
      let i = 0;
      while (i < upper.length && v > upper[i]!) i++;
      counts[i]!++;
      sum += v;
      count++;
    },
    read: () => ({ bounds: upper, counts: [...counts], sum, count }),
  };
}
