// Issue 17 point 6 in Chromium, the map of sites on a configured tile source (http.map.tileUrl):
// the tiles come from a slippy-map tile server of the test's own on a free loopback port, and each
// site is drawn on the very spot of the tile that holds its coordinates — computed here from the
// standard tile numbering (zoom z, x from the longitude, y from the Web Mercator latitude), not
// from the page's code — before and after a zoom. The suite without a tile source (a plain grid,
// nothing fetched) is tests/browser.tools.test.ts. Screenshot: test-artifacts/map-tiles.png.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { crc32, deflateSync } from 'node:zlib';
import type { Browser, Page } from 'playwright-core';
import type { TestSystem } from './support/system.ts';
import { PASSWORD } from './dashboards.fixture.ts';
import { ARTIFACTS, startConsoleSystem } from './browser.support.ts';
import { fireFinding, withCoordinates } from './browser.fixture.ts';

/** A 256-px PNG tile: a checkerboard of two greys by tile number, with a lighter edge, so tiles can be told apart on a screenshot. */
function tilePng(x: number, y: number): Buffer {
  const N = 256;
  const base = (x + y) % 2 ? 58 : 44;
  const raw = Buffer.alloc((N * 3 + 1) * N);
  for (let r = 0; r < N; r++) {
    for (let c = 0; c < N; c++) {
      const v = r === 0 || c === 0 ? 120 : base;
      raw.set([v, v, v + 8], r * (N * 3 + 1) + 1 + c * 3);
    }
  }
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const head = Buffer.alloc(4);
    head.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([head, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(N, 0);
  ihdr.writeUInt32BE(N, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // truecolour RGB
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

/** The slippy-map tile holding a point at zoom z, and where in it (0..1) the point lies. */
function tileOf(lat: number, lon: number, z: number): { x: number; y: number; fx: number; fy: number } {
  const n = 2 ** z;
  const r = (lat * Math.PI) / 180;
  const wx = ((lon + 180) / 360) * n;
  const wy = ((1 - Math.asinh(Math.tan(r)) / Math.PI) / 2) * n;
  return { x: Math.floor(wx), y: Math.floor(wy), fx: wx - Math.floor(wx), fy: wy - Math.floor(wy) };
}

const COORDS: Record<string, [number, number]> = Object.fromEntries(
  (withCoordinates().sites ?? []).filter((s) => s.lat !== undefined && s.lon !== undefined).map((s) => [s.id, [s.lat!, s.lon!]]),
);

describe('the map of sites on a configured tile source', () => {
  let sys: TestSystem;
  let browser: Browser;
  let tiles: Server;
  let tileBase = '';
  const served: string[] = [];
  const errors: string[] = [];

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    tiles = createServer((req, res) => {
      const m = /^\/(\d+)\/(\d+)\/(\d+)\.png$/.exec(req.url ?? '');
      if (!m) {
        res.writeHead(404).end();
        return;
      }
      served.push(req.url!);
      res.writeHead(200, { 'content-type': 'image/png', 'cache-control': 'no-store' }).end(tilePng(Number(m[2]), Number(m[3])));
    });
    await new Promise<void>((resolve) => tiles.listen(0, '127.0.0.1', resolve));
    tileBase = `http://127.0.0.1:${(tiles.address() as AddressInfo).port}`;
    ({ sys, browser } = await startConsoleSystem({
      registry: withCoordinates(),
      smtp: false,
      config: { 'http.map': { tileUrl: `${tileBase}/{z}/{x}/{y}.png`, attribution: '© 测试瓦片', maxZoom: 18 } },
    }, [{ username: 'op', role: 'operator', personId: 'op1', centerId: 'c1' }]));
  });
  afterAll(async () => {
    await browser?.close();
    await sys?.stop();
    await new Promise<void>((resolve) => (tiles ? tiles.close(() => resolve()) : resolve()));
  });

  /** Each of these sites sits where its coordinates fall on the tile that holds them (within 2 px); returns the zoom drawn. */
  async function sitesOnTheirTiles(page: Page, ids: readonly string[]): Promise<number> {
    const hrefs = await page.locator('.map-svg image.tile').evaluateAll((els) => els.map((e) => e.getAttribute('href')!));
    expect(hrefs.length).toBeGreaterThan(0);
    const zooms = new Set(hrefs.map((u) => Number(/\/(\d+)\/\d+\/\d+\.png$/.exec(u)![1])));
    expect(zooms.size).toBe(1);
    const z = [...zooms][0]!;
    for (const id of ids) {
      const [lat, lon] = COORDS[id]!;
      const t = tileOf(lat, lon, z);
      const href = `${tileBase}/${z}/${t.x}/${t.y}.png`;
      expect(hrefs, `${id}'s tile`).toContain(href);
      const tile = (await page.locator(`.map-svg image.tile[href="${href}"]`).boundingBox())!;
      const dot = (await page.locator(`.map-svg .site[data-site-id="${id}"] circle`).boundingBox())!;
      expect(Math.abs(dot.x + dot.width / 2 - (tile.x + t.fx * tile.width)), `${id} across its tile`).toBeLessThan(2);
      expect(Math.abs(dot.y + dot.height / 2 - (tile.y + t.fy * tile.height)), `${id} down its tile`).toBeLessThan(2);
    }
    // Each drawn tile was fetched from the tile server (not blocked by the page's CSP).
    await expect.poll(() => hrefs.filter((u) => !served.includes(u.slice(tileBase.length))), { timeout: 10_000 }).toEqual([]);
    return z;
  }

  it('draws every site on the tile holding its coordinates, before and after a zoom, and fetches only from the tile source', async () => {
    await sys.wf.alerts.handleFinding(fireFinding('sd-1'));
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'zh-CN' });
    expect((await context.request.post(`${sys.httpUrl}/api/auth/login`, { data: { username: 'op', password: PASSWORD } })).status()).toBe(200);
    const page = await context.newPage();
    page.on('pageerror', (e) => errors.push(e.message));
    // A refused image (CSP) is reported on the console.
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    const outside: string[] = [];
    page.on('request', (r) => {
      if (!r.url().startsWith(sys.httpUrl) && !r.url().startsWith(tileBase) && !r.url().startsWith('data:')) outside.push(r.url());
    });
    await page.goto(`${sys.httpUrl}/#/map`);
    await page.waitForSelector('.map-svg .site[data-site-id="s1"][data-colour="red"]');
    await page.waitForSelector('.map-svg image.tile');
    // The plain grid is for maps without tiles.
    expect(await page.locator('.map-svg .map-grid').count()).toBe(0);
    await expect(page.locator('.map-svg .attribution').textContent()).resolves.toBe('© 测试瓦片');
    const z = await sitesOnTheirTiles(page, Object.keys(COORDS));
    // The three sites lie within ≈ 700 m: fitted, that is street level.
    expect(z).toBeGreaterThanOrEqual(14);
    await page.screenshot({ path: join(ARTIFACTS, 'map-tiles.png'), animations: 'disabled' });

    // Zoomed in around the burning home, three notches of 1.25 (×1.95): the next zoom level's
    // tiles, the home still on its tile (the others may have left the view).
    const home = (await page.locator('.map-svg .site[data-site-id="s1"] circle').boundingBox())!;
    await page.mouse.move(home.x + home.width / 2, home.y + home.height / 2);
    for (let k = 0; k < 3; k++) await page.mouse.wheel(0, -100);
    await expect.poll(async () => (await page.locator('.map-svg image.tile').first().getAttribute('href'))?.includes(`/${z + 1}/`), { timeout: 10_000 }).toBe(true);
    expect(await sitesOnTheirTiles(page, ['s1'])).toBe(z + 1);
    expect(outside).toEqual([]);
    expect(errors).toEqual([]);
    await context.close();
  });
});
