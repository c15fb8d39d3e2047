// Issue 19 points 2 and 5 (provider half): a real alarm goes out by SMS (Alibaba, real SDK) and
// voice (Tencent, real SDK) to the fake providers; the providers' callbacks, in their documented
// formats, come back through adapters/notify/ and become 'channel.inbound' events matched to the
// outbox rows, and receipts land on the attempts. Through fastify's inject(): the network is not
// the point here.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Fastify, { type FastifyInstance } from 'fastify';
import pino from 'pino';
import { Registry as MetricsRegistry } from 'prom-client';
import { notifyCallbackRoutes } from '../adapters/index.ts';
import { parsePolicies } from '../alerts/index.ts';
import type { ChannelInbound } from '../contracts/channels.ts';
import { DAY_SHIFT_TIME, finding, shiftedClock, startAlerts, tempDir, type Harness } from './alerts.fixture.ts';
import { FAKE_CREDENTIALS, fakeAgent, startFakeProviders, type FakeMessage, type FakeProviders } from './support/providers.ts';
import { waitFor } from './support/wait.ts';

const TOKEN = 'callback-token-0123456789abcdef';
const policies = parsePolicies({
  policies: ['red', 'yellow'].map((level) => ({
    id: level, level, steps: [{ id: 'alarm', kind: 'alarm', notify: [{ to: 'console' }, { to: 'contacts', via: ['sms', 'voice'] }] }],
  })),
});

let fake: FakeProviders;
let h: Harness;
let app: FastifyInstance;
const events: ChannelInbound[] = [];
const dir = tempDir();
let sms: FakeMessage;
let call: FakeMessage;
let incidentId: string;

beforeAll(async () => {
  fake = await startFakeProviders();
  h = await startAlerts({
    file: `${dir.dir}/callbacks.db`,
    clock: shiftedClock(DAY_SHIFT_TIME),
    config: {
      providers: FAKE_CREDENTIALS,
      channels: {
        sms: { provider: 'aliyun', endpoint: fake.host, protocol: 'http', signName: '鼓楼消防', templateId: 'SMS_465000001', params: { site: '{site}', title: '{title}' } },
        voice: { provider: 'tencent', protocol: 'http', appId: '1400000001', templateId: '3000001', params: { 1: '{site}', 2: '{title}' } },
      },
    },
    alerts: { policies, providerAgent: fakeAgent(fake) },
  });
  h.bus.on('channel.inbound', 'test', (e) => events.push(e));
  app = Fastify();
  await app.register(notifyCallbackRoutes({ config: { token: TOKEN, allowFrom: [], replyWindowMs: 24 * 3_600_000 }, ledger: h.alerts.ledger, bus: h.bus, logger: pino({ level: 'silent' }), metrics: new MetricsRegistry() }));
  await h.alerts.handleFinding(finding());
  incidentId = (await h.alerts.service.list({ active: true }))[0]!.id;
  // The first contact (13900000001) gets an SMS and a call; waiting for the outbox to mark them sent.
  await waitFor(async () => {
    const rows = (await h.alerts.outbox.ofIncident(incidentId)).filter((r) => r.recipientId === 'h1#contact0');
    return rows.length === 2 && rows.every((r) => r.status === 'sent');
  }, { what: 'SMS and call to the first contact sent' });
  sms = fake.messages.find((m) => m.service === 'aliyun.sms' && m.to === '+8613900000001')!;
  call = fake.messages.find((m) => m.service === 'tencent.voice' && m.to === '+8613900000001')!;
});
afterAll(async () => {
  await app.close();
  await h.close();
  await fake.stop();
  dir.remove();
});

const post = (path: string, body: unknown, token = TOKEN) => app.inject({ method: 'POST', url: `/callbacks/${token}/${path}`, payload: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
const rowOf = async (channel: string) => (await h.alerts.outbox.ofIncident(incidentId)).find((r) => r.recipientId === 'h1#contact0' && r.channel === channel)!;

describe('provider callbacks', () => {
  it('the SMS went out with the site and alarm in the template variables and the outbox id as OutId', async () => {
    expect(sms.params).toEqual({ site: '张桂英家', title: expect.stringContaining('烟感报警') as unknown as string });
    expect(sms.outId).toBe(String((await rowOf('sms')).id));
    expect(call.outId).toBe(String((await rowOf('voice')).id));
  });

  it('Alibaba SmsReport: recorded on the attempt as delivered and published matched to the row, once even when pushed twice', async () => {
    const report = [{ phone_number: '13900000001', send_time: '2026-11-23 10:00:01', report_time: '2026-11-23 10:00:05', success: true, err_code: 'DELIVERED', err_msg: '用户接收成功', sms_size: '1', biz_id: sms.providerId, out_id: sms.outId }];
    const before = events.length;
    const res = await post('aliyun/sms-report', report);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ code: 0, msg: '接收成功' });
    await post('aliyun/sms-report', report);
    const got = events.slice(before);
    expect(got).toHaveLength(1);
    expect(got[0]).toMatchObject({ kind: 'receipt', channel: 'sms', provider: 'aliyun', status: 'delivered', providerId: sms.providerId, at: Date.parse('2026-11-23T10:00:05+08:00'), match: { outboxId: (await rowOf('sms')).id, incidentId, recipientId: 'h1#contact0' } });
    const attempt = (await h.alerts.outbox.attempts((await rowOf('sms')).id)).at(-1)!;
    expect(attempt).toMatchObject({ providerId: sms.providerId, receipt: 'delivered', receiptAt: Date.parse('2026-11-23T10:00:05+08:00') });
    expect(attempt.receiptDetail).toContain('DELIVERED');
  });

  it('Alibaba SmsUp: a reply is matched to the last SMS sent to that phone, and "1" acknowledges', async () => {
    const before = events.length;
    const res = await post('aliyun/sms-up', [{ phone_number: '13900000001', send_time: '2026-11-23 10:01:00', content: '1', sign_name: '鼓楼消防', dest_code: '1234', sequence_id: 99 }]);
    expect(res.statusCode).toBe(200);
    expect(events.slice(before)).toEqual([{ kind: 'reply', channel: 'sms', provider: 'aliyun', from: '+8613900000001', text: '1', at: Date.parse('2026-11-23T10:01:00+08:00'), match: { outboxId: (await rowOf('sms')).id, incidentId, recipientId: 'h1#contact0' } }]);
     // "1" is the default reply word: the contact acknowledged from the phone, audited as him, by SMS.
    expect((await h.alerts.service.get(incidentId))!.state).toBe('acknowledged');
    expect((await h.alerts.service.timeline(incidentId)).find((x) => x.action === 'acknowledge')).toMatchObject({ actor: 'h1#contact0', note: expect.stringContaining('by replying "1" to the SMS') });
  });

  it('a reply from a phone Watchfire never texted is published without a match', async () => {
    const before = events.length;
    await post('tencent/sms-reply', { extend: '', mobile: '13000000000', nationcode: '86', sign: '鼓楼消防', text: '1', time: 1795399300 });
    expect(events.slice(before)).toEqual([{ kind: 'reply', channel: 'sms', provider: 'tencent', from: '+8613000000000', text: '1', at: 1795399300_000, match: undefined }]);
  });

  it('Tencent voice: a keypress is published matched by CallId; the status callback records no answer on the attempt', async () => {
    const before = events.length;
    const key = await post('tencent/voice', { voicekey_callback: { call_from: '', callid: call.providerId, keypress: '1', mobile: '13900000001', nationcode: '86' } });
    expect(key.json()).toEqual({ result: 0, errmsg: 'OK' });
    expect(events.slice(before)).toMatchObject([{ kind: 'keypress', channel: 'voice', provider: 'tencent', providerId: call.providerId, digits: '1', match: { outboxId: (await rowOf('voice')).id, incidentId } }]);
    await post('tencent/voice', { voiceprompt_callback: { result: '1', accept_time: '0', call_from: '', callid: call.providerId, end_calltime: '1795399260', fee: '0', mobile: '13900000001', nationcode: '86', start_calltime: '1795399200' } });
    expect((await h.alerts.outbox.attempts((await rowOf('voice')).id)).at(-1)).toMatchObject({ providerId: call.providerId, receipt: 'no_answer', receiptAt: 1795399260_000 });
  });

  it('Alibaba VoiceCallReport with DTMF (status 300000) is a keypress; other intermediate states publish nothing', async () => {
    const before = events.length;
    await post('aliyun/voice-call-report', [
      { call_id: '1161^1', status_code: '200201', status_time: '2026-11-23 10:02:00', out_id: '1' },
      { call_id: '1161^1', status_code: '300000', dtmf: '1', status_time: '2026-11-23 10:02:09', out_id: '1' },
    ]);
    expect(events.slice(before)).toMatchObject([{ kind: 'keypress', provider: 'aliyun', providerId: '1161^1', digits: '1', at: Date.parse('2026-11-23T10:02:09+08:00') }]);
  });

  it('a wrong token is refused with 403 and publishes nothing; a malformed push is a 400 in the provider\'s shape', async () => {
    const before = events.length;
    const forged = await post('tencent/voice', { voicekey_callback: { callid: call.providerId, keypress: '1' } }, 'callback-token-0123456789abcdeX');
    expect(forged.statusCode).toBe(403);
    expect(forged.json()).toMatchObject({ code: 'WF_NOTIFY_CALLBACK' });
    const bad = await post('aliyun/sms-report', [{ success: true }]);
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ code: 1 });
    const notJson = await app.inject({ method: 'POST', url: `/callbacks/${TOKEN}/tencent/voice`, payload: '{', headers: { 'content-type': 'application/json' } });
    expect(notJson.statusCode).toBe(400);
    expect(events.length).toBe(before);
  });
});

// Issue 19 point 5 end to end: a keypress and an SMS reply acknowledge only when they come through
// the callback URL with its secret, from an allowed address; a forged push changes nothing.
describe('acknowledging through the providers\' callbacks', () => {
  let h2: Harness;
  let open: FastifyInstance;
  let pinned: FastifyInstance;
  let id: string;
  let call2: FakeMessage;

  beforeAll(async () => {
    h2 = await startAlerts({
      file: `${dir.dir}/callbacks-ack.db`,
      clock: shiftedClock(DAY_SHIFT_TIME),
      config: {
        providers: FAKE_CREDENTIALS,
        channels: { voice: { provider: 'tencent', protocol: 'http', appId: '1400000001', templateId: '3000001', params: { 1: '{site}', 2: '{title}' } } },
        ack: { secret: 'ack-secret-0123456789abcdef', ttlMs: 3_600_000, replyWords: ['1', '收到'], keypressDigit: '1' },
      },
      alerts: {
        policies: parsePolicies({ policies: ['red', 'yellow'].map((level) => ({ id: level, level, steps: [{ id: 'alarm', kind: 'alarm', notify: [{ to: 'contacts', via: ['voice'] }] }] })) }),
        providerAgent: fakeAgent(fake),
      },
    });
    const routes = (allowFrom: string[]) => notifyCallbackRoutes({ config: { token: TOKEN, allowFrom, replyWindowMs: 24 * 3_600_000 }, ledger: h2.alerts.ledger, bus: h2.bus, logger: pino({ level: 'silent' }), metrics: new MetricsRegistry() });
    open = Fastify();
    await open.register(routes([]));
    // Pinned to the provider's published callback addresses (here a range the test is not in).
    pinned = Fastify();
    await pinned.register(routes(['203.0.113.0/24']));
    const before = fake.messages.length;
    await h2.alerts.handleFinding(finding());
    id = (await h2.alerts.service.list({ active: true }))[0]!.id;
    await fake.waitFor((ms) => ms.slice(before).some((m) => m.service === 'tencent.voice' && m.to === '+8613900000001'), 'the call to the first contact');
    call2 = fake.messages.slice(before).find((m) => m.service === 'tencent.voice' && m.to === '+8613900000001')!;
  });
  afterAll(async () => {
    await open.close();
    await pinned.close();
    await h2.close();
  });

  const keypress = (digit: string) => ({ voicekey_callback: { call_from: '', callid: call2.providerId, keypress: digit, mobile: '13900000001', nationcode: '86' } });
  const push = (app: FastifyInstance, body: unknown, token = TOKEN, remoteAddress = '127.0.0.1') =>
    app.inject({ method: 'POST', url: `/callbacks/${token}/tencent/voice`, payload: JSON.stringify(body), headers: { 'content-type': 'application/json' }, remoteAddress });

  it('a forged keypress (wrong token, or the right one from outside allowFrom) is refused and acknowledges nothing', async () => {
    expect((await push(open, keypress('1'), 'callback-token-0123456789abcdeX')).statusCode).toBe(403);
    expect((await push(pinned, keypress('1'))).statusCode).toBe(403);
    // From the provider's published range, the pinned route takes it: only the source made the difference.
    expect((await push(pinned, { voiceprompt_callback: { result: '0', callid: 'not-ours', mobile: '13900000001', nationcode: '86' } }, TOKEN, '203.0.113.7')).statusCode).toBe(200);
    expect((await h2.alerts.service.get(id))!.state).toBe('open');
    expect((await h2.alerts.service.timeline(id)).filter((a) => a.actor !== 'system')).toEqual([]);
  });

  it('the real keypress through the callback acknowledges as the person who pressed, naming the voice call', async () => {
    const r = await push(open, keypress('1'));
    expect(r.json()).toEqual({ result: 0, errmsg: 'OK' });
    expect((await h2.alerts.service.get(id))!.state).toBe('acknowledged');
    expect((await h2.alerts.service.timeline(id)).find((a) => a.action === 'acknowledge')).toMatchObject({ actor: 'h1#contact0', note: expect.stringContaining('by pressing 1 in the voice call') });
  });
});
