// Device secrets (PROTOCOL.md "Authentication"): random, ≥ 128 bits, stored only as a salted hash.
// Because the secret is random, a fast salted SHA-256 is as safe as a slow KDF, and it keeps a
// reconnect storm of thousands of devices cheap; slow KDFs are for people's passwords.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** 192 bits, base64url: 32 characters that survive any firmware config tool. */
export function generateSecret(): string {
  return randomBytes(24).toString('base64url');
}

export function hashSecret(secret: string, salt: Buffer = randomBytes(16)): string {
  const h = createHash('sha256').update(salt).update(secret, 'utf8').digest();
  return `sha256$${salt.toString('hex')}$${h.toString('hex')}`;
}

export function verifySecret(secret: string | Buffer | undefined, stored: string | undefined): boolean {
  if (secret === undefined || stored === undefined) return false;
  const parts = stored.split('$');
  if (parts.length !== 3 || parts[0] !== 'sha256') return false;
  const salt = Buffer.from(parts[1]!, 'hex');
  const expected = Buffer.from(parts[2]!, 'hex');
  const got = createHash('sha256').update(salt).update(secret).digest();
  return expected.length === got.length && timingSafeEqual(expected, got);
}
