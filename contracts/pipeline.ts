// The ports the pipeline's middle is handed (issue 15 point 7; STYLE.md "Seams the next
// capabilities need"): the rule engine as a scorer, the incident side as a finding handler. The
// pipeline (pipeline/) knows these shapes, never the rules/ or alerts/ modules themselves.
import type { DevicePresence } from './bus.ts';
import type { Finding, Level } from './findings.ts';
import type { Reading } from './reading.ts';

/** One reading's score, its level and what was found (green findings only when they clear). */
export interface Scoring {
  readonly score: number;
  readonly level: Level;
  readonly findings: readonly Finding[];
}

/** The rule engine as the pipeline uses it: pure, in memory, no clock but the times handed in. */
export interface Scorer {
  evaluate(reading: Reading): Scoring;
  /** Presence changes: panels go offline at once on a will/closed socket. */
  presence(p: DevicePresence): readonly Finding[];
  /** Offline detection over last-seen times at `now`; each transition reported once. */
  sweep(now: number): readonly Finding[];
}

/**
 * Where findings go to become incidents (alerts/). The alarm never waits on I/O: the pipeline
 * hands a finding over and goes on, never awaiting what this returns. A handler that records
 * through a database returns a promise that resolves once the finding is recorded (tests and
 * benches await it) and never rejects: its failures are logged and counted by the handler.
 */
export interface FindingHandler {
  handleFinding(f: Finding, receivedAt?: number): void | Promise<void>;
}

/** The live state of one device, for the site view and the operator console. */
export interface DeviceLiveState {
  online: boolean;
  lastSeen?: number;
  last?: Record<string, number | string>;
  level?: string;
}
