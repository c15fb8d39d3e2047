// Issue 7 scenario 3: one fire panel sends 1,000 point events in 5 s while the county keeps
// reporting. The county's PUBACK latency before vs during the storm, the panel's own PUBACKs (the
// gateway's per-device rate limit meets an alarm storm here), and incidents: one per zone.
import { benchCounty } from '../lib/county.ts';
import { createLoadPool } from '../lib/load.ts';
import { sleep } from '../lib/phase.ts';
import type { ScenarioResult } from '../lib/report.ts';
import { percentiles, summarize } from '../lib/stats.ts';
import { startWatchfireTarget } from '../lib/targets.ts';
import { nowMs } from '../lib/console-stream.ts';
import { topics } from '../../contracts/protocol.ts';
import { connectDevices, halfZeroLossRate } from './alarm.ts';

const ZONES = 4;

export async function storm(o: { devices: number; events: number; seconds: number; full: boolean }, log: (s: string) => void): Promise<ScenarioResult> {
  const county = benchCounty(o.devices);
  const { rate, source } = halfZeroLossRate(5000);
  const panel = county.panels[0]!;
  const target = await startWatchfireTarget(county.registry);
  const pool = await createLoadPool({ host: target.host, port: target.port, devices: county.load, announce: true });
  const incidents = new Map<string, { kind: string; at: number }[]>();
  target.events.on('incident', (m: { kind: string; key: string; deviceId: string; at: number }) => {
    if (m.deviceId !== panel.id) return;
    const l = incidents.get(m.key) ?? [];
    l.push({ kind: m.kind, at: m.at });
    incidents.set(m.key, l);
  });
  // The panel's transmission unit reconnects after a lost connection and resends what was not
  // acknowledged, as firmware does (mqtt.js keeps unacknowledged QoS 1 publishes and resends them).
  const [client] = await connectDevices(target.port, [panel], 1000);
  try {
    const c = await pool.connect({ perSec: 2000 });
    log(`storm: ${c.connected} county devices at ${rate}/s, panel ${panel.id}`);
    pool.setRate(rate);
    await sleep(3000);
    await pool.snapshot(true);
    await sleep(o.seconds * 1000);
    const before = summarize((await pool.snapshot(true)).hist);
    const stats0 = await target.stats();
    const acks: number[] = [];
    let failed = 0;
    const t0 = nowMs();
    const every = (o.seconds * 1000) / o.events;
    const pending: Array<Promise<void>> = [];
    for (let i = 0; i < o.events; i++) {
      // Fire panels report point by point: loop 1, points spread over ZONES zones.
      const ev = { type: i % 10 === 9 ? 'action' : 'fire', ts: Date.now(), seq: i + 1, loop: 1, point: (i % 100) + 1, zone: String((i % ZONES) + 1), label: `${(i % ZONES) + 1}F corridor` };
      const ts = nowMs();
      pending.push(client!.publishAsync(topics.events(panel.id), JSON.stringify(ev), { qos: 1 }).then(() => {
        acks.push(nowMs() - ts);
      }, () => {
        failed++;
      }));
      const next = t0 + (i + 1) * every;
      const wait = next - nowMs();
      if (wait > 1) await sleep(wait);
    }
    const sentMs = nowMs() - t0;
    const during = summarize((await pool.snapshot(true)).hist);
    await Promise.race([Promise.all(pending), sleep(90_000)]);
    const allAckedMs = nowMs() - t0;
    await sleep(2000);
    const stats1 = await target.stats();
    pool.setRate(0);
    const all = [...incidents.entries()].filter(([, l]) => l.some((e) => e.kind === 'opened'));
    const opened = all.filter(([k]) => k.endsWith(':fire'));
    const others = all.filter(([k]) => !k.endsWith(':fire'));
    const ackP = percentiles(acks);
    const g0 = stats0.gateway as { rateLimited: number; disconnects: Record<string, number> };
    const g1 = stats1.gateway as { rateLimited: number; disconnects: Record<string, number> };
    const rateLimited = g1.rateLimited - g0.rateLimited;
    const rateDisconnects = (g1.disconnects.rate ?? 0) - (g0.disconnects.rate ?? 0);
    log(`storm: county p99 ${before.p99} → ${during.p99} ms; ${opened.length} incidents for ${ZONES} zones; panel acks ${acks.length}/${o.events} in ${Math.round(allAckedMs)} ms (p99 ${ackP.p99} ms), rate-limited ${rateLimited}, disconnected for rate ${rateDisconnects}`);
    return {
      scenario: 'storm',
      targets: [
        { what: 'county PUBACK p99 before → during the storm', target: 'keeps its latency', measured: `${before.p99} → ${during.p99} ms (p50 ${before.p50} → ${during.p50})`, met: before.p99 !== null && during.p99 !== null ? during.p99 <= Math.max(2 * before.p99, before.p99 + 5) : null },
        { what: `incidents from ${o.events} events over ${ZONES} zones`, target: `${ZONES} (one per zone)`, measured: `${opened.length}`, met: opened.length === ZONES },
        { what: 'panel events acknowledged', target: `${o.events}, none dropped`, measured: `${acks.length} in ${Math.round(allAckedMs)} ms${failed ? `, ${failed} publishes failed` : ''}`, met: acks.length === o.events },
      ],
      summary: [
        `County at ${rate}/s (${source}) over ${c.connected} devices. The panel sent ${o.events} QoS 1 events (fire and action, ${ZONES} zones) in ${Math.round(sentMs)} ms as single messages, as a panel's transmission unit does.`,
        `Panel PUBLISH → PUBACK p50 ${ackP.p50} / p99 ${ackP.p99} / max ${ackP.max} ms; all acknowledged after ${Math.round(allAckedMs)} ms. The gateway's per-device budget (${'20/s, burst 200'} by default) made ${rateLimited} of them wait and disconnected the panel ${rateDisconnects} times: an alarm storm from one panel is throttled, not dropped.`,
        `Fire incidents: ${opened.map(([k, l]) => `${k} (${l.length} incident events)`).join('; ')}. Other incidents for the panel: ${others.map(([k]) => k).join(', ') || 'none'}.`,
      ],
      data: { rate, source, failedPublishes: failed, before, during, panelAcks: ackP, allAckedMs, sentMs, incidents: Object.fromEntries(incidents), rateLimited, rateDisconnects },
    };
  } finally {
    await client?.endAsync(true).catch(() => undefined);
    await pool.close();
    await target.stop();
  }
}
