// The console channel: an in-process stream the dashboard can serve. The alarm itself reaches the
// console through the bus 'incident' event emitted on the hot path; this channel carries the
// notifications a policy addresses to the console (escalations, reminders), recorded in the outbox
// like every other channel, and keeps the latest ones for a console that connects later.
import { WatchfireError } from '../../contracts/errors.ts';
import type { Channel, OutboundMessage } from './types.ts';

export interface ConsoleChannel extends Channel {
  /** Listen to console notifications; returns the unsubscribe function. */
  subscribe(listener: (m: OutboundMessage) => void): () => void;
  /** The latest notifications, oldest first (bounded). */
  recent(centerId?: string): OutboundMessage[];
}

export function createConsoleChannel(deps: { keep?: number; onListenerError?: (err: unknown) => void } = {}): ConsoleChannel {
  const keep = deps.keep ?? 500;
  const ring: OutboundMessage[] = [];
  const listeners = new Set<(m: OutboundMessage) => void>();
  let closed = false;
  return {
    name: 'console',
    send(message) {
      if (closed) return Promise.reject(new WatchfireError('WF_NOTIFY_CONSOLE', 'console channel is closed'));
      ring.push(message);
      if (ring.length > keep) ring.shift();
      for (const l of listeners) {
        // A failing viewer is its own problem: the notification was shown to the others.
        try {
          l(message);
        } catch (err) {
          deps.onListenerError?.(err);
        }
      }
      return Promise.resolve();
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    recent(centerId) {
      return centerId ? ring.filter((m) => m.address === centerId) : [...ring];
    },
    close() {
      closed = true;
      listeners.clear();
      return Promise.resolve();
    },
  };
}
