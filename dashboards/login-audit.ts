// Issue 16 point 3: the sign-in audit log. Every login that was checked (hashed) leaves a row:
// who, from where, and how it ended. Refusals before hashing (429/503) are counted in /metrics and
// logged in aggregate instead: a flood would otherwise write a row per request and fill the disk.
// Rows are bounded by the hashing rate (a few per second at most) and trimmed to the newest N.
// The table: app/migrations (version 3): username as typed (lower-cased, names that do not exist
// too), address, outcome (ok | wrong_password | unknown_user | disabled), user agent.
import type { Database } from 'better-sqlite3';
import { z } from 'zod';

export const LoginOutcome = z.enum(['ok', 'wrong_password', 'unknown_user', 'disabled']);
export type LoginOutcome = z.infer<typeof LoginOutcome>;

export const AuditRow = z.object({
  id: z.number(),
  at: z.number(),
  username: z.string(),
  address: z.string(),
  outcome: LoginOutcome,
  userAgent: z.string().nullable(),
});
export type AuditRow = z.infer<typeof AuditRow>;

/** How long an address that signed in as a user counts as that user's usual place. */
const TRUST_MS = 30 * 24 * 3600_000;

export function createLoginAudit(db: Database, maxRows: number) {
  return {
    record(r: Omit<AuditRow, 'id'>): void {
      db.prepare('INSERT INTO login_audit (at, username, address, outcome, user_agent) VALUES (?, ?, ?, ?, ?)').run(r.at, r.username.toLowerCase(), r.address, r.outcome, r.userAgent?.slice(0, 200) ?? null);
      // AUTOINCREMENT ids only grow: "the newest maxRows" is one indexed delete.
      db.prepare('DELETE FROM login_audit WHERE id <= (SELECT MAX(id) FROM login_audit) - ?').run(maxRows);
    },
    /** Did this address sign in as this user lately? Such logins get the reserved lane. */
    trusted(username: string, address: string, now: number): boolean {
      return db.prepare("SELECT 1 FROM login_audit WHERE username = ? AND address = ? AND outcome = 'ok' AND at > ? LIMIT 1").get(username.toLowerCase(), address, now - TRUST_MS) !== undefined;
    },
    list(f: { username?: string | undefined; before?: number | undefined; limit: number }): AuditRow[] {
      const where: string[] = [];
      const args: unknown[] = [];
      if (f.username !== undefined) { where.push('username = ?'); args.push(f.username.toLowerCase()); }
      if (f.before !== undefined) { where.push('id < ?'); args.push(f.before); }
      const rows = db.prepare(`SELECT * FROM login_audit ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`).all(...args, f.limit) as Array<{ id: number; at: number; username: string; address: string; outcome: string; user_agent: string | null }>;
      return rows.map((r) => ({ id: r.id, at: r.at, username: r.username, address: r.address, outcome: LoginOutcome.parse(r.outcome), userAgent: r.user_agent }));
    },
  };
}
export type LoginAudit = ReturnType<typeof createLoginAudit>;
