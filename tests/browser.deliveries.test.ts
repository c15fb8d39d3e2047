// Issue 19 point 6 in Chromium: the incident timeline on the console shows every message and call
// with its outcome, in Chinese and in English, and a provider's receipt changes it live. Real Watchfire (real SMTP, a real webhook receiver,
// influxd), the provider's receipts arriving on the bus as the callback adapter publishes them.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { createUser } from '../dashboards/index.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';
import { TEST_COST, PASSWORD } from './dashboards.fixture.ts';
import { ARTIFACTS, CHROMIUM_ARGS } from './browser.support.ts';
import { controlRoom, fireFinding } from './browser.fixture.ts';
import { startWebhookReceiver, WEBHOOK_SECRET } from './alerts.fixture.ts';

describe('every message and call on the timeline', () => {
  let sys: TestSystem;
  let browser: Browser;
  let receiver: Awaited<ReturnType<typeof startWebhookReceiver>>;
  const errors: string[] = [];

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    receiver = await startWebhookReceiver();
    [sys, browser] = await Promise.all([
      startTestSystem({ registry: controlRoom(), config: { 'alerts.webhook': { url: receiver.url, secret: WEBHOOK_SECRET } } }),
      chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS }),
    ]);
    await createUser(sys.wf.users, { username: 'op', role: 'operator', personId: 'op1', centerId: 'c1', password: PASSWORD }, { cost: TEST_COST });
  });
  afterAll(async () => {
    await browser?.close();
    await sys?.stop();
    await receiver?.stop();
  });

  it('shows each with its outcome, and the outcome a receipt brings, in both languages', async () => {
    sys.wf.alerts.handleFinding(fireFinding('sd-1'));
    const id = sys.wf.alerts.service.list({ active: true })[0]!.id;
    // The email to the operator and the webhook (SMS gateway) to the grid worker go out.
    await sys.waitFor(() => sys.wf.alerts.service.deliveries(id).filter((d) => d.outcome === 'sent').length === 2, { what: 'both sent' });
    const worker = sys.wf.alerts.service.deliveries(id).find((d) => d.recipientId === 'w1')!;

    const op = await browser.newPage({ viewport: { width: 1440, height: 900 }, locale: 'zh-CN' });
    op.on('pageerror', (e) => errors.push(e.message));
    await op.goto(`${sys.httpUrl}/login.html`);
    await op.fill('#username', 'op');
    await op.fill('#password', PASSWORD);
    await op.click('button[type=submit]');
    await op.locator(`.card[data-incident-id="${id}"]`).click();
    const timeline = op.locator(`.detail[data-incident-id="${id}"] .timeline`);
    await timeline.locator('li.tl-delivery[data-outcome="sent"]').nth(1).waitFor();
    // The provider's receipt arrives while the operator watches: the line changes without a reload.
    sys.wf.bus.emit('channel.inbound', { kind: 'receipt', channel: 'webhook', provider: 'aliyun', status: 'no_answer', providerId: 'call-9', at: Date.now(), match: { outboxId: worker.id, incidentId: id, recipientId: 'w1' } });
    await timeline.locator('li.tl-delivery[data-outcome="no_answer"]').waitFor();
    const lines = async () => timeline.locator('li.tl-delivery').evaluateAll((els) => els.map((e) => `${e.querySelector('.what')!.textContent} · ${e.querySelector('[data-role="outcome"]')!.textContent}`));
    expect((await lines()).sort()).toEqual(['Webhook 推送 → 张网格 (网格员) · 无人接听', '邮件 → 陈值班 (值班员) · 已发出']);
    // Between the audit entries, in time order: the alarm first, its messages after it.
    const classes = await timeline.locator('li').evaluateAll((els) => els.map((e) => e.className.split(' ')[0]));
    expect(classes[0]).toBe('tl-opened');
    expect(classes.slice(1)).toEqual(['tl-delivery', 'tl-delivery']);
    await op.screenshot({ path: join(ARTIFACTS, 'deliveries-zh.png'), animations: 'disabled' });

    await op.locator('[data-lang="en"]').first().click();
    await timeline.locator('li.tl-delivery [data-role="outcome"]', { hasText: 'no answer' }).waitFor();
    expect((await lines()).sort()).toEqual(['Email → 陈值班 (operator) · sent', 'Webhook → 张网格 (grid worker) · no answer']);

    // The API says the same.
    expect(sys.wf.alerts.service.deliveries(id).map((d) => [d.channel, d.recipientId, d.outcome]).sort()).toEqual([['email', 'op1', 'sent'], ['webhook', 'w1', 'no_answer']]);
    expect(errors).toEqual([]);
  });
});
