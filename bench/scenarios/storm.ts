// Issue 7 scenario 3: one fire panel sends 1,000 point events in 5 s while the county keeps
// reporting. The county's PUBACK latency in quiet windows vs storm windows, the panel's own PUBACKs
// (the gateway's per-device budget for panels meets an alarm storm here), and incidents: one per zone.
//
// One 5 s window's p99 is set by the two or three worst moments in it, and on this 2-core machine
// those come from influxd's own cycle (cache snapshots and compactions about every 10 s take a
// third of a core): with no storm at all, consecutive 5 s windows at the same load read 7.7 to
// 16.7 ms, and the window 8–13 s after the load starts lands on influxd's first snapshot in most
// runs. So a single before/during pair measures influxd's phase, not the storm. The scenario runs
// `rounds` storms, each from a different panel and each right after a quiet window of the same
// length, starting after a random pause of 0–10 s so that neither kind of window keeps one phase
// of influxd's cycle, and compares the medians; every window's p99 and influxd's CPU in it are in
// the JSON.
import { benchCounty } from '../lib/county.ts';
import { createLoadPool } from '../lib/load.ts';
import { sleep } from '../lib/phase.ts';
import { createSampler } from '../lib/proc.ts';
import type { ScenarioResult } from '../lib/report.ts';
import { median, percentiles, summarize, type LatencySummary } from '../lib/stats.ts';
import { startWatchfireTarget, type LoopStats } from '../lib/targets.ts';
import { nowMs } from '../lib/console-stream.ts';
import { topics } from '../../contracts/protocol.ts';
import { connectDevices, halfZeroLossRate } from './alarm.ts';

const ZONES = 4;

interface Window {
  county: LatencySummary;
  loop: LoopStats;
  cpu: { broker: number | undefined; influxd: number | undefined };
}

export async function storm(o: { devices: number; events: number; seconds: number; rounds: number; full: boolean }, log: (s: string) => void): Promise<ScenarioResult> {
  const county = benchCounty(o.devices);
  const { rate, source } = halfZeroLossRate(5000);
  const panels = county.panels.slice(0, o.rounds);
  if (panels.length < o.rounds) throw new Error(`storm: ${o.rounds} rounds need ${o.rounds} panels; the county has ${county.panels.length}`);
  const target = await startWatchfireTarget(county.registry);
  const pool = await createLoadPool({ host: target.host, port: target.port, devices: county.load, announce: true });
  const incidents = new Map<string, { kind: string; at: number }[]>();
  const stormIds = new Set(panels.map((p) => p.id));
  target.events.on('incident', (m: { kind: string; key: string; deviceId: string; at: number }) => {
    if (!stormIds.has(m.deviceId)) return;
    const l = incidents.get(m.key) ?? [];
    l.push({ kind: m.kind, at: m.at });
    incidents.set(m.key, l);
  });
  // The panel's transmission unit reconnects after a lost connection and resends what was not
  // acknowledged, as firmware does (mqtt.js keeps unacknowledged QoS 1 publishes and resends them).
  const clients = await connectDevices(target.port, panels, 1000);
  const sampler = createSampler({ ...target.pids }, 250);
  // One window: county latency, event loop and CPU while `during` runs for o.seconds.
  const window = async (during: () => Promise<void>): Promise<Window> => {
    await pool.snapshot(true);
    await target.loop();
    sampler.phase();
    await during();
    const county = summarize((await pool.snapshot(true)).hist);
    const usage = sampler.end();
    const loop = await target.loop();
    return { county, loop, cpu: { broker: usage.broker?.cpuCores, influxd: usage.influxd?.cpuCores } };
  };
  try {
    const c = await pool.connect({ perSec: 2000 });
    log(`storm: ${c.connected} county devices at ${rate}/s, ${o.rounds} storms from panels ${panels.map((p) => p.id).join(', ')}`);
    pool.setRate(rate);
    await sleep(3000);
    const stats0 = await target.stats();
    const quiet: Window[] = [];
    const storms: Array<Window & { panel: string; acks: number[]; failed: number; sentMs: number; allAckedMs: number }> = [];
    const pauses: number[] = [];
    for (let r = 0; r < o.rounds; r++) {
      pauses.push(Math.round(Math.random() * 10_000));
      await sleep(pauses[r]!);
      quiet.push(await window(() => sleep(o.seconds * 1000)));
      const client = clients[r]!;
      const panel = panels[r]!;
      const acks: number[] = [];
      let failed = 0;
      let sentMs = 0;
      const pending: Array<Promise<void>> = [];
      let t0 = 0;
      const w = await window(async () => {
        t0 = nowMs();
        const every = (o.seconds * 1000) / o.events;
        for (let i = 0; i < o.events; i++) {
          // Fire panels report point by point: loop 1, points spread over ZONES zones.
          const ev = { type: i % 10 === 9 ? 'action' : 'fire', ts: Date.now(), seq: i + 1, loop: 1, point: (i % 100) + 1, zone: String((i % ZONES) + 1), label: `${(i % ZONES) + 1}F corridor` };
          const ts = nowMs();
          pending.push(client.publishAsync(topics.events(panel.id), JSON.stringify(ev), { qos: 1 }).then(() => {
            acks.push(nowMs() - ts);
          }, () => {
            failed++;
          }));
          const wait = t0 + (i + 1) * every - nowMs();
          if (wait > 1) await sleep(wait);
        }
        sentMs = nowMs() - t0;
      });
      await Promise.race([Promise.all(pending), sleep(90_000)]);
      storms.push({ ...w, panel: panel.id, acks, failed, sentMs, allAckedMs: nowMs() - t0 });
      log(`storm ${r + 1}/${o.rounds}: county p99 quiet ${quiet[r]!.county.p99} → storm ${w.county.p99} ms (influxd ${quiet[r]!.cpu.influxd} → ${w.cpu.influxd} cores); panel ${panel.id} acks ${acks.length}/${o.events} in ${Math.round(nowMs() - t0)} ms`);
      // Let the storm's aftermath (incident notifications) pass before the next quiet window.
      await sleep(2000);
    }
    const stats1 = await target.stats();
    pool.setRate(0);
    const all = [...incidents.entries()].filter(([, l]) => l.some((e) => e.kind === 'opened'));
    const opened = all.filter(([k]) => k.endsWith(':fire'));
    const others = all.filter(([k]) => !k.endsWith(':fire'));
    const perPanel = panels.map((p) => opened.filter(([k]) => k.startsWith(`panel:${p.id}:`)).length);
    const acks = storms.flatMap((s) => s.acks);
    const ackP = percentiles(acks);
    const failed = storms.reduce((n, s) => n + s.failed, 0);
    const g0 = stats0.gateway as { rateLimited: number; disconnects: Record<string, number> };
    const g1 = stats1.gateway as { rateLimited: number; disconnects: Record<string, number> };
    const rateLimited = g1.rateLimited - g0.rateLimited;
    const rateDisconnects = (g1.disconnects.rate ?? 0) - (g0.disconnects.rate ?? 0);
    const quietP99 = median(quiet.map((w) => w.county.p99 ?? NaN));
    const stormP99 = median(storms.map((w) => w.county.p99 ?? NaN));
    const quietP50 = median(quiet.map((w) => w.county.p50 ?? NaN));
    const stormP50 = median(storms.map((w) => w.county.p50 ?? NaN));
    const list = (ws: Window[]) => ws.map((w) => w.county.p99).join(' / ');
    const slowestAck = Math.round(Math.max(...storms.map((s) => s.allAckedMs)));
    log(`storm: county p99 median quiet ${quietP99} → storm ${stormP99} ms; incidents per panel ${perPanel.join(', ')} for ${ZONES} zones; panel acks ${acks.length}/${o.events * o.rounds} (p99 ${ackP.p99} ms), rate-limited ${rateLimited}, disconnected for rate ${rateDisconnects}`);
    return {
      scenario: 'storm',
      targets: [
        {
          what: `county PUBACK p99, median of ${o.rounds} quiet → ${o.rounds} storm windows of ${o.seconds} s`, target: 'keeps its latency (≤ 2× or + 5 ms)',
          measured: `${quietP99} → ${stormP99} ms (p50 ${quietP50} → ${stormP50})`,
          met: quietP99 !== null && stormP99 !== null ? stormP99 <= Math.max(2 * quietP99, quietP99 + 5) : null,
        },
        { what: `incidents from each panel's ${o.events} events over ${ZONES} zones`, target: `${ZONES} per panel (one per zone)`, measured: perPanel.join(', '), met: perPanel.every((n) => n === ZONES) },
        { what: 'panel events acknowledged', target: `${o.events * o.rounds}, none dropped`, measured: `${acks.length}, each storm's within ${slowestAck} ms${failed ? `, ${failed} publishes failed` : ''}`, met: acks.length === o.events * o.rounds },
      ],
      summary: [
        `County at ${rate}/s (${source}) over ${c.connected} devices. ${o.rounds} storms, each from its own panel: ${o.events} QoS 1 events (fire and action, ${ZONES} zones) in ${o.seconds} s as single messages, as a panel's transmission unit does, each right after a quiet window of ${o.seconds} s and a random pause (${pauses.map((p) => (p / 1000).toFixed(1)).join(', ')} s).`,
        `County PUBACK p99 per window, quiet: ${list(quiet)} ms; storm: ${list(storms)} ms. influxd's CPU per window, quiet: ${quiet.map((w) => w.cpu.influxd).join(' / ')}; storm: ${storms.map((w) => w.cpu.influxd).join(' / ')} cores (its snapshot/compaction cycle is what moves a quiet window's p99); Watchfire quiet ${quiet.map((w) => w.cpu.broker).join(' / ')}, storm ${storms.map((w) => w.cpu.broker).join(' / ')} cores.`,
        `Watchfire's event loop delay p99 per window, quiet: ${quiet.map((w) => w.loop.delay.p99).join(' / ')}; storm: ${storms.map((w) => w.loop.delay.p99).join(' / ')} ms.`,
        `Panel PUBLISH → PUBACK p50 ${ackP.p50} / p99 ${ackP.p99} / max ${ackP.max} ms. The gateway's budget for a fire panel (250/s, burst 2,000 by default: \`gateway.rate.byType\`) made ${rateLimited} of them wait and disconnected a panel ${rateDisconnects} times: a storm over the budget is throttled, not dropped.`,
        `Fire incidents: ${opened.map(([k, l]) => `${k} (${l.length} incident events)`).join('; ')}. Other incidents for the panels: ${others.map(([k]) => k).join(', ') || 'none'}.`,
      ],
      data: { rate, source, pauses, quiet, storms: storms.map(({ acks: a, ...s }) => ({ ...s, acks: percentiles(a) })), quietP99, stormP99, failedPublishes: failed, panelAcks: ackP, incidents: Object.fromEntries(incidents), rateLimited, rateDisconnects },
    };
  } finally {
    sampler.stop();
    await Promise.all(clients.map((cl) => cl.endAsync(true).catch(() => undefined)));
    await pool.close();
    await target.stop();
  }
}
