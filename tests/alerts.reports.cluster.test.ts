// Reports on the storage seam (issue 21 points 2 and 5): alerts/reports.ts on the SQLite file and
// on a real PostgreSQL. In cluster mode a firing runs under a claim, but a claim can fail open
// (Redis away: every node runs it), so two nodes may make the same report at the same moment: the
// report is stored once and its emails queued once, by the node whose insert made it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import pino from 'pino';
import { openDatabase } from '../app/db.ts';
import { createRegistry, type Registry } from '../registry/index.ts';
import { createReports, type ReportOutbox } from '../alerts/reports.ts';
import { createRosters } from '../alerts/roster.ts';
import type { IncidentNew } from '../contracts/storage.ts';
import { createIncidentStorage, tx, type SqlRunner } from '../storage/index.ts';
import { insertOutboxRows } from '../storage/outbox.ts';
import { DAY_SHIFT_TIME, manualClock, registryFile, tempDir } from './alerts.fixture.ts';
import { sqlBackends } from './support/sql-backends.ts';
import { sqliteRegistryStorage } from './support/registries.ts';

const backends = sqlBackends();
const tmp = tempDir();
const logger = pino({ level: 'silent' });
const clock = manualClock(DAY_SHIFT_TIME);
let registry: Registry;
const closers: Array<() => void> = [];

beforeAll(async () => {
  // The registry stays embedded (registry/ on its own SQLite file); the reports' tables are the backend's.
  const db = openDatabase(join(tmp.dir, 'registry.db'));
  closers.push(() => db.close());
  registry = createRegistry({ storage: sqliteRegistryStorage(db), logger, clock });
  await registry.start();
  await registry.importFile(registryFile());
  await Promise.all(backends.map((b) => b.setup()));
});
afterAll(async () => {
  await Promise.all(backends.map((b) => b.teardown()));
  for (const c of closers) c();
  tmp.remove();
});

/** The outbox as it will enqueue on the runner (a transaction step), and the kicks it was given. */
function outboxOn(runner: SqlRunner): ReportOutbox & { kicks: number } {
  const o = {
    kicks: 0,
    *enqueue(rows: Parameters<ReportOutbox['enqueue']>[0], now: number) {
      if (!rows.length) return [];
      return (yield* tx.all(insertOutboxRows(runner.q, rows, now).returning('id'))).map((r) => r.id);
    },
    has: () => true,
    kick: () => {
      o.kicks++;
    },
  };
  return o;
}

function node(runner: SqlRunner) {
  const outbox = outboxOn(runner);
  const rosters = createRosters({ registry, timezone: 'Asia/Shanghai' });
  return { outbox, reports: createReports({ sql: runner, registry, rosters, outbox, clock, logger }) };
}

const alarm = (over: Partial<IncidentNew> = {}): IncidentNew => ({
  id: 'inc-1', key: 'site:h1:fire', level: 'red', score: 0.9, category: 'fire', condition: 'smoke', centerId: 'fc1', siteId: 'h1', gridId: 'g1',
  deviceId: 'sd1', zone: null, title: { en: 'Smoke', zh: '烟雾' }, confirmed: true, lastReading: null, recurrenceOf: null, ...over,
});

describe.each(backends)('reports of two nodes on $name', (backend) => {
  it('the same daily, monthly and handover reports made at once by two nodes: each stored once, its emails queued and kicked once', async () => {
    const db = await backend.open();
    const incidents = createIncidentStorage({ sql: db.runner });
    const hour = 3_600_000;
    const by = (action: string, actor = 'op-liu') => ({ actor, action, note: null, noteZh: null });
    await incidents.open(alarm(), DAY_SHIFT_TIME - 2 * hour, by('opened', 'system'));
    await incidents.transition('inc-1', { from: 'open', to: 'acknowledged', at: DAY_SHIFT_TIME - 2 * hour + 40_000, stamp: 'acknowledgedAt' }, by('acknowledge'));
    await incidents.transition('inc-1', { from: 'acknowledged', to: 'dispatched', at: DAY_SHIFT_TIME - hour, stamp: 'dispatchedAt', assignee: 'gw-wang' }, by('dispatch'));
    await incidents.remark('inc-1', DAY_SHIFT_TIME - hour + 60_000, by('en_route', 'gw-wang'));
    await incidents.open(alarm({ id: 'inc-2', key: 'site:b1:fire', siteId: 'b1', gridId: null, deviceId: 'fp1', level: 'yellow' }), DAY_SHIFT_TIME - hour, by('opened', 'system'));

    const a = node(db.runner);
    const b = node(db.another());
    const [da, db_, ma, mb, ha, hb] = await Promise.all([
      a.reports.daily('fc1', '2026-11-23'), b.reports.daily('fc1', '2026-11-23'),
      a.reports.monthlyRatings('fc1', '2026-11'), b.reports.monthlyRatings('fc1', '2026-11'),
      a.reports.handover('fc1', DAY_SHIFT_TIME), b.reports.handover('fc1', DAY_SHIFT_TIME),
    ]);
    for (const [x, y] of [[da, db_], [ma, mb], [ha, hb]] as const) {
      expect([x.created, y.created].filter(Boolean), x.kind).toHaveLength(1);
      expect({ ...x, created: true }).toEqual({ ...y, created: true, ...('ratings' in x ? { ratings: x.ratings } : {}) });
    }
    expect(da.body.data).toMatchObject({ opened: 2, byLevel: { red: 1, yellow: 1 }, medianAckSec: 40, active: 2, enforcement: [] });
    expect(ha.body.data).toMatchObject({ active: ['inc-1', 'inc-2'], opened: 2, resolved: 0, pendingEscalations: 0, shifts: ['day'] });
    const wang = ma.ratings.find((r) => r.personId === 'gw-wang')!;
    // Her grid's alarm, taken up a minute after its dispatch; the bank has no grid.
    expect(wang.month).toMatchObject({ tasks: 1, ackSeconds: [60], toSiteSeconds: [], closed: 0 });

    const queued = await db.query<{ report_id: number; recipient_id: string }>('SELECT report_id, recipient_id FROM alert_outbox ORDER BY report_id, recipient_id');
    const of = (id: number) => queued.filter((r) => Number(r.report_id) === id).map((r) => r.recipient_id);
    expect(of(da.id)).toEqual(['mgr-qian', 'sup-huang', 'sup-ma']);
    expect(of(ma.id)).toEqual(['mgr-qian', 'sup-huang', 'sup-ma']);
    expect(of(ha.id)).toEqual(['op-liu', 'op-sun', 'sup-huang']);
    expect(queued).toHaveLength(9);
    // Each node kicked the email worker for the reports it made, and only those.
    expect(a.outbox.kicks + b.outbox.kicks).toBe(3);
    expect(await a.reports.exists('daily', 'fc1', '2026-11-23')).toBe(true);
    expect(await b.reports.exists('daily', 'fc1', '2026-11-22')).toBe(false);
    expect(await b.reports.get(ha.id)).toEqual({ ...ha, created: false });
  });
});
