// Issue 19 points 4, 5 and 7 end to end: the demo's fire policy (a call tree) sends through the real
// Alibaba Cloud SDK to the demo catcher's phones; nobody answers the resident's call, the contacts
// are called and texted next, the son answers and presses 1 on the catcher page — the incident is
// acknowledged by him and the grid worker is never called. Real SQLite, real HTTP, the demo's own
// minute per stage (which the unanswered call cuts short).
import { afterAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { demoPolicies } from '../app/demo.ts';
import { createMailCatcher } from '../app/mailcatcher.ts';
import { createPhoneCatcher, type PhoneEvent } from '../app/phonecatcher.ts';
import { parsePolicies, type EscalationPoliciesInput } from '../alerts/index.ts';
import type { ChannelInbound } from '../contracts/channels.ts';
import { waitFor } from './support/wait.ts';
import { finding, recordingChannel, startAlerts, tempDir, type Harness } from './alerts.fixture.ts';

const tmp = tempDir();
let h: Harness | undefined;
let catcher: ReturnType<typeof createMailCatcher> | undefined;
afterAll(async () => {
  await h?.close();
  await catcher?.stop();
  tmp.remove();
});

/**
 * The demo's policies as they are: a minute per stage. Nothing here waits that minute — the
 * resident's unanswered call moves the tree on at once, and the son's keypress stops it long
 * before the grid worker's turn. (With the minute cut to a second, a loaded machine let the grid
 * worker's second pass before the son's press arrived, about one run in two.)
 */
function demoTree(): EscalationPoliciesInput {
  const p = demoPolicies();
  const tree = p.policies[0]!.steps.find((s) => s.id === 'call_tree')! as { sequence: Array<{ wait?: string }> };
  expect(tree.sequence.map((s) => s.wait)).toEqual(['60s', '60s', undefined]);
  return p;
}

describe('the demo’s phones', () => {
  it('call tree through the SDK to the catcher: no answer at home, the son presses 1, the grid worker is never called', async () => {
    let inbound: (e: ChannelInbound) => void = () => undefined;
    const phones = createPhoneCatcher({ onInbound: (e) => inbound(e) });
    catcher = createMailCatcher({ phones });
    const { httpPort } = await catcher.start();
    const base = `http://127.0.0.1:${httpPort}`;
    const phone = { provider: 'aliyun', endpoint: `127.0.0.1:${httpPort}`, protocol: 'http', params: { text: '{text}' }, maxParamChars: 500 };
    h = await startAlerts({
      file: join(tmp.dir, 'demo.db'),
      clock: { now: () => Date.now() },
      config: {
        providers: { aliyun: { accessKeyId: 'demo-access-key', accessKeySecret: 'demo-access-key-secret' } },
        channels: { sms: { ...phone, signName: '守望演示', templateId: 'SMS_100000001' }, voice: { ...phone, templateId: 'TTS_100000001' } },
        ack: { secret: 'demo-ack-secret-0123456789', ttlMs: 3_600_000, replyWords: ['1'], keypressDigit: '1' },
      },
      alerts: { policies: parsePolicies(demoTree()), channels: { email: recordingChannel('email') } },
    });
    const harness = h;
    inbound = (e) => harness.bus.emit('channel.inbound', e);
    await h.alerts.handleFinding(finding());
    const id = (await h.alerts.service.list({}))[0]!.id;
    const to = (e164: string, kind: PhoneEvent['kind']) => phones.events().find((e) => e.to === e164 && e.kind === kind);

    // The resident: a call read out and a text, with the link and the reply that acknowledge.
    await waitFor(() => to('+8613800000001', 'call') && to('+8613800000001', 'sms'), { what: 'the resident’s call and text' });
    expect(to('+8613800000001', 'call')!.text).toMatch(/^\[红色警情\] 烟感报警 — 张桂英家.* 请按1键确认接警。$/);
    expect(to('+8613800000001', 'sms')!.text).toMatch(/回复1或点 http:\/\/watchfire\.test:8080\/ack\/\S+ 确认接警。$/);
    // Nobody answers at home.
    await fetch(`${base}/phones/${to('+8613800000001', 'call')!.id}/no_answer`, { method: 'POST', redirect: 'manual' });

    // At once, not a minute later, the contacts' phones ring; the son answers and presses 1.
    await waitFor(() => to('+8613900000001', 'call'), { what: 'the son’s call' });
    const created = async (rid: string) => (await h!.alerts.service.deliveries(id)).find((d) => d.recipientId === rid && d.channel === 'voice')!.createdAt;
    expect(await created('h1#contact0') - await created('h1#resident')).toBeLessThan(60_000);
    // Alerts act on the keypress after the bus delivers it: its acknowledgement is the event awaited.
    const acknowledged = new Promise<void>((resolve) => {
      const off = h!.bus.on('incident', 'demo-phones-ack', (e) => {
        if (e.incident.id !== id || e.kind !== 'transition' || e.incident.state !== 'acknowledged') return;
        off();
        resolve();
      });
    });
    const press = await fetch(`${base}/phones/${to('+8613900000001', 'call')!.id}/press`, { method: 'POST', redirect: 'manual' });
    expect(press.status).toBe(303);
    await acknowledged;
    const inc = (await h.alerts.service.get(id))!;
    expect(inc.state).toBe('acknowledged');
    expect((await h.alerts.service.timeline(id)).find((a) => a.action === 'acknowledge')).toMatchObject({ actor: 'h1#contact0', noteZh: expect.stringContaining('李明 在语音电话中按 1 键确认接警') });
    expect((await h.alerts.escalations.of(id)).filter((s) => s.step === 'call_tree').map((s) => [s.stage, s.status])).toEqual([[1, 'done'], [2, 'cancelled']]);

    // Every call and text with its outcome, as the timeline shows it; the grid worker's phone never rang.
    const outcome = async (rid: string, ch: string) => (await h!.alerts.service.deliveries(id)).find((d) => d.recipientId === rid && d.channel === ch)?.outcome;
    await waitFor(async () => await outcome('h1#resident', 'voice') === 'no_answer' && await outcome('h1#contact0', 'voice') === 'answered', { what: 'the receipts on the attempts' });
    expect(await outcome('h1#resident', 'sms')).toBe('sent');
    expect((await h.alerts.service.deliveries(id)).some((d) => d.recipientId === 'gw-wang')).toBe(false);
    expect(phones.events().some((e) => e.to === '+8613600000021')).toBe(false);

    // The page shows the phones.
    const page = await (await fetch(base)).text();
    expect(page).toContain('data-phone="+8613900000001"');
    expect(page).toContain('已接听并按 1');
    expect(page).toContain('【守望演示】');
  });
});
