// What both load workers share (load-worker.ts: hand-written codec; load-worker-mqttjs.ts: MQTT.js
// clients): connecting their devices in slices and telling the runner when all are in, and pacing
// publishes round-robin over the devices that can take one, at the rate the runner asks.
import type { WorkerReply, WorkerSnapshot } from './load-protocol.ts';

/** Connects `todo` at perSec (0: all at once, a reconnect storm) and answers 'connected' once all
 * `total` devices are in or the timeout passes. */
export function createConnector(deps: { snap: WorkerSnapshot; total: () => number; send: (m: WorkerReply) => void }) {
  let waiter: { start: number; timer: NodeJS.Timeout } | undefined;
  function finish(complete: boolean): void {
    if (!waiter) return;
    clearTimeout(waiter.timer);
    const s = deps.snap;
    deps.send({ ev: 'connected', connected: s.connected, refused: s.refused, errors: s.errors, ms: Math.round(performance.now() - waiter.start), complete });
    waiter = undefined;
  }
  return {
    /** A device connected: the waiter answers when it was the last. */
    onConnected(): void {
      if (waiter && deps.snap.connected >= deps.total()) finish(true);
    },
    connectAll<D>(todo: readonly D[], open: (d: D, timeoutMs: number) => void, perSec: number, timeoutMs: number): void {
      waiter = { start: performance.now(), timer: setTimeout(() => finish(false), timeoutMs) };
      if (todo.length === 0) return finish(deps.snap.connected >= deps.total());
      // perSec 0: all at once, in slices so the event loop keeps reading CONNACKs.
      const slice = perSec > 0 ? Math.max(1, Math.round(perSec / 100)) : 500;
      const every = perSec > 0 ? 10 : 0;
      let i = 0;
      const step = (): void => {
        const end = Math.min(todo.length, i + slice);
        for (; i < end; i++) open(todo[i]!, Math.min(timeoutMs, 30_000));
        if (i < todo.length) setTimeout(step, every);
      };
      step();
    },
  };
}

/** Publishes due at `rate`, spread round-robin over the devices that can take one now. */
export function createPacer(snap: WorkerSnapshot) {
  let rate = 0;
  let rr = 0;
  /** Publishes due and not yet sent (fractional part included). */
  let debt = 0;
  let lastTick = performance.now();
  return {
    get rate(): number {
      return rate;
    },
    setRate(perSec: number): void {
      rate = perSec;
      debt = 0;
      lastTick = performance.now();
    },
    tick<D>(devs: readonly D[], ready: (d: D) => boolean, publish: (d: D, tsNow: number, now: number) => void): void {
      const now = performance.now();
      const dt = (now - lastTick) / 1000;
      lastTick = now;
      if (rate <= 0 || devs.length === 0) return;
      const fresh = rate * dt;
      snap.offered += fresh;
      debt += fresh;
      let n = Math.floor(debt);
      let tried = 0;
      const tsNow = Date.now();
      while (n > 0 && tried < devs.length) {
        const d = devs[rr]!;
        rr = rr + 1 >= devs.length ? 0 : rr + 1;
        if (!ready(d)) {
          tried++;
          continue;
        }
        tried = 0;
        snap.sent++;
        publish(d, tsNow, now);
        n--;
        debt--;
      }
      // Devices held back by the broker (PUBACKs late, sockets paused) catch up for at most a
      // second; what is older they skip, like firmware sampling again rather than queueing forever.
      if (debt > rate) {
        snap.deferred += debt - rate;
        debt = rate;
      }
    },
  };
}
