// Console users and their sessions behind the storage seam (contracts/storage.ts): the SQL of
// dashboards/users.ts as one set of kysely queries for SQLite and PostgreSQL. Password hashing
// and the login's timing stay in dashboards/users.ts; this is only where the rows live.
import { sql, type Selectable } from 'kysely';
import type { Locale } from '../contracts/registry.ts';
import type { StoredUser, UserStorage } from '../contracts/storage.ts';
import { tx, type SqlRunner } from './sql.ts';
import type { UsersTable } from './tables.ts';

export interface UserStorageDeps {
  sql: SqlRunner;
}

function toUser(r: Selectable<UsersTable>): StoredUser {
  return {
    username: r.username, role: r.role, personId: r.person_id, centerId: r.center_id, locale: r.locale as Locale,
    createdAt: r.created_at, disabled: r.disabled !== 0,
  };
}

export function createUserStorage(deps: UserStorageDeps): UserStorage {
  const { q, dialect } = deps.sql;
  // Byte order, as SQLite's BINARY collation: a PostgreSQL server's default collation is its
  // locale's (en_US, zh_CN), which would put 'alice' before 'Bob' on one database and after on the other.
  const byUsername = dialect === 'postgres' ? sql`username COLLATE "C"` : sql`username`;

  return {
    async insert(u) {
      const insert = q.insertInto('users').values({
        username: u.username, role: u.role, person_id: u.personId, center_id: u.centerId, locale: u.locale,
        password_hash: u.passwordHash, created_at: u.createdAt, disabled: u.disabled ? 1 : 0,
      }).onConflict((oc) => oc.column('username').doNothing());
      return (await deps.sql.run(insert)) === 1;
    },

    async find(username) {
      const [r] = await deps.sql.all(q.selectFrom('users').selectAll().where('username', '=', username));
      return r ? { ...toUser(r), passwordHash: r.password_hash } : undefined;
    },

    async list() {
      return (await deps.sql.all(q.selectFrom('users').selectAll().orderBy(byUsername))).map(toUser);
    },

    async setLocale(username, locale) {
      return (await deps.sql.run(q.updateTable('users').set({ locale }).where('username', '=', username))) > 0;
    },

    async setPassword(username, passwordHash) {
      return deps.sql.transaction(function* () {
        const changed = yield* tx.run(q.updateTable('users').set({ password_hash: passwordHash }).where('username', '=', username));
        // A new password signs the user out everywhere: whoever held the old one keeps no session.
        if (changed > 0) yield* tx.run(q.deleteFrom('sessions').where('username', '=', username));
        return changed > 0;
      });
    },

    async countAdmins() {
      const [r] = await deps.sql.all(q.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n')).where('role', '=', 'admin').where('disabled', '=', 0));
      return r!.n;
    },

    async createSession(s, now) {
      await deps.sql.batch([
        q.deleteFrom('sessions').where('expires_at', '<=', now),
        q.insertInto('sessions').values({ id: s.id, username: s.username, csrf: s.csrf, created_at: s.createdAt, expires_at: s.expiresAt }),
      ]);
    },

    async loadSession(id, now) {
      const [r] = await deps.sql.all(q.selectFrom('sessions as s').innerJoin('users as u', 'u.username', 's.username')
        .selectAll('u').select(['s.csrf', 's.expires_at']).where('s.id', '=', id));
      if (!r || r.expires_at <= now || r.disabled !== 0) return undefined;
      return { user: toUser(r), csrf: r.csrf, expiresAt: r.expires_at };
    },

    async deleteSession(id) {
      return (await deps.sql.run(q.deleteFrom('sessions').where('id', '=', id))) > 0;
    },
  };
}
