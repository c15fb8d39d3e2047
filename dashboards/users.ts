// Console users and their sessions, in the embedded SQL store. A user is a login (username,
// role) optionally linked to a registry person, whose id becomes the actor of every transition.
import { randomBytes, scrypt as scryptCb, timingSafeEqual, createHash, type ScryptOptions } from 'node:crypto';
import type { Database } from 'better-sqlite3';
import { z } from 'zod';
import { Locale } from '../contracts/registry.ts';
import { WatchfireError } from '../contracts/errors.ts';

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
interface UserRow {
  username: string;
  role: string;
  person_id: string | null;
  center_id: string | null;
  locale: string;
  password_hash: string;
  created_at: number;
  disabled: number;
}

function toUser(r: UserRow): User {
  return {
    username: r.username,
    role: UserRole.parse(r.role),
    personId: r.person_id,
    centerId: r.center_id,
    locale: Locale.parse(r.locale),
    createdAt: r.created_at,
    disabled: r.disabled !== 0,
  };
}

export async function createUser(db: Database, input: NewUser, opts: { cost?: { N: number; r: number; p: number }; now?: number } = {}): Promise<User> {
  const u = NewUser.parse(input);
  const taken = () => db.prepare('SELECT 1 FROM users WHERE username = ?').get(u.username);
  if (taken()) throw new WatchfireError('WF_HTTP_CONFLICT', `User ${u.username} already exists`);
  const hash = await hashPassword(u.password, opts.cost);
  // Checked after hashing too: the hash is async and another create may have won meanwhile.
  if (taken()) throw new WatchfireError('WF_HTTP_CONFLICT', `User ${u.username} already exists`);
  const now = opts.now ?? Date.now();
  db.prepare('INSERT INTO users (username, role, person_id, center_id, locale, password_hash, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
    .run(u.username, u.role, u.personId ?? null, u.centerId ?? null, u.locale, hash, now);
  return findUser(db, u.username)!;
}

export function findUser(db: Database, username: string): User | undefined {
  const row = db.prepare('SELECT * FROM users WHERE username = ?').get(username) as UserRow | undefined;
  return row ? toUser(row) : undefined;
}

export function listUsers(db: Database): User[] {
  return (db.prepare('SELECT * FROM users ORDER BY username').all() as UserRow[]).map(toUser);
}

export function setUserLocale(db: Database, username: string, locale: z.infer<typeof Locale>): void {
  db.prepare('UPDATE users SET locale = ? WHERE username = ?').run(locale, username);
}

export function countAdmins(db: Database): number {
  return (db.prepare("SELECT COUNT(*) AS n FROM users WHERE role = 'admin' AND disabled = 0").get() as { n: number }).n;
}

// A fixed hash to verify against when the user does not exist, so that a login for an unknown
// name costs the same time as a wrong password and does not reveal which names exist. One per
// cost, made with the cost real hashes have.
const dummyHashes = new Map<string, Promise<string>>();

export type LoginCheck = { ok: true; user: User } | { ok: false; reason: 'unknown_user' | 'wrong_password' | 'disabled' };

/** Checks a password at the cost of a real hash whether or not the user exists. */
export async function checkLogin(db: Database, username: string, password: string, cost: { N: number; r: number; p: number } = DEFAULT_SCRYPT): Promise<LoginCheck> {
  const row = db.prepare('SELECT * FROM users WHERE username = ?').get(username) as UserRow | undefined;
  if (!row) {
    const k = `${cost.N}/${cost.r}/${cost.p}`;
    let dummy = dummyHashes.get(k);
    if (!dummy) dummyHashes.set(k, (dummy = hashPassword('not a password', cost)));
    await verifyPassword(password, await dummy);
    return { ok: false, reason: 'unknown_user' };
  }
  if (!(await verifyPassword(password, row.password_hash))) return { ok: false, reason: 'wrong_password' };
  return row.disabled === 0 ? { ok: true, user: toUser(row) } : { ok: false, reason: 'disabled' };
}

/** The user when the password is right and the user enabled; undefined otherwise. */
export async function verifyLogin(db: Database, username: string, password: string): Promise<User | undefined> {
  const r = await checkLogin(db, username, password);
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

export function createSession(db: Database, username: string, now: number, ttlMs = SESSION_TTL_MS): { token: string; csrf: string; expiresAt: number } {
  const token = randomBytes(32).toString('base64url');
  const csrf = randomBytes(24).toString('base64url');
  const expiresAt = now + ttlMs;
  db.prepare('DELETE FROM sessions WHERE expires_at <= ?').run(now);
  db.prepare('INSERT INTO sessions (id, username, csrf, created_at, expires_at) VALUES (?, ?, ?, ?, ?)').run(sha256(token), username, csrf, now, expiresAt);
  return { token, csrf, expiresAt };
}

export function loadSession(db: Database, token: string, now: number): Session | undefined {
  const row = db.prepare(`SELECT s.csrf, s.expires_at, u.* FROM sessions s JOIN users u ON u.username = s.username WHERE s.id = ?`)
    .get(sha256(token)) as (UserRow & { csrf: string; expires_at: number }) | undefined;
  if (!row || row.expires_at <= now || row.disabled !== 0) return undefined;
  return { user: toUser(row), csrf: row.csrf, expiresAt: row.expires_at };
}

export function deleteSession(db: Database, token: string): void {
  db.prepare('DELETE FROM sessions WHERE id = ?').run(sha256(token));
}
