// Console users and their sessions (rows behind the storage seam). A user is a login (username,
// role) optionally linked to a registry person, whose id becomes the actor of every transition.
import { randomBytes, scrypt as scryptCb, timingSafeEqual, createHash, type ScryptOptions } from 'node:crypto';
import { z } from 'zod';
import { Locale } from '../contracts/registry.ts';
import { WatchfireError } from '../contracts/errors.ts';
import type { StoredUser, UserStorage } from '../contracts/storage.ts';

export const UserRole = z.enum(['operator', 'grid_worker', 'supervisor', 'admin']);
export type UserRole = z.infer<typeof UserRole>;
export const USER_ROLES = UserRole.options;

export const Username = z.string().regex(/^[A-Za-z0-9_.@-]{2,64}$/, { error: 'expected 2..64 characters of A-Z a-z 0-9 _ . @ -' });

export const User = z.object({
  username: z.string(),
  role: UserRole,
  personId: z.string().nullable(),
  centerId: z.string().nullable(),
  locale: Locale,
  createdAt: z.number(),
  disabled: z.boolean(),
});
export type User = z.infer<typeof User>;

export const NewUser = z.object({
  username: Username,
  role: UserRole,
  // NIST SP 800-63B §5.1.1.2: at least 8 characters, and allow long passphrases.
  password: z.string().min(8).max(256),
  personId: z.string().min(1).max(64).optional(),
  centerId: z.string().min(1).max(64).optional(),
  locale: Locale.default('zh-CN'),
});
export type NewUser = z.input<typeof NewUser>;

// ---- passwords: scrypt (RFC 7914) -----------------------------------------------------------
/** OWASP Password Storage Cheat Sheet: scrypt N=2^17, r=8, p=1. */
export const DEFAULT_SCRYPT = { N: 2 ** 17, r: 8, p: 1 } as const;
const KEY_LEN = 32;

function scrypt(password: string, salt: Buffer, o: { N: number; r: number; p: number }): Promise<Buffer> {
  // 128·N·r bytes of memory; Node's default maxmem (32 MiB) is below what N=2^17 needs.
  const opts: ScryptOptions = { N: o.N, r: o.r, p: o.p, maxmem: 256 * o.N * o.r };
  // Async: the work runs on libuv's thread pool, so a login never stalls the alarm path that
  // shares this event loop.
  return new Promise((resolve, reject) => scryptCb(password.normalize('NFKC'), salt, KEY_LEN, opts, (err, key) => (err ? reject(err) : resolve(key))));
}

/** `scrypt$N$r$p$<salt b64>$<key b64>`: parameters travel with the hash so they can be raised later. */
export async function hashPassword(password: string, cost: { N: number; r: number; p: number } = DEFAULT_SCRYPT): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, cost);
  return `scrypt$${cost.N}$${cost.r}$${cost.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [N, r, p] = [Number(parts[1]), Number(parts[2]), Number(parts[3])];
  const salt = Buffer.from(parts[4]!, 'base64');
  const expected = Buffer.from(parts[5]!, 'base64');
  const key = await scrypt(password, salt, { N, r, p });
  return key.length === expected.length && timingSafeEqual(key, expected);
}

// ---- users ---------------------------------------------------------------------------------
// The rows live behind the storage seam (contracts/storage.ts UserStorage): the embedded SQLite
// file, or the PostgreSQL every node shares when `storage.postgresUrl` is set, so a session made
// on one node opens on any other (issue 21 point 2). Hashing and timing stay here.

function toUser(r: StoredUser): User {
  return { ...r, role: UserRole.parse(r.role) };
}

export async function createUser(users: UserStorage, input: NewUser, opts: { cost?: { N: number; r: number; p: number }; now?: number } = {}): Promise<User> {
  const u = NewUser.parse(input);
  const conflict = () => new WatchfireError('WF_HTTP_CONFLICT', `User ${u.username} already exists`);
  // Checked before the (slow, async) hash so a taken name fails fast; the insert decides.
  if (await users.find(u.username)) throw conflict();
  const hash = await hashPassword(u.password, opts.cost);
  const now = opts.now ?? Date.now();
  const stored = { username: u.username, role: u.role, personId: u.personId ?? null, centerId: u.centerId ?? null, locale: u.locale, createdAt: now, disabled: false };
  if (!(await users.insert({ ...stored, passwordHash: hash }))) throw conflict();
  return toUser(stored);
}

/** A new password for an existing user (signing them out everywhere); WF_HTTP_NOT_FOUND when there is no such user. */
export async function setUserPassword(users: UserStorage, username: string, password: string, opts: { cost?: { N: number; r: number; p: number } } = {}): Promise<void> {
  const { password: checked } = NewUser.pick({ password: true }).parse({ password });
  if (!(await users.setPassword(username, await hashPassword(checked, opts.cost)))) throw new WatchfireError('WF_HTTP_NOT_FOUND', `No user ${username}`);
}

export async function findUser(users: UserStorage, username: string): Promise<User | undefined> {
  const row = await users.find(username);
  return row ? toUser(row) : undefined;
}

export async function listUsers(users: UserStorage): Promise<User[]> {
  return (await users.list()).map(toUser);
}

export async function setUserLocale(users: UserStorage, username: string, locale: z.infer<typeof Locale>): Promise<void> {
  await users.setLocale(username, locale);
}

export function countAdmins(users: UserStorage): Promise<number> {
  return users.countAdmins();
}

// A fixed hash to verify against when the user does not exist, so that a login for an unknown
// name costs the same time as a wrong password and does not reveal which names exist. One per
// cost, made with the cost real hashes have.
const dummyHashes = new Map<string, Promise<string>>();

export type LoginCheck = { ok: true; user: User } | { ok: false; reason: 'unknown_user' | 'wrong_password' | 'disabled' };

/** Checks a password at the cost of a real hash whether or not the user exists. */
export async function checkLogin(users: UserStorage, username: string, password: string, cost: { N: number; r: number; p: number } = DEFAULT_SCRYPT): Promise<LoginCheck> {
  const row = await users.find(username);
  if (!row) {
    const k = `${cost.N}/${cost.r}/${cost.p}`;
    let dummy = dummyHashes.get(k);
    if (!dummy) dummyHashes.set(k, (dummy = hashPassword('not a password', cost)));
    await verifyPassword(password, await dummy);
    return { ok: false, reason: 'unknown_user' };
  }
  if (!(await verifyPassword(password, row.passwordHash))) return { ok: false, reason: 'wrong_password' };
  const { passwordHash: _, ...user } = row;
  return row.disabled ? { ok: false, reason: 'disabled' } : { ok: true, user: toUser(user) };
}

/** The user when the password is right and the user enabled; undefined otherwise. */
export async function verifyLogin(users: UserStorage, username: string, password: string): Promise<User | undefined> {
  const r = await checkLogin(users, username, password);
  return r.ok ? r.user : undefined;
}

// ---- sessions ------------------------------------------------------------------------------
/** A 12-hour shift plus the handover either side. */
export const SESSION_TTL_MS = 14 * 3600_000;

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

export interface Session {
  user: User;
  csrf: string;
  expiresAt: number;
}

export async function createSession(users: UserStorage, username: string, now: number, ttlMs = SESSION_TTL_MS): Promise<{ token: string; csrf: string; expiresAt: number }> {
  const token = randomBytes(32).toString('base64url');
  const csrf = randomBytes(24).toString('base64url');
  const expiresAt = now + ttlMs;
  await users.createSession({ id: sha256(token), username, csrf, createdAt: now, expiresAt }, now);
  return { token, csrf, expiresAt };
}

export async function loadSession(users: UserStorage, token: string, now: number): Promise<Session | undefined> {
  const s = await users.loadSession(sha256(token), now);
  return s ? { user: toUser(s.user), csrf: s.csrf, expiresAt: s.expiresAt } : undefined;
}

export async function deleteSession(users: UserStorage, token: string): Promise<void> {
  await users.deleteSession(sha256(token));
}
