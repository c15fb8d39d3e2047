// Issue 21 point 7: two Watchfire processes in cluster mode on this machine, sharing one real
// redis-server (aedes' mq and persistence, the console relay), each behind its own port as a TCP
// balancer would spread devices: how many devices the two hold together (one process holds
// ≈ 19,500 here: 20,000 open files), the zero-loss rate and CPU per reading of each node beside a
// single node measured in the same run with the same per-node load, and alarm → console across
// nodes (an alarm sent to node A, seen on an operator's console served by node B) beside the
// same node's console.
//   npm run bench -- cluster [--devices=38000] [--steps=2000,5000,10000] [--step-sec=10]
// Each node has its own influxd (as each would its own disk); what the two nodes cannot do yet
// (issue 21 points 4, 6) is said in the README's cluster section.
import { benchCounty } from '../lib/county.ts';
import { createLoadPool, type LoadPool, type LoadSnapshot } from '../lib/load.ts';
import { nowMs, openConsoleStream } from '../lib/console-stream.ts';
import { sleep } from '../lib/phase.ts';
import { readUsage } from '../lib/proc.ts';
import type { ScenarioResult } from '../lib/report.ts';
import { merge, newHistogram, percentiles, summarize, type LatencySummary } from '../lib/stats.ts';
import { startWatchfireTarget, type WatchfireTarget } from '../lib/targets.ts';
import { connectDevices } from './alarm.ts';
import { startTestRedis } from '../../tests/support/redis.ts';
import { startTestPostgres, type TestPostgres } from '../../tests/support/postgres.ts';
import { topics } from '../../contracts/protocol.ts';

export interface ClusterBenchOptions {
  devices: number;
  steps: number[];
  stepSec: number;
  alarms: number;
  /**
   * 0: each node scores what its own devices send. Above 0: readings go through the partitioned
   * log (cluster.partitions; issue 21 point 4) on a Redis that fsyncs every write.
   */
  partitions?: number;
  /**
   * Both nodes share one PostgreSQL (storage.postgresUrl, a server this bench starts): the
   * registry, incidents, escalations and the outbox on it, so the alarm → console figure includes
   * the incident's write there (issue 21 points 2 and 5).
   */
  postgres?: boolean;
}

interface Node {
  target: WatchfireTarget;
  pool: LoadPool;
}

interface Step {
  rate: number;
  offered: number;
  acked: number;
  stored: number;
  loss: number;
  sustained: boolean;
  puback: LatencySummary;
  /** CPU of each node's process per reading it acknowledged, µs. */
  cpuUsPerReading: number[];
}

interface Phase {
  nodes: number;
  devices: number;
  connected: number;
  connectMs: number;
  steps: Step[];
  zeroLossRate: number;
  peakRssMiB: number[];
}

const clusterConfig = (redisUrl: string, nodeId: string, partitions: number) => ({
  'cluster.enabled': true, 'cluster.redisUrl': redisUrl, 'cluster.nodeId': nodeId, 'cluster.heartbeatMs': 5000, 'cluster.partitions': partitions,
});

async function ladder(nodes: Node[], o: ClusterBenchOptions, log: (s: string) => void, label: string): Promise<{ steps: Step[]; zeroLossRate: number }> {
  const steps: Step[] = [];
  let zeroLossRate = 0;
  for (const rate of o.steps) {
    const base = await Promise.all(nodes.map((n) => n.target.stored()));
    const s0 = await Promise.all(nodes.map((n) => n.pool.snapshot(true)));
    const cpu0 = nodes.map((n) => readUsage(n.target.pids.broker!)?.cpuSec ?? 0);
    for (const n of nodes) n.pool.setRate(rate / nodes.length);
    await sleep(o.stepSec * 1000);
    for (const n of nodes) n.pool.setRate(0);
    const cpu1 = nodes.map((n) => readUsage(n.target.pids.broker!)?.cpuSec ?? 0);
    await sleep(300);
    let s1: LoadSnapshot[] = await Promise.all(nodes.map((n) => n.pool.snapshot(true)));
    const hist = newHistogram();
    for (const s of s1) merge(hist, s.hist);
    const waitAcks = performance.now();
    while (s1.some((s) => s.inflight > 0) && performance.now() - waitAcks < 15_000) {
      await sleep(200);
      s1 = await Promise.all(nodes.map((n) => n.pool.snapshot(true)));
      for (const s of s1) merge(hist, s.hist);
    }
    const ackedBy = s1.map((s, i) => s.acked - s0[i]!.acked);
    const acked = ackedBy.reduce((a, b) => a + b, 0);
    const offered = s1.reduce((a, s, i) => a + s.offered - s0[i]!.offered, 0);
    let stored = 0;
    for (let i = 0; i < 100; i++) {
      stored = (await Promise.all(nodes.map((n, k) => n.target.stored().then((v) => v - base[k]!)))).reduce((a, b) => a + b, 0);
      if (stored >= acked) break;
      await sleep(300);
    }
    const sustained = acked >= 0.97 * offered && stored >= acked;
    const step: Step = {
      rate, offered, acked, stored, loss: acked - Math.min(stored, acked), sustained, puback: summarize(hist),
      cpuUsPerReading: nodes.map((_, i) => (ackedBy[i]! > 0 ? Math.round(((cpu1[i]! - cpu0[i]!) * 1e6) / ackedBy[i]!) : 0)),
    };
    steps.push(step);
    log(`${label} @ ${rate}/s: acked ${Math.round(acked / o.stepSec)}/s stored ${Math.round(stored / o.stepSec)}/s PUBACK p50 ${step.puback.p50} p99 ${step.puback.p99} ms; CPU µs/reading per node ${step.cpuUsPerReading.join(' / ')}${sustained ? '' : ' — NOT sustained'}`);
    if (!sustained) break;
    zeroLossRate = rate;
  }
  return { steps, zeroLossRate };
}

async function phase(nodes: Node[], devices: number, o: ClusterBenchOptions, log: (s: string) => void, label: string): Promise<Phase> {
  const t0 = performance.now();
  const results = await Promise.all(nodes.map((n) => n.pool.connect({ timeoutMs: 120_000 })));
  const connectMs = Math.round(performance.now() - t0);
  const connected = results.reduce((a, r) => a + r.connected, 0);
  log(`${label}: ${connected} of ${devices} devices connected in ${connectMs} ms (${results.map((r) => r.connected).join(' + ')})`);
  const { steps, zeroLossRate } = await ladder(nodes, o, log, label);
  const peakRssMiB = nodes.map((n) => Math.round((readUsage(n.target.pids.broker!)?.hwmKiB ?? 0) / 1024));
  return { nodes: nodes.length, devices, connected, connectMs, steps, zeroLossRate, peakRssMiB };
}

/** Alarms sent to node `to`, timed until they appear on the console streams of `consoles`. */
async function alarmsAcross(to: WatchfireTarget, consoles: WatchfireTarget[], devs: Array<{ id: string; secret?: string }>): Promise<Array<{ n: number; p50: number | null; p99: number | null; max: number | null }>> {
  const sent = new Map<string, number>();
  const seen = consoles.map(() => new Map<string, number>());
  const streams = await Promise.all(consoles.map(async (c, i) => openConsoleStream(c.httpPort, await c.login(), (e) => {
    if (e.kind === 'opened' && sent.has(e.deviceId) && !seen[i]!.has(e.deviceId)) seen[i]!.set(e.deviceId, e.arrivedAt - sent.get(e.deviceId)!);
  })));
  const clients = await connectDevices(to.port, devs);
  try {
    for (const [k, c] of clients.entries()) {
      const id = devs[k]!.id;
      sent.set(id, nowMs());
      await c.publishAsync(topics.events(id), JSON.stringify({ type: 'alarm', ts: Date.now(), seq: 1 }), { qos: 1 });
      // One alarm at a time, as homes' alarms come: the next once this one is on every console.
      const deadline = performance.now() + 10_000;
      while (seen.some((m) => !m.has(id)) && performance.now() < deadline) await sleep(5);
    }
  } finally {
    for (const c of clients) c.end(true);
    for (const s of streams) s.close();
  }
  return seen.map((m) => percentiles([...m.values()]));
}

export async function cluster(o: ClusterBenchOptions, log: (s: string) => void): Promise<ScenarioResult> {
  const county = benchCounty(o.devices, o.alarms);
  const half = Math.floor(county.load.length / 2);
  const data: { single?: Phase; cluster?: Phase; alarmToConsole?: { sameNode: unknown; otherNode: unknown }; error?: string } = {};
  // One node with half the devices and half of each step's rate: what each cluster node gets.
  {
    const target = await startWatchfireTarget(county.registry);
    const pool = await createLoadPool({ host: target.host, port: target.port, devices: county.load.slice(0, half), sourceAddresses: 8 });
    try {
      data.single = await phase([{ target, pool }], half, { ...o, steps: o.steps.map((r) => r / 2) }, log, 'one node');
    } finally {
      await pool.close();
      await target.stop();
    }
  }
  const partitions = o.partitions ?? 0;
  const redis = await startTestRedis({ durable: partitions > 0 });
  let pg: TestPostgres | undefined;
  const nodes: Node[] = [];
  try {
    let shared: Record<string, unknown> = {};
    if (o.postgres) {
      pg = await startTestPostgres();
      shared = { 'storage.postgresUrl': await pg.createDatabase({ name: 'wf_bench' }) };
    }
    for (const id of ['bench-a', 'bench-b']) {
      const target = await startWatchfireTarget(county.registry, { ...clusterConfig(redis.url, id, partitions), ...shared });
      const devices = id === 'bench-a' ? county.load.slice(0, half) : county.load.slice(half);
      nodes.push({ target, pool: await createLoadPool({ host: target.host, port: target.port, devices, sourceAddresses: 8 }) });
    }
    data.cluster = await phase(nodes, county.load.length, o, log, 'two nodes');
    const [sameNode, otherNode] = await alarmsAcross(nodes[0]!.target, [nodes[0]!.target, nodes[1]!.target], county.alarm);
    data.alarmToConsole = { sameNode, otherNode };
    log(`alarm → console (${county.alarm.length} alarms to node A): on A's console p50 ${sameNode!.p50} p99 ${sameNode!.p99} ms; on B's p50 ${otherNode!.p50} p99 ${otherNode!.p99} ms`);
  } catch (err) {
    data.error = (err as Error).message;
    log(`cluster: ${data.error}`);
  } finally {
    for (const n of nodes) await n.pool.close();
    for (const n of nodes) await n.target.stop();
    await redis.stop();
    await pg?.stop();
  }
  const c = data.cluster;
  const s = data.single;
  const cpu = (p: Phase | undefined) => p?.steps.at(-1)?.cpuUsPerReading.join(' / ') ?? '–';
  const pubacks = (p: Phase | undefined) => p?.steps.map((st) => `${st.rate}/s: ${st.puback.p50} / ${st.puback.p99}`).join('; ') ?? '–';
  return {
    // With the log on, its own file beside the run without it (bench/results/cluster-partitioned.json).
    scenario: `${partitions > 0 ? 'cluster-partitioned' : 'cluster'}${o.postgres ? '-postgres' : ''}`,
    targets: [
      { what: 'devices connected to two processes', target: '≥ 38,000', measured: String(c?.connected ?? 0), met: (c?.connected ?? 0) >= 38_000 },
    ],
    summary: [
      '| | one node (half the devices, half the rate) | two nodes sharing Redis |',
      '|---|---|---|',
      `| devices connected | ${s?.connected ?? '–'} | ${c?.connected ?? '–'} (${c?.connectMs ?? '–'} ms) |`,
      `| zero-loss readings/s (${o.stepSec} s steps) | ${s?.zeroLossRate ?? '–'} | ${c?.zeroLossRate ?? '–'} |`,
      `| CPU µs per reading, last step, per node | ${cpu(s)} | ${cpu(c)} |`,
      `| PUBACK p50 / p99 ms per step | ${pubacks(s)} | ${pubacks(c)} |`,
      `| peak RSS per node, MiB | ${s?.peakRssMiB.join(' / ') ?? '–'} | ${c?.peakRssMiB.join(' / ') ?? '–'} |`,
      `| alarm → console p50 / p99 ms | same node: ${(data.alarmToConsole?.sameNode as { p50?: number })?.p50 ?? '–'} / ${(data.alarmToConsole?.sameNode as { p99?: number })?.p99 ?? '–'} | other node: ${(data.alarmToConsole?.otherNode as { p50?: number })?.p50 ?? '–'} / ${(data.alarmToConsole?.otherNode as { p99?: number })?.p99 ?? '–'} |`,
      '',
      `Two Watchfire processes in cluster mode on this 2-core machine with one redis-server, each with its own influxd, the load generator beside them; one node measured first with half the devices and half of each step. ${partitions > 0 ? `Readings go through the partitioned log (${partitions} partitions, Redis appendfsync always): each is appended where it arrives and scored by the node owning its site's partition.` : 'Each node scores what its own devices send (run with --partitions=N for the partitioned log).'}${o.postgres ? ' Both nodes on one PostgreSQL (storage.postgresUrl; fsync on): the registry, incidents, escalations and the outbox shared.' : ''}`,
    ],
    data: { options: o, ...data },
  };
}
