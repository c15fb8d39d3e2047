// A real PostgreSQL (Debian's `postgresql`, installed by .ci/run) for the storage contract suites
// and cluster mode (issue 21 point 2): initdb into a temp dir, the server on a free loopback port
// with its unix socket in that dir, fsync and synchronous_commit as PostgreSQL defaults them (on).
//
// Debian keeps the binaries in /usr/lib/postgresql/<major>/bin, off PATH; the newest major there
// is used (WF_PG_BIN names another bin dir, e.g. on a machine that has them elsewhere).
//
// PostgreSQL refuses to run as root ("root" execution of the PostgreSQL server is not permitted),
// and CI machines and containers often run as root. Then the temp dir is handed to the `postgres`
// system user the Debian package creates, and initdb and the server are spawned with its uid/gid
// (Node's spawn calls setgid/setuid and libuv drops root's supplementary groups first): no
// runuser/sudo, and the child is still ours to signal.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import pg from 'pg';
import { freePort } from '../../ingest/influxd.ts';

export interface TestPostgres {
  /** postgres://postgres@127.0.0.1:<port>/postgres: the superuser, trusted on loopback. */
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  /** Milliseconds from the start of initdb to the first accepted connection. */
  readonly startMs: number;
  /**
   * A new database, its URL: one per suite or case keeps them apart on one server. `template`:
   * a copy of that database (one migrated once is cheaper to copy than to migrate per case).
   */
  createDatabase(opts?: { name?: string; template?: string }): Promise<string>;
  /** Shuts the server down once its sessions have ended (at most 5 s, then it ends them), then deletes its dir. */
  stop(): Promise<void>;
}

function binDir(): string {
  if (process.env.WF_PG_BIN) return process.env.WF_PG_BIN;
  const root = '/usr/lib/postgresql';
  const majors = existsSync(root) ? readdirSync(root).filter((d) => /^\d+$/.test(d)).sort((a, b) => Number(b) - Number(a)) : [];
  for (const m of majors) if (existsSync(join(root, m, 'bin', 'initdb'))) return join(root, m, 'bin');
  throw new Error(`No PostgreSQL server binaries under ${root}/<major>/bin: install Debian's postgresql (.ci/run does) or set WF_PG_BIN`);
}

/** The uid/gid to run the server as: ours, unless we are root (then the `postgres` user's). */
function runAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('postgres:'));
  if (!line) throw new Error('Running as root and there is no `postgres` user to run PostgreSQL as (Debian\'s postgresql package creates it)');
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

function run(bin: string, args: string[], opts: { cwd: string; user: { uid: number; gid: number } | undefined }): Promise<void> {
  return new Promise((resolve, reject) => {
    const out: string[] = [];
    const child = spawn(bin, args, { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'], ...opts.user, env: { ...process.env, LC_ALL: 'C' } });
    child.stdout.on('data', (b: Buffer) => out.push(b.toString()));
    child.stderr.on('data', (b: Buffer) => out.push(b.toString()));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${bin} exited ${code}:\n${out.join('')}`))));
  });
}

const START_TIMEOUT_MS = 30_000;
const SETPRIV = '/usr/bin/setpriv';

function launch(bin: string, data: string, dir: string, port: number, user: { uid: number; gid: number } | undefined): Promise<ChildProcess> {
  const args = [
    '-D', data, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${dir}`,
    // Logs go to stderr, where the ready line below is awaited; nothing to a log file.
    '-c', 'logging_collector=off', '-c', 'log_destination=stderr',
  ];
  // Through setpriv --pdeathsig (util-linux): the kernel kills the server when the test process
  // dies without stop() (vitest ends a worker without running its 'exit' handlers). setpriv
  // execs postgres in place: same pid, so signals still reach the server itself.
  const [cmd, argv] = existsSync(SETPRIV) ? [SETPRIV, ['--pdeathsig', 'KILL', '--', join(bin, 'postgres'), ...args]] : [join(bin, 'postgres'), args];
  const child = spawn(cmd, argv, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], ...user, env: { ...process.env, LC_ALL: 'C' } });
  // The last lines of its log, for the message when it does not start.
  const lines: string[] = [];
  const keep = (l: string): void => {
    lines.push(l);
    if (lines.length > 50) lines.shift();
  };
  return new Promise((resolve, reject) => {
    const fail = (why: string) => reject(new Error(`postgres ${why}:\n${lines.join('\n')}`));
    // initdb is done, so starting is replaying nothing and opening a socket: far below this bound
    // even on a loaded machine; a server that neither starts nor exits must not hang the suite.
    const bound = setTimeout(() => {
      child.kill('SIGKILL');
      fail(`was not ready within ${START_TIMEOUT_MS} ms`);
    }, START_TIMEOUT_MS);
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      clearTimeout(bound);
      fail(`exited (${signal ?? code}) before it was ready`);
    });
    createInterface({ input: child.stdout! }).on('line', keep);
    createInterface({ input: child.stderr! }).on('line', (l) => {
      keep(l);
      // Logged by the postmaster once startup (and any crash recovery) is done and it accepts
      // connections: an event to await, not a poll.
      if (l.includes('database system is ready to accept connections')) {
        clearTimeout(bound);
        resolve(child);
      }
    });
  });
}

function kill(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}

export async function startTestPostgres(): Promise<TestPostgres> {
  const began = performance.now();
  const bin = binDir();
  const user = runAs();
  const dir = await mkdtemp(join(tmpdir(), 'wf-pg-'));
  const data = join(dir, 'data');
  try {
    if (user) await chown(dir, user.uid, user.gid);
    // A linguistic default collation (ICU's root locale; PostgreSQL ≥ 15), as a production
    // server usually has (en_US.UTF-8, zh_CN.UTF-8): 'a' < 'B' there, 'B' < 'a' in SQLite's BINARY. A store whose
    // ORDER BY on text does not pin its collation then fails its contract test here instead of
    // sorting differently in production. Trust on loopback and the socket: a throwaway server
    // reachable only from this machine. initdb's own fsync of the fresh files is kept (the
    // default): the server's durability is what its tests rely on.
    await run(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8', '--locale-provider=icu', '--icu-locale=und'], { cwd: dir, user });
    let port = 0;
    let child: ChildProcess | undefined;
    // freePort's port can be taken before postgres binds it: try a few.
    for (let attempt = 0; !child; attempt++) {
      port = await freePort();
      try {
        child = await launch(bin, data, dir, port, user);
      } catch (err) {
        if (attempt >= 4) throw err;
      }
    }
    const server = child;
    const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
    let n = 0;
    return {
      url,
      port,
      dir,
      startMs: Math.round(performance.now() - began),
      async createDatabase({ name = `wf_test_${process.pid}_${++n}`, template }: { name?: string; template?: string } = {}) {
        const admin = new pg.Client({ connectionString: url });
        await admin.connect();
        try {
          await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}${template ? ` TEMPLATE ${pg.escapeIdentifier(template)}` : ''}`);
        } finally {
          await admin.end();
        }
        return `postgres://postgres@127.0.0.1:${port}/${encodeURIComponent(name)}`;
      },
      async stop() {
        // Smart shutdown (SIGTERM) first: it waits for sessions to end. pg's Pool.end() resolves
        // once it has asked its clients to close, before they have: a fast shutdown then would
        // send them "terminating connection" (57P01) as an error no one listens to any more.
        // A session left open (a leak in a test) must not hang the suite: fast shutdown after 5 s.
        const exited = kill(server, 'SIGTERM');
        const slow = setTimeout(() => server.kill('SIGINT'), 5_000);
        await exited;
        clearTimeout(slow);
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}
