// Webhooks for SMS, voice and IM gateways: a JSON POST signed with HMAC-SHA256 so the gateway can
// check it came from us. The signature covers the exact body bytes; the body carries its own
// `sentAt` and the timestamp header repeats it, so a receiver can refuse stale replays.
import { createHmac } from 'node:crypto';
import type { Channel } from './types.ts';
import { createHttpPoster } from './http.ts';

export const SIGNATURE_HEADER = 'x-watchfire-signature';
export const TIMESTAMP_HEADER = 'x-watchfire-timestamp';
export const DELIVERY_HEADER = 'x-watchfire-delivery';

export function sign(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body, 'utf8').digest('hex')}`;
}

export function createWebhookChannel(deps: { secret: string; timeoutMs?: number; now?: () => number }): Channel {
  const timeout = deps.timeoutMs ?? 10_000;
  const now = deps.now ?? Date.now;
  const http = createHttpPoster('WF_NOTIFY_WEBHOOK', 'webhook');
  return {
    name: 'webhook',
    async send(m) {
      http.assertOpen();
      const sentAt = now();
      const body = JSON.stringify({ ...m.data, deliveryId: m.id, sentAt });
      await http.post(m.address, {
        body,
        headers: {
          'content-type': 'application/json; charset=utf-8',
          [SIGNATURE_HEADER]: sign(deps.secret, body),
          [TIMESTAMP_HEADER]: String(sentAt),
          [DELIVERY_HEADER]: String(m.id),
        },
      }, timeout, `webhook ${m.address}`);
    },
    close() {
      http.close();
      return Promise.resolve();
    },
  };
}
