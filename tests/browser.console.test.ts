// Issue 5 point 8, in a real browser against the whole system: a detector alarm published over
// MQTT reaches the operator's queue without a reload, sounding until acknowledged; the grid
// worker, on a phone-sized screen, gets it once dispatched and reports each step, and the
// operator's view follows. Screenshots land in test-artifacts/ for people to look at.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { topics } from '../contracts/protocol.ts';
import { createUser } from '../dashboards/index.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';
import { REGISTRY, TEST_COST, PASSWORD } from './dashboards.fixture.ts';
import { ARTIFACTS, CHROMIUM_ARGS } from './browser.support.ts';


describe('operator console and grid worker page in Chromium', () => {
  let sys: TestSystem;
  let browser: Browser;
  const errors: string[] = [];

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    [sys, browser] = await Promise.all([
      startTestSystem({ registry: REGISTRY, smtp: false }),
      chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS }),
    ]);
    await createUser(sys.wf.users, { username: 'op', role: 'operator', personId: 'op1', centerId: 'c1', password: PASSWORD }, { cost: TEST_COST });
    await createUser(sys.wf.users, { username: 'zhang', role: 'grid_worker', personId: 'w1', centerId: 'c1', password: PASSWORD }, { cost: TEST_COST });
  });
  afterAll(async () => {
    await browser?.close();
    await sys?.stop();
  });

  async function signIn(page: Page, username: string): Promise<void> {
    page.on('pageerror', (e) => errors.push(`${username}: ${e.message}`));
    await page.goto(`${sys.httpUrl}/`);
    await page.waitForURL(/login\.html$/);
    await page.fill('#username', username);
    await page.fill('#password', PASSWORD);
    await page.click('button[type=submit]');
  }

  it('carries an alarm from MQTT to the console, to the phone and back to closure', async () => {
    const op = await browser.newPage({ viewport: { width: 1440, height: 900 }, locale: 'zh-CN', timezoneId: 'Europe/Berlin' });
    await signIn(op, 'op');
    await op.waitForSelector('.queue-col .empty');
    expect(await op.getAttribute('body', 'data-alarm')).toBe('off');

    // The detector: six hours of telemetry for the chart, then the alarm.
    const detector = await sys.connectDevice('sd-1');
    const now = Date.now();
    const history = Array.from({ length: 72 }, (_, i) => ({ ts: now - (72 - i) * 5 * 60_000, seq: i + 1, smoke: 0.01 + (i % 5) * 0.002, temp: 21 + (i % 12) * 0.1, battery: 86 }));
    await detector.publishAsync(topics.telemetry('sd-1'), JSON.stringify(history), { qos: 1 });
    await sys.waitFor(async () => (await sys.count('telemetry', `"device" = 'sd-1'`)) >= 72, { what: 'telemetry in InfluxDB' });
    await detector.publishAsync(topics.events('sd-1'), JSON.stringify({ type: 'alarm', ts: Date.now(), seq: 100 }), { qos: 1 });

    // No reload: the card arrives over the live stream, red, new, and the alarm sounds.
    const card = op.locator('.card[data-level="red"]');
    await card.waitFor({ timeout: 15_000 });
    expect(await card.getAttribute('data-state')).toBe('open');
    await op.waitForSelector('body[data-alarm="on"]');
    await expect(card.locator('.site').textContent()).resolves.toBe('梅园新村 3-2-401');
    await expect(card.locator('.resident').textContent()).resolves.toContain('王秀英');
    await expect(card.locator('.device').textContent()).resolves.toContain('厨房吊顶');
    const id = (await card.getAttribute('data-incident-id'))!;
    await op.waitForSelector(`.detail[data-incident-id="${id}"]`);
    // Times are the center's (Asia/Shanghai), whatever the browser's own zone (Europe/Berlin here).
    const openedAt = (await sys.wf.alerts.service.get(id))!.openedAt;
    const shanghai = new Intl.DateTimeFormat('zh-CN', { timeZone: 'Asia/Shanghai', hourCycle: 'h23', hour: '2-digit', minute: '2-digit', second: '2-digit' }).format(openedAt);
    await expect(card.locator('.opened').textContent()).resolves.toBe(shanghai);
    await op.screenshot({ path: join(ARTIFACTS, 'console-queue-alarm.png'), animations: 'disabled' });

    // One click acknowledges; the sound stops and the state follows.
    await card.locator('[data-action="acknowledge"]').click();
    await op.waitForSelector(`.card[data-incident-id="${id}"][data-state="acknowledged"]`);
    await op.waitForSelector('body[data-alarm="off"]');
    await op.locator(`.card[data-incident-id="${id}"] [data-action="dispatch"]`).click();
    await op.waitForSelector(`.card[data-incident-id="${id}"][data-state="dispatched"]`);
    await expect(op.locator(`.card[data-incident-id="${id}"] .assignee`).textContent()).resolves.toContain('张网格');

    // The grid worker's phone, 360 px wide.
    const phone = await browser.newPage({ viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true, locale: 'zh-CN' });
    await signIn(phone, 'zhang');
    const task = phone.locator(`.task[data-incident-id="${id}"]`);
    await task.waitFor();
    expect(await phone.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(360);
    await phone.screenshot({ path: join(ARTIFACTS, 'phone-task.png'), fullPage: true, animations: 'disabled' });
    const steps = task.locator('.steps button');
    for (const b of await steps.all()) expect((await b.boundingBox())!.height).toBeGreaterThanOrEqual(48);

    await task.locator('[data-action="en-route"]').click();
    await task.locator('[data-action="en-route"].done').waitFor();
    await op.waitForSelector(`.detail[data-incident-id="${id}"] .timeline li.tl-en_route`);
    await task.locator('[data-action="on-site"]').click();
    await phone.waitForSelector(`.task[data-incident-id="${id}"][data-state="on_site"]`);
    await op.waitForSelector(`.card[data-incident-id="${id}"][data-state="on_site"]`);

    await task.locator('[data-action="resolve-open"]').click();
    await task.locator('input[value="nuisance"]').check();
    await task.locator('textarea').fill('锅烧干了，已关火开窗通风，老人无恙');
    await phone.screenshot({ path: join(ARTIFACTS, 'phone-resolve.png'), fullPage: true });
    await task.locator('[data-action="resolve"]').click();
    await phone.waitForSelector('.tasks .empty');
    // Resolved: gone from the operator's live queue, waiting for review.
    await op.waitForSelector(`.card[data-incident-id="${id}"]`, { state: 'detached' });
    const incident = (await sys.wf.alerts.service.get(id))!;
    expect(incident).toMatchObject({ state: 'resolved', disposition: 'nuisance', assignee: 'w1' });
    const actors = (await sys.wf.alerts.service.timeline(id)).filter((e) => e.actor !== 'system').map((e) => [e.action, e.actor]);
    expect(actors).toEqual([['acknowledge', 'op1'], ['dispatch', 'op1'], ['en_route', 'w1'], ['on_site', 'w1'], ['resolve', 'w1']]);

    // The site view: resident, contacts, devices, the chart from InfluxDB and the timeline.
    await op.goto(`${sys.httpUrl}/#/site/s1?incident=${encodeURIComponent(id)}`);
    await op.waitForSelector('.site-view .chart');
    await op.waitForSelector('.site-view .timeline li.tl-resolve');
    await expect(op.locator('.site-view .big-name').textContent()).resolves.toContain('王秀英');
    expect(await op.locator('.site-view .chart').count()).toBeGreaterThanOrEqual(2);
    // Issue 17 point 6: readable — each chart spans the view (not four thumbnails), and the
    // alarm's moment is marked on it, labelled in the reader's language.
    const smoke = op.locator('.site-view .chart[aria-label="smoke"]');
    expect((await smoke.boundingBox())!.width).toBeGreaterThan(0.9 * (await op.locator('.site-view .readings-wide').boundingBox())!.width);
    expect((await smoke.boundingBox())!.width).toBeGreaterThan(1200);
    expect(await smoke.locator('line.mark.red').count()).toBe(1);
    // The center's clock (Asia/Shanghai), not the browser's (Europe/Berlin).
    const at = new Intl.DateTimeFormat('zh-CN', { timeZone: 'Asia/Shanghai', hour: '2-digit', minute: '2-digit', hour12: false }).format(incident.openedAt);
    await expect(smoke.locator('text.mark-label').textContent()).resolves.toBe(`报警 ${at}`);
    await op.screenshot({ path: join(ARTIFACTS, 'console-site.png'), fullPage: true });

    // English on the switch; the review list shows the closed incident.
    await op.click('.lang-switch button[data-lang="en"]');
    await op.goto(`${sys.httpUrl}/#/review`);
    await op.waitForSelector(`.review tr[data-incident-id="${id}"]`);
    await expect(op.locator('#tabs a[data-tab="queue"]').textContent()).resolves.toContain('Alarm queue');
    await op.goto(`${sys.httpUrl}/#/overview`);
    await op.waitForSelector('.overview .tiles');
    await op.screenshot({ path: join(ARTIFACTS, 'console-overview.png'), fullPage: true });
    expect(errors).toEqual([]);

    // Operations on the same server: ready, documented, and every module's metrics in one scrape.
    expect((await fetch(`${sys.httpUrl}/readyz`)).status).toBe(200);
    const metrics = await (await fetch(`${sys.httpUrl}/metrics`)).text();
    for (const name of ['watchfire_gateway_connections', 'watchfire_ingest_messages_total', 'watchfire_ingest_rejects_total', 'watchfire_rules_latency_seconds', 'watchfire_store_backlog_lines', 'watchfire_store_spool_lines', 'watchfire_alerts_outbox_depth', 'watchfire_incidents_open', 'watchfire_http_requests_total']) {
      expect(metrics, name).toContain(`# TYPE ${name} `);
    }
    const doc = (await (await fetch(`${sys.httpUrl}/docs/json`)).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/api/incidents', '/api/incidents/{id}/resolve', '/api/sites/{id}/readings']));
  });
});
