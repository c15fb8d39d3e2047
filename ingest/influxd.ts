// A local influxd (Debian's InfluxDB 1.6.7) for a machine with no InfluxDB of its own, and for
// tests. Its config is `influxd config` with every directory moved under dataDir and every
// listener on loopback (NOTES.md "InfluxDB"); it can be stopped and started again on the same
// dataDir (and the same port), which is how tests make an outage.
import { spawn, execFile } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { access, mkdir, writeFile } from 'node:fs/promises';
import { constants, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { availableParallelism } from 'node:os';
import { delimiter, isAbsolute, join } from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from 'pino';
import { WatchfireError } from '../contracts/errors.ts';

export interface LocalInfluxdOptions {
  binary?: string;
  dataDir: string;
  /** HTTP port; 0 picks a free one. */
  port?: number;
  /** Created if missing (default `watchfire`). */
  database?: string;
  logger?: Logger;
  readyTimeoutMs?: number;
  /** CPU niceness of influxd (default 5: below Watchfire; 0 keeps the caller's). */
  niceness?: number;
  /**
   * Cores influxd's Go scheduler may run on at once (GOMAXPROCS; default every core but one,
   * at least 1). A GOMAXPROCS in Watchfire's environment is passed on instead.
   */
  maxProcs?: number;
  /** CREATE DATABASE at start (default true); false for a restore, which refuses an existing one. */
  createDatabase?: boolean;
}

export interface LocalInfluxd {
  readonly url: string;
  readonly port: number;
  /** host:port of its backup/restore (RPC) service: `influxd backup -host`. */
  readonly rpcAddress: string;
  stop(): Promise<void>;
}

export async function findOnPath(binary: string): Promise<string | undefined> {
  const candidates = isAbsolute(binary) || binary.includes('/')
    ? [binary]
    : (process.env.PATH ?? '').split(delimiter).filter(Boolean).map((d) => join(d, binary));
  for (const c of candidates) {
    try {
      await access(c, constants.X_OK);
      return c;
    } catch {
      // next
    }
  }
  return undefined;
}

/** The kernel's ephemeral range (where listen(0) and outgoing connections take ports from). */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 11_000 ? low : 32_768;
  } catch {
    return 32_768; // not Linux: the IANA range starts at 49152, Linux's at 32768
  }
}

function tryListen(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(undefined));
    srv.listen(port, '127.0.0.1', () => {
      const addr = srv.address();
      const got = typeof addr === 'object' && addr ? addr.port : undefined;
      srv.close(() => resolve(got));
    });
  });
}

/**
 * A loopback port that is free now, for a server another process binds a moment later (influxd,
 * redis-server, mosquitto). Picked below the kernel's ephemeral range: a port from listen(0) is
 * handed out again to the next listen(0) or outgoing connection of any process, and a parallel
 * test suite's server took one between this check and influxd's bind (CI, stop 14: a write got
 * another server's 404). Below the range only another such pick can take it.
 */
export async function freePort(): Promise<number> {
  const low = 10_000;
  const span = ephemeralLow() - low;
  for (let i = 0; i < 64; i++) {
    const port = await tryListen(low + Math.floor(Math.random() * span));
    if (port !== undefined) return port;
  }
  const any = await tryListen(0);
  if (any === undefined) throw new WatchfireError('WF_INFLUXD_START', 'no free loopback port');
  return any;
}

/**
 * Limits sized for a province (issue 18 point 6). Debian's 1.6.7 defaults (inmem index, 1 M
 * series, 100 k values per tag) answer 400 past ~100 k devices: the `device` tag has one value per
 * device. A province is up to ~2 M devices; each has one telemetry series plus one per event type
 * it reports (line.ts), ~5 on average: 10 M series, with room to grow. tsi1 keeps the series index
 * on disk (memory-mapped), so the count is no longer bounded by RAM as with inmem.
 */
export const PROVINCE_LIMITS = { maxSeriesPerDatabase: 20_000_000, maxValuesPerTag: 5_000_000 } as const;

/** Rewrites the default config: directories under dataDir, listeners on loopback, no phoning home. */
export function rewriteConfig(text: string, opts: { dataDir: string; httpPort: number; ports: () => number }): string {
  const out: string[] = [];
  let section = '';
  for (const line of text.split('\n')) {
    const header = /^\s*\[\[?([^\]]+)\]\]?\s*$/.exec(line);
    if (header) {
      section = header[1]!.trim();
      out.push(line);
      continue;
    }
    const kv = /^(\s*)([A-Za-z0-9_-]+)\s*=/.exec(line);
    if (!kv) {
      out.push(line);
      continue;
    }
    const [, indent, key] = kv as unknown as [string, string, string];
    const set = (v: string): void => {
      out.push(`${indent}${key} = ${v}`);
    };
    if (key === 'reporting-enabled') set('false');
    else if (section === 'meta' && key === 'dir') set(JSON.stringify(join(opts.dataDir, 'meta')));
    else if (section === 'data' && key === 'dir') set(JSON.stringify(join(opts.dataDir, 'data')));
    else if (section === 'data' && key === 'wal-dir') set(JSON.stringify(join(opts.dataDir, 'wal')));
    else if (section === 'data' && key === 'query-log-enabled') set('false');
    else if (section === 'data' && key === 'index-version') set('"tsi1"');
    else if (section === 'data' && key === 'max-series-per-database') set(String(PROVINCE_LIMITS.maxSeriesPerDatabase));
    else if (section === 'data' && key === 'max-values-per-tag') set(String(PROVINCE_LIMITS.maxValuesPerTag));
    else if (section === 'monitor' && key === 'store-enabled') set('false'); // no _internal writes every 10 s
    else if (section === 'http' && key === 'bind-address') set(JSON.stringify(`127.0.0.1:${opts.httpPort}`));
    else if (section === 'http' && (key === 'log-enabled' || key === 'pprof-enabled')) set('false');
    else if (section === 'http' && key === 'bind-socket') set(JSON.stringify(join(opts.dataDir, 'influxd.sock')));
    else if (key === 'bind-address') set(JSON.stringify(`127.0.0.1:${opts.ports()}`));
    else out.push(line);
  }
  return out.join('\n');
}

/** Whether the influxd answering at url is the one started with this config file (`/debug/vars` cmdline). */
async function isOurs(url: string, configFile: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/debug/vars`, { signal: AbortSignal.timeout(2000) });
    const vars = (await res.json()) as { cmdline?: unknown };
    return Array.isArray(vars.cmdline) && vars.cmdline.includes(configFile);
  } catch {
    return false;
  }
}

async function waitReady(url: string, child: ChildProcess, configFile: string, timeoutMs: number, output: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new WatchfireError('WF_INFLUXD_START', `influxd exited (${child.exitCode ?? child.signalCode}) before it was ready`, [output().slice(-2000)]);
    }
    try {
      const res = await fetch(`${url}/ping`, { signal: AbortSignal.timeout(1000) });
      // Another server on the port (then this influxd exits on its bind) would take the readings
      // meant for this one.
      if ((res.status === 204 || res.ok) && (await isOurs(url, configFile))) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new WatchfireError('WF_INFLUXD_START', `influxd did not answer ${url}/ping within ${timeoutMs} ms`, [output().slice(-2000)]);
}

/** util-linux's setpriv if it knows --pdeathsig (2.33 and later); undefined otherwise. */
async function pdeathsigWrapper(): Promise<string | undefined> {
  const setpriv = await findOnPath('setpriv');
  if (!setpriv) return undefined;
  try {
    const { stdout } = await promisify(execFile)(setpriv, ['--help']);
    return stdout.includes('--pdeathsig') ? setpriv : undefined;
  } catch {
    return undefined;
  }
}

/** The pids of running influxd processes started with this config file (Linux /proc; none elsewhere). */
function influxdsOf(configFile: string): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const out: number[] = [];
  for (const e of entries) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      const argv = readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0');
      if (argv[0]?.endsWith('influxd') && argv.includes(configFile)) out.push(Number(e));
    } catch {
      // gone, or not ours to read
    }
  }
  return out;
}

/**
 * An influxd of an earlier run still on this data directory (its Watchfire was killed before it
 * could stop it, by a version without the death signal below) is stopped before a new one starts:
 * two of them on one directory write over each other's files.
 */
async function stopStale(configFile: string, logger: Logger | undefined): Promise<void> {
  const stale = influxdsOf(configFile);
  if (stale.length === 0) return;
  logger?.warn({ code: 'WF_INFLUXD_STALE', pids: stale, configFile }, 'an influxd of an earlier run is still running on this data directory: stopping it first');
  const signal = (sig: NodeJS.Signals) => {
    for (const pid of stale) {
      try {
        process.kill(pid, sig);
      } catch {
        // already gone
      }
    }
  };
  signal('SIGTERM');
  const killAt = Date.now() + 10_000;
  while (influxdsOf(configFile).length > 0) {
    if (Date.now() > killAt + 5_000) {
      throw new WatchfireError('WF_INFLUXD_STALE', `influxd ${stale.join(', ')} still runs on ${configFile} and could not be stopped; stop it, then start Watchfire again`);
    }
    if (Date.now() > killAt) signal('SIGKILL');
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Starts influxd and waits until it answers (and has the database). */
export async function startLocalInfluxd(opts: LocalInfluxdOptions): Promise<LocalInfluxd> {
  const d = await spawnLocalInfluxd(opts);
  await d.ready;
  return d;
}

export interface SpawningInfluxd extends LocalInfluxd {
  /** Resolves once it answers and has the database; rejects (after stopping it) if it never does. */
  readonly ready: Promise<void>;
}

/**
 * Starts influxd without waiting for it: its URL is known at once, and `ready` says when it
 * answers. Watchfire starts serving devices meanwhile (issue 15 point 6: a restart met every
 * device only after influxd had loaded its index — seconds on a county's data, longer on a
 * province's), since readings are in the journal before any PUBACK and ship once it is up.
 */
export async function spawnLocalInfluxd(opts: LocalInfluxdOptions): Promise<SpawningInfluxd> {
  const binary = opts.binary ?? 'influxd';
  const path = await findOnPath(binary);
  if (!path) {
    throw new WatchfireError('WF_INFLUXD_MISSING', `No InfluxDB URL is configured and \`${binary}\` is not on PATH. Install it with \`sudo apt-get install influxdb\` (InfluxDB 1.6), or set influx.url / WF_INFLUX_URL to an InfluxDB 1.x, 2.x or 3.x.`);
  }
  await mkdir(opts.dataDir, { recursive: true });
  const { stdout: defaults } = await promisify(execFile)(path, ['config'], { maxBuffer: 4 * 1024 * 1024 });
  const httpPort = opts.port || (await freePort());
  // Other listeners (RPC, and disabled ones that still parse an address) get their own free ports.
  const others: number[] = [];
  for (let i = 0; i < 8; i++) others.push(await freePort());
  let next = 0;
  const config = rewriteConfig(defaults, { dataDir: opts.dataDir, httpPort, ports: () => others[next++ % others.length]! });
  const configFile = join(opts.dataDir, 'influxd.conf');
  await stopStale(configFile, opts.logger);
  await writeFile(configFile, config);

  // Below Watchfire's own priority: on a shared box the alarm path gets the CPU first, and storage,
  // which is asynchronous and spooled, catches up after. `nice` is in coreutils.
  const niceness = opts.niceness ?? 5;
  const nicePath = niceness > 0 ? await findOnPath('nice') : undefined;
  // It dies with Watchfire (PR_SET_PDEATHSIG through util-linux's setpriv): after a kill -9 of
  // Watchfire, its influxd lived on, and the next start ran a second influxd on the same data
  // directory beside it. Its WAL is synced on every write, so a kill loses nothing it answered.
  const setprivPath = await pdeathsigWrapper();
  const [command, ...args] = [
    ...(setprivPath ? [setprivPath, '--pdeathsig', 'KILL'] : []),
    ...(nicePath ? [nicePath, '-n', String(niceness)] : []),
    path, '-config', configFile,
  ];
  // And never on every core: a continuous query over the last 15 minutes, or a compaction, ran on
  // both cores of a 2-core machine for seconds, and every PUBACK waited behind it whatever the
  // nice level (issue 15, `npm run bench -- firmware`). With one core left, the gateway always has one.
  const maxProcs = opts.maxProcs ?? Math.max(1, availableParallelism() - 1);
  const env = process.env.GOMAXPROCS ? process.env : { ...process.env, GOMAXPROCS: String(maxProcs) };
  const child = spawn(command!, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  let tail = '';
  const keep = (chunk: Buffer): void => {
    tail = (tail + chunk.toString('utf8')).slice(-8000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  // If Watchfire (or a test worker) exits without stop(), its influxd must not live on.
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      process.removeListener('exit', killOnExit);
      resolve();
    }),
  );
  child.once('error', (err) => opts.logger?.error({ err }, 'influxd failed'));
  const url = `http://127.0.0.1:${httpPort}`;

  async function stop(): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(killer);
  }

  const ready = (async () => {
    try {
      await waitReady(url, child, configFile, opts.readyTimeoutMs ?? 30_000, () => tail);
      const db = opts.database ?? 'watchfire';
      const res = opts.createDatabase === false ? undefined : await fetch(`${url}/query`, {
        method: 'POST',
        body: new URLSearchParams({ q: `CREATE DATABASE "${db.replace(/["\\]/g, '\\$&')}"` }),
        signal: AbortSignal.timeout(10_000),
      });
      if (res && !res.ok) throw new WatchfireError('WF_INFLUXD_START', `CREATE DATABASE ${db} answered ${res.status}: ${await res.text()}`);
    } catch (err) {
      await stop();
      throw err;
    }
    opts.logger?.info({ url, dataDir: opts.dataDir, pid: child.pid }, 'local influxd ready');
  })();
  return { url, port: httpPort, rpcAddress: rpcAddressOf(config) ?? '', stop, ready };
}

/** The top-level `bind-address` (the backup/restore RPC service) of an influxd config file's text. */
export function rpcAddressOf(configText: string): string | undefined {
  for (const line of configText.split('\n')) {
    if (/^\s*\[/.test(line)) return undefined; // past the top level
    const m = /^\s*bind-address\s*=\s*"([^"]+)"/.exec(line);
    if (m) return m[1];
  }
  return undefined;
}
