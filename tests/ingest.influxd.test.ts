// The local influxd: its config stays on loopback and under its data dir, it comes back with its
// data after a restart, and a missing binary says how to install it.
import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { WatchfireError } from '../contracts/errors.ts';
import { rewriteConfig, startLocalInfluxd } from '../ingest/influxd.ts';
import { createInfluxQuery } from '../ingest/store/query.ts';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** Running influxd processes started with this config file. */
function influxdPids(conf: string): string[] {
  return readdirSync('/proc').filter((x) => /^\d+$/.test(x)).filter((x) => {
    try {
      const cmd = readFileSync(`/proc/${x}/cmdline`, 'utf8');
      return cmd.startsWith('/') && cmd.includes('influxd\0') && cmd.includes(conf);
    } catch {
      return false;
    }
  });
}

async function until(what: string, ok: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('local influxd', () => {
  it('rewrites the default config: directories under dataDir, every listener on 127.0.0.1, no reporting', () => {
    const defaults = execFileSync('influxd', ['config'], { encoding: 'utf8' });
    let p = 41000;
    const conf = rewriteConfig(defaults, { dataDir: '/tmp/wf-x', httpPort: 40999, ports: () => p++ });
    expect(conf).toMatch(/^reporting-enabled = false$/m);
    expect(conf).toMatch(/\[meta\]\n\s+dir = "\/tmp\/wf-x\/meta"/);
    expect(conf).toMatch(/\[data\]\n\s+dir = "\/tmp\/wf-x\/data"/);
    expect(conf).toMatch(/^\s+wal-dir = "\/tmp\/wf-x\/wal"$/m);
    const binds = [...conf.matchAll(/^\s*bind-address = "([^"]*)"$/gm)].map((m) => m[1]!);
    expect(binds.length).toBeGreaterThanOrEqual(3);
    for (const b of binds) expect(b).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(binds).toContain('127.0.0.1:40999');
    expect(new Set(binds).size).toBe(binds.length);
    expect(conf).not.toContain('/var/lib/influxdb');
  });

  it('starts, keeps its data across a stop and start on the same dir and port', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'wf-influxd-t-'));
    dirs.push(dataDir);
    const first = await startLocalInfluxd({ dataDir, database: 'keep' });
    expect(first.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    // Below the ephemeral range: no listen(0) or outgoing connection of another process takes it
    // between the pick and influxd's bind.
    const ephemeralLow = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').split(/\s+/)[0]);
    expect(first.port).toBeLessThan(ephemeralLow);
    const w = await fetch(`${first.url}/write?db=keep`, { method: 'POST', body: 'm,t=a v=1 1700000000000000000' });
    expect(w.status).toBe(204);
    await first.stop();
    await expect(fetch(`${first.url}/ping`)).rejects.toThrow();
    const second = await startLocalInfluxd({ dataDir, database: 'keep', port: first.port });
    try {
      expect(second.url).toBe(first.url);
      const rows = await createInfluxQuery({ url: second.url, database: 'keep' }).query('SELECT v FROM m');
      expect(rows).toEqual([{ _measurement: 'm', time: 1_700_000_000_000, v: 1 }]);
      await expect(createInfluxQuery({ url: second.url, database: 'keep' }).query('SELEC nonsense')).rejects.toThrow(/error parsing query/);
    } finally {
      await second.stop();
    }
  });

  it('runs below Watchfire: nice 5, and on every core but one (GOMAXPROCS)', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'wf-influxd-p-'));
    dirs.push(dataDir);
    const d = await startLocalInfluxd({ dataDir, database: 'prio' });
    try {
      const [pid] = influxdPids(join(dataDir, 'influxd.conf'));
      expect(pid).toBeDefined();
      const env = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
      expect(env).toContain(`GOMAXPROCS=${process.env.GOMAXPROCS || Math.max(1, availableParallelism() - 1)}`);
      // /proc/<pid>/stat: the 19th field is the nice value (after the parenthesised command).
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      expect(Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16])).toBe(5);
    } finally {
      await d.stop();
    }
  });

  it('dies with the Watchfire that started it: a kill -9 leaves no influxd behind', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'wf-influxd-k-'));
    dirs.push(dataDir);
    const conf = join(dataDir, 'influxd.conf');
    const script = `import { startLocalInfluxd } from './ingest/influxd.ts'; const d = await startLocalInfluxd({ dataDir: ${JSON.stringify(dataDir)}, database: 'k' }); console.log(d.url);`;
    const parent = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const url = await new Promise<string>((resolve, reject) => {
      parent.stdout.once('data', (b: Buffer) => resolve(b.toString().trim()));
      parent.once('exit', (code) => reject(new Error(`parent exited ${code}`)));
    });
    expect((await fetch(`${url}/ping`)).status).toBe(204);
    expect(influxdPids(conf)).toHaveLength(1);
    parent.kill('SIGKILL');
    await until('the orphaned influxd to exit', () => influxdPids(conf).length === 0);
  });

  it('stops an influxd of an earlier run still on the data directory before starting its own', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'wf-influxd-s-'));
    dirs.push(dataDir);
    const conf = join(dataDir, 'influxd.conf');
    // As if its Watchfire had been killed by a version without the death signal: never stopped.
    const earlier = await startLocalInfluxd({ dataDir, database: 'stale' });
    const [old] = influxdPids(conf);
    expect(old).toBeDefined();
    const w = await fetch(`${earlier.url}/write?db=stale`, { method: 'POST', body: 'm,t=a v=7 1700000000000000000' });
    expect(w.status).toBe(204);
    const next = await startLocalInfluxd({ dataDir, database: 'stale' });
    try {
      expect(influxdPids(conf)).not.toContain(old);
      expect(influxdPids(conf)).toHaveLength(1);
      await expect(fetch(`${earlier.url}/ping`)).rejects.toThrow();
      // Stopped cleanly (SIGTERM): what it had acknowledged is there for the new one.
      const rows = await createInfluxQuery({ url: next.url, database: 'stale' }).query('SELECT v FROM m');
      expect(rows).toEqual([{ _measurement: 'm', time: 1_700_000_000_000, v: 7 }]);
    } finally {
      await next.stop();
    }
  });

  it('says to apt-get install influxdb when the binary is missing', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'wf-influxd-m-'));
    dirs.push(dataDir);
    const err = await startLocalInfluxd({ dataDir, binary: 'influxd-not-installed-here' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WatchfireError);
    expect((err as WatchfireError).code).toBe('WF_INFLUXD_MISSING');
    expect((err as WatchfireError).message).toContain('sudo apt-get install influxdb');
  });
});
