// Users: scrypt hashes, sessions, and the `user` commands that create the first admin. Their rows
// are behind the storage seam: on the SQLite file, or on the PostgreSQL all nodes share
// (storage.postgresUrl, issue 21 point 2), where a session made on one node opens on another.
import { describe, it, expect, afterAll, beforeAll } from 'vitest';
import pino from 'pino';
import { openDatabase, type Db } from '../app/db.ts';
import { openSharedStores, type SharedStores } from '../app/stores.ts';
import { Command } from 'commander';
import { registerUserCommands } from '../app/commands/users.ts';
import { hashPassword, verifyPassword, verifyLogin, createUser, createSession, loadSession, listUsers } from '../dashboards/users.ts';
import { Config } from '../contracts/config.ts';
import { WatchfireError } from '../contracts/errors.ts';
import { freePort } from '../ingest/influxd.ts';
import { createUserStorage, sqliteRunner } from '../storage/index.ts';
import { login, makeServer, TEST_COST } from './dashboards.fixture.ts';
import { startTestPostgres, type TestPostgres } from './support/postgres.ts';

const on = (db: Db) => createUserStorage({ sql: sqliteRunner(db) });

describe('users', () => {
  it('stores scrypt hashes with their parameters and a random salt, never the password', async () => {
    const a = await hashPassword('s3cret-pass', TEST_COST);
    const b = await hashPassword('s3cret-pass', TEST_COST);
    expect(a).toMatch(/^scrypt\$1024\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    expect(a).not.toBe(b);
    expect(await verifyPassword('s3cret-pass', a)).toBe(true);
    expect(await verifyPassword('s3cret-pasS', a)).toBe(false);
    const db = openDatabase(':memory:');
    const users = on(db);
    await createUser(users, { username: 'ann', role: 'operator', password: 's3cret-pass' }, { cost: TEST_COST });
    const raw = JSON.stringify(db.prepare('SELECT * FROM users').all());
    expect(raw).not.toContain('s3cret-pass');
    expect((await verifyLogin(users, 'ann', 's3cret-pass'))?.role).toBe('operator');
    expect(await verifyLogin(users, 'ann', 'wrong')).toBeUndefined();
    expect(await verifyLogin(users, 'nobody', 's3cret-pass')).toBeUndefined();
  });

  it('keeps only a hash of the session token and expires sessions', async () => {
    const db = openDatabase(':memory:');
    const users = on(db);
    await createUser(users, { username: 'ann', role: 'operator', password: 's3cret-pass' }, { cost: TEST_COST });
    const s = await createSession(users, 'ann', 1_000, 10_000);
    expect(JSON.stringify(db.prepare('SELECT * FROM sessions').all())).not.toContain(s.token);
    expect((await loadSession(users, s.token, 5_000))?.user.username).toBe('ann');
    expect(await loadSession(users, s.token, 11_000)).toBeUndefined();
    expect(await loadSession(users, 'forged', 5_000)).toBeUndefined();
  });

  it('creates the first admin from the command line with a generated password printed once', async () => {
    const db = openDatabase(':memory:');
    let closed = 0;
    const lines: string[] = [];
    const program = new Command().exitOverride();
    const users = on(db);
    registerUserCommands(program, async () => ({ users, close: async () => void closed++ }), (l) => lines.push(l));
    await program.parseAsync(['node', 'wf', 'user', 'list']);
    expect(lines.pop()).toContain('create-admin');
    await program.parseAsync(['node', 'wf', 'user', 'create-admin', 'root']);
    const pw = lines.find((l) => l.startsWith('password'))!.split(': ')[1]!;
    expect(pw.length).toBeGreaterThanOrEqual(24);
    expect((await verifyLogin(users, 'root', pw))?.role).toBe('admin');
    await program.parseAsync(['node', 'wf', 'user', 'add', 'zhang', '--role', 'grid_worker', '--person', 'w1', '--password', 'zhang-pass-1']);
    expect((await listUsers(users)).map((u) => [u.username, u.role, u.personId])).toEqual([['root', 'admin', null], ['zhang', 'grid_worker', 'w1']]);
    await expect(program.parseAsync(['node', 'wf', 'user', 'create-admin', 'root', '--password', 'another-one'])).rejects.toThrow(/WF_HTTP_CONFLICT/);
    await expect(program.parseAsync(['node', 'wf', 'user', 'add', 'x', '--role', 'king'])).rejects.toThrow(/--role must be one of/);
    // A forgotten password: a new one, generated and printed once; the old one and its sessions end.
    const session = await createSession(users, 'zhang', Date.now());
    expect(await loadSession(users, session.token, Date.now())).toBeDefined();
    await program.parseAsync(['node', 'wf', 'user', 'set-password', 'zhang']);
    expect(lines.at(-2)).toBe('password of zhang changed; their sessions have ended');
    const fresh = lines.at(-1)!.split(': ')[1]!;
    expect(fresh.length).toBeGreaterThanOrEqual(24);
    expect(await verifyLogin(users, 'zhang', 'zhang-pass-1')).toBeUndefined();
    expect((await verifyLogin(users, 'zhang', fresh))?.username).toBe('zhang');
    expect(await loadSession(users, session.token, Date.now())).toBeUndefined();
    await program.parseAsync(['node', 'wf', 'user', 'set-password', 'zhang', '--password', 'zhang-pass-2']);
    expect((await verifyLogin(users, 'zhang', 'zhang-pass-2'))?.username).toBe('zhang');
    await expect(program.parseAsync(['node', 'wf', 'user', 'set-password', 'nobody', '--password', 'whatever-1'])).rejects.toThrow(/WF_HTTP_NOT_FOUND/);
    await expect(program.parseAsync(['node', 'wf', 'user', 'set-password', 'zhang', '--password', 'short'])).rejects.toThrow();
    expect((await verifyLogin(users, 'zhang', 'zhang-pass-2'))?.username).toBe('zhang');
    expect(closed).toBe(8);
  });
});

describe('users and sessions on the shared PostgreSQL (storage.postgresUrl)', () => {
  let pg: TestPostgres | undefined;
  const opened: Array<{ stores: SharedStores; db: Db }> = [];
  beforeAll(async () => {
    pg = await startTestPostgres();
  });
  afterAll(async () => {
    for (const { stores, db } of opened.splice(0)) {
      await stores.close();
      db.close();
    }
    await pg?.stop();
  });

  /** A node as app/ builds it: its own SQLite file, the stores storage.postgresUrl chose. */
  async function node(url: string) {
    const db = openDatabase(':memory:');
    const stores = await openSharedStores({ config: Config.parse({ storage: { postgresUrl: url } }), db, logger: pino({ level: 'silent' }) });
    opened.push({ stores, db });
    return { db, stores };
  }

  it('a session made on one node opens on the other; logging out on either ends it for both', async () => {
    const url = await pg!.createDatabase({ name: 'wf_users' });
    // Two nodes starting at once: both migrate the empty database, one of them does the work.
    const [a, b] = await Promise.all([node(url), node(url)]);
    expect([a.stores.dialect, b.stores.dialect]).toEqual(['postgres', 'postgres']);
    const nodeA = await makeServer({ users: a.stores.users });
    const nodeB = await makeServer({ users: b.stores.users });
    try {
      // The fixture's users were created through node A: node B's SQLite has none, PostgreSQL all.
      expect(b.db.prepare('SELECT COUNT(*) AS n FROM users').get()).toEqual({ n: 0 });
      expect((await listUsers(b.stores.users)).map((u) => u.username)).toEqual(['admin', 'op', 'sup', 'worker']);
      const s = await login(nodeA.app, 'op');
      const onB = await nodeB.app.inject({ method: 'GET', url: '/api/session', headers: { cookie: s.cookie } });
      expect(onB.json()).toMatchObject({ user: { username: 'op', role: 'operator' }, csrf: s.csrf });
      const out = await nodeB.app.inject({ method: 'POST', url: '/api/auth/logout', headers: { cookie: s.cookie, 'x-csrf-token': s.csrf } });
      expect(out.statusCode).toBe(204);
      expect((await nodeA.app.inject({ method: 'GET', url: '/api/session', headers: { cookie: s.cookie } })).json()).toMatchObject({ user: null });
    } finally {
      await nodeA.close();
      await nodeB.close();
    }
  });

  it('a PostgreSQL that cannot be reached refuses the start with WF_DB_POSTGRES, its password kept out of the message', async () => {
    const db = openDatabase(':memory:');
    try {
      const url = `postgres://wf:hunter2-secret@127.0.0.1:${await freePort()}/watchfire`;
      const err = await openSharedStores({ config: Config.parse({ storage: { postgresUrl: url } }), db, logger: pino({ level: 'silent' }) }).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(WatchfireError);
      expect((err as WatchfireError).code).toBe('WF_DB_POSTGRES');
      expect((err as Error).message).toMatch(/127\.0\.0\.1:\d+\/watchfire/);
      expect((err as Error).message).not.toContain('hunter2');
    } finally {
      db.close();
    }
  });

  it('the `user` commands write where the nodes read: the same PostgreSQL', async () => {
    const url = await pg!.createDatabase({ name: 'wf_users_cli' });
    const lines: string[] = [];
    const program = new Command().exitOverride();
    registerUserCommands(program, async () => node(url).then((n) => ({ users: n.stores.users, close: async () => undefined })), (l) => lines.push(l));
    await program.parseAsync(['node', 'wf', 'user', 'add', 'li', '--role', 'supervisor', '--password', 'li-pass-123']);
    const other = await node(url);
    expect((await verifyLogin(other.stores.users, 'li', 'li-pass-123'))?.role).toBe('supervisor');
  });
});
