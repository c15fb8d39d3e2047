// Flow control on the way in: a per-device token bucket and admission control against the
// storage backlog. Holding a publish's authorizePublish callback holds its PUBACK (aedes writes
// it only after the callback) and slows aedes' reading of the socket: aedes 1.2 (lib/client.js)
// reads on when every packet of the last read is done, or when new data arrives, which counts one
// off. So a device whose reads each hold several publishes (a flood) stops being read and waits
// in the kernel's socket buffers and TCP flow control instead of in our heap; a device sending
// one message at a time is still read and its messages queue here (heldPublishes).
// NOTES.md: Aedes QoS 0 has no input flow control and dies past saturation.
//
// An alarm must never wait on storage, also not behind its own device's held telemetry: an event
// or status in a device's queue carries what is ahead of it through the closed gate, in order
// (MQTT 3.1.1 [MQTT-4.6.0-2]: PUBACKs in the order of the PUBLISHes).
import type { Config } from '../contracts/config.ts';
import type { Clock } from '../contracts/ports.ts';
import { createTokenBucket, type TokenBucket } from './rate-limit.ts';
import type { GatewayMetrics } from './metrics.ts';

/** A publish waiting for its hand-off; done() lets aedes ack it and read on. */
export interface Pending {
  /** An event or status: passes a closed admission gate with what its device has queued ahead of it (it still waits for budget). */
  urgent: boolean;
  hand(): void;
  done(): void;
}

export interface FlowSession {
  readonly deviceId: string;
  queue: Pending[];
  /** Events and status in the queue: while there is one, admission does not hold the queue. */
  urgentQueued: number;
  /** Since when every message of this device has had to wait for budget. */
  throttledSince: number | undefined;
  timer: NodeJS.Timeout | undefined;
  ended: boolean;
  /** The device's bucket (kept by device across connections), cached for the hot path. */
  bucket: TokenBucket | undefined;
}

/** Admission control polls the backlog while closed: there is no event for "storage caught up". */
const ADMISSION_POLL_MS = 25;
/** Reopen at half the high-water mark, so the gate does not flap around one value. */
const ADMISSION_REOPEN_RATIO = 0.5;

export function createFlow(deps: {
  rate: Config['gateway']['rate'];
  /** The budget of one device (by its type); default: rate.perSecond / rate.burst. */
  budgetOf?: (deviceId: string) => { perSecond: number; burst: number };
  highWater: number;
  backlog: (() => number) | undefined;
  clock: Clock;
  metrics: GatewayMetrics;
  /** The device stayed over budget for rate.disconnectAfterMs. */
  onPersistentFlood(session: FlowSession): void;
}) {
  const { rate, metrics, clock } = deps;
  const buckets = new Map<string, TokenBucket>();
  const waiting = new Set<FlowSession>();
  let admissionClosed = false;
  let admissionTimer: NodeJS.Timeout | undefined;

  const bucket = (deviceId: string): TokenBucket => {
    let b = buckets.get(deviceId);
    if (!b) {
      const budget = deps.budgetOf?.(deviceId) ?? rate;
      buckets.set(deviceId, (b = createTokenBucket({ perSecond: budget.perSecond, burst: budget.burst, now: clock.now() })));
    }
    return b;
  };

  function admissionOpen(): boolean {
    if (admissionClosed) return false;
    if (!deps.backlog || deps.backlog() <= deps.highWater) return true;
    admissionClosed = true;
    metrics.stats.admissionPaused = true;
    metrics.admissionPause();
    admissionTimer = setInterval(pollAdmission, ADMISSION_POLL_MS);
    return false;
  }

  function pollAdmission(): void {
    if (deps.backlog && deps.backlog() > deps.highWater * ADMISSION_REOPEN_RATIO) return;
    admissionClosed = false;
    metrics.stats.admissionPaused = false;
    clearInterval(admissionTimer);
    admissionTimer = undefined;
    for (const s of [...waiting]) drain(s);
  }

  function enqueue(s: FlowSession, p: Pending): void {
    if (s.queue.length === 0) {
      waiting.add(s);
      metrics.stats.pausedSockets++;
    }
    s.queue.push(p);
    metrics.stats.heldPublishes++;
  }

  function overBudget(s: FlowSession, now: number): boolean {
    s.throttledSince ??= now;
    if (now - s.throttledSince < rate.disconnectAfterMs) return false;
    deps.onPersistentFlood(s);
    return true;
  }

  function schedule(s: FlowSession, now: number): void {
    if (s.timer || s.ended) return;
    s.timer = setTimeout(() => {
      s.timer = undefined;
      drain(s);
    }, Math.max(1, (s.bucket ??= bucket(s.deviceId)).waitMs(now)));
  }

  /** Hands what may pass, in order; says what stopped it. */
  function drain(s: FlowSession): 'budget' | 'admission' | 'empty' {
    const b = (s.bucket ??= bucket(s.deviceId));
    while (s.queue.length > 0 && !s.ended) {
      // An event or status anywhere in the queue carries what is ahead of it through the gate.
      if (s.urgentQueued === 0 && !admissionOpen()) return 'admission';
      const now = clock.now();
      if (!b.take(now)) {
        if (!overBudget(s, now)) schedule(s, now);
        return 'budget';
      }
      const p = s.queue.shift()!;
      metrics.stats.heldPublishes--;
      if (p.urgent) s.urgentQueued--;
      p.hand();
      p.done();
    }
    if (s.queue.length === 0 && waiting.delete(s)) metrics.stats.pausedSockets--;
    return 'empty';
  }

  function end(s: FlowSession): void {
    if (s.ended) return;
    s.ended = true;
    if (s.timer) clearTimeout(s.timer);
    s.timer = undefined;
    if (waiting.delete(s)) metrics.stats.pausedSockets--;
    metrics.stats.heldPublishes -= s.queue.length;
    s.queue = [];
    s.urgentQueued = 0;
  }

  return {
    session(deviceId: string): FlowSession {
      return { deviceId, queue: [], urgentQueued: 0, throttledSince: undefined, timer: undefined, ended: false, bucket: undefined };
    },
    /**
     * The hot path: may a publish that just arrived pass now (nothing of its device waiting,
     * admission open unless it is urgent, a token in its bucket)? When true the caller hands it off and acks it at
     * once; when false it calls wait(). Split so that the common case allocates nothing.
     */
    admit(s: FlowSession, urgent: boolean): boolean {
      // Events (alarms, faults) and status pass a closed admission gate: an alarm must never wait
      // on storage. They are rare next to telemetry and still spend the device's budget.
      if (s.ended || s.queue.length > 0 || (!urgent && !admissionOpen())) return false;
      if (!(s.bucket ??= bucket(s.deviceId)).take(clock.now())) return false;
      // A message that passes without waiting ends a throttled spell.
      s.throttledSince = undefined;
      return true;
    },
    /** A publish that admit() turned away: queued behind budget or admission. */
    wait(s: FlowSession, p: Pending): void {
      if (s.ended) return;
      enqueue(s, p);
      if (p.urgent) s.urgentQueued++;
      // Held by admission control: pollAdmission() drains it when storage has caught up.
      else if (s.urgentQueued === 0 && !admissionOpen()) return;
      if (drain(s) === 'budget') metrics.rateLimited();
    },
    /** The connection ended: what was waiting is dropped unacknowledged (QoS 1 is re-sent). */
    end,
    stop(): void {
      if (admissionTimer) clearInterval(admissionTimer);
      admissionTimer = undefined;
      admissionClosed = false;
      metrics.stats.admissionPaused = false;
      for (const s of [...waiting]) end(s);
    },
  };
}

export type Flow = ReturnType<typeof createFlow>;
