// One contract for every notifier channel (STYLE.md, after MQTT.js's shared transport tests):
// a send resolves only once the receiving end has the message, carries the row's stable id, a
// down receiving end makes send reject with the channel's code, and a closed channel refuses.
// It runs against every entry of the channel table (alerts/channels/registry.ts): a channel added
// there without a harness here fails this file.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSmtp, type TestSmtp } from './support/smtp.ts';
import { CHANNEL_NAMES, CHANNELS, createConsoleChannel, createEmailChannel, createWebhookChannel, type Channel, type ChannelName, type OutboundMessage } from '../alerts/index.ts';
import { startWebhookReceiver, WEBHOOK_SECRET } from './alerts.fixture.ts';
import { WatchfireError } from '../contracts/errors.ts';
import { FAKE_CREDENTIALS, fakeAgent, startFakeProviders, type FakeProviders, type FakeService } from './support/providers.ts';
import pino from 'pino';

interface Harness {
  channel: Channel;
  address: string;
  /** What the receiving end got, as (outbox id, subject or text). */
  received(): Array<{ id: number; subject: string }>;
  down?(): Promise<void>;
  up?(): Promise<void>;
}

let smtp: TestSmtp;
let hook: Awaited<ReturnType<typeof startWebhookReceiver>>;
let fake: FakeProviders;
let gateway: Awaited<ReturnType<typeof startWebhookReceiver>>;
beforeAll(async () => {
  smtp = await startTestSmtp();
  hook = await startWebhookReceiver();
  fake = await startFakeProviders();
  gateway = await startWebhookReceiver();
});
afterAll(async () => {
  await smtp.stop();
  await hook.stop();
  await fake.stop();
  await gateway.stop();
});

/** A robot's post carries no id of ours: the test subjects end in #id, and the subject heads the text. */
function robotReceived(service: FakeService): () => Array<{ id: number; subject: string }> {
  return () => fake.messages.filter((m) => m.service === service).map((m) => {
    const subject = m.text.split('\n')[0]!.replace(/^### /, '');
    return { id: Number(/#(\d+)$/.exec(subject)?.[1]), subject };
  });
}

/** A provider channel built from its table entry, as createAlerts builds it, against the fake. */
function providerHarness(name: ChannelName, service: FakeService, config: () => unknown, address: string, subjectOf: (p: Readonly<Record<string, string>>) => string): () => Harness {
  return () => {
    const spec = CHANNELS[name];
    const channel = spec.create!(spec.config.parse(config()), { clock: { now: () => Date.now() }, logger: pino({ level: 'silent' }), providers: FAKE_CREDENTIALS, agent: fakeAgent(fake) });
    return {
      channel,
      address,
      received: service === 'wecom' || service === 'dingtalk'
        ? robotReceived(service)
        : () => fake.messages.filter((m) => m.service === service).map((m) => ({ id: Number(m.outId), subject: subjectOf(m.params) })),
      down: () => Promise.resolve(fake.setMode(service, 'fail')),
      up: () => Promise.resolve(fake.setMode(service, 'ok')),
    };
  };
}

let seq = 1;
function message(h: Harness): OutboundMessage {
  const id = seq++;
  return {
    id, messageId: `<outbox-${id}.i1@watchfire.test>`, channel: h.channel.name, kind: 'alarm', address: h.address,
    recipient: { kind: 'operators', id: 'op', name: '刘洋', locale: 'zh-CN' },
    subject: `[红色警情] 烟感报警 #${id}`, text: `text ${id}`, html: `<p>html ${id}</p>`, data: { type: 'incident', subject: `[红色警情] 烟感报警 #${id}` },
  };
}

const harnesses: Record<ChannelName, () => Harness> = {
  console: () => {
    const channel = createConsoleChannel();
    const got: OutboundMessage[] = [];
    channel.subscribe((m) => got.push(m));
    return { channel, address: 'fc1', received: () => got.map((m) => ({ id: m.id, subject: m.subject })) };
  },
  email: () => ({
    channel: createEmailChannel({ smtp: { host: '127.0.0.1', port: smtp.port, secure: false, ignoreTLS: true, from: 'Watchfire <wf@test.local>' }, timeoutMs: 3000 }),
    address: 'liu@example.org',
    received: () => smtp.mails.map((m) => ({ id: Number(/outbox-(\d+)/.exec(m.messageId ?? '')?.[1]), subject: m.subject })),
    down: () => smtp.down(),
    up: () => smtp.up(),
  }),
  webhook: () => ({
    channel: createWebhookChannel({ secret: WEBHOOK_SECRET, timeoutMs: 3000 }),
    address: hook.url,
    received: () => hook.received.filter((x) => x.signatureOk).map((x) => ({ id: Number(x.body.deliveryId), subject: String(x.body.subject) })),
    down: () => Promise.resolve(hook.setFailing(true)),
    up: () => Promise.resolve(hook.setFailing(false)),
  }),
  // The per-number limits are not what this contract is about (tests/alerts.providers.test.ts is).
  sms: providerHarness('sms', 'aliyun.sms', () => ({
    provider: 'aliyun', endpoint: fake.host, protocol: 'http', signName: '鼓楼消防', templateId: 'SMS_465000001', params: { title: '{title}' },
    limits: { perMinute: 1000, perHour: 1000, perDay: 1000 },
  }), '+8613800000001', (p) => p.title!),
  voice: providerHarness('voice', 'tencent.voice', () => ({
    provider: 'tencent', endpoint: 'vms.tencentcloudapi.com', protocol: 'http', appId: '1400000001', templateId: '1234567', params: { 1: '{title}' },
    limits: { perMinute: 1000, perHour: 1000, perDay: 1000 },
  }), '+8613800000002', (p) => p['1']!),
  wecom: providerHarness('wecom', 'wecom', () => ({ robots: { fc1: `${fake.url}/cgi-bin/webhook/send?key=0a1b2c3d-4e5f-6789-abcd-ef0123456789` } }), 'fc1', () => ''),
  dingtalk: providerHarness('dingtalk', 'dingtalk', () => ({ robots: { fc1: { url: `${fake.url}/robot/send?access_token=dt-token-1`, secret: FAKE_CREDENTIALS.dingtalk['dt-token-1'] } } }), 'fc1', () => ''),
  template: () => {
    const spec = CHANNELS.template;
    const config = spec.config.parse({ url: gateway.url, json: { to: '{phone}', content: '{subject}', meta: { level: '{level}', n: 1 } }, secret: WEBHOOK_SECRET });
    return {
      channel: spec.create!(config, { clock: { now: () => Date.now() }, logger: pino({ level: 'silent' }), providers: {} }),
      address: new URL(gateway.url).host,
      received: () => gateway.received.filter((x) => x.signatureOk).map((x) => ({ id: Number(x.headers['x-watchfire-delivery']), subject: String(x.body.content) })),
      down: () => Promise.resolve(gateway.setFailing(true)),
      up: () => Promise.resolve(gateway.setFailing(false)),
    };
  },
};

for (const name of CHANNEL_NAMES) {
  const make = harnesses[name];
  const code = CHANNELS[name].code;
  describe(`${name} channel contract`, () => {
    let h: Harness;
    beforeAll(() => {
      h = make();
    });
    afterAll(() => h.channel.close());

    it('a resolved send is at the receiving end, once, with its stable id', async () => {
      const m = message(h);
      await h.channel.send(m);
      expect(h.received().filter((r) => r.id === m.id)).toEqual([{ id: m.id, subject: m.subject }]);
    });

    it('concurrent sends all arrive', async () => {
      const ms = [message(h), message(h), message(h), message(h)];
      await Promise.all(ms.map((m) => h.channel.send(m)));
      const ids = new Set(h.received().map((r) => r.id));
      expect(ms.every((m) => ids.has(m.id))).toBe(true);
    });

    // The console is in-process: it has no receiving end that can be down.
    if (name !== 'console') {
      it('a down receiving end makes send reject with the channel code; back up, it delivers', async () => {
        await h.down!();
        const m = message(h);
        const err = await h.channel.send(m).then(() => undefined, (e: unknown) => e);
        expect(err).toBeInstanceOf(WatchfireError);
        expect((err as WatchfireError).code).toBe(code);
        expect(h.received().some((r) => r.id === m.id)).toBe(false);
        await h.up!();
        await h.channel.send(m);
        expect(h.received().filter((r) => r.id === m.id)).toHaveLength(1);
      });
    }

    it('a closed channel refuses to send', async () => {
      const c = make().channel;
      await c.close();
      const err = await c.send(message(h)).then(() => undefined, (e: unknown) => e);
      expect((err as WatchfireError).code).toBe(code);
    });
  });
}
