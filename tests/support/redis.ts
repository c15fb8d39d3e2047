// A real Redis (Debian's redis-server, installed by .ci/run) for the cluster suites: a temp dir, a
// free loopback port, no RDB snapshots. With `durable` the append-only file is fsynced on every
// write (appendfsync always): the meaning of "durable" the partitioned log gives its acks.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { freePort } from '../../ingest/influxd.ts';

export interface TestRedis {
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  /** kill -9 and start again on the same port and dir (what survives is what was fsynced). */
  crash(): Promise<void>;
  /** Stops it and deletes its dir. */
  stop(): Promise<void>;
}

const BINARY = process.env.WF_REDIS_SERVER ?? 'redis-server';

function launch(port: number, dir: string, durable: boolean): Promise<ChildProcess> {
  const args = [
    '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--daemonize', 'no',
    '--appendonly', durable ? 'yes' : 'no', '--appendfsync', 'always', '--protected-mode', 'yes', '--logfile', '',
  ];
  const child = spawn(BINARY, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => reject(new Error(`redis-server exited (${signal ?? code}) before it was ready:\n${lines.join('\n')}`)));
    createInterface({ input: child.stderr! }).on('line', (l) => lines.push(l));
    createInterface({ input: child.stdout! }).on('line', (l) => {
      lines.push(l);
      if (l.includes('Ready to accept connections')) resolve(child);
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

export async function startTestRedis(opts: { durable?: boolean } = {}): Promise<TestRedis> {
  const durable = opts.durable ?? false;
  const dir = await mkdtemp(join(tmpdir(), 'wf-redis-'));
  let port = 0;
  let child: ChildProcess | undefined;
  // freePort's port can be taken before redis binds it: try a few.
  for (let attempt = 0; !child; attempt++) {
    port = await freePort();
    try {
      child = await launch(port, dir, durable);
    } catch (err) {
      if (attempt >= 4) throw err;
    }
  }
  let current = child;
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    async crash() {
      await kill(current, 'SIGKILL');
      current = await launch(port, dir, durable);
    },
    async stop() {
      await kill(current, 'SIGTERM');
      await rm(dir, { recursive: true, force: true });
    },
  };
}
