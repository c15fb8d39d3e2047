// What an idle connected device costs the Watchfire process, by kind of memory: RSS, V8 heap
// (after a full GC), external and ArrayBuffers — and, with BENCH_HEAP_SNAPSHOT=<dir>, heap
// snapshots before and after the devices connect (diff them with bench/lib/heap-diff.ts).
//   BENCH_NODE_ARGS=--expose-gc npx tsx bench/lib/memory-probe.ts [devices=5000]
import { benchCounty } from './county.ts';
import { createLoadPool } from './load.ts';
import { sleep } from './phase.ts';
import { readUsage } from './proc.ts';
import { startWatchfireTarget } from './targets.ts';

const n = Number(process.argv[2] ?? 5000);
const WARM = 100;
const county = benchCounty(n + WARM);
const t = await startWatchfireTarget(county.registry);
try {
  // Warm-up devices first: one-time costs (mqtt-packet's number cache, compiled code) are not per device.
  const warm = await createLoadPool({ host: t.host, port: t.port, devices: county.load.slice(0, WARM), workers: 1, announce: true });
  await warm.connect({ perSec: 2000 });
  const pool = await createLoadPool({ host: t.host, port: t.port, devices: county.load.slice(WARM), workers: Math.max(2, Math.ceil(n / 5000)), sourceAddresses: 8, announce: true });
  await sleep(2000);
  const m0 = await t.memory();
  const rss0 = readUsage(t.pids.broker!)!.rssKiB;
  const c = await pool.connect({ perSec: 2000, timeoutMs: 180_000 });
  await sleep(5000);
  const rss1 = readUsage(t.pids.broker!)!.rssKiB;
  const m1 = await t.memory();
  const rss2 = readUsage(t.pids.broker!)!.rssKiB;
  const per = (a: number, b: number): number => Math.round(((b - a) / c.connected) * 100) / 100;
  const perBytes = (a: number, b: number): number => per(a / 1024, b / 1024);
  const row = {
    devices: n,
    connected: c.connected,
    rssKiBPerDevice: per(rss0, rss1),
    rssKiBPerDeviceAfterGc: per(rss0, rss2),
    heapUsedKiB: perBytes(m0.usage.heapUsed, m1.usage.heapUsed),
    heapTotalKiB: perBytes(m0.usage.heapTotal, m1.usage.heapTotal),
    externalKiB: perBytes(m0.usage.external, m1.usage.external),
    arrayBuffersKiB: perBytes(m0.usage.arrayBuffers, m1.usage.arrayBuffers),
    spacesMiB: Object.fromEntries(Object.entries(m1.spaces).map(([k, v]) => [k, `${(m0.spaces[k]!.size / 1048576).toFixed(1)}→${(v.size / 1048576).toFixed(1)} (used ${(m0.spaces[k]!.used / 1048576).toFixed(1)}→${(v.used / 1048576).toFixed(1)})`])),
    snapshots: [m0.snapshot, m1.snapshot],
  };
  console.log(JSON.stringify(row, null, 1));
  await pool.close();
  await warm.close();
} finally {
  await t.stop();
}
