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
