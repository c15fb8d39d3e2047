// Issue 16 point 7: the soak. An honest county reports at a steady rate while compromised devices
// and network neighbours attack the gateway (bench/lib/hostile.ts), for 30 minutes by default
// (--soak-min=N). Reports the Watchfire process's memory over time (it must stay bounded),
// honest-device loss (it must be 0: every reading PUBACKed is stored, no honest device is cut
// off) and alarm latency (a smoke alarm from a home every 20 s → its incident on the bus).
import { benchCounty } from '../lib/county.ts';
import { nowMs } from '../lib/console-stream.ts';
import { startHostile } from '../lib/hostile.ts';
import { createLoadPool } from '../lib/load.ts';
import { sleep, waitStored } from '../lib/phase.ts';
import { readUsage } from '../lib/proc.ts';
import type { ScenarioResult } from '../lib/report.ts';
import { percentiles } from '../lib/stats.ts';
import { startWatchfireTarget } from '../lib/targets.ts';
import { topics } from '../../contracts/protocol.ts';
import { connectDevices } from './alarm.ts';

const SAMPLE_MS = 10_000;
const ALARM_EVERY_MS = 20_000;
/** Compromised devices: provisioned, with their real secrets, in hostile hands. */
const COMPROMISED = 4;
const HOSTILE_ADDRESSES = ['127.0.0.20', '127.0.0.21', '127.0.0.22', '127.0.0.23'];

interface Sample { atS: number; rssMiB: number; heapMiB: number; sockets: number; connections: number; subscriptions: number; violations: number; refusals: number; honestAcked: number; honestDisconnects: number }

export async function soak(o: { minutes: number; devices: number; rate: number; hostileOpsPerSec: number }, log: (s: string) => void): Promise<ScenarioResult> {
  const durationMs = o.minutes * 60_000;
  const alarms = Math.max(3, Math.ceil(durationMs / ALARM_EVERY_MS));
  const county = benchCounty(o.devices + COMPROMISED, alarms);
  const honest = county.load.slice(0, o.devices);
  const compromised = county.load.slice(o.devices, o.devices + COMPROMISED);
  // Memory is read after a full collection (target-watchfire.ts 'memory'), so the curve is what
  // the process keeps, not where its young generation happened to be.
  if (!process.env.BENCH_NODE_ARGS?.includes('--expose-gc')) process.env.BENCH_NODE_ARGS = `${process.env.BENCH_NODE_ARGS ?? ''} --expose-gc`.trim();
  const target = await startWatchfireTarget(county.registry);
  const pool = await createLoadPool({ host: target.host, port: target.port, devices: honest, announce: true, inflightPerDevice: 1 });
  const sent = new Map<string, number>();
  const opened = new Map<string, number>();
  target.events.on('incident', (m: { kind: string; deviceId: string; at: number }) => {
    if (m.kind === 'opened' && sent.has(m.deviceId) && !opened.has(m.deviceId)) opened.set(m.deviceId, m.at);
  });
  const alarmClients = await connectDevices(target.port, county.alarm, 1000);
  const samples: Sample[] = [];
  let hostile: ReturnType<typeof startHostile> | undefined;
  try {
    const c = await pool.connect({ perSec: 2000 });
    log(`soak: ${c.connected}/${honest.length} honest devices, ${alarmClients.length} alarm homes; ${o.rate}/s QoS 1 for ${o.minutes} min, hostile ${o.hostileOpsPerSec} ops/s`);
    const storedBefore = await target.stored();
    pool.setRate(o.rate, 1);
    // The workers' counters are cumulative (a reset clears only the histograms): deltas from here.
    const base = await pool.snapshot(true);
    hostile = startHostile({ port: target.port, opsPerSec: o.hostileOpsPerSec, compromised, neighbours: honest.slice(0, 50).map((d) => d.id), addresses: HOSTILE_ADDRESSES });
    const t0 = Date.now();
    let acked = 0;
    let honestDisconnects = 0;
    let unackedAtClose = 0;
    let nextSample = t0;
    let nextAlarm = t0 + ALARM_EVERY_MS / 2;
    let alarmIx = 0;
    while (Date.now() - t0 < durationMs) {
      const now = Date.now();
      if (now >= nextAlarm && alarmIx < alarmClients.length) {
        const dev = county.alarm[alarmIx]!;
        sent.set(dev.id, nowMs());
        void alarmClients[alarmIx]!.publishAsync(topics.events(dev.id), JSON.stringify({ type: 'alarm', ts: Date.now(), seq: 1 }), { qos: 1 }).catch(() => undefined);
        alarmIx++;
        nextAlarm += ALARM_EVERY_MS;
      }
      if (now >= nextSample) {
        const snap = await pool.snapshot(true);
        acked = snap.acked - base.acked;
        honestDisconnects = snap.disconnects - base.disconnects;
        unackedAtClose = snap.unackedAtClose - base.unackedAtClose;
        const st = await target.stats();
        const g = st.gateway as { socketsOpen: number; connectionsCurrent: number; subscriptionsCurrent: number; violations: Record<string, number>; refusals: Record<string, number> };
        const mem = await target.memory();
        const sum = (r: Record<string, number>): number => Object.values(r).reduce((a, b) => a + b, 0);
        const s: Sample = {
          atS: Math.round((now - t0) / 1000), rssMiB: Math.round((readUsage(target.pids.broker!)?.rssKiB ?? 0) / 102.4) / 10, heapMiB: Math.round(mem.usage.heapUsed / 104857.6) / 10,
          sockets: g.socketsOpen, connections: g.connectionsCurrent, subscriptions: g.subscriptionsCurrent, violations: sum(g.violations), refusals: sum(g.refusals), honestAcked: acked, honestDisconnects,
        };
        samples.push(s);
        log(`soak ${s.atS} s: RSS ${s.rssMiB} MiB, heap ${s.heapMiB} MiB, ${s.sockets} sockets, ${s.subscriptions} subscriptions, ${s.violations} violations, ${s.refusals} refused CONNECTs; honest acked ${acked}, disconnects ${honestDisconnects}; alarms ${opened.size}/${sent.size}`);
        nextSample += SAMPLE_MS;
      }
      await sleep(Math.max(10, Math.min(nextSample, nextAlarm) - Date.now()));
    }
    const counts = hostile.counts();
    await hostile.stop();
    pool.setRate(0);
    await sleep(2000);
    const last = await pool.snapshot(true);
    acked = last.acked - base.acked;
    honestDisconnects = last.disconnects - base.disconnects;
    unackedAtClose = last.unackedAtClose - base.unackedAtClose;
    const deadline = Date.now() + 15_000;
    while (opened.size < sent.size && Date.now() < deadline) await sleep(200);
    // Every honest reading the gateway acknowledged must be in InfluxDB (the compromised devices'
    // floods are not JSON: dead-lettered, not stored).
    const stored = await waitStored(target, storedBefore, acked);
    const gw = (await target.stats()).gateway as { messages: Record<string, number> } & Record<string, unknown>;
    const lat = percentiles([...opened].map(([id, at]) => at - sent.get(id)!));
    const first = samples.slice(0, Math.max(1, Math.floor(samples.length / 4)));
    const lastQ = samples.slice(-Math.max(1, Math.floor(samples.length / 4)));
    const maxOf = (xs: Sample[], k: 'rssMiB' | 'heapMiB'): number => Math.max(...xs.map((x) => x[k]));
    // Bounded = what the process keeps (heap after a full GC) does not grow from the first quarter
    // of the run to the last; RSS is reported beside it (V8 keeps freed pages for a while).
    const growth = maxOf(lastQ, 'heapMiB') - maxOf(first, 'heapMiB');
    const lost = Math.max(0, acked - (stored.stored));
    log(`soak: honest acked ${acked}, stored ${stored.stored}, lost ${lost} (the gateway handed ${gw.messages.telemetry ?? 0} telemetry messages in all, floods included); honest disconnects ${honestDisconnects}, unacked at close ${unackedAtClose}; alarms ${opened.size}/${sent.size} p50 ${lat.p50} p99 ${lat.p99} max ${lat.max} ms; heap-after-GC growth first → last quarter ${growth.toFixed(1)} MiB`);
    return {
      scenario: 'soak',
      targets: [
        { what: `memory over ${o.minutes} min of mixed hostile and honest traffic`, target: 'bounded (heap after GC, last quarter ≤ first quarter + 32 MiB)', measured: `heap after GC max ${maxOf(first, 'heapMiB')} MiB in the first quarter, ${maxOf(lastQ, 'heapMiB')} MiB in the last; RSS ${maxOf(first, 'rssMiB')} → ${maxOf(lastQ, 'rssMiB')} MiB`, met: growth <= 32 },
        { what: 'honest-device loss', target: '0', measured: `${lost} of ${acked} acknowledged readings missing from InfluxDB; ${honestDisconnects} honest disconnects`, met: lost === 0 && honestDisconnects === 0 },
        { what: `alarm → incident (one every ${ALARM_EVERY_MS / 1000} s under attack)`, target: 'reported', measured: `p50 ${lat.p50} / p99 ${lat.p99} / max ${lat.max} ms (${opened.size}/${sent.size})`, met: opened.size === sent.size ? null : false },
      ],
      summary: [
        `${honest.length} honest devices at ${o.rate}/s QoS 1 (one in flight each) and ${sent.size} smoke alarms, while ${COMPROMISED} compromised devices (real secrets) and neighbours on ${HOSTILE_ADDRESSES.length} addresses ran ${o.hostileOpsPerSec} hostile operations/s for ${o.minutes} min: ${Object.entries(counts.ops).map(([k, v]) => `${k} ${v}`).join(', ')}.`,
        '| s | RSS MiB | heap MiB | sockets | subscriptions | violations | refused CONNECTs | honest acked |', '|---|---|---|---|---|---|---|---|',
        ...samples.filter((_, i) => i % Math.max(1, Math.floor(samples.length / 12)) === 0 || i === samples.length - 1).map((s) => `| ${s.atS} | ${s.rssMiB} | ${s.heapMiB} | ${s.sockets} | ${s.subscriptions} | ${s.violations} | ${s.refusals} | ${s.honestAcked} |`),
      ],
      data: { o, samples, counts, gateway: gw, alarmLatenciesMs: [...opened].map(([id, at]) => Math.round(at - sent.get(id)!)), acked, stored: stored.stored, lost, honestDisconnects, unackedAtClose, alarms: { sent: sent.size, opened: opened.size, latency: lat } },
    };
  } finally {
    await hostile?.stop();
    await Promise.all(alarmClients.map((cl) => cl.endAsync(true).catch(() => undefined)));
    await pool.close();
    await target.stop();
  }
}
