// Issue 17 point 6, the map of sites through the HTTP API: each site of the caller's center with
// its coordinates, live colour (red over grey over yellow over green), devices and open incidents;
// no tile source by default (the console draws a plain grid and fetches nothing), and a configured
// one's origin is the only image source from elsewhere the pages allow.
import { describe, it, expect, afterEach } from 'vitest';
import { colourOf, tileOrigin } from '../dashboards/routes/map.ts';
import { makeServer, login, OFFLINE, OTHER_CENTER_MARKERS, REGISTRY, USERS } from './dashboards.fixture.ts';

type Ctx = Awaited<ReturnType<typeof makeServer>>;
let ctx: Ctx | undefined;
afterEach(async () => {
  await ctx?.close();
  ctx = undefined;
});

interface MapSite { id: string; colour: string; lat: number | null; open: Array<{ id: string; level: string }>; devices: Array<{ id: string; online: boolean | null }> }

describe('the map of sites', () => {
  it('colours each site of the caller\'s center from its open incidents and its devices\' presence', async () => {
    const online: Record<string, boolean> = { 'sd-1': true, 'sd-2': true, 'sd-3': false };
    ctx = await makeServer({ deviceState: (id) => (id in online ? { online: online[id]! } : undefined) });
    await ctx.server.start();
    ctx.registry.importFile({ centers: [], grids: [], devices: [], people: [], rosters: [], sites: [{ ...REGISTRY.sites.find((x) => x.id === 's1')!, lat: 30.6, lon: 119.8 }] });
    const fire = await ctx.raise('sd-1');
    await ctx.raise('sd-9');
    const op = await login(ctx.app, USERS.operator.username);
    const res = await ctx.app.inject({ method: 'GET', url: '/api/map', headers: { cookie: op.cookie } });
    expect(res.statusCode).toBe(200);
    const body = res.json() as { tiles: { url: string }; sites: MapSite[] };
    expect(body.tiles.url).toBe('');
    const by = Object.fromEntries(body.sites.map((s) => [s.id, s]));
    expect(Object.keys(by).sort()).toEqual(['s1', 's2']);
    expect(by.s1).toMatchObject({ colour: 'red', lat: 30.6, open: [{ id: fire.id, level: 'red' }], devices: [{ id: 'sd-1', online: true }, { id: 'sd-2', online: true }] });
    // 李建国's detector is silent: grey, whatever else is known about the home.
    expect(by.s2).toMatchObject({ colour: 'grey', lat: null, open: [] });
    for (const m of OTHER_CENTER_MARKERS) expect(res.body).not.toContain(m);
    // A grid worker has no map.
    const worker = await login(ctx.app, USERS.grid_worker.username);
    expect((await ctx.app.inject({ method: 'GET', url: '/api/map', headers: { cookie: worker.cookie } })).statusCode).toBe(403);
  });

  it('orders the colours: red, then grey, then yellow, then green', () => {
    expect(colourOf([{ level: 'red' }], [false])).toBe('red');
    expect(colourOf([{ level: 'yellow' }], [true, false])).toBe('grey');
    expect(colourOf([{ level: 'yellow' }], [true, null])).toBe('yellow');
    expect(colourOf([], [null])).toBe('green');
    const yellow = { ...OFFLINE, level: 'yellow' } as const;
    expect(colourOf([yellow], [])).toBe('yellow');
  });

  it('allows a configured tile source\'s origin as the only outside image source', async () => {
    expect(tileOrigin('')).toBeUndefined();
    expect(tileOrigin('/tiles/{z}/{x}/{y}.png')).toBeUndefined();
    expect(tileOrigin('https://{s}.tile.example.org/{z}/{x}/{y}.png')).toBe('https://*.tile.example.org');
    const plain = await makeServer();
    const page = await plain.app.inject({ method: 'GET', url: '/index.html' });
    expect(page.headers['content-security-policy']).toContain("img-src 'self' data:;");
    await plain.close();
    ctx = await makeServer({ config: { map: { tileUrl: 'https://tiles.example.net/{z}/{x}/{y}.png', attribution: '© Example', maxZoom: 17 } } });
    const csp = (await ctx.app.inject({ method: 'GET', url: '/index.html' })).headers['content-security-policy'];
    expect(csp).toContain("img-src 'self' data: https://tiles.example.net;");
    const op = await login(ctx.app, USERS.operator.username);
    const map = (await ctx.app.inject({ method: 'GET', url: '/api/map', headers: { cookie: op.cookie } })).json();
    expect(map.tiles).toEqual({ url: 'https://tiles.example.net/{z}/{x}/{y}.png', attribution: '© Example', maxZoom: 17 });
  });
});
