// Issue 7 scenarios 4 and 5. Reconnect storm: N devices connected, every socket cut at once, all
// reconnect at once — time until all are online again, refused connections, peak RSS. Connections:
// RSS per idle connected device. Both against Watchfire and Mosquitto (the Node-RED stack's
// broker is that same Mosquitto) in the same run.
import { benchCounty } from '../lib/county.ts';
import { createLoadPool } from '../lib/load.ts';
import { sleep } from '../lib/phase.ts';
import { createSampler, listenOverflows, machineBusy, machineTicks, readUsage } from '../lib/proc.ts';
import { limiter } from '../lib/phase.ts';
import type { ScenarioResult } from '../lib/report.ts';
import { ratio } from '../lib/stats.ts';
import { startMosquittoTarget, startWatchfireTarget, type Target } from '../lib/targets.ts';

type Name = 'watchfire' | 'mosquitto';

async function withTarget<T>(name: Name, devices: number, fn: (t: Target, devs: Array<{ id: string; secret?: string }>) => Promise<T>): Promise<T> {
  const county = benchCounty(devices);
  const t = name === 'watchfire' ? await startWatchfireTarget(county.registry) : await startMosquittoTarget();
  try {
    return await fn(t, county.load.map((d) => (t.authenticates ? d : { id: d.id })));
  } finally {
    await t.stop();
  }
}

export async function reconnect(o: { devices: number }, log: (s: string) => void): Promise<ScenarioResult> {
  const rows: Record<string, unknown> = {};
  for (const name of ['watchfire', 'mosquitto'] as const) {
    rows[name] = await withTarget(name, o.devices, async (t, devs) => {
      // ≤ 5,000 sockets per worker process, over 8 loopback source addresses (NOTES.md: 20,000
      // open files per process; ephemeral ports are per source address).
      const pool = await createLoadPool({ host: t.host, port: t.port, devices: devs, workers: Math.max(2, Math.ceil(devs.length / 5000)), sourceAddresses: 8, announce: true, retryMs: 1000 });
      try {
        const first = await pool.connect({ perSec: 2000, timeoutMs: 180_000 });
        await sleep(3000);
        const pids: Record<string, number> = { ...t.pids };
        pool.pids.forEach((p, i) => (pids[`load${i}`] = p));
        const sampler = createSampler(pids, 100);
        sampler.phase();
        const m0 = machineTicks();
        await pool.drop();
        const lo0 = listenOverflows();
        const again = await pool.connect({ perSec: 0, timeoutMs: 120_000 });
        await sleep(1000);
        const usage = sampler.end();
        const busy = machineBusy(m0);
        const synDrops = listenOverflows() - lo0;
        sampler.stop();
        const loadGen = Math.round(Object.entries(usage).filter(([k]) => k.startsWith('load')).reduce((a, [, u]) => a + u.cpuCores, 0) * 100) / 100;
        const limitedBy = limiter(usage, loadGen, busy, pool.pids.length);
        const online = t.name === 'watchfire' ? ((await (t as Awaited<ReturnType<typeof startWatchfireTarget>>).stats()).online) : null;
        log(`reconnect ${name}: ${again.connected}/${devs.length} back in ${again.ms} ms, refused ${again.refused}, errors ${again.errors}, peak RSS ${usage.broker?.rssMiBPeak} MiB, ${usage.broker?.cpuCores} cores; load generator ${loadGen} cores; ${synDrops} SYNs dropped on a full accept queue; ${limitedBy}`);
        return { firstConnect: first, reconnect: again, usage, loadGenCores: loadGen, machineBusy: busy, limitedBy: synDrops > 0 ? `accept queue overflow: ${synDrops} SYNs dropped, each retried by TCP after ≥ 1 s (${limitedBy})` : limitedBy, synDrops, gatewayOnline: online };
      } finally {
        await pool.close();
      }
    });
  }
  const wf = rows.watchfire as { reconnect: { ms: number; connected: number; refused: number; errors: number; complete: boolean }; usage: Record<string, { rssMiBPeak: number; cpuCores: number }>; loadGenCores: number; limitedBy: string };
  const mq = rows.mosquitto as typeof wf;
  return {
    scenario: 'reconnect',
    targets: [
      { what: `${o.devices} devices reconnect at once: all online again`, target: o.devices >= 19_000 ? '≤ 20 s' : '≤ 20 s (at 19,000; this run smaller)', measured: `${(wf.reconnect.ms / 1000).toFixed(1)} s, ${wf.reconnect.connected}/${o.devices}`, met: wf.reconnect.complete && o.devices >= 19_000 ? wf.reconnect.ms <= 20_000 : wf.reconnect.complete ? null : false },
      { what: 'refused connections during the storm', target: 'reported', measured: `${wf.reconnect.refused} refused, ${wf.reconnect.errors} socket errors`, met: null },
    ],
    summary: [
      '| target | back online | refused | socket errors | peak RSS MiB | CPU cores (broker / load gen) | limited by |', '|---|---|---|---|---|---|---|',
      ...(['watchfire', 'mosquitto'] as const).map((n) => {
        const r = rows[n] as typeof wf;
        return `| ${n} | ${(r.reconnect.ms / 1000).toFixed(1)} s (${r.reconnect.connected}/${o.devices}) | ${r.reconnect.refused} | ${r.reconnect.errors} | ${r.usage.broker?.rssMiBPeak} | ${r.usage.broker?.cpuCores} / ${r.loadGenCores} | ${r.limitedBy} |`;
      }),
      '', `Watchfire ÷ Mosquitto: reconnect time ${ratio(wf.reconnect.ms, mq.reconnect.ms)}×. Every socket is cut without DISCONNECT (wills fire), then every device reconnects at once with its credentials, will and retained online status; refused or failed devices retry after 0.5–1.5 s as firmware would. Load workers: ≤ 5,000 sockets each, 8 loopback source addresses.`,
    ],
    data: rows,
  };
}

/** Devices connected before the "before" reading: one-time costs (lazy caches, compiled code) are not per device. */
const WARM_UP_DEVICES = 100;
/** Idle devices are idle for hours: RSS is read again once the collector has had time to give back what connecting left. */
const SETTLE_MS = 30_000;

export async function connections(o: { sizes: number[] }, log: (s: string) => void): Promise<ScenarioResult> {
  const rows: Array<{ target: Name; devices: number; connected: number; rssBeforeMiB: number; rssAfterMiB: number; rssSettledMiB: number; kibPerDevice: number; kibPerDeviceSettled: number }> = [];
  for (const n of o.sizes) {
    for (const name of ['watchfire', 'mosquitto'] as const) {
      rows.push(await withTarget(name, n + WARM_UP_DEVICES, async (t, all) => {
        const warm = await createLoadPool({ host: t.host, port: t.port, devices: all.slice(0, WARM_UP_DEVICES), workers: 1, sourceAddresses: 1, announce: true });
        const devs = all.slice(WARM_UP_DEVICES);
        const pool = await createLoadPool({ host: t.host, port: t.port, devices: devs, workers: Math.max(2, Math.ceil(devs.length / 5000)), sourceAddresses: 8, announce: true });
        try {
          await warm.connect({ perSec: 2000, timeoutMs: 60_000 });
          // "Before" settles as long as "settled" does: V8 gives back young-generation space after
          // a while idle, and read any sooner the settled figure could fall below it (it did:
          // 238.5 → 385.4 → 212.7 MiB at 5,000 devices, "−5.29 KiB per device").
          await sleep(SETTLE_MS + 5000);
          const before = readUsage(t.pids.broker!)?.rssKiB ?? 0;
          const c = await pool.connect({ perSec: 2000, timeoutMs: 180_000 });
          // Idle: let the retained statuses and presence settle, then read RSS; and again later.
          await sleep(5000);
          const after = readUsage(t.pids.broker!)?.rssKiB ?? 0;
          await sleep(SETTLE_MS);
          const settled = readUsage(t.pids.broker!)?.rssKiB ?? 0;
          const mib = (k: number): number => Math.round(k / 102.4) / 10;
          const per = (k: number): number => Math.round(((k - before) / Math.max(1, c.connected)) * 100) / 100;
          const row = { target: name, devices: n, connected: c.connected, rssBeforeMiB: mib(before), rssAfterMiB: mib(after), rssSettledMiB: mib(settled), kibPerDevice: per(after), kibPerDeviceSettled: per(settled) };
          log(`connections ${name} ${n}: ${row.kibPerDevice} KiB per idle device after 5 s, ${row.kibPerDeviceSettled} after ${SETTLE_MS / 1000 + 5} s (${row.rssBeforeMiB} → ${row.rssAfterMiB} → ${row.rssSettledMiB} MiB)`);
          return row;
        } finally {
          await pool.close();
          await warm.close();
        }
      }));
    }
  }
  const wfRows = rows.filter((r) => r.target === 'watchfire');
  const mq = (r: (typeof rows)[number]) => rows.find((m) => m.target === 'mosquitto' && m.devices === r.devices);
  return {
    scenario: 'connections',
    targets: wfRows.map((r) => ({ what: `RSS per idle device at ${r.devices}`, target: '≤ 12 KiB', measured: `${r.kibPerDeviceSettled} KiB settled (${r.kibPerDevice} KiB 5 s after connecting)`, met: r.kibPerDeviceSettled <= 12 })),
    summary: [
      `| target | devices | connected | RSS before → 5 s → ${SETTLE_MS / 1000 + 5} s (MiB) | KiB per idle device, 5 s | settled | settled ÷ Mosquitto |`, '|---|---|---|---|---|---|---|',
      ...rows.map((r) => `| ${r.target} | ${r.devices} | ${r.connected} | ${r.rssBeforeMiB} → ${r.rssAfterMiB} → ${r.rssSettledMiB} | ${r.kibPerDevice} | ${r.kibPerDeviceSettled} | ${ratio(r.kibPerDeviceSettled, mq(r)?.kibPerDeviceSettled)} |`),
      '', `Each device connected with its credentials, a retained offline will and a retained online status, then idle; RSS of the broker process (the whole Watchfire process for Watchfire) from /proc/<pid>/status, read 5 s and ${SETTLE_MS / 1000 + 5} s after the last device connected. "Before" is read ${SETTLE_MS / 1000 + 5} s after ${WARM_UP_DEVICES} warm-up devices connected, so one-time costs (mqtt-packet's 64 Ki-entry number cache, code compiled on first use) are not counted per device. What an idle connection holds: \`BENCH_NODE_ARGS=--expose-gc npx tsx bench/lib/memory-probe.ts 5000\` (heap after a full GC, by space; heap snapshots with BENCH_HEAP_SNAPSHOT=<dir>).`,
    ],
    data: rows,
  };
}
