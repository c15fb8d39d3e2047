// Ingest's counters on /metrics, and their uncounted twin for cluster mode's replays. The hot ones
// are plain numbers that prom-client reads when scraped (contracts/metrics.ts). A record that a
// partition's new owner replays to rebuild its state (Ingest.replay) is not input this node took:
// the node that handled it live counted it, and the worker counts replays on their own
// (watchfire_cluster_records_replayed_total), so every failover or restart does not count the
// partition's retained history again.
import { Counter, type Registry } from 'prom-client';
import type { ErrorCode } from '../contracts/errors.ts';
import { hotCounter, hotLabelledCounter } from '../contracts/metrics.ts';
import { TOPIC_KINDS } from '../contracts/protocol.ts';

export function createIngestCounters(m: Registry) {
  const rejects = new Counter({ name: 'watchfire_ingest_rejects_total', help: 'Rejected messages or elements, by reason code (per device: see the API)', labelNames: ['code'], registers: [m] });
  const sinkErrors = new Counter({ name: 'watchfire_ingest_sink_errors_total', help: 'Exceptions thrown by the reading sink (rules/storage hand-off)', registers: [m] });
  const counted = {
    messages: hotLabelledCounter(m, 'watchfire_ingest_messages_total', 'Frames handed to ingest, by topic kind', 'kind', [...TOPIC_KINDS, 'invalid']),
    byKind: hotLabelledCounter(m, 'watchfire_ingest_readings_total', 'Valid readings and events handed on', 'kind', ['telemetry', 'events']),
    duplicates: hotCounter(m, 'watchfire_ingest_duplicates_total', 'Exact re-sends dropped (same device, seq and ts)'),
    gaps: hotCounter(m, 'watchfire_ingest_seq_gaps_total', 'Missing seq numbers, summed over devices'),
    clockBad: hotCounter(m, 'watchfire_ingest_clock_bad_total', 'Readings whose device clock was far off (receive time used)'),
    outOfRange: hotCounter(m, 'watchfire_ingest_out_of_range_total', 'Readings kept and flagged out_of_range: a measured value outside its plausible range'),
    reject: (code: ErrorCode): void => rejects.labels(code).inc(),
    sinkError: (): void => sinkErrors.inc(),
  };
  // Counted into and never read.
  const uncounted: typeof counted = {
    messages: { ...counted.messages }, byKind: { ...counted.byKind }, duplicates: { n: 0 }, gaps: { n: 0 }, clockBad: { n: 0 }, outOfRange: { n: 0 },
    reject: () => undefined, sinkError: () => undefined,
  };
  return { counted, uncounted };
}
