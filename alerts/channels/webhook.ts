// Webhooks for SMS, voice and IM gateways: a JSON POST signed with HMAC-SHA256 so the gateway can
// check it came from us. The signature covers the exact body bytes; the body carries its own
// `sentAt` and the timestamp header repeats it, so a receiver can refuse stale replays.
import { createHmac } from 'node:crypto';
import { WatchfireError } from '../../contracts/errors.ts';
import type { Channel } from './types.ts';

export const SIGNATURE_HEADER = 'x-watchfire-signature';
export const TIMESTAMP_HEADER = 'x-watchfire-timestamp';
export const DELIVERY_HEADER = 'x-watchfire-delivery';

export function sign(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body, 'utf8').digest('hex')}`;
}

export function createWebhookChannel(deps: { secret: string; timeoutMs?: number; now?: () => number }): Channel {
  const timeout = deps.timeoutMs ?? 10_000;
  const now = deps.now ?? Date.now;
  const inflight = new Set<AbortController>();
  let closed = false;
  return {
    name: 'webhook',
    async send(m) {
      if (closed) throw new WatchfireError('WF_NOTIFY_WEBHOOK', 'webhook channel is closed');
      const sentAt = now();
      const body = JSON.stringify({ ...m.data, deliveryId: m.id, sentAt });
      const ac = new AbortController();
      inflight.add(ac);
      const timer = setTimeout(() => ac.abort(new Error(`no answer in ${timeout} ms`)), timeout);
      try {
        const res = await fetch(m.address, {
          method: 'POST',
          body,
          signal: ac.signal,
          headers: {
            'content-type': 'application/json; charset=utf-8',
            [SIGNATURE_HEADER]: sign(deps.secret, body),
            [TIMESTAMP_HEADER]: String(sentAt),
            [DELIVERY_HEADER]: String(m.id),
          },
        });
        // Read the body so the connection can be reused or closed cleanly.
        await res.arrayBuffer().catch(() => undefined);
        if (!res.ok) throw new WatchfireError('WF_NOTIFY_WEBHOOK', `webhook ${m.address} answered ${res.status}`);
      } catch (err) {
        if (err instanceof WatchfireError) throw err;
        throw new WatchfireError('WF_NOTIFY_WEBHOOK', `webhook ${m.address} failed: ${(err as Error).message}`);
      } finally {
        clearTimeout(timer);
        inflight.delete(ac);
      }
    },
    close() {
      closed = true;
      for (const ac of inflight) ac.abort(new Error('channel closed'));
      return Promise.resolve();
    },
  };
}
