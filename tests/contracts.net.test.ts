import { describe, expect, it } from 'vitest';
import { addressKey } from '../contracts/net.ts';
import { createAdmission } from '../gateway/admission.ts';

describe('addressKey: what a per-address limit counts', () => {
  it('keeps IPv4, unwraps IPv4-mapped IPv6, and counts IPv6 by its /64', () => {
    expect(addressKey('203.0.113.7')).toBe('203.0.113.7');
    expect(addressKey('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(addressKey('2001:db8:1:2:aaaa:bbbb:cccc:dddd')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8:1:2::1')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:0db8:0001:0002:0:0:0:1')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(addressKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    expect(addressKey('unknown')).toBe('unknown');
  });

  it('makes the gateway count one subscriber rotating through its /64 as one address', () => {
    const admission = createAdmission({
      config: { maxConnectionsPerAddress: 3, attemptsPerSecond: 100, attemptsBurst: 100, authFailuresFree: 2, authBackoffMs: 100, authMaxBackoffMs: 1000, logWindowMs: 60_000, logFirstPerWindow: 5, exemptAddresses: [] },
      clock: { now: () => 0 },
    });
    const refusals = Array.from({ length: 5 }, (_, i) => admission.accept(`2001:db8:1:2::${(i + 1).toString(16)}`));
    expect(refusals).toEqual([undefined, undefined, undefined, 'address_connections', 'address_connections']);
    // Another /64 is another subscriber.
    expect(admission.accept('2001:db8:1:3::1')).toBeUndefined();
    admission.release('2001:db8:1:2::2');
    expect(admission.accept('2001:db8:1:2::99')).toBeUndefined();
  });
});
