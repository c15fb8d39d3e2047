// Counters for the hot path. prom-client hashes the label set on every inc() — measurable at tens
// of thousands of messages a second (bench/results/profile-*.txt) — so the hot path bumps plain
// numbers and prom-client reads them only when /metrics is scraped.
import { Counter, type Registry } from 'prom-client';

/** A counter without labels: `c.n++` on the hot path. */
export function hotCounter(registry: Registry, name: string, help: string): { n: number } {
  const state = { n: 0 };
  new Counter({
    name, help, registers: [registry],
    collect() {
      this.reset();
      this.inc(state.n);
    },
  });
  return state;
}

/**
 * A counter with one label: `c[value]++` for the values named up front (their series exist from
 * the start, at 0); values first seen later are added with `bump()`.
 */
export function hotLabelledCounter<K extends string>(registry: Registry, name: string, help: string, label: string, values: readonly K[]): Record<K, number> {
  const counts = Object.fromEntries(values.map((v) => [v, 0])) as Record<K, number>;
  new Counter({
    name, help, labelNames: [label], registers: [registry],
    collect() {
      this.reset();
      for (const [v, n] of Object.entries<number>(counts)) this.inc({ [label]: v }, n);
    },
  });
  return counts;
}
