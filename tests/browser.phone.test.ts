// Issue 17 point 4 in Chromium on a 360-px phone: dispatch reaches the grid worker. The operator
// dispatches from the console; the worker's open page sounds, vibrates and shows a system
// notification (Notification API) for the new task, and the worker is emailed at once (the test's
// SMTP server catches it, with a link to the task).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { createUser } from '../dashboards/index.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';
import { TEST_COST, PASSWORD } from './dashboards.fixture.ts';
import { ARTIFACTS, CHROMIUM_ARGS } from './browser.support.ts';
import { controlRoom, fireFinding } from './browser.fixture.ts';

describe('a dispatched task reaches the grid worker’s phone', () => {
  let sys: TestSystem;
  let browser: Browser;
  const errors: string[] = [];

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    [sys, browser] = await Promise.all([
      startTestSystem({ registry: controlRoom() }),
      chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS }),
    ]);
    await createUser(sys.wf.users, { username: 'op', role: 'operator', personId: 'op1', centerId: 'c1', password: PASSWORD }, { cost: TEST_COST });
    await createUser(sys.wf.users, { username: 'zhang', role: 'grid_worker', personId: 'w1', centerId: 'c1', password: PASSWORD }, { cost: TEST_COST });
  });
  afterAll(async () => {
    await browser?.close();
    await sys?.stop();
  });

  it('sounds, vibrates and notifies on the open page, and emails the worker', async () => {
    const phoneContext = await browser.newContext({ viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true, locale: 'zh-CN' });
    await phoneContext.grantPermissions(['notifications'], { origin: sys.httpUrl });
    // Watch the device APIs the page calls (the calls go through to Chromium's own).
    await phoneContext.addInitScript(() => {
      const w = window as unknown as { wfSeen: { tones: number; vibrate: unknown[]; notifications: Array<{ title: string; body: string | undefined }> } };
      w.wfSeen = { tones: 0, vibrate: [], notifications: [] };
      const start = OscillatorNode.prototype.start;
      OscillatorNode.prototype.start = function (this: OscillatorNode, ...args: Parameters<OscillatorNode['start']>) {
        w.wfSeen.tones++;
        return start.apply(this, args);
      };
      const vibrate = navigator.vibrate?.bind(navigator);
      navigator.vibrate = ((p: number[]) => {
        w.wfSeen.vibrate.push(p);
        return vibrate ? vibrate(p) : true;
      }) as Navigator['vibrate'];
      const Real = window.Notification;
      class Seen extends Real {
        constructor(title: string, opts?: NotificationOptions) {
          super(title, opts);
          w.wfSeen.notifications.push({ title, body: opts?.body });
        }
      }
      Object.defineProperty(window, 'Notification', { value: Seen });
    });
    const phone = await phoneContext.newPage();
    phone.on('pageerror', (e) => errors.push(e.message));
    await phone.goto(`${sys.httpUrl}/login.html`);
    await phone.fill('#username', 'zhang');
    await phone.fill('#password', PASSWORD);
    await phone.click('button[type=submit]');
    await phone.waitForSelector('.tasks .empty');
    // Not announced yet: nothing assigned.
    expect(await phone.evaluate(() => document.body.dataset.taskAlert)).toBeUndefined();
    await phone.waitForSelector('body[data-sound="enabled"]');

    await sys.wf.alerts.handleFinding(fireFinding('sd-1'));
    const id = (await sys.wf.alerts.service.list({ active: true }))[0]!.id;
    const op = await browser.newPage({ viewport: { width: 1440, height: 900 }, locale: 'zh-CN' });
    op.on('pageerror', (e) => errors.push(e.message));
    await op.goto(`${sys.httpUrl}/login.html`);
    await op.fill('#username', 'op');
    await op.fill('#password', PASSWORD);
    await op.click('button[type=submit]');
    const card = op.locator(`.card[data-incident-id="${id}"]`);
    await card.locator('[data-action="acknowledge"]').click();
    await card.locator('[data-action="dispatch"]').click();

    // The phone: the task appears and is announced every way the page can.
    await phone.waitForSelector(`.task[data-incident-id="${id}"]`);
    await phone.waitForSelector(`body[data-task-alert="${id}"]`);
    const seen = await phone.evaluate(() => (window as unknown as { wfSeen: { tones: number; vibrate: unknown[]; notifications: Array<{ title: string; body: string }> } }).wfSeen);
    // The task tone: three rising beeps (dashboards/public/js/alarm.js taskTone).
    expect(seen.tones).toBe(3);
    expect(seen.vibrate).toEqual([[400, 200, 400, 200, 400]]);
    expect(seen.notifications).toEqual([{ title: '新任务 · 烟感火警', body: '梅园新村 3-2-401 · 梅园新村3栋2单元401' }]);
    expect(await phone.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(360);
    await phone.screenshot({ path: join(ARTIFACTS, 'phone-new-task.png'), animations: 'disabled' });

    // And at once by email, in the worker's language, with the link to the task.
    const mails = await sys.smtp!.waitForMails((m) => m.some((x) => x.to.includes('w1@example.test')), 'dispatch email to the grid worker');
    const mail = mails.find((x) => x.to.includes('w1@example.test'))!;
    expect(mail.subject).toMatch(/^\[派单给您·红色警情\] 烟感报警 — 梅园新村 3-2-401/);
    expect(mail.text).toContain(`/#/incidents/${encodeURIComponent(id)}`);
    expect(errors).toEqual([]);
    await phoneContext.close();
  });
});
