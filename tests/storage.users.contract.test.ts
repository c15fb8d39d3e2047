// Console users and sessions behind the storage seam (issue 21 point 2): the same cases on SQLite
// and a real PostgreSQL, whose default collation is linguistic (tests/support/postgres.ts). A
// session one node created opens on another.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StoredUser } from '../contracts/storage.ts';
import { createUserStorage } from '../storage/index.ts';
import { sqlBackends, rejection } from './support/sql-backends.ts';

const backends = sqlBackends();
beforeAll(() => Promise.all(backends.map((b) => b.setup())));
afterAll(() => Promise.all(backends.map((b) => b.teardown())));

function user(username: string, over: Partial<StoredUser & { passwordHash: string }> = {}): StoredUser & { passwordHash: string } {
  return { username, role: 'operator', personId: null, centerId: 'fc-1', locale: 'zh-CN', createdAt: 1_000, disabled: false, passwordHash: `scrypt$hash-of-${username}`, ...over };
}

describe.each(backends)('user storage contract on $name', (backend) => {
  it('stores a user once, finds it with its hash, lists users in byte order', async () => {
    const store = createUserStorage({ sql: (await backend.open()).runner });
    for (const name of ['bob', 'Alice', 'alice', 'Zed', '_x']) expect(await store.insert(user(name))).toBe(true);
    expect(await store.insert(user('bob', { role: 'admin', passwordHash: 'other' }))).toBe(false);
    expect(await store.find('bob')).toEqual(user('bob'));
    expect(await store.find('Bob')).toBeUndefined();
    // Byte order: capitals before lower case, '_' between them (a linguistic collation gives _x, alice, Alice, bob, Zed).
    expect((await store.list()).map((u) => u.username)).toEqual(['Alice', 'Zed', '_x', 'alice', 'bob']);
    const { passwordHash: _, ...listed } = user('Zed', { personId: 'p-1' });
    await store.insert(user('with-person', { personId: 'p-1', centerId: null, locale: 'en', disabled: true }));
    expect((await store.list()).find((u) => u.username === 'with-person')).toEqual({ ...listed, username: 'with-person', centerId: null, locale: 'en', disabled: true });
  });

  it('two nodes creating the same username at once: exactly one succeeds', async () => {
    const db = await backend.open();
    const a = createUserStorage({ sql: db.runner });
    const b = createUserStorage({ sql: db.another() });
    const names = Array.from({ length: 20 }, (_, i) => `op${i}`);
    const results = await Promise.all(names.flatMap((n) => [a.insert(user(n, { role: 'admin' })), b.insert(user(n, { role: 'operator' }))]));
    for (let i = 0; i < names.length; i++) expect([results[2 * i], results[2 * i + 1]].filter(Boolean), names[i]).toHaveLength(1);
    expect(await a.list()).toHaveLength(20);
  });

  it('changes a user\'s language and counts only enabled admins', async () => {
    const store = createUserStorage({ sql: (await backend.open()).runner });
    await store.insert(user('root', { role: 'admin' }));
    await store.insert(user('old-root', { role: 'admin', disabled: true }));
    await store.insert(user('op'));
    expect(await store.countAdmins()).toBe(1);
    expect(await store.setLocale('op', 'en')).toBe(true);
    expect(await store.setLocale('nobody', 'en')).toBe(false);
    expect((await store.find('op'))!.locale).toBe('en');
  });

  it('opens a session on another connection until it expires, never for a disabled user, and deletes it', async () => {
    const db = await backend.open();
    const a = createUserStorage({ sql: db.runner });
    const b = createUserStorage({ sql: db.another() });
    await a.insert(user('op'));
    await a.insert(user('gone', { disabled: true }));
    await a.createSession({ id: 'sha-1', username: 'op', csrf: 'c1', createdAt: 1_000, expiresAt: 5_000 }, 1_000);
    await a.createSession({ id: 'sha-2', username: 'gone', csrf: 'c2', createdAt: 1_000, expiresAt: 5_000 }, 1_000);
    expect(await b.loadSession('sha-1', 4_999)).toEqual({ user: (({ passwordHash: _, ...u }) => u)(user('op')), csrf: 'c1', expiresAt: 5_000 });
    expect(await b.loadSession('sha-1', 5_000)).toBeUndefined();
    expect(await b.loadSession('sha-2', 2_000)).toBeUndefined();
    expect(await b.loadSession('sha-404', 2_000)).toBeUndefined();
    // A new session sweeps the expired ones away.
    await b.createSession({ id: 'sha-3', username: 'op', csrf: 'c3', createdAt: 6_000, expiresAt: 9_000 }, 6_000);
    expect(await a.deleteSession('sha-1')).toBe(false);
    expect(await a.deleteSession('sha-3')).toBe(true);
    expect(await b.loadSession('sha-3', 7_000)).toBeUndefined();
  });

  it('a new password replaces the hash and ends every session of that user, and only theirs', async () => {
    const db = await backend.open();
    const a = createUserStorage({ sql: db.runner });
    const b = createUserStorage({ sql: db.another() });
    await a.insert(user('op'));
    await a.insert(user('other'));
    await a.createSession({ id: 'sha-op-1', username: 'op', csrf: 'c1', createdAt: 1_000, expiresAt: 9_000 }, 1_000);
    await a.createSession({ id: 'sha-op-2', username: 'op', csrf: 'c2', createdAt: 1_000, expiresAt: 9_000 }, 1_000);
    await a.createSession({ id: 'sha-other', username: 'other', csrf: 'c3', createdAt: 1_000, expiresAt: 9_000 }, 1_000);
    expect(await b.setPassword('op', 'scrypt$new-hash')).toBe(true);
    expect((await a.find('op'))?.passwordHash).toBe('scrypt$new-hash');
    expect(await a.loadSession('sha-op-1', 2_000)).toBeUndefined();
    expect(await a.loadSession('sha-op-2', 2_000)).toBeUndefined();
    expect((await a.loadSession('sha-other', 2_000))?.csrf).toBe('c3');
    expect((await a.find('other'))?.passwordHash).toBe(user('other').passwordHash);
    expect(await b.setPassword('nobody', 'scrypt$x')).toBe(false);
  });

  it('refuses a session for a user that does not exist, and a second session with the same id', async () => {
    const store = createUserStorage({ sql: (await backend.open()).runner });
    expect(await rejection(store.createSession({ id: 'sha-x', username: 'nobody', csrf: 'c', createdAt: 1, expiresAt: 2 }, 1))).toBeInstanceOf(Error);
    await store.insert(user('op'));
    await store.createSession({ id: 'sha-x', username: 'op', csrf: 'c', createdAt: 1, expiresAt: 10 }, 1);
    expect(await rejection(store.createSession({ id: 'sha-x', username: 'op', csrf: 'other', createdAt: 2, expiresAt: 10 }, 2))).toBeInstanceOf(Error);
    expect((await store.loadSession('sha-x', 5))!.csrf).toBe('c');
  });
});
