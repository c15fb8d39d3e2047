// Issue 4, point 9, end to end: with 1,000 open incidents and every notifier channel slowed to
// 1 s per send, how long from a red alarm's MQTT PUBLISH to its incident on the console stream?
// The whole of Watchfire runs here with a real influxd; 200 detectors of 200 other homes each
// publish one `alarm` over a real socket, 50 ms apart. PUBLISH is stamped just before the client
// writes it, and the console-stream event (bus 'incident', what /api/stream serves) on arrival:
// one process, one clock. The MQTT client shares the event loop, so the figure errs high.
//   npx tsx bench/alarm-e2e.ts        → bench/results/alarm-e2e.json
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { startTestSystem } from '../tests/support/system.ts';
import type { Channel } from '../alerts/channels/types.ts';
import type { ChannelName } from '../alerts/index.ts';
import { topics } from '../contracts/protocol.ts';

const OPEN = 1000;
const ALARMS = 200;
const SEND_MS = 1000;
const GAP_MS = 50;

const slow = (name: ChannelName): Channel => ({
  name,
  send: () => new Promise((r) => setTimeout(r, SEND_MS)),
  close: async () => undefined,
});

const homes = OPEN + ALARMS;
const registry = {
  centers: [{ id: 'fc', name: '鼓楼联合消防中心' }],
  grids: [{ id: 'g', centerId: 'fc', name: '网格', workerId: 'w' }],
  sites: Array.from({ length: homes }, (_, i) => ({ id: `h${i}`, kind: 'home', centerId: 'fc', gridId: 'g', name: `家${i}`, address: `幸福小区${i}号`, resident: { name: `老人${i}` }, contacts: [{ name: '家属', phone: '138' }] })),
  devices: Array.from({ length: homes }, (_, i) => ({ id: `sd${i}`, type: 'smoke_detector', siteId: `h${i}`, location: '厨房' })),
  people: [
    { id: 'op', name: '值班员', role: 'operator', centerId: 'fc', email: 'op@example.test' },
    { id: 'sup', name: '值班长', role: 'supervisor', centerId: 'fc', email: 'sup@example.test' },
    { id: 'w', name: '网格员', role: 'grid_worker', centerId: 'fc', email: 'w@example.test' },
  ],
  rosters: [{ centerId: 'fc', shifts: [{ id: 'all', name: '全天', start: '0 0 * * *', durationMinutes: 1440, operators: ['op'], supervisor: 'sup' }] }],
};

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

const sys = await startTestSystem({
  registry,
  smtp: false,
  config: { 'gateway.rate.perSecond': 1000, 'gateway.rate.burst': 5000 },
  alerts: { channels: { console: slow('console'), email: slow('email'), webhook: slow('webhook') } },
});
try {
  // 1,000 open red incidents, each with its notifications queued behind the slowed channels.
  for (let i = 0; i < OPEN; i++) await sys.wf.alerts.handleFinding({
    ruleId: 'smoke.alarm', level: 'red', score: 90, category: 'fire', condition: 'alarm',
    message: { en: 'Fire: smoke alarm', zh: '火警：烟感报警' }, deviceId: `sd${i}`, deviceType: 'smoke_detector',
    siteId: `h${i}`, centerId: 'fc', gridId: 'g', zone: undefined, ts: Date.now(), confirmed: false, clears: false,
  });
  const open = (await sys.wf.alerts.service.list({ active: true, limit: 1000 })).length;

  const clients = await Promise.all(Array.from({ length: ALARMS }, (_, k) => sys.connectDevice(`sd${OPEN + k}`)));
  for (const c of clients) (c.stream as unknown as { setNoDelay?: (v: boolean) => void }).setNoDelay?.(true);
  const sentAt = new Map<string, number>();
  const latency: number[] = [];
  const seen = new Promise<void>((resolve) => {
    sys.wf.bus.on('incident', 'bench', (e) => {
      if (e.kind !== 'opened') return;
      const t0 = sentAt.get(e.incident.siteId);
      if (t0 === undefined) return;
      latency.push(performance.now() - t0);
      sentAt.delete(e.incident.siteId);
      if (latency.length === ALARMS) resolve();
    });
  });
  for (let k = 0; k < ALARMS; k++) {
    const i = OPEN + k;
    sentAt.set(`h${i}`, performance.now());
    clients[k]!.publish(topics.events(`sd${i}`), JSON.stringify({ type: 'alarm', seq: 1 }), { qos: 1 });
    await new Promise((r) => setTimeout(r, GAP_MS));
  }
  await seen;
  latency.sort((a, b) => a - b);
  const round = (x: number) => Math.round(x * 1000) / 1000;
  const result = {
    what: 'red alarm MQTT PUBLISH → incident on the console stream (bus "incident"), ms',
    date: new Date().toISOString(),
    node: process.version,
    openIncidents: open,
    channelSendMs: SEND_MS,
    alarms: latency.length,
    p50: round(pct(latency, 50)),
    p99: round(pct(latency, 99)),
    max: round(latency.at(-1)!),
    target: 'p99 ≤ 10 ms',
  };
  console.log(JSON.stringify(result, null, 2));
  mkdirSync(join(import.meta.dirname, 'results'), { recursive: true });
  writeFileSync(join(import.meta.dirname, 'results', 'alarm-e2e.json'), `${JSON.stringify(result, null, 2)}\n`);
  await Promise.all(clients.map((c) => c.endAsync(true)));
} finally {
  await sys.stop();
}
