// Issue 19 point 6: every message and call about an incident with what became of it — the outbox
// row's state, then the provider's receipt — on real SQLite, through the service the API serves.
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { join } from 'node:path';
import { WatchfireError } from '../contracts/errors.ts';
import type { ChannelInbound } from '../contracts/channels.ts';
import type { OutboundMessage } from '../alerts/index.ts';
import { DAY_SHIFT_TIME, finding, manualClock, recordingChannel, startAlerts, tempDir, WEBHOOK_SECRET, type Harness } from './alerts.fixture.ts';

const tmp = tempDir();
afterAll(() => tmp.remove());
let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe('deliveries', () => {
  it('shows sent, delivered, answered, no answer and failed, and leaves the console out', async () => {
    const clock = manualClock(DAY_SHIFT_TIME);
    const webhook = recordingChannel('webhook');
    const email = { name: 'email' as const, send: (_m: OutboundMessage) => Promise.reject(new WatchfireError('WF_NOTIFY_SMTP', '550 mailbox unavailable')), close: () => Promise.resolve() };
    h = await startAlerts({
      file: join(tmp.dir, 'd.db'), clock,
      config: { webhook: { url: 'http://127.0.0.1:9/sms-gateway', secret: WEBHOOK_SECRET } },
      alerts: { channels: { webhook, email }, outbox: { giveUpAfterMs: 0 } },
    });
    await h.alerts.handleFinding(finding());
    const id = (await h.alerts.service.list({}))[0]!.id;
    await vi.waitFor(async () => expect((await h!.alerts.service.deliveries(id)).filter((d) => d.outcome === 'queued' || d.outcome === 'sending')).toEqual([]));
    const rows = await h.alerts.service.deliveries(id);
    expect(rows.every((d) => d.channel !== 'console')).toBe(true);
    const row = (rid: string, ch: string) => rows.find((d) => d.recipientId === rid && d.channel === ch)!;
    expect(row('op-liu', 'email')).toMatchObject({ outcome: 'failed', detail: '550 mailbox unavailable', attempts: 1 });
    expect(row('gw-wang', 'webhook')).toMatchObject({ outcome: 'sent', outcomeAt: DAY_SHIFT_TIME, detail: null });
    // Labelled with the channel table's words: the console lists no channels of its own.
    expect(row('op-liu', 'email').channelName).toEqual({ en: 'Email', zh: '邮件' });
    expect(row('gw-wang', 'webhook').channelName).toEqual({ en: 'Webhook', zh: 'Webhook 推送' });
    const receipt = (rid: string, status: Extract<ChannelInbound, { kind: 'receipt' }>['status'], detail?: string): ChannelInbound => {
      const r = row(rid, 'webhook');
      return { kind: 'receipt', channel: 'webhook', provider: 'aliyun', status, providerId: `p-${r.id}`, at: clock.now() + 5_000, detail, match: { outboxId: r.id, incidentId: id, recipientId: rid } };
    };
    h.bus.emit('channel.inbound', receipt('h1#contact0', 'answered'));
    h.bus.emit('channel.inbound', receipt('h1#contact1', 'no_answer', 'MN:0001 用户关机'));
    h.bus.emit('channel.inbound', receipt('gw-wang', 'delivered'));
    // Receipts are recorded asynchronously (the outbox's store may be a network database).
    await vi.waitFor(async () => expect((await h!.alerts.service.deliveries(id)).filter((d) => d.outcome === 'sent')).toEqual([]));
    const after = await h.alerts.service.deliveries(id);
    const outcome = (rid: string, ch: string) => after.find((d) => d.recipientId === rid && d.channel === ch)!;
    expect(outcome('h1#contact0', 'webhook')).toMatchObject({ outcome: 'answered', outcomeAt: DAY_SHIFT_TIME + 5_000, recipientName: '李明', recipientKind: 'contacts' });
    expect(outcome('h1#contact1', 'webhook')).toMatchObject({ outcome: 'no_answer', detail: 'MN:0001 用户关机' });
    expect(outcome('gw-wang', 'webhook')).toMatchObject({ outcome: 'delivered' });
    expect(outcome('op-liu', 'email').outcome).toBe('failed');
    expect(after.map((d) => d.outcome).sort()).toEqual(['answered', 'delivered', 'failed', 'failed', 'no_answer']);
  });
});
