// Source-address allow-lists of the adapters ("10.20.0.0/16", "2001:db8::1"): Node's own BlockList
// does the matching, so IPv4, IPv6 and IPv4-mapped addresses compare as the socket reports them.
import net from 'node:net';

/** A list that admits the given addresses and subnets; undefined (admit everyone) when empty. */
export function allowListOf(entries: readonly string[]): net.BlockList | undefined {
  if (entries.length === 0) return undefined;
  const list = new net.BlockList();
  for (const e of entries) {
    const [addr, bits] = e.split('/') as [string, string | undefined];
    const type = net.isIPv6(addr) ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(addr, type);
    else list.addSubnet(addr, Number(bits), type);
  }
  return list;
}
