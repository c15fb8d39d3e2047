// Issue 4, point 9: with 1,000 open incidents and every notifier channel slowed to 1 s per send,
// how long from a red finding entering alerts.handleFinding to the bus 'incident' event the
// console stream serves? p50/p99/max over 200 red alarms. Run: npx tsx bench/alerts.ts
// (the end-to-end PUBLISH → console figure is measured by the composition root's bench).
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { Registry as MetricsRegistry } from 'prom-client';
import { openDatabase, startCheckpointer } from '../app/db.ts';
import { createRegistry } from '../registry/index.ts';
import { createEventBus } from '../contracts/bus.ts';
import { RegistryFile } from '../contracts/registry.ts';
import type { Finding } from '../contracts/findings.ts';
import { systemClock } from '../contracts/ports.ts';
import { createAlerts, type Channel, type ChannelName } from '../alerts/index.ts';

const OPEN = 1_000;
const ALARMS = 200;
const SEND_MS = 1_000;
const GAP_MS = 10;

const dir = mkdtempSync(join(tmpdir(), 'wf-bench-alerts-'));
// As app/watchfire.ts opens it: WAL checkpoints on a worker thread, not inside the alarm's commit.
// WF_BENCH_INLINE_CHECKPOINT=1 measures SQLite's default (checkpoint inside whichever commit
// crosses 1,000 pages) for comparison: that is what put a 10+ ms tail on this figure.
const inline = !!process.env.WF_BENCH_INLINE_CHECKPOINT;
const db = openDatabase(join(dir, 'watchfire.db'), { backgroundCheckpoint: !inline });
const checkpointer = inline ? undefined : startCheckpointer(join(dir, 'watchfire.db'));
const logger = pino({ level: 'silent' });
const homes = OPEN + ALARMS;
const file = RegistryFile.parse({
  centers: [{ id: 'fc1', name: '鼓楼联合消防中心' }],
  grids: [{ id: 'g1', centerId: 'fc1', name: '网格', workerId: 'gw' }],
  sites: Array.from({ length: homes }, (_, i) => ({
    id: `h${i}`, kind: 'home', centerId: 'fc1', gridId: 'g1', name: `住户${i}家`, address: `幸福小区${i}号`,
    resident: { name: `住户${i}`, phone: '13800000000' }, contacts: [{ name: `联系人${i}`, phone: '13900000000' }],
  })),
  devices: Array.from({ length: homes }, (_, i) => ({ id: `sd${i}`, type: 'smoke_detector', siteId: `h${i}`, location: '厨房' })),
  people: [
    { id: 'op1', name: '值班员1', role: 'operator', centerId: 'fc1', email: 'op1@example.org' },
    { id: 'op2', name: '值班员2', role: 'operator', centerId: 'fc1', email: 'op2@example.org' },
    { id: 'sup', name: '值班长', role: 'supervisor', centerId: 'fc1', email: 'sup@example.org' },
    { id: 'gw', name: '网格员', role: 'grid_worker', centerId: 'fc1', phone: '13600000000' },
  ],
  rosters: [{ centerId: 'fc1', shifts: [{ id: 'all', name: '全天', start: '0 0 * * *', durationMinutes: 1440, operators: ['op1', 'op2'], supervisor: 'sup' }] }],
});

const slow = (name: ChannelName): Channel => ({
  name,
  send: () => new Promise((r) => setTimeout(r, SEND_MS)),
  close: () => Promise.resolve(),
});

const finding = (i: number): Finding => ({
  ruleId: 'smoke.alarm', level: 'red', score: 90, category: 'fire', condition: 'alarm',
  message: { en: 'Fire: smoke alarm (kitchen)', zh: '火警：烟感报警 (厨房)' },
  deviceId: `sd${i}`, deviceType: 'smoke_detector', siteId: `h${i}`, centerId: 'fc1', gridId: 'g1', zone: undefined,
  ts: Date.now(), confirmed: false, clears: false,
});

async function main() {
  const registry = createRegistry({ db, logger });
  await registry.start();
  registry.importFile(file);
  const bus = createEventBus();
  const alerts = createAlerts({
    db, bus, registry, clock: systemClock, logger, metrics: new MetricsRegistry(), cron: false,
    config: { timezone: 'Asia/Shanghai', publicUrl: 'http://localhost:8080', webhook: { url: 'http://127.0.0.1:9/hook', secret: 'bench-secret-0123456789' } },
    channels: { console: slow('console'), email: slow('email'), webhook: slow('webhook') },
  });
  await alerts.start();
  let pending: { id: string; t0: number } | undefined;
  const latencies: number[] = [];
  bus.on('incident', 'bench', (e) => {
    if (pending && e.kind === 'opened' && e.incident.deviceId === pending.id) {
      latencies.push(performance.now() - pending.t0);
      pending = undefined;
    }
  });
  for (let i = 0; i < OPEN; i++) await alerts.handleFinding(finding(i));
  const open = (await alerts.service.list({ active: true, limit: 1000 })).length;
  const backlog = (await alerts.outbox.pending(100_000)).length;
  // The slowed workers are busy with the backlog while the measured alarms arrive.
  await new Promise((r) => setTimeout(r, 500));
  for (let k = 0; k < ALARMS; k++) {
    const i = OPEN + k;
    pending = { id: `sd${i}`, t0: performance.now() };
    // The 'incident' event is emitted as the finding is recorded, before the promise resolves: t0 → event is what is measured.
    await alerts.handleFinding(finding(i), Date.now());
    if (pending) throw new Error(`no incident event for alarm ${k}`);
    await new Promise((r) => setTimeout(r, GAP_MS));
  }
  const s = [...latencies].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)]!;
  const stats = await alerts.outbox.stats();
  const result = {
    what: 'alerts.handleFinding → bus "incident" (console stream) latency, red alarms, ms',
    date: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    openIncidents: open,
    outboxBacklogAtStart: backlog,
    channelSendMs: SEND_MS,
    walAutocheckpoint: db.pragma('wal_autocheckpoint', { simple: true }),
    alarms: latencies.length,
    p50: Number(q(0.5).toFixed(3)),
    p99: Number(q(0.99).toFixed(3)),
    max: Number(s[s.length - 1]!.toFixed(3)),
    inFlightAtEnd: stats.inFlight,
    target: 'p99 < 10 ms',
  };
  console.log(JSON.stringify(result, null, 2));
  mkdirSync(join(import.meta.dirname, 'results'), { recursive: true });
  writeFileSync(join(import.meta.dirname, 'results', 'alerts.json'), `${JSON.stringify(result, null, 2)}\n`);
  // Stopping waits for the slowed sends in flight (≤ 1 s).
  await alerts.stop();
  await registry.stop();
  await checkpointer?.stop();
  db.close();
  rmSync(dir, { recursive: true, force: true });
}

await main();
