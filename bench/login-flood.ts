// Issue 16 point 3: sign-in under an unauthenticated flood, at the real scrypt cost (N=2^17).
// ATTACKERS loopback addresses (127.0.x.y: Linux routes all of 127/8 to lo, so each client binds
// its own source address) each keep PER_ATTACKER logins of unknown names in flight for SECONDS,
// over real sockets. Meanwhile, every 2 s, the supervisor signs in from her usual desk, and a
// newcomer (an address never used) tries too. Reported: flood answers by status and how fast a
// refusal comes, the supervisor's and newcomer's outcomes and waits, and the process's peak RSS.
// The flood runs in a child process: its event loop and CPU are not the server's.
// Run: npx tsx bench/login-flood.ts   (writes bench/results/login-flood.json)
import http from 'node:http';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createUser, DEFAULT_SCRYPT } from '../dashboards/users.ts';
import { makeServer } from '../tests/dashboards.fixture.ts';

const ATTACKERS = Number(process.env.ATTACKERS ?? 200);
const PER_ATTACKER = 2;
const SECONDS = Number(process.env.FLOOD_SECONDS ?? 30);
const PASSWORD = 'the supervisor knows it';

function login(port: number, agent: http.Agent, username: string, password: string, localAddress: string): Promise<{ status: number; ms: number }> {
  const t0 = performance.now();
  const body = JSON.stringify({ username, password });
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/api/auth/login', method: 'POST', localAddress, agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode!, ms: performance.now() - t0 }));
    });
    req.on('error', () => resolve({ status: 0, ms: performance.now() - t0 }));
    req.end(body);
  });
}

const q = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? Number(s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)]!.toFixed(1)) : null;
};

if (process.env.FLOOD_PORT) {
  // The flood: attackers × PER_ATTACKER loops of unknown names until told to stop.
  const port = Number(process.env.FLOOD_PORT);
  const agent = new http.Agent({ keepAlive: false });
  const flood = new Map<number, number[]>();
  let stop = false;
  process.on('message', () => (stop = true));
  const attacker = async (i: number) => {
    const addr = `127.${1 + (i >> 8)}.${i & 255}.10`;
    while (!stop) {
      const r = await login(port, agent, `nobody-${i}-${Math.random().toString(36).slice(2, 8)}`, 'guess', addr);
      const l = flood.get(r.status) ?? [];
      l.push(r.ms);
      flood.set(r.status, l);
    }
  };
  await Promise.all(Array.from({ length: ATTACKERS * PER_ATTACKER }, (_, k) => attacker(k % ATTACKERS)));
  process.send!(Object.fromEntries([...flood].map(([status, ms]) => [status, { count: ms.length, p50Ms: q(ms, 0.5), p99Ms: q(ms, 0.99) }])));
} else {
  const ctx = await makeServer({ passwordCost: DEFAULT_SCRYPT });
  await createUser(ctx.users, { username: 'chief', role: 'supervisor', password: PASSWORD, centerId: 'c1' }, { cost: DEFAULT_SCRYPT });
  await ctx.server.start();
  const port = ctx.server.address().port;
  const agent = new http.Agent({ keepAlive: false });

  // Her usual desk: signed in there before the flood (the audit remembers).
  const desk = '127.0.200.1';
  const first = await login(port, agent, 'chief', PASSWORD, desk);
  console.log(`supervisor before the flood: ${first.status} in ${first.ms.toFixed(0)} ms`);

  let rssPeak = process.memoryUsage().rss;
  const rssBefore = rssPeak;
  const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 100);
  let lagMax = 0;
  let tick = performance.now();
  const lag = setInterval(() => {
    const now = performance.now();
    lagMax = Math.max(lagMax, now - tick - 100);
    tick = now;
  }, 100);
  const started = performance.now();
  const child = fork(fileURLToPath(import.meta.url), [], { execArgv: ['--import', 'tsx'], env: { ...process.env, FLOOD_PORT: String(port) } });
  const floodResult = new Promise<Record<string, { count: number; p50Ms: number | null; p99Ms: number | null }>>((resolve) => child.once('message', (m) => resolve(m as Record<string, { count: number; p50Ms: number | null; p99Ms: number | null }>)));
  const supervisor: Array<{ status: number; ms: number }> = [];
  const newcomer: Array<{ status: number; ms: number }> = [];
  for (let t = 0; t < SECONDS / 2; t++) {
    await new Promise((r) => setTimeout(r, 2000));
    const [s, n] = await Promise.all([login(port, agent, 'chief', PASSWORD, desk), login(port, agent, 'chief', PASSWORD, `127.0.201.${t + 1}`)]);
    console.log(`t+${(t + 1) * 2}s: supervisor at her desk ${s.status} in ${s.ms.toFixed(0)} ms; from a new address ${n.status} in ${n.ms.toFixed(0)} ms`);
    supervisor.push(s);
    newcomer.push(n);
  }
  child.send('stop');
  const flood = await floodResult;
  child.disconnect();
  const elapsed = (performance.now() - started) / 1000;
  clearInterval(sampler);
  clearInterval(lag);
  const hashing = await ctx.metrics.getSingleMetricAsString('watchfire_http_logins_total');

  const result = {
    what: 'console sign-in under a flood of unknown names from many addresses, real scrypt cost (N=2^17)',
    date: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    loadavg: (await import('node:os')).loadavg().map((x) => Number(x.toFixed(1))),
    attackers: ATTACKERS,
    inFlightPerAttacker: PER_ATTACKER,
    seconds: Number(elapsed.toFixed(1)),
    config: 'http.login defaults: concurrency 2, queue 16 (per lane), perAddressInFlight 2, 30 failures/min per address',
    flood: Object.fromEntries(Object.entries(flood).map(([status, f]) => [status, { ...f, perSecond: Number((f.count / elapsed).toFixed(1)) }])),
    supervisorFromHerDesk: { ok: supervisor.filter((s) => s.status === 200).length, of: supervisor.length, p50Ms: q(supervisor.map((s) => s.ms), 0.5), maxMs: q(supervisor.map((s) => s.ms), 1), statuses: supervisor.map((s) => s.status) },
    supervisorFromNewAddress: { ok: newcomer.filter((s) => s.status === 200).length, of: newcomer.length, p50Ms: q(newcomer.map((s) => s.ms), 0.5), statuses: newcomer.map((s) => s.status) },
    serverEventLoopLagMaxMs: Number(lagMax.toFixed(0)),
    rssMiB: { before: Math.round(rssBefore / 2 ** 20), peak: Math.round(rssPeak / 2 ** 20) },
    loginsTotal: hashing.split('\n').filter((l) => l.startsWith('watchfire_http_logins_total{')),
  };
  console.log(JSON.stringify(result, null, 2));
  mkdirSync(join(import.meta.dirname, 'results'), { recursive: true });
  writeFileSync(join(import.meta.dirname, 'results', 'login-flood.json'), `${JSON.stringify(result, null, 2)}\n`);
  agent.destroy();
  await ctx.close();
}
