// Users: scrypt hashes, sessions, and the `user` commands that create the first admin.
import { describe, it, expect } from 'vitest';
import { openDatabase } from '../app/db.ts';
import { Command } from 'commander';
import { registerUserCommands } from '../app/commands/users.ts';
import { hashPassword, verifyPassword, verifyLogin, createUser, createSession, loadSession, listUsers } from '../dashboards/users.ts';
import { TEST_COST } from './dashboards.fixture.ts';

describe('users', () => {
  it('stores scrypt hashes with their parameters and a random salt, never the password', async () => {
    const a = await hashPassword('s3cret-pass', TEST_COST);
    const b = await hashPassword('s3cret-pass', TEST_COST);
    expect(a).toMatch(/^scrypt\$1024\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    expect(a).not.toBe(b);
    expect(await verifyPassword('s3cret-pass', a)).toBe(true);
    expect(await verifyPassword('s3cret-pasS', a)).toBe(false);
    const db = openDatabase(':memory:');
    await createUser(db, { username: 'ann', role: 'operator', password: 's3cret-pass' }, { cost: TEST_COST });
    const raw = JSON.stringify(db.prepare('SELECT * FROM users').all());
    expect(raw).not.toContain('s3cret-pass');
    expect((await verifyLogin(db, 'ann', 's3cret-pass'))?.role).toBe('operator');
    expect(await verifyLogin(db, 'ann', 'wrong')).toBeUndefined();
    expect(await verifyLogin(db, 'nobody', 's3cret-pass')).toBeUndefined();
  });

  it('keeps only a hash of the session token and expires sessions', async () => {
    const db = openDatabase(':memory:');
    await createUser(db, { username: 'ann', role: 'operator', password: 's3cret-pass' }, { cost: TEST_COST });
    const s = createSession(db, 'ann', 1_000, 10_000);
    expect(JSON.stringify(db.prepare('SELECT * FROM sessions').all())).not.toContain(s.token);
    expect(loadSession(db, s.token, 5_000)?.user.username).toBe('ann');
    expect(loadSession(db, s.token, 11_000)).toBeUndefined();
    expect(loadSession(db, 'forged', 5_000)).toBeUndefined();
  });

  it('creates the first admin from the command line with a generated password printed once', async () => {
    const db = openDatabase(':memory:');
    let closed = 0;
    const lines: string[] = [];
    const program = new Command().exitOverride();
    registerUserCommands(program, async () => ({ db, close: async () => void closed++ }), (l) => lines.push(l));
    await program.parseAsync(['node', 'wf', 'user', 'list']);
    expect(lines.pop()).toContain('create-admin');
    await program.parseAsync(['node', 'wf', 'user', 'create-admin', 'root']);
    const pw = lines.find((l) => l.startsWith('password'))!.split(': ')[1]!;
    expect(pw.length).toBeGreaterThanOrEqual(24);
    expect((await verifyLogin(db, 'root', pw))?.role).toBe('admin');
    await program.parseAsync(['node', 'wf', 'user', 'add', 'zhang', '--role', 'grid_worker', '--person', 'w1', '--password', 'zhang-pass-1']);
    expect(listUsers(db).map((u) => [u.username, u.role, u.personId])).toEqual([['root', 'admin', null], ['zhang', 'grid_worker', 'w1']]);
    await expect(program.parseAsync(['node', 'wf', 'user', 'create-admin', 'root', '--password', 'another-one'])).rejects.toThrow(/WF_HTTP_CONFLICT/);
    await expect(program.parseAsync(['node', 'wf', 'user', 'add', 'x', '--role', 'king'])).rejects.toThrow(/--role must be one of/);
    expect(closed).toBe(4);
  });
});
