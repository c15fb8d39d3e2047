// Issue 17 point 1, in Chromium against the whole system: the link in a real alarm email (caught by
// the test's SMTP server) opens exactly that incident — after signing in when the browser has no
// session, directly when it has one, and also once the incident has left the live queue.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { topics } from '../contracts/protocol.ts';
import { createUser } from '../dashboards/index.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';
import { smallCounty } from './support/registries.ts';
import type { TestMail } from './support/smtp.ts';
import { TEST_COST, PASSWORD } from './dashboards.fixture.ts';
import { ARTIFACTS, CHROMIUM_ARGS } from './browser.support.ts';

describe('links in emails open the incident they name', () => {
  let sys: TestSystem;
  let browser: Browser;
  const errors: string[] = [];

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    [sys, browser] = await Promise.all([
      startTestSystem({ registry: smallCounty() }),
      chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS }),
    ]);
    await createUser(sys.wf.users, { username: 'op', role: 'operator', personId: 'p-op', centerId: 'fc-1', password: PASSWORD }, { cost: TEST_COST });
  });
  afterAll(async () => {
    await browser?.close();
    await sys?.stop();
  });

  /** The incident link in a mail, moved onto the test server's port (publicUrl is the default). */
  function linkIn(mail: TestMail): string {
    const m = /https?:\/\/\S+\/#\/incidents\/[^\s"<]+/.exec(mail.text);
    expect(m, `a link in ${mail.subject}`).not.toBeNull();
    const url = new URL(m![0]);
    // contracts/config.ts: http.publicUrl defaults to http://localhost:8080.
    expect(url.origin).toBe('http://localhost:8080');
    return `${sys.httpUrl}${url.pathname}${url.hash}`;
  }

  async function alarmMail(deviceId: string, seq: number): Promise<{ id: string; mail: TestMail }> {
    const device = await sys.connectDevice(deviceId);
    await device.publishAsync(topics.events(deviceId), JSON.stringify({ type: 'alarm', ts: Date.now(), seq }), { qos: 1 });
    const id = await sys.waitFor(async () => (await sys.wf.alerts.service.list({ active: true })).find((i) => i.deviceId === deviceId)?.id, { what: `incident of ${deviceId}` });
    const [mail] = await sys.smtp!.waitForMails((ms) => ms.some((m) => m.to.includes('op@example.test') && m.text.includes(encodeURIComponent(id))), `alarm email for ${id}`);
    return { id, mail: sys.smtp!.mails.find((m) => m.to.includes('op@example.test') && m.text.includes(encodeURIComponent(id))) ?? mail! };
  }

  async function opened(page: Page, id: string): Promise<void> {
    await page.waitForSelector(`.detail[data-incident-id="${id}"]`);
    await page.waitForSelector(`.card.selected[data-incident-id="${id}"]`);
  }

  it('follows the link through sign-in to that incident, not the top of the queue', async () => {
    // Two alarms: the older one (h-2) is the one the email names; the newer (h-1) tops the queue.
    const older = await alarmMail('sd-3', 1);
    const newer = await alarmMail('sd-1', 1);
    expect(older.id).not.toBe(newer.id);

    const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'zh-CN' });
    const page = await context.newPage();
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(linkIn(older.mail));
    // No session: the sign-in page, told where to come back to.
    await page.waitForURL(/\/login\.html\?next=/);
    await page.fill('#username', 'op');
    await page.fill('#password', PASSWORD);
    await page.click('button[type=submit]');
    await page.waitForURL((u) => u.hash === `#/incidents/${encodeURIComponent(older.id)}`);
    await opened(page, older.id);
    await expect(page.locator('.detail .site-name').textContent()).resolves.toBe('王德华家');
    // The newer alarm is first in the queue, and yet the linked one is what is shown.
    await expect(page.locator('.card').first().getAttribute('data-incident-id')).resolves.toBe(newer.id);
    await page.screenshot({ path: join(ARTIFACTS, 'link-after-login.png') });

    // With a session: the other email's link opens the other incident at once.
    await page.goto(linkIn(newer.mail));
    await opened(page, newer.id);
    await expect(page.locator('.detail .site-name').textContent()).resolves.toBe('张桂英家');

    // Resolved, it is no longer in the live queue; its link still opens it.
    await sys.wf.alerts.service.acknowledge(older.id, 'p-op');
    await sys.wf.alerts.service.resolve(older.id, 'p-op', { disposition: 'test', feedback: '测试' });
    await page.waitForSelector(`.card[data-incident-id="${older.id}"]`, { state: 'detached' });
    await page.goto('about:blank');
    await page.goto(linkIn(older.mail));
    await page.waitForSelector(`.detail[data-incident-id="${older.id}"] [data-role="state"]`);
    await expect(page.locator(`.detail[data-incident-id="${older.id}"] [data-role="state"]`).textContent()).resolves.toBe('处置完毕');
    expect(errors).toEqual([]);
    await context.close();
  });

  it('does not follow a `next` that leaves the server', async () => {
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'en' });
    const page = await context.newPage();
    await page.goto(`${sys.httpUrl}/login.html?next=${encodeURIComponent('//example.test/phish')}`);
    await page.fill('#username', 'op');
    await page.fill('#password', PASSWORD);
    await page.click('button[type=submit]');
    await page.waitForURL((u) => u.pathname === '/' && u.host === new URL(sys.httpUrl).host);
    await page.waitForSelector('.queue-layout');
    await context.close();
  });

  it('when sign-in is at capacity (503, Retry-After), says so and signs in by itself once it may', async () => {
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'zh-CN' });
    const page = await context.newPage();
    // The first attempt meets a server at capacity (what dashboards/login-guard.ts answers when
    // every hashing slot and the queue are taken); the next reaches the real server.
    let attempts = 0;
    await page.route('**/api/auth/login', async (route) => {
      attempts++;
      if (attempts === 1) await route.fulfill({ status: 503, headers: { 'retry-after': '1', 'content-type': 'application/json' }, body: JSON.stringify({ code: 'WF_HTTP_BUSY', message: 'Sign-in is busy; retry in a few seconds' }) });
      else await route.continue();
    });
    // Every text the error line shows, caught as it changes: the busy message stands only until
    // the retry (1 s), which a poll on a loaded machine can miss.
    const shown: string[] = [];
    await page.exposeFunction('errorShown', (text: string) => shown.push(text));
    await page.goto(`${sys.httpUrl}/login.html`);
    await page.evaluate(() => {
      const el = document.getElementById('error')!;
      const report = (window as unknown as { errorShown: (t: string) => void }).errorShown;
      new MutationObserver(() => report(el.textContent ?? '')).observe(el, { childList: true, characterData: true, subtree: true });
    });
    await page.fill('#username', 'op');
    await page.fill('#password', PASSWORD);
    await page.click('button[type=submit]');
    await page.waitForURL((u) => u.pathname === '/' && u.host === new URL(sys.httpUrl).host);
    await page.waitForSelector('.queue-layout');
    expect(shown.some((t) => t.includes('登录繁忙，1 秒后自动重试'))).toBe(true);
    expect(attempts).toBe(2);
    await context.close();
  });
});
