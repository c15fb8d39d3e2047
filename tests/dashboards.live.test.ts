// The live stream over a real socket (server-sent events, Last-Event-ID replay), the site view
// with its chart query, and the three-colour overview.
import { describe, it, expect, afterEach } from 'vitest';
import { makeServer, login, OFFLINE, LOW_BATTERY } from './dashboards.fixture.ts';
import { startOfDay } from '../dashboards/overview.ts';
import type { InfluxQuery } from '../contracts/ports.ts';
import type { DeviceLive } from '../dashboards/kit.ts';
import { openStream } from './support/sse.ts';

type Ctx = Awaited<ReturnType<typeof makeServer>>;
let ctx: Ctx | undefined;
afterEach(async () => {
  await ctx?.close();
  ctx = undefined;
});

describe('live stream', () => {
  it('pushes incidents as they open and move, only to those who may see them, and replays what a reconnecting client missed', async () => {
    ctx = await makeServer();
    await ctx.server.start();
    const base = `http://127.0.0.1:${ctx.server.address().port}`;
    const op = await login(ctx.app, 'op');
    const worker = await login(ctx.app, 'worker');
    const opStream = await openStream(base, op);
    await opStream.next('hello');
    const workerStream = await openStream(base, worker);
    await workerStream.next('hello');

    const inc = await ctx.raise('sd-1');
    const opened = await opStream.next('incident');
    expect(opened.data).toMatchObject({ kind: 'opened', incident: { id: inc.id, level: 'red', context: { siteName: '梅园新村 3-2-401', resident: { name: '王秀英' } } } });
    // Another center's alarm is not this operator's business.
    const west = await ctx.raise('sd-9');
    await ctx.incidents.acknowledge(inc.id, 'op1');
    // The very next event is the acknowledgement: west's alarm, raised in between, never came.
    const acked = await opStream.next('incident');
    expect(acked.data).toMatchObject({ actor: 'op1', incident: { id: inc.id, state: 'acknowledged' } });
    await ctx.incidents.dispatch(inc.id, 'op1', 'w1');
    // The worker hears of nothing until the task is theirs; then the dispatch arrives.
    const got = await workerStream.next('incident');
    expect(got.data).toMatchObject({ kind: 'transition', incident: { id: inc.id, state: 'dispatched', assignee: 'w1' } });
    await opStream.next('incident', (d) => (d.incident as { state: string }).state === 'dispatched');

    // Disconnect, miss two updates, reconnect with Last-Event-ID: both are replayed, in order.
    const lastSeen = opStream.lastId();
    opStream.close();
    await ctx.incidents.onSite(inc.id, 'w1');
    await ctx.incidents.resolve(inc.id, 'w1', { disposition: 'nuisance', feedback: 'burnt rice' });
    const again = await openStream(base, op, lastSeen);
    expect(((await again.next('incident')).data.incident as { state: string }).state).toBe('on_site');
    expect(((await again.next('incident')).data.incident as { state: string }).state).toBe('resolved');
    again.close();
    // An id from another server life: told to reload rather than replayed a wrong range.
    const stale = await openStream(base, op, 'zzz-5');
    await stale.next('reset');
    stale.close();
    workerStream.close();
    expect(west.centerId).toBe('c2');
    expect(ctx.server.address().port).toBeGreaterThan(0);
    const m = await ctx.app.inject({ method: 'GET', url: '/metrics' });
    expect(m.body).toMatch(/watchfire_http_sse_clients \d/);
  });

  it("adds the readings of the site a console has open, and only that site's", async () => {
    ctx = await makeServer();
    await ctx.server.start();
    const base = `http://127.0.0.1:${ctx.server.address().port}`;
    const op = await login(ctx.app, 'op');
    const site = await openStream(base, op, undefined, '?site=s1');
    await site.next('hello');
    const plain = await openStream(base, op);
    await plain.next('hello');
    const reading = (deviceId: string, siteId: string, smoke: number) => ({
      reading: { kind: 'telemetry' as const, deviceId, deviceType: 'smoke_detector' as const, siteId, centerId: 'c1', gridId: 'g1', ts: Date.now(), receivedAt: Date.now(), seq: 1, flags: [], values: { smoke } },
      score: 0,
      level: 'green' as const,
    });
    ctx.bus.emit('reading.scored', reading('sd-3', 's2', 0.5));
    ctx.bus.emit('reading.scored', reading('sd-1', 's1', 0.02));
    expect((await site.next('reading')).data).toMatchObject({ deviceId: 'sd-1', values: { smoke: 0.02 } });
    site.close();
    // The plain stream gets incidents but no readings: the next thing it sees is this alarm.
    await ctx.raise('sd-1');
    expect((await plain.any()).type).toBe('incident');
    plain.close();
  });

  it('refuses the stream without a session', async () => {
    ctx = await makeServer();
    const r = await ctx.app.inject({ method: 'GET', url: '/api/stream' });
    expect(r.statusCode).toBe(401);
  });
});

describe('site view', () => {
  it('shows the resident, contacts, devices with live state, and charts readings queried through the server', async () => {
    const queries: string[] = [];
    const t0 = Date.now() - 3600_000;
    const influx: InfluxQuery = {
      async query(q) {
        queries.push(q);
        if (!q.includes(`"device" = 'sd-1'`)) return [];
        return [
          { time: new Date(t0).toISOString(), smoke: 0.02, temp: 21.5, co: null, battery: 88 },
          { time: new Date(t0 + 600_000).toISOString(), smoke: 0.19, temp: 24, co: null, battery: 88 },
        ];
      },
    };
    const live = new Map<string, DeviceLive>([['sd-1', { online: true, lastSeen: t0, last: { smoke: 0.19, battery: 88 } }], ['sd-2', { online: false, lastSeen: t0 - 1000, last: { battery: 12 } }]]);
    ctx = await makeServer({ influx, deviceState: (id) => live.get(id) });
    const op = await login(ctx.app, 'op');
    const get = (url: string) => ctx!.app.inject({ method: 'GET', url, headers: { cookie: op.cookie } });
    await ctx.raise('sd-1');
    const site = (await get('/api/sites/s1')).json() as { site: { resident: { name: string }; contacts: Array<{ name: string; phone: string }> }; grid: { workerName: string }; devices: Array<{ id: string; online: boolean; battery: number | null }>; incidents: unknown[] };
    expect(site.site.resident.name).toBe('王秀英');
    expect(site.site.contacts[0]).toMatchObject({ name: '王强', phone: '13900000002' });
    expect(site.grid.workerName).toBe('张网格');
    expect(site.devices).toEqual(expect.arrayContaining([expect.objectContaining({ id: 'sd-1', online: true, battery: 88 }), expect.objectContaining({ id: 'sd-2', online: false, battery: 12 })]));
    expect(site.incidents).toHaveLength(1);

    const r = (await get('/api/sites/s1/readings?hours=6')).json() as { series: Array<{ device: string; field: string; points: Array<[number, number]> }>; stepSec: number };
    expect(queries).toHaveLength(2);
    // Issue 17 point 6: each step's peak (max), battery its lowest (min).
    expect(queries[0]).toMatch(/min\("battery"\) AS "battery"/);
    expect(queries[0]).toMatch(/^SELECT max\("smoke"\) AS "smoke", .* FROM "telemetry" WHERE "device" = 'sd-1' AND time > \d+ms AND time <= \d+ms GROUP BY time\(180s\) fill\(none\)$/);
    expect(r.series.find((s) => s.field === 'smoke')).toEqual({ device: 'sd-1', field: 'smoke', points: [[t0, 0.02], [t0 + 600_000, 0.19]] });
    expect(r.series.some((s) => s.field === 'co')).toBe(false);
    expect((await get('/api/sites/s1/readings?hours=0')).statusCode).toBe(400);
    // Another center's site is not found, and the browser never gets to write InfluxQL.
    expect((await get('/api/sites/s9')).statusCode).toBe(404);
    expect((await get(`/api/sites/s1/readings?q=${encodeURIComponent('DROP DATABASE watchfire')}`)).statusCode).toBe(200);
    expect(queries.some((q) => q.includes('DROP'))).toBe(false);
  });

  it('answers 502 with its code when InfluxDB fails, and the rest of the site view still works', async () => {
    ctx = await makeServer({ influx: { query: () => Promise.reject(new Error('connect ECONNREFUSED')) } });
    const op = await login(ctx.app, 'op');
    const r = await ctx.app.inject({ method: 'GET', url: '/api/sites/s1/readings', headers: { cookie: op.cookie } });
    expect(r.statusCode).toBe(502);
    expect(r.json()).toMatchObject({ code: 'WF_HTTP_UPSTREAM' });
    expect((await ctx.app.inject({ method: 'GET', url: '/api/sites/s1', headers: { cookie: op.cookie } })).statusCode).toBe(200);
  });
});

describe('overview', () => {
  it('counts sites by colour per center and grid, offline devices, low batteries, open incidents by age and response times', async () => {
    const live = new Map<string, DeviceLive>([['sd-3', { online: false, lastSeen: Date.now() - 7200_000 }], ['sd-2', { online: true, last: { battery: 15 } }]]);
    ctx = await makeServer({ deviceState: (id) => live.get(id) });
    const red = await ctx.raise('sd-1');
    await ctx.raise('sd-3', OFFLINE);
    await ctx.raise('sd-2', LOW_BATTERY);
    await ctx.raise('sd-9');
    await ctx.incidents.acknowledge(red.id, 'op1');
    const sup = await login(ctx.app, 'sup');
    const o = (await ctx.app.inject({ method: 'GET', url: '/api/overview', headers: { cookie: sup.cookie } })).json() as {
      centers: Array<{ id: string; sites: Record<string, number>; open: Record<string, number>; devicesOffline: number; batteriesLow: number; openByAge: Array<{ key: string; red: number; yellow: number }>; today: { opened: number; acknowledged: number; ackMedianSec: number | null } }>;
      grids: Array<{ id: string; sites: Record<string, number>; open: number }>;
      offline: Array<{ deviceId: string }>;
      lowBattery: Array<{ deviceId: string; battery: number | null }>;
    };
    // A supervisor of c1 sees c1 only.
    expect(o.centers.map((c) => c.id)).toEqual(['c1']);
    const c1 = o.centers[0]!;
    expect(c1.sites).toEqual({ red: 1, yellow: 1, green: 0 });
    expect(c1.open).toEqual({ red: 1, yellow: 2 });
    expect(c1.devicesOffline).toBe(1);
    expect(c1.batteriesLow).toBe(1);
    expect(c1.openByAge[0]).toEqual({ key: 'lt5m', red: 1, yellow: 2 });
    expect(c1.today).toMatchObject({ opened: 3, acknowledged: 1 });
    expect(c1.today.ackMedianSec).toBeGreaterThanOrEqual(0);
    expect(o.grids.find((g) => g.id === 'g1')).toMatchObject({ sites: { red: 1, yellow: 0, green: 0 }, open: 2 });
    expect(o.grids.find((g) => g.id === 'g2')).toMatchObject({ sites: { red: 0, yellow: 1, green: 0 }, open: 1 });
    expect(o.offline.map((d) => d.deviceId)).toEqual(['sd-3']);
    expect(o.lowBattery).toEqual([expect.objectContaining({ deviceId: 'sd-2', battery: 15 })]);
    // Grid workers have no overview.
    const w = await login(ctx.app, 'worker');
    expect((await ctx.app.inject({ method: 'GET', url: '/api/overview', headers: { cookie: w.cookie } })).statusCode).toBe(403);
  });

  it("finds the start of the center's day in its time zone", () => {
    // 2026-11-23 17:30 UTC is 01:30 on the 24th in Shanghai: that day began at 16:00 UTC.
    expect(startOfDay(Date.UTC(2026, 10, 23, 17, 30), 'Asia/Shanghai')).toBe(Date.UTC(2026, 10, 23, 16, 0));
    expect(startOfDay(Date.UTC(2026, 10, 23, 15, 59, 59, 500), 'Asia/Shanghai')).toBe(Date.UTC(2026, 10, 22, 16, 0));
    expect(startOfDay(Date.UTC(2026, 6, 1, 3, 0), 'UTC')).toBe(Date.UTC(2026, 6, 1));
  });
});
