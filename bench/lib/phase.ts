// One load step against one target: publish at a rate for a while, then wait until what was
// acknowledged is stored (or stops arriving), and say what limited it.
import type { LoadPool, LoadSnapshot } from './load.ts';
import type { Target } from './targets.ts';
import { createSampler, machineBusy, machineTicks, type PhaseUsage } from './proc.ts';
import { bucketQuantilesMs, summarize, type LatencySummary } from './stats.ts';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface StepResult {
  offeredPerSec: number;
  seconds: number;
  offered: number;
  sent: number;
  acked: number;
  stored: number;
  /** acked − stored after the drain: what was acknowledged and never stored. */
  loss: number;
  ackedPerSec: number;
  storedPerSec: number;
  /** From the end of publishing until everything acknowledged was stored. */
  drainMs: number;
  deferred: number;
  puback: LatencySummary;
  usage: Record<string, PhaseUsage>;
  loadGenCores: number;
  /** CPU time the system under test spent per acknowledged reading (all its processes), µs: the
   * figure least disturbed by other tenants of a shared machine. */
  cpuUsPerReading: number | null;
  machineBusy: number;
  /** Watchfire's own share of a PUBACK over the step (watchfire_gateway_puback_hold_seconds), ms; absent for other targets. */
  gatewayHoldMs?: { p50: number | null; p99: number | null };
  /** The load workers' own event-loop delay over the step (the worst worker), ms. */
  generatorLoopMs: { p99: number; max: number };
  alive: boolean;
  sustained: boolean;
  limitedBy: string;
}

/** Waits until stored() reaches `want` or stops growing for `quietMs`; returns what was stored and when. */
export async function waitStored(target: Target, base: number, want: number, quietMs = 4000, maxMs = 60_000): Promise<{ stored: number; ms: number }> {
  const t0 = performance.now();
  let last = -1;
  let lastChange = performance.now();
  for (;;) {
    const n = (await target.stored().catch(() => last + base)) - base;
    if (n >= want) return { stored: n, ms: Math.round(performance.now() - t0) };
    if (n !== last) {
      last = n;
      lastChange = performance.now();
    }
    if (performance.now() - lastChange > quietMs || performance.now() - t0 > maxMs) return { stored: n, ms: Math.round(performance.now() - t0) };
    await sleep(300);
  }
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function runStep(target: Target, pool: LoadPool, rate: number, seconds: number): Promise<StepResult> {
  const pids: Record<string, number> = { ...target.pids };
  pool.pids.forEach((p, i) => (pids[`load${i}`] = p));
  const sampler = createSampler(pids, 250);
  const base = await target.stored();
  const hold0 = (await target.loop?.().catch(() => undefined))?.pubackHold;
  const s0 = await pool.snapshot(true);
  sampler.phase();
  const m0 = machineTicks();
  pool.setRate(rate);
  await sleep(seconds * 1000);
  pool.setRate(0);
  const usage = sampler.end();
  const busy = machineBusy(m0);
  sampler.stop();
  // PUBACKs still in flight arrive within the drain; count them before comparing.
  await sleep(300);
  let s1: LoadSnapshot = await pool.snapshot(true);
  const waitAcks = performance.now();
  while (s1.inflight > 0 && performance.now() - waitAcks < 15_000) {
    await sleep(200);
    s1 = await pool.snapshot(false);
  }
  const acked = s1.acked - s0.acked;
  const hold1 = (await target.loop?.().catch(() => undefined))?.pubackHold;
  const [h50, h99] = bucketQuantilesMs(hold0, hold1, [0.5, 0.99]);
  const drained = await waitStored(target, base, acked);
  const offered = s1.offered - s0.offered;
  const sent = s1.sent - s0.sent;
  const loadGenCores = Object.entries(usage).filter(([k]) => k.startsWith('load')).reduce((a, [, u]) => a + u.cpuCores, 0);
  const alive = processAlive(target.pids.broker!);
  const loss = acked - drained.stored;
  const sustained = alive && sent >= 0.97 * offered && loss <= 0 && drained.ms < 10_000;
  return {
    offeredPerSec: rate,
    seconds,
    offered,
    sent,
    acked,
    stored: drained.stored,
    loss,
    ackedPerSec: Math.round(acked / seconds),
    storedPerSec: Math.round(drained.stored / seconds),
    drainMs: drained.ms,
    deferred: s1.deferred - s0.deferred,
    puback: summarize(s1.hist),
    usage,
    loadGenCores: Math.round(loadGenCores * 100) / 100,
    cpuUsPerReading: acked > 0 ? Math.round((Object.entries(usage).filter(([k]) => !k.startsWith('load')).reduce((a, [, u]) => a + u.cpuCores, 0) * seconds * 1e6) / acked) : null,
    machineBusy: busy,
    ...(hold1 ? { gatewayHoldMs: { p50: h50 ?? null, p99: h99 ?? null } } : {}),
    generatorLoopMs: s1.loop,
    alive,
    sustained,
    limitedBy: limiter(usage, loadGenCores, busy, pool.pids.length),
  };
}

/** The busiest part names the limit; a saturated machine with nothing of ours at a core names the machine. */
export function limiter(usage: Record<string, PhaseUsage>, loadGenCores: number, busy: number, loadWorkers: number): string {
  const parts = Object.entries(usage).filter(([k]) => !k.startsWith('load')).map(([k, u]) => [k, u.cpuCores] as const);
  parts.push(['load generator', loadGenCores]);
  parts.sort((a, b) => b[1] - a[1]);
  const [name, cores] = parts[0]!;
  const single = name === 'load generator' ? cores / loadWorkers >= 0.85 : cores >= 0.85;
  if (single) return `${name} CPU (${cores} cores)`;
  if (busy >= 0.9) return `machine CPU (${Math.round(busy * 100)} % busy across both cores; busiest: ${name} ${cores} cores)`;
  return `none saturated (busiest: ${name} ${cores} cores, machine ${Math.round(busy * 100)} % busy)`;
}
