// Issue 19 point 6 in Chromium: the incident timeline on the console shows every message and call
// with its outcome — sent, delivered, answered, failed, no answer — in Chinese and in English, and
// a provider's receipt changes it live. Real Watchfire (real SMTP, influxd), SMS and voice calls
// through the real Alibaba Cloud SDK to the fake provider (tests/support/providers.ts), and the
// receipts posted to Watchfire's own callback URLs in Alibaba's documented formats.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { createUser } from '../dashboards/index.ts';
import { parsePolicies } from '../alerts/index.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';
import { FAKE_CREDENTIALS, fakeAgent, startFakeProviders, type FakeProviders } from './support/providers.ts';
import { TEST_COST, PASSWORD } from './dashboards.fixture.ts';
import { ARTIFACTS, CHROMIUM_ARGS } from './browser.support.ts';
import { controlRoom, fireFinding } from './browser.fixture.ts';

const TOKEN = 'callback-token-0123456789abcdef';
/** Alibaba stamps its receipts in Beijing time, "2026-12-07 10:02:00". */
const chinaNow = () => new Date(Date.now() + 8 * 3_600_000).toISOString().slice(0, 19).replace('T', ' ');

describe('every message and call on the timeline', () => {
  let sys: TestSystem;
  let browser: Browser;
  let fake: FakeProviders;
  const errors: string[] = [];

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    fake = await startFakeProviders();
    const phone = { provider: 'aliyun', endpoint: fake.host, protocol: 'http', params: { site: '{site}', title: '{title}' } };
    [sys, browser] = await Promise.all([
      startTestSystem({
        registry: controlRoom(),
        config: {
          'alerts.providers': { aliyun: FAKE_CREDENTIALS.aliyun },
          'alerts.channels': { sms: { ...phone, signName: '城东消防', templateId: 'SMS_465000001' }, voice: { ...phone, templateId: 'TTS_465000001' } },
          'alerts.callbacks': { token: TOKEN },
        },
        alerts: {
          providerAgent: fakeAgent(fake),
          // The operator by email; the resident and the grid worker by text and by call.
          policies: parsePolicies({
            policies: ['red', 'yellow'].map((level) => ({
              id: level, level,
              steps: [{ id: 'alarm', kind: 'alarm', notify: [{ to: 'console' }, { to: 'operators', via: ['email'] }, { to: 'resident', via: ['sms', 'voice'] }, { to: 'grid_worker', via: ['sms', 'voice'] }] }],
            })),
          }),
        },
      }),
      chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS }),
    ]);
    await createUser(sys.wf.users, { username: 'op', role: 'operator', personId: 'op1', centerId: 'c1', password: PASSWORD }, { cost: TEST_COST });
  });
  afterAll(async () => {
    await browser?.close();
    await sys?.stop();
    await fake?.stop();
  });

  it('shows each with its outcome, the outcomes the providers\' receipts bring, in both languages', async () => {
    await sys.wf.alerts.handleFinding(fireFinding('sd-1'));
    const id = (await sys.wf.alerts.service.list({ active: true }))[0]!.id;
    // The email, and a text and a call to each of the resident (13800000001) and the grid worker (13700000003).
    await sys.waitFor(async () => (await sys.wf.alerts.service.deliveries(id)).filter((d) => d.outcome === 'sent').length === 5, { what: 'all five sent' });
    const sent = (service: 'aliyun.sms' | 'aliyun.voice', to: string) => fake.messages.find((m) => m.service === service && m.to === to)!;

    const op = await browser.newPage({ viewport: { width: 1440, height: 900 }, locale: 'zh-CN' });
    op.on('pageerror', (e) => errors.push(e.message));
    await op.goto(`${sys.httpUrl}/login.html`);
    await op.fill('#username', 'op');
    await op.fill('#password', PASSWORD);
    await op.click('button[type=submit]');
    await op.locator(`.card[data-incident-id="${id}"]`).click();
    const timeline = op.locator(`.detail[data-incident-id="${id}"] .timeline`);
    await timeline.locator('li.tl-delivery[data-outcome="sent"]').nth(4).waitFor();

    // The providers' receipts arrive while the operator watches: the lines change without a reload.
    const post = async (path: string, body: unknown) => {
      const r = await fetch(`${sys.httpUrl}/callbacks/${TOKEN}/${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      expect(await r.json()).toEqual({ code: 0, msg: '接收成功' });
    };
    const smsReport = (m: ReturnType<typeof sent>, success: boolean, code: string, msg: string) =>
      ({ phone_number: m.to.slice(3), send_time: chinaNow(), report_time: chinaNow(), success, err_code: code, err_msg: msg, sms_size: '1', biz_id: m.providerId, out_id: m.outId });
    const voiceReport = (m: ReturnType<typeof sent>, code: string, msg: string) =>
      ({ call_id: m.providerId, status_code: code, status_msg: msg, start_time: chinaNow(), end_time: chinaNow(), duration: '0', out_id: m.outId, toll_type: 'LOCAL', callee: m.to.slice(3) });
    await post('aliyun/sms-report', [smsReport(sent('aliyun.sms', '+8613700000003'), true, 'DELIVERED', '用户接收成功'), smsReport(sent('aliyun.sms', '+8613800000001'), false, 'MK:0001', '用户关机')]);
    await post('aliyun/voice-report', [voiceReport(sent('aliyun.voice', '+8613700000003'), '200000', '用户听完语音'), voiceReport(sent('aliyun.voice', '+8613800000001'), '200003', '用户未接听')]);
    for (const o of ['delivered', 'answered', 'failed', 'no_answer']) await timeline.locator(`li.tl-delivery[data-outcome="${o}"]`).waitFor();

    const lines = async () => timeline.locator('li.tl-delivery').evaluateAll((els) => els.map((e) => `${e.querySelector('.what')!.textContent} · ${e.querySelector('[data-role="outcome"]')!.textContent}`));
    expect((await lines()).sort()).toEqual([
      '短信 → 张网格 (网格员) · 已送达',
      '短信 → 王秀英 (住户) · 失败',
      '语音电话 → 张网格 (网格员) · 已接听',
      '语音电话 → 王秀英 (住户) · 无人接听',
      '邮件 → 陈值班 (值班员) · 已发出',
    ].sort());
    // The provider's own words go with a failure.
    expect(await timeline.locator('li.tl-delivery[data-outcome="failed"] .note').textContent()).toBe('MK:0001 用户关机');
    // Between the audit entries, in time order: the alarm first, its messages after it.
    const classes = await timeline.locator('li').evaluateAll((els) => els.map((e) => e.className.split(' ')[0]));
    expect(classes[0]).toBe('tl-opened');
    expect(classes.slice(1)).toEqual(Array(5).fill('tl-delivery'));
    await op.screenshot({ path: join(ARTIFACTS, 'deliveries-zh.png'), animations: 'disabled' });

    await op.locator('[data-lang="en"]').first().click();
    await timeline.locator('li.tl-delivery [data-role="outcome"]', { hasText: 'no answer' }).waitFor();
    expect((await lines()).sort()).toEqual([
      'Email → 陈值班 (operator) · sent',
      'SMS → 张网格 (grid worker) · delivered',
      'SMS → 王秀英 (resident) · failed',
      'Voice call → 张网格 (grid worker) · answered',
      'Voice call → 王秀英 (resident) · no answer',
    ]);

    // The API says the same.
    expect((await sys.wf.alerts.service.deliveries(id)).map((d) => [d.channel, d.recipientId, d.outcome]).sort()).toEqual([
      ['email', 'op1', 'sent'], ['sms', 's1#resident', 'failed'], ['sms', 'w1', 'delivered'], ['voice', 's1#resident', 'no_answer'], ['voice', 'w1', 'answered'],
    ]);
    expect(errors).toEqual([]);
  });
});
