// Issue 17 point 5 in Chromium: the zh-CN console and phone page show Chinese labels everywhere a
// label is expected (no untranslated key, no English left standing), timeline notes in Chinese
// with names instead of ids, and a refused resolution's field errors in Chinese, wrapped inside a
// 360-px phone screen.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import type { TestSystem } from './support/system.ts';
import { PASSWORD } from './dashboards.fixture.ts';
import { ARTIFACTS, startConsoleSystem } from './browser.support.ts';
import { controlRoom, fireFinding } from './browser.fixture.ts';

/**
 * Text of the visible elements where a label is expected that is an i18n key or has no Chinese
 * character at all (numbers, times and the language switch's "EN" aside).
 */
async function notChinese(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const LABELS = 'th, dt, h1, h2, h3, legend, button, label, .label, .chip, .badge, .tag, .tabs a, .section, .placeholder, .empty, .what, .who, .sheet-label, .field-error, .sound, #live-text';
    const KEY = /^[a-z][a-zA-Z]*(\.[a-zA-Z_]+)+$/;
    const CJK = /[\u3400-\u9fff]/;
    const NEUTRAL = /^[\d\s:./%()+\-–·→←✓☎…×]*$/;
    const out: string[] = [];
    for (const el of document.querySelectorAll<HTMLElement>(LABELS)) {
      if (!el.checkVisibility()) continue;
      const text = (el.textContent ?? '').trim();
      if (!text || text === 'EN' || NEUTRAL.test(text)) continue;
      if (KEY.test(text) || !CJK.test(text)) out.push(`${el.tagName.toLowerCase()}.${el.className}: ${text}`);
    }
    return out;
  });
}

describe('Chinese everywhere in a zh-CN view', () => {
  let sys: TestSystem;
  let browser: Browser;
  const errors: string[] = [];

  beforeAll(async () => {
    ({ sys, browser } = await startConsoleSystem({ registry: controlRoom(), smtp: false }, [
      { username: 'op', role: 'operator', personId: 'op1', centerId: 'c1' },
      { username: 'zhang', role: 'grid_worker', personId: 'w1', centerId: 'c1' },
    ]));
  });
  afterAll(async () => {
    await browser?.close();
    await sys?.stop();
  });

  async function signIn(username: string, viewport: { width: number; height: number }, mobile = false): Promise<Page> {
    const page = await browser.newPage({ viewport, locale: 'zh-CN', timezoneId: 'Europe/Berlin', ...(mobile ? { isMobile: true, hasTouch: true } : {}) });
    page.on('pageerror', (e) => errors.push(`${username}: ${e.message}`));
    await page.goto(`${sys.httpUrl}/login.html`);
    expect(await notChinese(page)).toEqual([]);
    await page.fill('#username', username);
    await page.fill('#password', PASSWORD);
    await page.click('button[type=submit]');
    return page;
  }

  it('labels the console, the timeline and the phone page in Chinese', async () => {
    await sys.wf.alerts.handleFinding(fireFinding('sd-1'));
    await sys.wf.alerts.handleFinding(fireFinding('fp-1', { zone: '2' }));
    const home = (await sys.wf.alerts.service.list({ active: true })).find((i) => i.deviceId === 'sd-1')!;
    const op = await signIn('op', { width: 1440, height: 900 });
    await op.waitForSelector(`.card[data-incident-id="${home.id}"]`);
    await op.locator(`.card[data-incident-id="${home.id}"]`).click();
    await op.locator(`.detail[data-incident-id="${home.id}"] [data-action="acknowledge"]`).click();
    await op.locator(`.detail[data-incident-id="${home.id}"] [data-action="dispatch-to"]`).click();
    await op.waitForSelector(`.detail[data-incident-id="${home.id}"] .timeline li.tl-dispatch`);
    // The shift's tools (issue 17 point 6): one tap logs a call's outcome, a note goes in the timeline.
    await op.locator('.detail .call-log[data-contact="王秀英"] [data-outcome="no_answer"]').click();
    await op.waitForSelector('.detail .timeline li.tl-call');
    await expect(op.locator('.detail .timeline li.tl-call .what').textContent()).resolves.toBe('电话 · 无人接听');
    await op.fill('#note-text', '电话未接通，已请邻居敲门');
    await op.locator('.detail [data-action="note"]').click();
    await op.waitForSelector('.detail .timeline li.tl-note');
    await expect(op.locator('.detail .timeline li.tl-note .note').textContent()).resolves.toBe('电话未接通，已请邻居敲门');
    expect(await notChinese(op)).toEqual([]);
    // The notes: the system's in Chinese, the dispatch naming the grid worker, not their id.
    const notes = await op.locator('.detail .timeline .note').allTextContents();
    expect(notes).toContain('烟感火警');
    expect(notes).toContain('派给 张网格');
    expect(notes.join(' ')).not.toMatch(/\bw1\b|Smoke/);
    await expect(op.locator('.detail .timeline li.tl-opened .who').textContent()).resolves.toBe('守望系统');
    await op.screenshot({ path: join(ARTIFACTS, 'words-console-zh.png'), animations: 'disabled' });

    // The phone: a resolution sent without a disposition is refused by the server; its field error
    // is Chinese and wraps inside the screen.
    const phone = await signIn('zhang', { width: 360, height: 740 }, true);
    const task = phone.locator(`.task[data-incident-id="${home.id}"]`);
    await task.waitFor();
    await task.locator('[data-action="resolve-open"]').click();
    await task.locator('textarea').fill('锅烧干了，已关火');
    await task.locator('[data-action="resolve"]').click();
    await task.locator('.field-error').first().waitFor();
    await expect(task.locator('.field-error').first().textContent()).resolves.toBe('请选择处置结论。');
    expect(await phone.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(360);
    const submit = (await task.locator('[data-action="resolve"]').boundingBox())!;
    expect(submit.x + submit.width).toBeLessThanOrEqual(360);
    expect(await notChinese(phone)).toEqual([]);
    await phone.screenshot({ path: join(ARTIFACTS, 'words-phone-error-zh.png'), fullPage: true, animations: 'disabled' });
    await task.locator('input[value="nuisance"]').check();
    await task.locator('[data-action="resolve"]').click();
    await phone.waitForSelector(`.task[data-incident-id="${home.id}"]`, { state: 'detached' });

    // The site view, the overview and the review list.
    await op.goto(`${sys.httpUrl}/#/site/s1?incident=${encodeURIComponent(home.id)}`);
    await op.waitForSelector('.site-view .timeline li.tl-resolve');
    await expect(op.locator('.site-view .timeline li.tl-resolve .note').textContent()).resolves.toBe('烹饪烟雾 / 误报：锅烧干了，已关火');
    expect(await notChinese(op)).toEqual([]);
    await op.goto(`${sys.httpUrl}/#/overview`);
    await op.waitForSelector('.overview .tiles');
    expect(await notChinese(op)).toEqual([]);
    await op.goto(`${sys.httpUrl}/#/review`);
    await op.waitForSelector(`.review tr[data-incident-id="${home.id}"]`);
    expect(await notChinese(op)).toEqual([]);
    // A shift's tools (issue 17 point 6): the handover, the map and the history.
    await op.goto(`${sys.httpUrl}/#/handover`);
    await op.waitForSelector(`.handover [data-section="resolved"] tr[data-incident-id="${home.id}"]`);
    expect(await notChinese(op)).toEqual([]);
    await op.goto(`${sys.httpUrl}/#/map`);
    await op.waitForSelector('.map-view .map-legend');
    expect(await notChinese(op)).toEqual([]);
    await op.goto(`${sys.httpUrl}/#/history`);
    await op.waitForSelector(`.history-results tr[data-incident-id="${home.id}"]`);
    expect(await notChinese(op)).toEqual([]);
    expect(errors).toEqual([]);
  });
});
