// Leases behind the storage seam (issue 21 point 5, "exactly one actor per duty"): the same cases
// on SQLite and a real PostgreSQL. Of nodes racing for one duty exactly one holds it; it passes on
// only when released or expired, and each new holder's term is higher (a fencing token).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLeaseStorage } from '../storage/index.ts';
import { sqlBackends } from './support/sql-backends.ts';

const backends = sqlBackends();
beforeAll(() => Promise.all(backends.map((b) => b.setup())));
afterAll(() => Promise.all(backends.map((b) => b.teardown())));

describe.each(backends)('lease contract on $name', (backend) => {
  it('one holder at a time: renewed by its holder, refused to others until it expires, then a new term', async () => {
    const leases = createLeaseStorage({ sql: (await backend.open()).runner });
    expect(await leases.current('daily-report', 0)).toBeUndefined();
    expect(await leases.acquire('daily-report', 'node-a', 1_000, 10_000)).toEqual({ holder: 'node-a', term: 1, expiresAt: 11_000 });
    expect(await leases.acquire('daily-report', 'node-b', 5_000, 10_000)).toBeUndefined();
    expect(await leases.acquire('daily-report', 'node-a', 6_000, 10_000)).toEqual({ holder: 'node-a', term: 1, expiresAt: 16_000 });
    expect(await leases.acquire('daily-report', 'node-b', 15_999, 10_000)).toBeUndefined();
    expect(await leases.current('daily-report', 15_999)).toEqual({ holder: 'node-a', term: 1, expiresAt: 16_000 });
    expect(await leases.current('daily-report', 16_000)).toBeUndefined();
    expect(await leases.acquire('daily-report', 'node-b', 16_000, 10_000)).toEqual({ holder: 'node-b', term: 2, expiresAt: 26_000 });
    // The old holder, waking up, cannot renew what is now node B's.
    expect(await leases.acquire('daily-report', 'node-a', 17_000, 10_000)).toBeUndefined();
    // Leases are per duty.
    expect(await leases.acquire('escalation-sweep', 'node-a', 17_000, 10_000)).toEqual({ holder: 'node-a', term: 1, expiresAt: 27_000 });
  });

  it('a released lease passes on at once, and the term still grows', async () => {
    const leases = createLeaseStorage({ sql: (await backend.open()).runner });
    await leases.acquire('cron', 'node-a', 1_000, 60_000);
    expect(await leases.release('cron', 'node-b')).toBe(false);
    expect(await leases.release('cron', 'node-a')).toBe(true);
    expect(await leases.release('cron', 'node-a')).toBe(false);
    expect(await leases.current('cron', 2_000)).toBeUndefined();
    expect(await leases.acquire('cron', 'node-b', 2_000, 60_000)).toEqual({ holder: 'node-b', term: 2, expiresAt: 62_000 });
    expect(await leases.release('nothing', 'node-a')).toBe(false);
  });

  it('of many nodes racing on two connections for a free or expired lease, exactly one wins each time', async () => {
    const db = await backend.open();
    const a = createLeaseStorage({ sql: db.runner });
    const b = createLeaseStorage({ sql: db.another() });
    let last = { holder: '', term: 0 };
    for (let round = 0; round < 10; round++) {
      const now = round * 100_000;
      const results = await Promise.all(Array.from({ length: 8 }, (_, i) => (i % 2 ? a : b).acquire('duty', `node-${i}`, now, 50_000)));
      const winners = results.filter((r) => r !== undefined);
      expect(winners, `round ${round}`).toHaveLength(1);
      // A new holder, a higher term; the last holder taking its own expired lease back, the same.
      if (winners[0]!.holder === last.holder) expect(winners[0]!.term).toBe(last.term);
      else expect(winners[0]!.term).toBe(last.term + 1);
      last = winners[0]!;
      expect((await a.current('duty', now))!.holder).toBe(winners[0]!.holder);
    }
  });

  it('refuses a lease without a time to live', async () => {
    const leases = createLeaseStorage({ sql: (await backend.open()).runner });
    await expect(leases.acquire('x', 'node-a', 0, 0)).rejects.toBeInstanceOf(RangeError);
    expect(await leases.current('x', 0)).toBeUndefined();
  });
});
