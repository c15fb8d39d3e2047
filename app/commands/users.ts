// `watchfire user …`: console users. No deployment ships a default password: the first admin is
// created here, with a password given or generated and printed once.
import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import type { UserStorage } from '../../contracts/storage.ts';
import { createUser, listUsers, setUserPassword, USER_ROLES, type UserRole } from '../../dashboards/index.ts';
import { WatchfireError } from '../../contracts/errors.ts';

type Open = () => Promise<{ users: UserStorage; close(): Promise<void> }>;

/** 18 random bytes → 24 base64url characters (144 bits): typed once, then changed or kept safe. */
export function generatePassword(): string {
  return randomBytes(18).toString('base64url');
}

async function withUsers<T>(open: Open, fn: (users: UserStorage) => Promise<T>): Promise<T> {
  const h = await open();
  try {
    return await fn(h.users);
  } finally {
    await h.close();
  }
}

function fail(err: unknown): never {
  const msg = err instanceof WatchfireError ? `${err.code}: ${err.message}` : (err as Error).message;
  throw new Error(msg);
}

export function registerUserCommands(program: Command, open: Open, out: (line: string) => void = (l) => console.log(l)): void {
  const user = program.command('user').description('Console users (operators, grid workers, supervisors, admins)');

  user.command('create-admin <username>')
    .description('Create an admin; without --password one is generated and printed once')
    .option('--password <password>', 'password (at least 8 characters)')
    .option('--json', 'print the user as JSON (with "password" when it was generated)')
    .action(async (username: string, o: { password?: string; json?: boolean }) => {
      const password = o.password ?? generatePassword();
      await withUsers(open, async (store) => {
        const u = await createUser(store, { username, role: 'admin', password }).catch(fail);
        if (o.json) return out(JSON.stringify({ ...u, ...(o.password ? {} : { password }) }));
        out(`admin ${u.username} created`);
        if (!o.password) out(`password (shown once, store it now): ${password}`);
      });
    });

  user.command('add <username>')
    .description('Add a user; link it to a registry person so transitions carry that person as actor')
    .requiredOption('--role <role>', `one of ${USER_ROLES.join(', ')}`)
    .option('--person <id>', 'registry person id')
    .option('--center <id>', 'limit the user to one fire center')
    .option('--locale <locale>', 'zh-CN or en', 'zh-CN')
    .option('--password <password>', 'password (at least 8 characters); generated when absent')
    .option('--json', 'print the user as JSON (with "password" when it was generated)')
    .action(async (username: string, o: { role: string; person?: string; center?: string; locale: string; password?: string; json?: boolean }) => {
      if (!(USER_ROLES as readonly string[]).includes(o.role)) throw new Error(`--role must be one of ${USER_ROLES.join(', ')}`);
      const password = o.password ?? generatePassword();
      await withUsers(open, async (store) => {
        const u = await createUser(store, {
          username,
          role: o.role as UserRole,
          password,
          locale: o.locale as 'zh-CN' | 'en',
          ...(o.person ? { personId: o.person } : {}),
          ...(o.center ? { centerId: o.center } : {}),
        }).catch(fail);
        if (o.json) return out(JSON.stringify({ ...u, ...(o.password ? {} : { password }) }));
        out(`${u.role} ${u.username} created${u.personId ? ` (person ${u.personId})` : ''}`);
        if (!o.password) out(`password (shown once, store it now): ${password}`);
      });
    });

  user.command('set-password <username>')
    .description('Give a user a new password (a forgotten one, or one that leaked): every session of theirs ends; without --password one is generated and printed once')
    .option('--password <password>', 'password (at least 8 characters)')
    .option('--json', 'print {"username", "password"} as JSON ("password" only when it was generated)')
    .action(async (username: string, o: { password?: string; json?: boolean }) => {
      const password = o.password ?? generatePassword();
      await withUsers(open, async (store) => {
        await setUserPassword(store, username, password).catch(fail);
        if (o.json) return out(JSON.stringify({ username, ...(o.password ? {} : { password }) }));
        out(`password of ${username} changed; their sessions have ended`);
        if (!o.password) out(`password (shown once, store it now): ${password}`);
      });
    });

  user.command('list')
    .description('List users')
    .option('--json', 'print the users as a JSON array')
    .action(async (o: { json?: boolean }) => {
      await withUsers(open, async (store) => {
        const users = await listUsers(store);
        if (o.json) return out(JSON.stringify(users));
        if (!users.length) out('no users yet: create the first admin with `user create-admin <name>`');
        for (const u of users) {
          out([u.username.padEnd(20), u.role.padEnd(12), (u.personId ?? '-').padEnd(12), (u.centerId ?? '-').padEnd(10), u.locale, u.disabled ? 'disabled' : ''].join(' ').trimEnd());
        }
      });
    });
}
