// Issue 17 point 6 in Chromium, a shift's tools: the map of sites in their live colours (no tile
// source: a plain grid, nothing fetched) with the open incidents beside it, patched in place by the
// live stream; the shift handover from the outgoing operator's remark to the incoming one's
// receipt, printable; and a 50-zone panel storm shown as one collapsed group under a new home fire.
// Screenshots are kept in test-artifacts/ (1440×900).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { createUser } from '../dashboards/index.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';
import { TEST_COST, PASSWORD } from './dashboards.fixture.ts';
import { ARTIFACTS, CHROMIUM_ARGS } from './browser.support.ts';
import { fireFinding, withCoordinates } from './browser.fixture.ts';

describe('a shift\'s tools in the console', () => {
  let sys: TestSystem;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  const errors: string[] = [];
  const outside: string[] = [];

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    [sys, browser] = await Promise.all([
      startTestSystem({ registry: withCoordinates(), smtp: false }),
      chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS }),
    ]);
    await createUser(sys.wf.users, { username: 'op', role: 'operator', personId: 'op1', centerId: 'c1', password: PASSWORD }, { cost: TEST_COST });
    await createUser(sys.wf.users, { username: 'sup', role: 'supervisor', personId: 'sup1', centerId: 'c1', password: PASSWORD }, { cost: TEST_COST });
  });
  afterAll(async () => {
    await browser?.close();
    await sys?.stop();
  });

  async function open(username: string, hash: string, locale = 'zh-CN'): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale, timezoneId: 'Europe/Berlin' });
    contexts.push(context);
    const login = await context.request.post(`${sys.httpUrl}/api/auth/login`, { data: { username, password: PASSWORD } });
    expect(login.status()).toBe(200);
    const page = await context.newPage();
    page.on('pageerror', (e) => errors.push(`${username}: ${e.message}`));
    // Nothing leaves the machine: no tile source is configured, so the map fetches nothing.
    page.on('request', (r) => {
      if (!r.url().startsWith(sys.httpUrl) && !r.url().startsWith('data:')) outside.push(r.url());
    });
    await page.goto(`${sys.httpUrl}/${hash}`);
    return page;
  }

  const raise = (deviceId: string, over: Parameters<typeof fireFinding>[1] = {}) => sys.wf.alerts.handleFinding(fireFinding(deviceId, over));
  const idOf = async (deviceId: string, zone?: string) => (await sys.wf.alerts.service.list({ active: true })).find((i) => i.deviceId === deviceId && (zone === undefined || i.zone === zone))!.id;

  it('draws the sites in their live colours on a plain grid and lists the open incidents, patched in place', async () => {
    await raise('sd-1', { message: { en: 'Fire: smoke at alarm level 1.045 dB/m', zh: '火警：烟雾浓度达到报警值 1.045 dB/m' } });
    const home = await idOf('sd-1');
    // 李建国's detector reports, so the map knows it online before it goes silent.
    const detector = await sys.connectDevice('sd-2');
    await sys.waitFor(async () => sys.wf.deviceState('sd-2')?.online === true, { what: 'sd-2 online' });
    const page = await open('op', '#/map');
    await page.waitForSelector('.map-svg .site[data-site-id="s1"][data-colour="red"]');
    await expect(page.getAttribute('.map-svg .site[data-site-id="b1"]', 'data-colour')).resolves.toBe('green');
    await expect(page.getAttribute('.map-svg .site[data-site-id="s2"]', 'data-colour')).resolves.toBe('green');
    // 赵淑兰's home has no coordinates: listed as missing, not drawn.
    expect(await page.locator('.map-svg .site[data-site-id="s3"]').count()).toBe(0);
    await expect(page.locator('.map-legend [data-missing]').textContent()).resolves.toBe('1 个地点没有坐标，未在图上显示');
    await expect(page.locator(`.map-list li[data-incident-id="${home}"] a`).textContent()).resolves.toBe('火警：烟雾浓度达到报警值 1.045 dB/m');
    // Drawn inside the canvas, on distinct spots.
    const boxes = await Promise.all(['b1', 's1', 's2'].map((id) => page.locator(`.map-svg .site[data-site-id="${id}"] circle`).boundingBox()));
    const canvas = (await page.locator('.map-canvas').boundingBox())!;
    for (const b of boxes) {
      expect(b!.x).toBeGreaterThan(canvas.x);
      expect(b!.x + b!.width).toBeLessThan(canvas.x + canvas.width);
    }
    expect(new Set(boxes.map((b) => `${Math.round(b!.x)},${Math.round(b!.y)}`)).size).toBe(3);

    // Live: a panel fire turns the building red; the detector going silent turns the home grey;
    // the drawn points are the same nodes as before.
    await page.evaluate(() => {
      for (const g of document.querySelectorAll('.map-svg .site')) (g as Element & { wfTag?: string }).wfTag = g.getAttribute('data-site-id')!;
    });
    await raise('fp-1', { zone: '3' });
    await page.waitForSelector('.map-svg .site[data-site-id="b1"][data-colour="red"]');
    detector.stream.destroy();
    await page.waitForSelector('.map-svg .site[data-site-id="s2"][data-colour="grey"]', { timeout: 15_000 });
    expect(await page.evaluate(() => [...document.querySelectorAll('.map-svg .site')].filter((g) => (g as Element & { wfTag?: string }).wfTag === g.getAttribute('data-site-id')).length)).toBe(3);
    expect(await page.locator('.map-list li').count()).toBe(2);
    await page.locator('.map-svg .site[data-site-id="b1"]').click();
    await page.waitForSelector('.map-detail .map-site[data-site-id="b1"]');
    await page.screenshot({ path: join(ARTIFACTS, 'map-sites.png'), animations: 'disabled' });

    // The wheel zooms in around the pointer (the sites spread apart), a double click fits them all again.
    const spread = async () => {
      const a = (await page.locator('.map-svg .site[data-site-id="b1"] circle').boundingBox())!;
      const c = (await page.locator('.map-svg .site[data-site-id="s1"] circle').boundingBox())!;
      return Math.hypot(a.x - c.x, a.y - c.y);
    };
    const before = await spread();
    // The pointer half way between the two: both stay in view as they move apart.
    const [a, c] = [(await page.locator('.map-svg .site[data-site-id="b1"] circle').boundingBox())!, (await page.locator('.map-svg .site[data-site-id="s1"] circle').boundingBox())!];
    await page.mouse.move((a.x + c.x) / 2 + 40, (a.y + c.y) / 2 + 40);
    await page.mouse.wheel(0, -100);
    await page.waitForFunction(() => document.querySelector('.map-svg .site[data-site-id="b1"]') !== null);
    await expect.poll(spread, { timeout: 10_000 }).toBeGreaterThan(before * 1.2);
    await page.mouse.dblclick(canvas.x + 10, canvas.y + 10);
    await expect.poll(spread, { timeout: 10_000 }).toBeCloseTo(before, 0);

    // On a 360-px phone the map and the list fit the width.
    const phone = await browser.newContext({ viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true, locale: 'zh-CN' });
    contexts.push(phone);
    expect((await phone.request.post(`${sys.httpUrl}/api/auth/login`, { data: { username: 'op', password: PASSWORD } })).status()).toBe(200);
    const small = await phone.newPage();
    await small.goto(`${sys.httpUrl}/#/map`);
    await small.waitForSelector('.map-svg .site[data-site-id="s1"][data-colour="red"]');
    expect(await small.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(360);
    await small.screenshot({ path: join(ARTIFACTS, 'map-phone.png'), fullPage: true, animations: 'disabled' });

    // A click on a listed incident opens exactly that incident.
    await page.locator(`.map-list li[data-incident-id="${home}"] a`).click();
    await page.waitForSelector(`.detail[data-incident-id="${home}"]`);
    expect(outside).toEqual([]);
    expect(errors).toEqual([]);
  });

  it('hands the shift over with a remark and the summary, and the incoming supervisor signs for it', async () => {
    const home = await idOf('sd-1');
    const svc = sys.wf.alerts.service;
    await svc.call(home, 'op1', { contact: '王秀英', phone: '13800000001', outcome: 'no_answer' });
    await svc.note(home, 'op1', '住户耳背，已请网格员上门');
    await svc.acknowledge(home, 'op1');
    await svc.dispatch(home, 'op1', 'w1');
    const out = await open('op', '#/handover');
    await out.waitForSelector('.handover-counts [data-count="stillOpen"] .value');
    await expect(out.locator('.handover-counts [data-count="stillOpen"] .value').textContent()).resolves.toBe('2');
    await expect(out.locator('.handover-counts [data-count="calls"] .value').textContent()).resolves.toBe('1');
    await expect(out.locator('.handover-range').textContent()).resolves.toContain('全天班');
    const row = out.locator(`[data-section="stillOpen"] tr[data-incident-id="${home}"]`);
    await expect(row.locator('.last-note').textContent()).resolves.toContain('住户耳背，已请网格员上门');
    await out.fill('#handover-remark', '3-2-401 王秀英家：网格员张网格已派单，请跟进到场；梅园商厦3区火警待核实');
    await out.locator('[data-action="hand-over"]').click();
    await out.waitForSelector('.handed.waiting');
    // The one who handed over cannot sign for it.
    expect(await out.locator('.handed.waiting [data-action="receive"]').count()).toBe(0);
    await out.screenshot({ path: join(ARTIFACTS, 'handover-outgoing.png'), fullPage: true, animations: 'disabled' });

    const inc = await open('sup', '#/handover', 'en');
    await inc.waitForSelector('.handed.waiting [data-action="receive"]');
    await expect(inc.locator('.handed.waiting .remark').textContent()).resolves.toContain('请跟进到场');
    await inc.fill('.handed.waiting .receipt-note', 'Taken over, will call 王秀英 at 20:30');
    await inc.locator('.handed.waiting [data-action="receive"]').click();
    await inc.waitForSelector('.handed.received .receipt');
    await expect(inc.locator('.handed.received .receipt').textContent()).resolves.toMatch(/^✓ Received by: 赵值班长 · \d\d\/\d\d, \d\d:\d\d:\d\d — Taken over/);
    const stored = (await (await inc.request.get(`${sys.httpUrl}/api/handovers`)).json()) as { handovers: Array<{ outgoing: { name: string }; incoming: { name: string } | null }> };
    expect(stored.handovers.map((h) => [h.outgoing.name, h.incoming?.name])).toEqual([['陈值班', '赵值班长']]);
    await inc.screenshot({ path: join(ARTIFACTS, 'handover-received.png'), fullPage: true, animations: 'disabled' });
    // Printed: the summary on paper, without the console's controls.
    await inc.emulateMedia({ media: 'print' });
    expect(await inc.locator('.topbar').isVisible()).toBe(false);
    expect(await inc.locator('.hand-over').isVisible()).toBe(false);
    expect(await inc.locator('[data-section="stillOpen"]').isVisible()).toBe(true);
    await inc.screenshot({ path: join(ARTIFACTS, 'handover-print.png'), fullPage: true, animations: 'disabled' });
    expect(errors).toEqual([]);
  });

  it('shows a 50-zone panel storm as one collapsed group below a new home fire', async () => {
    for (const i of await sys.wf.alerts.service.list({ active: true })) {
      if (i.state === 'open') await sys.wf.alerts.service.acknowledge(i.id, 'op1');
      await sys.wf.alerts.service.resolve(i.id, 'op1', { disposition: 'test', feedback: '测试结束' });
    }
    const page = await open('op', '#/queue');
    await page.waitForSelector('.queue-col .empty');
    for (let z = 1; z <= 50; z++) await raise('fp-1', { zone: String(z) });
    await page.waitForFunction(() => document.querySelector('.group[data-site-id="b1"] .group-count')?.textContent === '共50条警情');
    await raise('sd-2');
    const home = await idOf('sd-2');
    await page.waitForSelector(`.card[data-incident-id="${home}"]`);
    const group = page.locator('.group[data-site-id="b1"]');
    expect(await group.getAttribute('data-collapsed')).toBe('true');
    expect(await page.locator('.card').count()).toBe(1);
    // The new home fire first, the storm's group with its count and one button under it, all in view.
    const first = (await page.locator('.card').first().boundingBox())!;
    const g = (await group.boundingBox())!;
    expect(first.y).toBeLessThan(g.y);
    expect(g.y + g.height).toBeLessThan(900);
    await expect(group.locator('[data-action="acknowledge-group"]').textContent()).resolves.toBe('全部接警（50条新警情）');
    await page.screenshot({ path: join(ARTIFACTS, 'storm-50-collapsed.png'), animations: 'disabled' });
    await group.locator('[data-action="acknowledge-group"]').click();
    await page.waitForFunction(() => !document.querySelector('.group[data-site-id="b1"] .group-open')?.textContent);
    expect((await sys.wf.alerts.service.list({ active: true, state: ['open'] })).map((i) => i.id)).toEqual([home]);
    expect(errors).toEqual([]);
  }, 150_000); // fifty alarms through the whole system and the browser: slow on a loaded 2-core machine
});
