// Issue 17 point 6 in Chromium: incident history in the console (#/history, from the review view):
// searched by text, filtered by category, disposition and days in the center's clock (the browser
// here is in Berlin, the center in Shanghai), and the CSV link exports exactly the rows shown.
// Screenshot: test-artifacts/history.png.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import type { TestSystem } from './support/system.ts';
import { PASSWORD } from './dashboards.fixture.ts';
import { ARTIFACTS, startConsoleSystem } from './browser.support.ts';
import { controlRoom, fireFinding } from './browser.fixture.ts';

describe('incident history in the console', () => {
  let sys: TestSystem;
  let browser: Browser;
  const errors: string[] = [];

  beforeAll(async () => {
    ({ sys, browser } = await startConsoleSystem({ registry: controlRoom(), smtp: false }, [{ username: 'op', role: 'operator', personId: 'op1', centerId: 'c1' }]));
  });
  afterAll(async () => {
    await browser?.close();
    await sys?.stop();
  });

  /** The day in the center's clock, as a date input takes it (YYYY-MM-DD), `days` from now. */
  const shanghaiDay = (days: number) => new Intl.DateTimeFormat('sv-SE', { timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit' }).format(Date.now() + days * 86_400_000);
  const shown = (page: Page) => page.locator('.history-results tr[data-incident-id]').evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.incidentId!).sort());
  async function search(page: Page, set: Record<string, string>): Promise<void> {
    for (const [k, v] of Object.entries(set)) {
      if (k === 'q' || k === 'from' || k === 'to') await page.fill(`#history-${k}`, v);
      else await page.selectOption(`.history-filters select[name="${k}"]`, v);
    }
    const before = await page.locator('.history-results > *').elementHandle();
    await page.locator('[data-action="history-search"]').click();
    // The results are replaced once the answer is in.
    await page.waitForFunction((old) => !old || !old.isConnected, before);
  }

  it('searches and filters every incident of the center, and exports what it shows', async () => {
    const svc = sys.wf.alerts.service;
    const raise = async (deviceId: string, over: Parameters<typeof fireFinding>[1] = {}) => {
      await sys.wf.alerts.handleFinding(fireFinding(deviceId, over));
      return (await svc.list({ active: true })).find((i) => i.deviceId === deviceId)!.id;
    };
    const kitchen = await raise('sd-1');
    const drill = await raise('fp-1', { zone: '3' });
    const battery = await raise('sd-2', { ruleId: 'smoke.low_battery', level: 'yellow', score: 45, category: 'maintenance', condition: 'low_battery', message: { en: 'Low battery', zh: '低电量' } });
    for (const [id, disposition, feedback] of [[kitchen, 'nuisance', '锅烧干了，已关火'], [drill, 'test', '月度消防演练']] as const) {
      await svc.acknowledge(id, 'op1');
      await svc.resolve(id, 'op1', { disposition, feedback });
    }

    const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'zh-CN', timezoneId: 'Europe/Berlin' });
    expect((await context.request.post(`${sys.httpUrl}/api/auth/login`, { data: { username: 'op', password: PASSWORD } })).status()).toBe(200);
    const page = await context.newPage();
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${sys.httpUrl}/#/review`);
    await page.locator('[data-action="history"]').click();
    await page.waitForURL((u) => u.hash === '#/history');
    await page.waitForSelector('.history-results tr[data-incident-id]');
    expect(await shown(page)).toEqual([kitchen, drill, battery].sort());
    await expect(page.locator('.history h2 .count').textContent()).resolves.toBe('3');

    await search(page, { disposition: 'test' });
    expect(await shown(page)).toEqual([drill]);
    await search(page, { disposition: '', category: 'maintenance' });
    expect(await shown(page)).toEqual([battery]);
    await search(page, { category: '', q: '锅烧干' });
    expect(await shown(page)).toEqual([kitchen]);
    await expect(page.locator(`.history-results tr[data-incident-id="${kitchen}"]`).textContent()).resolves.toContain('烹饪烟雾 / 误报');
    // Days in the center's clock: today's incidents are found from today, none from tomorrow on.
    await search(page, { q: '', from: shanghaiDay(0), to: shanghaiDay(0) });
    expect(await shown(page)).toEqual([kitchen, drill, battery].sort());
    await search(page, { from: shanghaiDay(1), to: '' });
    expect(await shown(page)).toEqual([]);
    await page.waitForSelector('.history-results .empty');

    // The CSV link asks for the same rows.
    await search(page, { from: shanghaiDay(0), level: 'red' });
    expect(await shown(page)).toEqual([kitchen, drill].sort());
    const href = (await page.locator('.history [data-action="history-csv"]').getAttribute('href'))!;
    expect(new URLSearchParams(href.split('?')[1]).get('level')).toBe('red');
    const csv = await page.request.get(`${sys.httpUrl}${href}`);
    expect(csv.headers()['content-type']).toMatch(/^text\/csv/);
    const rows = (await csv.text()).replace(/^\uFEFF/, '').trim().split('\r\n').slice(1);
    expect(rows.map((r) => r.split(',')[0]).sort()).toEqual([kitchen, drill].sort());
    await page.screenshot({ path: join(ARTIFACTS, 'history.png'), animations: 'disabled' });

    // A row's link opens exactly that incident.
    await page.locator(`.history-results tr[data-incident-id="${drill}"] a`).click();
    await page.waitForSelector(`.detail[data-incident-id="${drill}"]`);
    expect(errors).toEqual([]);
    await context.close();
  });
});
