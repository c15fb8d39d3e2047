// Free text on its way into either database.

/**
 * PostgreSQL's text cannot hold U+0000 ("invalid byte sequence for encoding UTF8: 0x00"), and a
 * garbage payload's bytes (or a provider's error body) decode to it: one such value would fail
 * its whole batch. It becomes U+FFFD, as bytes that are not UTF-8 already did when they were
 * decoded, on both databases, so a row reads the same from either.
 */
export function text(s: string): string {
  return s.includes('\u0000') ? s.replaceAll('\u0000', '\uFFFD') : s;
}
