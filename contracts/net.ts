// Which "address" per-address limits count (gateway admission, sign-in guard). An IPv4 address is
// itself (an IPv4-mapped IPv6 address `::ffff:a.b.c.d` is the IPv4 one); an IPv6 address counts by
// its /64 — one subscriber's network (RFC 6177: a site gets a /48 to /64), inside which a client
// picks any of 2^64 addresses at will (privacy addresses, RFC 8981), so a limit on single IPv6
// addresses limits nothing.
import { isIPv4, isIPv6 } from 'node:net';

export function addressKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (isIPv4(address) || !isIPv6(address)) return address;
  const zoneless = address.split('%')[0]!;
  const [head = '', tail] = zoneless.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  // An embedded IPv4 tail (::1.2.3.4) lives in the low 64 bits: not part of the prefix.
  const groups = tail === undefined ? h : [...h, ...Array<string>(Math.max(0, 8 - h.length - t.length)).fill('0'), ...t];
  return `${groups.slice(0, 4).map((g) => (Number.parseInt(g, 16) || 0).toString(16)).join(':')}::/64`;
}
