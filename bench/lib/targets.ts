// The three systems every scenario runs against, side by side in the same run:
//   watchfire  — the full system (gateway, ingest, rules, store → its own influxd, alerts, HTTP)
//   mosquitto  — broker only, with a plain QoS 1 subscriber counting what arrives
//   nodered    — what a user would otherwise assemble: Mosquitto → Node-RED (parse, classify,
//                batch-write to InfluxDB, webhook on red) → its own influxd
// Each reports "stored" the same way its users would see it: points in InfluxDB (or messages
// received by the subscriber), and the pids whose CPU and RSS the scenario samples.
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { createServer, type Server } from 'node:http';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../ingest/influxd.ts';
import type { RegistryFile } from '../../contracts/registry.ts';
import { startBenchInfluxd, type BenchInfluxd } from './influxd.ts';
import { startMosquitto, type Mosquitto } from './mosquitto.ts';
import { createLoadPool, type LoadPool } from './load.ts';

/** watchfire-nofsync: Watchfire with journal.fsync off (issue 15: what the fdatasync costs). */
export type TargetName = 'watchfire' | 'watchfire-nofsync' | 'mosquitto' | 'nodered';

export interface Target {
  readonly name: TargetName;
  readonly host: string;
  readonly port: number;
  /** Processes sampled for CPU/RSS; `broker` is the one that holds the device connections. */
  readonly pids: Record<string, number>;
  /** Devices must present their registry credentials. */
  readonly authenticates: boolean;
  /** Readings stored (InfluxDB points, or messages the subscriber received). */
  stored(): Promise<number>;
  /** Watchfire only: event-loop delay, GC pauses and its PUBACK hold since the last call. */
  loop?(): Promise<LoopStats>;
  stop(): Promise<void>;
}

export interface LoopStats {
  delay: { p50: number; p99: number; max: number };
  gc: Record<string, { n: number; totalMs: number; maxMs: number }>;
  /** Each event-loop stall over 50 ms and the main thread's kernel state in it. */
  stalls?: Array<{ at: number; ms: number; states: Record<string, number> }>;
  /** Cumulative counts of watchfire_gateway_puback_hold_seconds: [upper bound in s, count ≤ it]. */
  pubackHold?: Array<[number, number]>;
}

export interface WatchfireTarget extends Target {
  readonly name: 'watchfire' | 'watchfire-nofsync';
  readonly httpPort: number;
  /** The GB/T 26875.3 listener's port, when the config enabled it (issue 20). */
  readonly gbtPort?: number | undefined;
  /** 'notify' and 'incident' messages from the target process (see target-watchfire.ts). */
  readonly events: EventEmitter;
  stats(): Promise<{ store: Record<string, number>; journal: { appended: number; commits: number; unshippedLines: number }; backlog: number; gateway: Record<string, unknown>; online: number }>;
  /** process.memoryUsage() of the target (after a full GC when BENCH_NODE_ARGS has --expose-gc). */
  memory(): Promise<{ usage: NodeJS.MemoryUsage; heap: Record<string, number>; spaces: Record<string, { size: number; used: number }>; snapshot: string | null }>;
  /** Event-loop delay (ms) and GC pauses since the last call; the first call resets. */
  loop(): Promise<LoopStats>;
  /** Session cookie of the console user, for /api/stream. */
  login(): Promise<string>;
  /** Stops the process (`kill`: SIGKILL, as a crash; `stop`: a clean shutdown) and starts it again
   * on the same ports, data dir and influxd; resolves when it listens again. */
  restart(how: 'kill' | 'stop'): Promise<{ forkedAt: number; readyAt: number }>;
}

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** The V8 flags `npm start` runs Watchfire with (package.json), so the bench measures what runs. */
const WATCHFIRE_NODE_FLAGS = ['--max-semi-space-size=64', '--heap-growing-percent=100'];
const CONSOLE_USER = { username: 'bench', password: 'bench-console-password-1' };

interface WatchfireArgs {
  dataDir: string;
  influxUrl: string;
  registryFile: string;
  consoleUser: typeof CONSOLE_USER;
  config: Record<string, unknown>;
  /** A restart finds the registry and console user already in its database, as in production. */
  restart?: boolean;
}

interface WatchfireChild {
  child: ChildProcess;
  ports: { mqtt: number; http: number; pid: number; gbt26875?: number };
  exited: Promise<void>;
  ask<T>(t: string): Promise<T>;
  /** performance.timeOrigin + now() when the fork was asked for, and when it printed its ports. */
  forkedAt: number;
  readyAt: number;
}

async function spawnWatchfire(args: WatchfireArgs, events: EventEmitter): Promise<WatchfireChild> {
  const forkedAt = performance.timeOrigin + performance.now();
  const child = fork(join(ROOT, 'bench/target-watchfire.ts'), [JSON.stringify(args)], {
    cwd: ROOT,
    // BENCH_CPU_PROF=<dir>: a V8 CPU profile of the Watchfire process, written when it exits
    // (read it with `npx tsx bench/lib/profile-top.ts <file>`).
    execArgv: ['--import', 'tsx', '--max-old-space-size=4096', ...WATCHFIRE_NODE_FLAGS, ...(process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []), ...(process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [])],
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  let nextId = 1;
  const pending = new Map<number, (m: unknown) => void>();
  child.on('message', (m: { t: string; id?: number }) => {
    if (m.id !== undefined && pending.has(m.id)) {
      pending.get(m.id)!(m);
      pending.delete(m.id);
    } else events.emit(m.t, m);
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const ports = await new Promise<WatchfireChild['ports']>((resolve, reject) => {
    // The ready line is {"mqtt":…}; anything else on stdout (V8 traces from BENCH_NODE_ARGS) goes to
    // BENCH_TARGET_STDOUT=<file> when set.
    let buf = '';
    let ready = false;
    const sink = process.env.BENCH_TARGET_STDOUT ? createWriteStream(process.env.BENCH_TARGET_STDOUT, { flags: 'a' }) : undefined;
    child.stdout!.on('data', (c: Buffer) => {
      sink?.write(c);
      if (ready) return;
      buf += c.toString();
      const m = /^(\{"mqtt":.*)\n/m.exec(buf);
      if (m) {
        ready = true;
        buf = '';
        resolve(JSON.parse(m[1]!) as WatchfireChild['ports']);
      } else buf = buf.slice(buf.lastIndexOf('\n') + 1);
    });
    child.once('exit', (code) => reject(new Error(`target-watchfire exited (${code}) before it was ready`)));
  });
  const ask = <T>(t: string): Promise<T> => new Promise((resolve) => {
    const id = nextId++;
    pending.set(id, resolve as (m: unknown) => void);
    child.send({ t, id });
  });
  return { child, ports, exited, ask, forkedAt, readyAt: performance.timeOrigin + performance.now() };
}

export async function startWatchfireTarget(registry: RegistryFile, config: Record<string, unknown> = {}, name: WatchfireTarget['name'] = 'watchfire'): Promise<WatchfireTarget> {
  const influx = await startBenchInfluxd('watchfire');
  const dir = await mkdtemp(join(tmpdir(), 'wf-bench-target-'));
  const registryFile = join(dir, 'registry.json');
  await writeFile(registryFile, JSON.stringify(registry));
  // A webhook target for contacts and grid workers without their own (the recorder channel in
  // target-watchfire.ts takes the hand-over; nothing listens at this address).
  const alertsConfig = { 'alerts.webhook': { url: 'http://127.0.0.1:9/sms-gateway', secret: 'bench-webhook-secret-0123456789' } };
  // BENCH_WF_CONFIG='{"influx.flushIntervalMs":200}': config overrides for experiments.
  const extra = process.env.BENCH_WF_CONFIG ? (JSON.parse(process.env.BENCH_WF_CONFIG) as Record<string, unknown>) : {};
  const args: WatchfireArgs = { dataDir: join(dir, 'data'), influxUrl: influx.url, registryFile, consoleUser: CONSOLE_USER, config: { ...alertsConfig, ...config, ...extra } };
  const events = new EventEmitter();
  let cur = await spawnWatchfire(args, events);
  const ports = cur.ports;
  const pids: Record<string, number> = { broker: cur.child.pid!, influxd: influx.pid };
  return {
    name,
    host: '127.0.0.1',
    port: ports.mqtt,
    httpPort: ports.http,
    gbtPort: ports.gbt26875,
    pids,
    authenticates: true,
    events,
    stored: () => influx.count('telemetry', 'score'),
    stats: () => cur.ask('stats'),
    memory: () => cur.ask('memory'),
    loop: () => cur.ask('loop'),
    async restart(how) {
      if (how === 'kill') cur.child.kill('SIGKILL');
      else cur.child.send({ t: 'stop' });
      await cur.exited;
      // The same ports and data: devices find it where it was, as after a service restart.
      cur = await spawnWatchfire({ ...args, restart: true, config: { ...args.config, 'gateway.port': ports.mqtt, 'http.port': ports.http } }, events);
      pids.broker = cur.child.pid!;
      return { forkedAt: cur.forkedAt, readyAt: cur.readyAt };
    },
    async login() {
      const res = await fetch(`http://127.0.0.1:${ports.http}/api/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(CONSOLE_USER),
      });
      if (!res.ok) throw new Error(`console login answered ${res.status}: ${await res.text()}`);
      const cookie = res.headers.get('set-cookie') ?? '';
      return cookie.split(';')[0]!;
    },
    async stop() {
      if (cur.child.exitCode === null) {
        cur.child.send({ t: 'stop' });
        const killer = setTimeout(() => cur.child.kill('SIGKILL'), 20_000);
        await cur.exited;
        clearTimeout(killer);
      }
      await influx.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export async function startMosquittoTarget(): Promise<Target> {
  const mosq = await startMosquitto();
  const sub: LoadPool = await createLoadPool({ host: '127.0.0.1', port: mosq.port, devices: [{ id: 'bench-subscriber' }], workers: 1, retryMs: 0 });
  await sub.connect();
  await sub.subscribe('v1/devices/+/telemetry', 1);
  return {
    name: 'mosquitto',
    host: '127.0.0.1',
    port: mosq.port,
    pids: { broker: mosq.pid, subscriber: sub.pids[0]! },
    authenticates: false,
    stored: async () => (await sub.snapshot()).received,
    async stop() {
      await sub.close();
      await mosq.stop();
    },
  };
}

const NODERED_DIR = join(ROOT, 'bench/nodered');
export const noderedInstalled = (): boolean => existsSync(join(NODERED_DIR, 'node_modules/node-red/red.js'));

/** A webhook receiver for the Node-RED flow's red readings (counted, answered 204). */
async function startWebhookSink(events: EventEmitter): Promise<{ url: string; hits: () => number; server: Server }> {
  let hits = 0;
  const server = createServer((req, res) => {
    const at = performance.timeOrigin + performance.now();
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      hits++;
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { deviceId?: string };
        events.emit('hook', { deviceId: body.deviceId, at });
      } catch {
        // not JSON: counted only
      }
      res.statusCode = 204;
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const addr = server.address();
  return { url: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/hook`, hits: () => hits, server };
}

export interface NoderedTarget extends Target {
  webhookHits(): number;
  /** 'hook' { deviceId, at }: a red reading's webhook arrived (at: performance.timeOrigin + now()). */
  readonly events: EventEmitter;
}

export async function startNoderedTarget(): Promise<NoderedTarget> {
  if (!noderedInstalled()) throw new Error('Node-RED is not installed: npm install --prefix bench/nodered');
  const influx: BenchInfluxd = await startBenchInfluxd('nodered');
  const mosq: Mosquitto = await startMosquitto();
  const events = new EventEmitter();
  const hook = await startWebhookSink(events);
  const userDir = await mkdtemp(join(tmpdir(), 'wf-bench-nodered-'));
  const nrPort = await freePort();
  const child: ChildProcess = spawn(process.execPath, ['--max-old-space-size=4096', join(NODERED_DIR, 'node_modules/node-red/red.js'), '--settings', join(NODERED_DIR, 'settings.js'), '--userDir', userDir], {
    cwd: NODERED_DIR,
    env: { ...process.env, NR_PORT: String(nrPort), NR_USER_DIR: userDir, MQTT_PORT: String(mosq.port), INFLUX_URL: influx.url, WEBHOOK_URL: hook.url },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  const keep = (c: Buffer): void => {
    log = (log + c.toString()).slice(-20_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  // Ready when Node-RED's MQTT node has subscribed: Mosquitto has a client named nodered-bench.
  // Node-RED logs "Connected to broker" at info only; poll its flow state through a probe publish
  // instead: publish a marker reading and wait until it is stored.
  const probe = await createLoadPool({ host: '127.0.0.1', port: mosq.port, devices: [{ id: 'nodered-probe' }], workers: 1, retryMs: 0 });
  await probe.connect();
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`Node-RED exited: ${log.slice(-2000)}`);
    probe.setRate(20);
    await new Promise((r) => setTimeout(r, 1500));
    probe.setRate(0);
    await new Promise((r) => setTimeout(r, 1200));
    if ((await influx.count('telemetry', 'score').catch(() => 0)) > 0) break;
    if (Date.now() > deadline) throw new Error(`Node-RED flow did not store a probe reading within 60 s: ${log.slice(-2000)}`);
  }
  await probe.close();
  const base = await influx.count('telemetry', 'score');
  return {
    name: 'nodered',
    host: '127.0.0.1',
    port: mosq.port,
    pids: { broker: mosq.pid, nodered: child.pid!, influxd: influx.pid },
    authenticates: false,
    stored: async () => (await influx.count('telemetry', 'score')) - base,
    webhookHits: hook.hits,
    events,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(killer);
      }
      await new Promise<void>((r) => hook.server.close(() => r()));
      await mosq.stop();
      await influx.stop();
      await rm(userDir, { recursive: true, force: true });
    },
  };
}
