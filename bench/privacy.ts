// Issue 18 point 8: what the nightly pseudonymisation and an erasure cost on a year's data.
// 2,000 homes, 20,000 closed incidents (each with an acknowledgement, a note, a call log, a
// resolution and its notifications), all past the retention. Figures: the whole run, its longest
// batch (the event loop's longest stall while it runs: what an alarm would wait), and one
// erasure with its leftover scan. Run: npx tsx bench/privacy.ts [--incidents=N]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import pino from 'pino';
import { Registry as MetricsRegistry } from 'prom-client';
import { openDatabase } from '../app/db.ts';
import { createRegistry } from '../registry/index.ts';
import { createEventBus } from '../contracts/bus.ts';
import { RegistryFile } from '../contracts/registry.ts';
import { createAlerts, type Channel, type ChannelName } from '../alerts/index.ts';
import { createPrivacy } from '../privacy/index.ts';

const arg = (k: string, d: number) => Number(process.argv.find((a) => a.startsWith(`--${k}=`))?.split('=')[1] ?? d);
const INCIDENTS = arg('incidents', 20_000);
const HOMES = 2_000;
const DAY = 86_400_000;

const dir = mkdtempSync(join(tmpdir(), 'wf-bench-privacy-'));
const db = openDatabase(join(dir, 'watchfire.db'));
const logger = pino({ level: 'silent' });
let t = Date.now() - 400 * DAY;
const clock = { now: () => t };
const registry = createRegistry({ db, logger, clock });
await registry.start();
registry.importFile(RegistryFile.parse({
  centers: [{ id: 'fc1', name: '鼓楼联合消防中心' }],
  grids: [{ id: 'g1', centerId: 'fc1', name: '网格', workerId: 'gw' }],
  sites: Array.from({ length: HOMES }, (_, i) => ({
    id: `h${i}`, kind: 'home', centerId: 'fc1', gridId: 'g1', name: `住户${i}家`, address: `幸福小区${i}号`,
    resident: { name: `住户${i}`, phone: `138${String(i).padStart(8, '0')}` }, contacts: [{ name: `联系人${i}`, phone: `139${String(i).padStart(8, '0')}` }],
  })),
  devices: Array.from({ length: HOMES }, (_, i) => ({ id: `sd${i}`, type: 'smoke_detector', siteId: `h${i}`, location: '厨房' })),
  people: [
    { id: 'op1', name: '值班员1', role: 'operator', centerId: 'fc1', email: 'op1@example.org' },
    { id: 'sup', name: '值班长', role: 'supervisor', centerId: 'fc1', email: 'sup@example.org' },
    { id: 'gw', name: '网格员', role: 'grid_worker', centerId: 'fc1', phone: '13600000000' },
  ],
  rosters: [{ centerId: 'fc1', shifts: [{ id: 'all', name: '全天', start: '0 0 * * *', durationMinutes: 1440, operators: ['op1'], supervisor: 'sup' }] }],
}));
const instant = (name: ChannelName): Channel => ({ name, send: () => Promise.resolve(), close: () => Promise.resolve() }) as Channel;
const alerts = createAlerts({
  db, bus: createEventBus(), registry, clock, logger, metrics: new MetricsRegistry(), cron: false,
  config: { timezone: 'Asia/Shanghai', publicUrl: 'http://localhost', webhook: { url: 'http://127.0.0.1:9/sms', secret: '0123456789abcdef' } },
  channels: { email: instant('email'), webhook: instant('webhook') },
});
await alerts.start();

const made = performance.now();
for (let n = 0; n < INCIDENTS; n++) {
  const i = n % HOMES;
  await alerts.handleFinding({ ruleId: 'smoke.alarm', level: 'red', score: 90, category: 'fire', condition: 'alarm', message: { en: 'Smoke alarm', zh: '烟感报警' },
    deviceId: `sd${i}`, deviceType: 'smoke_detector', siteId: `h${i}`, centerId: 'fc1', gridId: 'g1', zone: undefined, ts: t, confirmed: false, clears: false });
  const id = (await alerts.service.list({ siteId: `h${i}`, active: true, limit: 1 }))[0]!.id;
  await alerts.service.acknowledge(id, 'op1');
  await alerts.service.note(id, 'op1', `住户${i}说是做饭`);
  await alerts.service.call(id, 'op1', { contact: `联系人${i}`, phone: `139${String(i).padStart(8, '0')}`, outcome: 'reached' });
  await alerts.service.resolve(id, 'op1', { disposition: 'nuisance', feedback: `住户${i}烧焦了锅` });
  t += 1_000;
  if (n % 500 === 499) await new Promise((r) => setTimeout(r, 20)); // let the outbox send
}
while ((await alerts.outbox.pending()).length) await new Promise((r) => setTimeout(r, 50));
const count = (sql: string) => db.prepare(sql).pluck().get() as number;
const setup = { incidents: count('SELECT COUNT(*) FROM alert_incidents'), audit: count('SELECT COUNT(*) FROM alert_audit'), outbox: count('SELECT COUNT(*) FROM alert_outbox'), seconds: Math.round(performance.now() - made) / 1000 };

t = Date.now();
const privacy = createPrivacy({ db, registry, clock, logger, config: { pseudonymiseAfterDays: 365, readAuditDedupMinutes: 5, readAuditKeepDays: 1095 } });
const h = monitorEventLoopDelay({ resolution: 1 });
h.enable();
const r0 = performance.now();
const c0 = process.cpuUsage();
const r = await privacy.pseudonymise();
const runMs = performance.now() - r0;
const cpu = process.cpuUsage(c0);
h.disable();

// An erasure of one home (its 10 incidents), and its leftover scan over every text column.
const e0 = performance.now();
const e = await privacy.erase('h7', 'bench', 'bench');
const eraseMs = performance.now() - e0;
const { findLeftovers } = await import('../privacy/index.ts');
const s0 = performance.now();
findLeftovers(db, ['住户8', '13800000008']);
const scanMs = performance.now() - s0;

console.log(JSON.stringify({
  at: new Date().toISOString(), loadavg: loadavg().map((x) => Math.round(x * 100) / 100), setup,
  pseudonymise: { ...r, ms: Math.round(runMs), cpuMs: Math.round((cpu.user + cpu.system) / 1000), perIncidentUs: Math.round((runMs * 1000) / Math.max(1, r.incidents)), longestStallMs: Math.round(h.max / 1e6), p99StallMs: Math.round(h.percentile(99) / 1e6) },
  erase: { ms: Math.round(eraseMs), counts: e.counts, leftovers: e.leftovers.length, leftoverScanMs: Math.round(scanMs) },
  verify: (await privacy.verify()).ok,
}, null, 2));
await alerts.stop();
await registry.stop();
db.close();
rmSync(dir, { recursive: true, force: true });
