// The pipeline's middle (issue 15 point 7): what happens to a valid reading between ingest and the
// outside world. Score it, hand it to storage (write() only buffers), raise its findings, keep the
// device's live state; and, on a timer, the offline sweep. All synchronous and in memory on the
// alarm path (DESIGN.md "Data flow"): nothing here waits on InfluxDB, SQLite, SMTP or a client;
// findings are handed to the incident side, whose promise (when it returns one) is not awaited.
//
//   ingest ─reading─▶ onReading ─▶ scorer.evaluate ─scored─▶ store.write
//                                        └─findings─▶ bus 'finding' + findings.handleFinding
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { Histogram } from 'prom-client';
import type { DevicePresence, EventBus } from '../contracts/bus.ts';
import type { Finding } from '../contracts/findings.ts';
import type { DeviceLiveState, FindingHandler, Scorer } from '../contracts/pipeline.ts';
import type { Clock, Lifecycle, ReadingSink, ReadingStore } from '../contracts/ports.ts';
import { systemClock } from '../contracts/ports.ts';
import type { Reading, ScoredReading } from '../contracts/reading.ts';

/** Offline sweep period: well under the shortest offline threshold (panel: 60 s × 2 + grace). */
export const SWEEP_MS = 5_000;

export interface PipelineDeps {
  scorer: Scorer;
  store: Pick<ReadingStore, 'write'>;
  findings: FindingHandler;
  bus: EventBus;
  metrics: Registry;
  logger: Logger;
  clock?: Clock;
  /** Offline sweep period in ms (SWEEP_MS unless a test says otherwise). */
  sweepMs?: number;
  /**
   * Whether presence() takes the bus's 'device.presence' (this node's gateway and adapters): yes
   * unless said otherwise. Not with cluster mode's partitioned log, where the owner of a device's
   * partition hears its presence from the log and calls presence() itself (app/partitions.ts): the
   * bus's would be applied on a node that does not own the device, or twice on one that does.
   */
  busPresence?: boolean;
}

export interface Pipeline extends Lifecycle {
  /** Ingest's hand-off: one valid reading, synchronously. */
  readonly onReading: ReadingSink;
  /** Raises a finding made elsewhere (presence, sweep): onto the bus and into incidents. */
  raise(f: Finding, receivedAt?: number): void;
  /** A presence change (the bus's, or with cluster mode's partitioned log the owner's, from the log): live state and findings. */
  presence(p: DevicePresence): void;
  /** One offline sweep now (the timer runs this every sweepMs). */
  sweep(): void;
  deviceState(deviceId: string): DeviceLiveState | undefined;
}

export function createPipeline(deps: PipelineDeps): Pipeline {
  const { scorer, store, findings, bus } = deps;
  const clock = deps.clock ?? systemClock;
  const sweepMs = deps.sweepMs ?? SWEEP_MS;
  const live = new Map<string, DeviceLiveState>();
  let sweepTimer: NodeJS.Timeout | undefined;
  let stopPresence: (() => void) | undefined;

  const ruleLatency = new Histogram({
    name: 'watchfire_rules_latency_seconds',
    help: 'Time to score one reading (rule engine evaluate)',
    buckets: [1e-6, 5e-6, 2e-5, 1e-4, 5e-4, 1e-3, 1e-2],
    registers: [deps.metrics],
  });
  // One reading in 1,024 is timed: hrtime on every reading costs more than the rules themselves.
  let latencySample = 0;

  function raise(f: Finding, receivedAt?: number): void {
    bus.emit('finding', f);
    // Handed over, not awaited: the next reading must not wait on the incident store. The handler's
    // promise never rejects (contracts/pipeline.ts): an incident it could not record is logged there.
    void findings.handleFinding(f, receivedAt);
  }

  function onReading(reading: Reading): void {
    const sample = (latencySample++ & 1023) === 0;
    const t0 = sample ? process.hrtime.bigint() : 0n;
    const ev = scorer.evaluate(reading);
    if (sample) ruleLatency.observe(Number(process.hrtime.bigint() - t0) / 1e9);
    const scored: ScoredReading = { reading, score: ev.score, level: ev.level };
    store.write(scored);
    // Last values per device for the site view, merged in place: no new object per reading.
    let state = live.get(reading.deviceId);
    if (!state) live.set(reading.deviceId, (state = { online: true, last: {} }));
    state.lastSeen = reading.ts;
    state.level = ev.level;
    if (reading.kind === 'telemetry') Object.assign(state.last!, reading.values);
    for (const f of ev.findings) if (f.level !== 'green' || f.clears) raise(f, reading.receivedAt);
    bus.emit('reading.scored', scored);
  }

  function presence(p: DevicePresence): void {
    const s = live.get(p.deviceId);
    if (s) s.online = p.online;
    else live.set(p.deviceId, { online: p.online, last: {} });
    for (const f of scorer.presence(p)) raise(f);
  }

  function sweep(): void {
    for (const f of scorer.sweep(clock.now())) raise(f);
  }

  return {
    onReading,
    raise,
    presence,
    sweep,
    deviceState: (id) => live.get(id),
    async start() {
      if (deps.busPresence ?? true) stopPresence = bus.on('device.presence', 'pipeline.presence', presence);
      sweepTimer = setInterval(() => {
        try {
          sweep();
        } catch (err) {
          // A bug in one sweep must not stop the next one: offline detection is a safeguard.
          deps.logger.error({ err }, 'offline sweep failed');
        }
      }, sweepMs);
      sweepTimer.unref();
    },
    async stop() {
      if (sweepTimer) clearInterval(sweepTimer);
      sweepTimer = undefined;
      stopPresence?.();
      stopPresence = undefined;
    },
  };
}
