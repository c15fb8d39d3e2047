// Issue 17 point 2 in Chromium: an alarm nobody can miss. With the browser's default autoplay
// policy (sound locked until a click, as after any reload) a full-width blocker covers the console
// until sound is on; a new red goes to the top of the operator's view above an older panel storm,
// with the favicon, the title and the banner changing; and updates patch the queue in place (the
// cards are the same DOM nodes before and after, so a click never lands on a replaced card).
// Screenshots are kept in test-artifacts/.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { createUser } from '../dashboards/index.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';
import { TEST_COST, PASSWORD } from './dashboards.fixture.ts';
import { ARTIFACTS, CHROMIUM_ARGS_LOCKED_SOUND } from './browser.support.ts';
import { controlRoom, fireFinding } from './browser.fixture.ts';

/** Counts the tones the page starts (the calls go through to Chromium's Web Audio). */
function countTones(): void {
  const w = window as unknown as { wfTones: number; wfFirstTone?: number };
  w.wfTones = 0;
  const start = OscillatorNode.prototype.start;
  OscillatorNode.prototype.start = function (this: OscillatorNode, ...args: Parameters<OscillatorNode['start']>) {
    w.wfFirstTone ??= performance.now();
    w.wfTones++;
    return start.apply(this, args);
  };
}

describe('an alarm nobody can miss', () => {
  let sys: TestSystem;
  let browser: Browser;
  let page: Page;
  const errors: string[] = [];

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    [sys, browser] = await Promise.all([
      startTestSystem({ registry: controlRoom(), smtp: false }),
      chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS_LOCKED_SOUND }),
    ]);
    await createUser(sys.wf.users, { username: 'op', role: 'operator', personId: 'op1', centerId: 'c1', password: PASSWORD }, { cost: TEST_COST });
    // Signed in without a click on this page (the session comes from an earlier sign-in), as after
    // a reload or a browser restart at the start of a shift: the browser keeps sound locked.
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'zh-CN' });
    await context.addInitScript(countTones);
    const login = await context.request.post(`${sys.httpUrl}/api/auth/login`, { data: { username: 'op', password: PASSWORD } });
    expect(login.status()).toBe(200);
    page = await context.newPage();
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${sys.httpUrl}/`);
    await page.waitForSelector('.queue-layout');
  });
  afterAll(async () => {
    await browser?.close();
    await sys?.stop();
  });

  const tones = () => page.evaluate(() => (window as unknown as { wfTones: number }).wfTones);
  const raise = (deviceId: string, zone?: string) => sys.wf.alerts.handleFinding(fireFinding(deviceId, zone ? { zone } : {}));
  const idOf = async (deviceId: string, zone?: string) => (await sys.wf.alerts.service.list({ active: true })).find((i) => i.deviceId === deviceId && (zone === undefined || i.zone === zone))!.id;

  it('covers the console while sound is locked, until a click turns it on', async () => {
    await page.waitForSelector('body[data-sound="locked"]');
    await raise('sd-1');
    await page.waitForSelector('.card[data-level="red"][data-state="open"]');
    await page.waitForSelector('body[data-alarm="on"]');
    const blocker = page.locator('#sound-blocker');
    expect(await blocker.isVisible()).toBe(true);
    const box = (await blocker.boundingBox())!;
    expect(box.width).toBe(1440);
    expect(box.height).toBe(900);
    await expect(blocker.textContent()).resolves.toContain('报警声音未开启');
    await page.screenshot({ path: join(ARTIFACTS, 'alarm-sound-locked.png'), animations: 'disabled' });
    // The queue cannot be clicked through it: the click goes to the blocker and unlocks sound.
    expect(await tones()).toBe(0);
    const clickedAt = await page.evaluate(() => performance.now());
    await page.mouse.click(300, 300);
    await page.waitForSelector('body[data-sound="enabled"]');
    expect(await blocker.isVisible()).toBe(false);
    // And the waiting alarm is heard at once, not at its next 4 s round (it used to wait for it):
    // measured on the page's own clock from the click.
    await page.waitForFunction(() => (window as unknown as { wfTones: number }).wfTones >= 3);
    expect(await page.evaluate(() => (window as unknown as { wfFirstTone: number }).wfFirstTone) - clickedAt).toBeLessThan(1_500);
  });

  it('puts a new red on top of an older panel storm, with favicon, title and banner', async () => {
    for (const zone of ['1', '2', '3', '4', '5']) await raise('fp-1', zone);
    await page.waitForFunction(() => document.querySelectorAll('.card[data-level="red"]').length === 6);
    // Tag every card node: a rebuilt card would lose its tag.
    await page.evaluate(() => {
      for (const c of document.querySelectorAll<HTMLElement>('.card')) (c as HTMLElement & { wfTag?: string }).wfTag = c.dataset.incidentId;
    });
    await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
    expect(await page.evaluate(() => window.scrollY)).toBeGreaterThan(0);

    await raise('sd-2');
    const home = await idOf('sd-2');
    const first = page.locator('.card').first();
    await page.waitForSelector(`.card[data-incident-id="${home}"]`);
    await expect(first.getAttribute('data-incident-id')).resolves.toBe(home);
    // In view: the page went to the top for it.
    await page.waitForFunction(() => window.scrollY === 0);
    const box = (await first.boundingBox())!;
    expect(box.y).toBeGreaterThanOrEqual(0);
    expect(box.y + box.height).toBeLessThanOrEqual(900);
    expect(await first.getAttribute('class')).toContain('new');
    await expect(page.getAttribute('#favicon', 'href')).resolves.toBe('/favicon-alarm.svg');
    await page.waitForFunction(() => document.title.startsWith('(7) '));
    expect(await page.title()).toContain('红色警情');
    await expect(page.locator('#alarm-newest').textContent()).resolves.toContain('梅园新村 5-1-102');
    await page.screenshot({ path: join(ARTIFACTS, 'alarm-new-red-on-top.png'), animations: 'disabled' });
    // The six older cards are the very nodes they were.
    expect(await page.evaluate(() => [...document.querySelectorAll('.card')].filter((c) => (c as HTMLElement & { wfTag?: string }).wfTag === (c as HTMLElement).dataset.incidentId).length)).toBe(6);
  });

  it('patches the acknowledged card in place and quiets everything once all are acknowledged', async () => {
    const zone1 = await idOf('fp-1', '1');
    const card = await page.$(`.card[data-incident-id="${zone1}"]`);
    await (await card!.$('[data-action="acknowledge"]'))!.click();
    await page.waitForSelector(`.card[data-incident-id="${zone1}"][data-state="acknowledged"]`);
    // Same node, new state; and every other card untouched.
    expect(await card!.evaluate((el) => el.isConnected && (el as HTMLElement).dataset.state)).toBe('acknowledged');
    expect(await page.evaluate(() => [...document.querySelectorAll('.card')].filter((c) => (c as HTMLElement & { wfTag?: string }).wfTag).length)).toBe(6);

    for (const i of await sys.wf.alerts.service.list({ active: true, state: ['open'] })) await sys.wf.alerts.service.acknowledge(i.id, 'op1');
    await page.waitForSelector('body[data-alarm="off"]');
    await expect(page.getAttribute('#favicon', 'href')).resolves.toBe('/favicon.svg');
    await page.waitForFunction(() => !document.title.startsWith('('));
    await page.screenshot({ path: join(ARTIFACTS, 'alarm-all-acknowledged.png'), animations: 'disabled' });
    expect(errors).toEqual([]);
  });

  it('groups a panel storm by site, collapsed past five zones, with one button that acknowledges every new zone', async () => {
    const quiet = await tones();
    for (const zone of ['6', '7', '8']) await raise('fp-1', zone);
    // A new red after silence sounds at once, not at the next round.
    await page.waitForFunction((n) => (window as unknown as { wfTones: number }).wfTones >= n + 3, quiet);
    const group = page.locator('.group[data-site-id="b1"]');
    await page.waitForFunction(() => document.querySelector('.group[data-site-id="b1"] .group-open')?.textContent === '3条新警情');
    // Eight zones: the count, the zones and the buttons, not eight cards.
    expect(await group.getAttribute('data-collapsed')).toBe('true');
    expect(await group.locator('.card').count()).toBe(0);
    await expect(group.locator('.group-count').textContent()).resolves.toBe('共8条警情');
    await expect(group.locator('.group-zones').textContent()).resolves.toBe('分区 1, 2, 3, 4, 5, 6, 7, 8');
    await page.waitForSelector('body[data-alarm="on"]');
    await group.locator('[data-action="toggle-group"]').click();
    await page.waitForFunction(() => document.querySelectorAll('.group[data-site-id="b1"] .card[data-state="open"]').length === 3);
    expect(await group.locator('.card').count()).toBe(8);
    await page.screenshot({ path: join(ARTIFACTS, 'alarm-storm-group.png'), animations: 'disabled' });
    await group.locator('[data-action="toggle-group"]').click();
    await page.waitForSelector('.group[data-site-id="b1"][data-collapsed="true"]');
    await group.locator('[data-action="acknowledge-group"]').click();
    await page.waitForSelector('body[data-alarm="off"]');
    expect(await sys.wf.alerts.service.list({ active: true, state: ['open'] })).toEqual([]);
    const b1 = (await sys.wf.alerts.service.list({ active: true })).filter((i) => i.siteId === 'b1');
    const acks = await Promise.all(b1.map(async (i) => (await sys.wf.alerts.service.timeline(i.id)).filter((e) => e.action === 'acknowledge').map((e) => e.actor)));
    expect(acks.flat()).toEqual(Array(8).fill('op1'));
    expect(await group.locator('[data-action="acknowledge-group"]').isVisible()).toBe(false);
    expect(errors).toEqual([]);
  });
});
