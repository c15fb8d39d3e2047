// Not a test: renders the pages against the fixture server for a quick look (tsx tests/dashboards.preview.ts).
import { chromium } from 'playwright-core';
import { makeServer, OFFLINE, LOW_BATTERY } from './dashboards.fixture.ts';

const now = Date.now();
const influx = {
  async query(q: string) {
    const rows: Array<Record<string, unknown>> = [];
    const dev = /"device" = '([^']+)'/.exec(q)?.[1] ?? '';
    for (let i = 0; i < 120; i++) {
      const t = now - (120 - i) * 12 * 60_000;
      const fire = dev === 'sd-1' && i > 110;
      rows.push({ time: new Date(t).toISOString(), smoke: fire ? 0.05 + (i - 110) * 0.03 : 0.01 + Math.random() * 0.01, temp: 22 + Math.sin(i / 10) + (fire ? (i - 110) * 3 : 0), co: 2 + Math.random() * 3, battery: dev === 'sd-2' ? 18 : 87 - i * 0.02 });
    }
    return rows;
  },
};
const state = new Map<string, { online: boolean; lastSeen: number; last: Record<string, number> }>([
  ['sd-1', { online: true, lastSeen: now - 4000, last: { smoke: 0.31, temp: 48.2, co: 12, battery: 86 } }],
  ['sd-2', { online: true, lastSeen: now - 60_000, last: { smoke: 0.01, temp: 23.1, battery: 18 } }],
  ['sd-3', { online: false, lastSeen: now - 3_600_000, last: { smoke: 0.0, battery: 64 } }],
]);
const ctx = await makeServer({ influx, deviceState: (id) => state.get(id) });
await ctx.server.start();
const port = ctx.server.address().port;
const a = await ctx.raise('sd-1', { confirmed: true });
await ctx.raise('sd-1', { ruleId: 'smoke.heat', message: { en: 'Heat', zh: '温度过高' } });
const b = await ctx.raise('sd-3', OFFLINE);
await ctx.raise('sd-2', LOW_BATTERY);
await ctx.incidents.acknowledge(b.id, 'op1');
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
const lang = process.argv[2] ?? 'zh-CN';
const page = await browser.newPage({ viewport: { width: 1440, height: 900 }, locale: lang });
await page.goto(`http://127.0.0.1:${port}/login.html`);
await page.fill('#username', 'op');
await page.fill('#password', 'correct horse battery');
await page.click('button[type=submit]');
await page.waitForSelector('.card');
await page.waitForSelector('.detail');
await page.screenshot({ path: `/tmp/wfprev/queue-${lang}.png` });
await page.goto(`http://127.0.0.1:${port}/#/site/s1?incident=${a.id}`);
await page.waitForSelector('.chart');
await page.screenshot({ path: `/tmp/wfprev/site-${lang}.png`, fullPage: true });
await page.goto(`http://127.0.0.1:${port}/#/overview`);
await page.waitForSelector('.tiles');
await page.screenshot({ path: `/tmp/wfprev/overview-${lang}.png`, fullPage: true });
await ctx.incidents.acknowledge(a.id, 'op1');
await ctx.incidents.dispatch(a.id, 'op1', 'w1');
const phone = await browser.newPage({ viewport: { width: 360, height: 780 }, locale: lang, isMobile: true, hasTouch: true });
await phone.goto(`http://127.0.0.1:${port}/login.html`);
await phone.fill('#username', 'worker');
await phone.fill('#password', 'correct horse battery');
await phone.click('button[type=submit]');
await phone.waitForSelector('.task');
await phone.screenshot({ path: `/tmp/wfprev/phone-${lang}.png`, fullPage: true });
await phone.click('[data-action="resolve-open"]');
await phone.screenshot({ path: `/tmp/wfprev/phone-resolve-${lang}.png`, fullPage: true });
const errs: string[] = [];
page.on('pageerror', (e) => errs.push(String(e)));
await browser.close();
await ctx.close();
console.log('done', errs);
