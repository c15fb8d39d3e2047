// Issue 19 point 5: a one-tap link that acknowledges an incident without a login. The token names
// one outbox row (so one incident, one person, one channel: what the audit entry says) and an
// expiry, signed with HMAC-SHA-256; short enough for an SMS (≈ 33 characters):
//
//   <outbox id base36>.<expiry, seconds base36>.<first 128 bits of the MAC, base64url>
//
// 128 bits of MAC is what RFC 2104 §5 calls enough for a truncated HMAC (at least half the hash).
import { createHmac, timingSafeEqual } from 'node:crypto';

export type TokenCheck =
  | { readonly ok: true; readonly outboxId: number; readonly expiresAt: number }
  | { readonly ok: false; readonly reason: 'malformed' | 'forged' | 'expired' };

const TOKEN = /^([0-9a-z]{1,11})\.([0-9a-z]{1,9})\.([A-Za-z0-9_-]{22})$/;

export function createAckTokens(deps: { secret: string | Buffer; ttlMs: number }) {
  const mac = (outboxId: number, expSec: number) =>
    createHmac('sha256', deps.secret).update(`wf-ack|${outboxId}|${expSec}`).digest().subarray(0, 16);

  return {
    ttlMs: deps.ttlMs,
    /** A token for the row, valid for ttlMs from `at`. */
    sign(outboxId: number, at: number): string {
      const exp = Math.ceil((at + deps.ttlMs) / 1000);
      return `${outboxId.toString(36)}.${exp.toString(36)}.${mac(outboxId, exp).toString('base64url')}`;
    },
    verify(token: string, now: number): TokenCheck {
      const m = TOKEN.exec(token);
      if (!m) return { ok: false, reason: 'malformed' };
      const outboxId = parseInt(m[1]!, 36);
      const exp = parseInt(m[2]!, 36);
      const got = Buffer.from(m[3]!, 'base64url');
      // Constant time: a forger learns nothing from how long a wrong MAC takes.
      if (got.length !== 16 || !timingSafeEqual(got, mac(outboxId, exp))) return { ok: false, reason: 'forged' };
      if (exp * 1000 <= now) return { ok: false, reason: 'expired' };
      return { ok: true, outboxId, expiresAt: exp * 1000 };
    },
  };
}

export type AckTokens = ReturnType<typeof createAckTokens>;

export function ackLink(publicUrl: string, token: string): string {
  return `${publicUrl.replace(/\/+$/, '')}/ack/${token}`;
}
