// The local influxd: its config stays on loopback and under its data dir, it comes back with its
// data after a restart, and a missing binary says how to install it.
import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
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
      const conf = join(dataDir, 'influxd.conf');
      const pid = readdirSync('/proc').filter((x) => /^\d+$/.test(x)).find((x) => {
        try {
          const cmd = readFileSync(`/proc/${x}/cmdline`, 'utf8');
          return cmd.startsWith('/') && cmd.includes('influxd\0') && cmd.includes(conf);
        } catch {
          return false;
        }
      });
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

  it('says to apt-get install influxdb when the binary is missing', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'wf-influxd-m-'));
    dirs.push(dataDir);
    const err = await startLocalInfluxd({ dataDir, binary: 'influxd-not-installed-here' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WatchfireError);
    expect((err as WatchfireError).code).toBe('WF_INFLUXD_MISSING');
    expect((err as WatchfireError).message).toContain('sudo apt-get install influxdb');
  });
});
