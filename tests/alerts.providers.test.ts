// Issue 19 point 2: SMS and voice through the real Alibaba Cloud and Tencent Cloud SDKs, against a
// local fake (tests/support/providers.ts) that checks each request's signature by the provider's
// documented algorithm and its fields as documented, and answers as the provider does — also with
// failures, throttling and silence.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { CHANNELS, ChannelRefusal, type Channel, type ChannelName, type OutboundMessage } from '../alerts/index.ts';
import { WatchfireError } from '../contracts/errors.ts';
import { FAKE_CREDENTIALS, fakeAgent, startFakeProviders, type FakeProviders, type FakeService } from './support/providers.ts';

let fake: FakeProviders;
beforeAll(async () => {
  fake = await startFakeProviders();
});
afterAll(() => fake.stop());

let seq = 1000;
function message(channel: ChannelName, address: string): OutboundMessage {
  const id = seq++;
  return {
    id, messageId: `<outbox-${id}.i1@watchfire.test>`, channel, kind: 'alarm', address,
    recipient: { kind: 'contacts', id: 'h1#contact0', name: '李明', locale: 'zh-CN' },
    subject: '[红色警情] 火警：烟感报警 (厨房)', text: 't', html: 'h',
    data: { type: 'incident', link: 'https://wf.example.org/i/abc', incident: { id: 'abc', level: 'red', title: '火警：烟感报警 (厨房)', siteName: '张桂英家', address: '幸福小区3栋201号楼下的那一排平房最东边一户的二楼靠北的房间' } },
  };
}

function build(name: ChannelName, config: Record<string, unknown>, clock = { now: () => Date.now() }, providers = FAKE_CREDENTIALS): Channel {
  const spec = CHANNELS[name];
  return spec.create!(spec.config.parse(config), { clock, logger: pino({ level: 'silent' }), providers, agent: fakeAgent(fake) });
}

const endpoints = (): Record<string, Record<string, unknown>> => ({
  aliyun: { provider: 'aliyun', endpoint: fake.host, protocol: 'http' },
  tencent: { provider: 'tencent', endpoint: undefined, protocol: 'http', appId: '1400000001' },
});

async function failure(p: Promise<unknown>): Promise<WatchfireError> {
  const e = await p.then(() => undefined, (err: unknown) => err);
  expect(e).toBeInstanceOf(WatchfireError);
  return e as WatchfireError;
}

/** The next midnight in China (UTC+8) after `t`: when a provider's daily count starts again. */
function chinaMidnightAfter(t: number): number {
  const day = new Date(t + 8 * 3_600_000).toISOString().slice(0, 10);
  return Date.parse(`${day}T00:00:00+08:00`) + 86_400_000;
}

// `throttle`: the window the fake's per-number refusal names (Alibaba 天级流控 for SMS, Tencent
// PhoneNumberDailyLimit; their voice refusals name no day).
const cases: Array<{ name: ChannelName; provider: 'aliyun' | 'tencent'; service: FakeService; template: string; params: Record<string, string>; throttle: 'minute' | 'day' }> = [
  { name: 'sms', provider: 'aliyun', service: 'aliyun.sms', template: 'SMS_465000001', params: { site: '{site}', title: '{title}', address: '{address}' }, throttle: 'day' },
  { name: 'sms', provider: 'tencent', service: 'tencent.sms', template: '2000001', params: { 1: '{site}', 2: '{title}', 3: '{address}' }, throttle: 'day' },
  { name: 'voice', provider: 'aliyun', service: 'aliyun.voice', template: 'TTS_465000001', params: { site: '{site}', title: '{title}', address: '{address}' }, throttle: 'minute' },
  { name: 'voice', provider: 'tencent', service: 'tencent.voice', template: '3000001', params: { 1: '{site}', 2: '{title}', 3: '{address}' }, throttle: 'minute' },
];

for (const c of cases) {
  describe(`${c.name} through ${c.provider}`, () => {
    const cfg = (over: Record<string, unknown> = {}) => ({
      ...endpoints()[c.provider], signName: '鼓楼消防', templateId: c.template, params: c.params, maxParamChars: 20, timeoutMs: 1500, ...over,
    });

    it('signs as the provider documents, sends the number and template variables in its formats, and returns its id', async () => {
      const ch = build(c.name, cfg());
      const m = message(c.name, '+8613911112222');
      const before = fake.refused.length;
      const r = await ch.send(m);
      const got = fake.messages.find((x) => x.service === c.service && x.outId === String(m.id))!;
      expect(fake.refused.length).toBe(before);
      expect(got).toBeDefined();
      expect(r).toEqual({ providerId: got.providerId });
      expect(got.to).toBe('+8613911112222');
      expect(got.template).toBe(c.template);
      const [site, title, address] = Object.values(got.params);
      expect(site).toBe('张桂英家');
      expect(title).toBe('火警：烟感报警 (厨房)');
      // Cut to the provider's variable length, marked as cut.
      expect([...address!]).toHaveLength(20);
      expect(address!.endsWith('…')).toBe(true);
      if (c.name === 'sms') expect(got.signName).toBe('鼓楼消防');
      await ch.close();
    });

    it('a wrong key fails the signature check: a coded failure, nothing sent', async () => {
      const providers = c.provider === 'aliyun'
        ? { ...FAKE_CREDENTIALS, aliyun: { ...FAKE_CREDENTIALS.aliyun, accessKeySecret: 'not-the-secret' } }
        : { ...FAKE_CREDENTIALS, tencent: { ...FAKE_CREDENTIALS.tencent, secretKey: 'not-the-secret' } };
      const ch = build(c.name, cfg(), undefined, providers);
      const m = message(c.name, '+8613911113333');
      const before = fake.refused.length;
      const e = await failure(ch.send(m));
      expect(e.code).toBe(CHANNELS[c.name].code);
      expect(e).not.toBeInstanceOf(ChannelRefusal);
      expect(fake.refused.slice(before).map((x) => x.reason)).toEqual(['signature does not match']);
      expect(fake.messages.some((x) => x.outId === String(m.id))).toBe(false);
    });

    it('the provider\'s per-number throttling is a limit refusal with a reset time, not a silent drop', async () => {
      const ch = build(c.name, cfg());
      fake.setMode(c.service, 'throttle');
      try {
        const t0 = Date.now();
        const e = await failure(ch.send(message(c.name, '+8613911114444')));
        const t1 = Date.now();
        expect(e).toBeInstanceOf(ChannelRefusal);
        expect(e.code).toBe('WF_NOTIFY_LIMIT');
        const retryAt = (e as ChannelRefusal).retryAt;
        // A day's limit lifts at midnight in China, when the provider's count starts again; a minute's a minute on.
        if (c.throttle === 'day') expect(retryAt).toBe(chinaMidnightAfter(t0));
        else {
          expect(retryAt).toBeGreaterThanOrEqual(t0 + 60_000);
          expect(retryAt).toBeLessThanOrEqual(t1 + 60_000);
        }
        expect(e.message).toMatch(c.provider === 'aliyun' ? /isv\.BUSINESS_LIMIT_CONTROL/ : /LimitExceeded\./);
        // Only that number was throttled: another one is sent to.
        fake.setMode(c.service, 'ok');
        await ch.send(message(c.name, '+8613911114445'));
      } finally {
        fake.setMode(c.service, 'ok');
      }
    });

    if (c.name === 'sms') {
      it('the account\'s daily cap holds every number until midnight in China, without asking the provider again', async () => {
        let now = Date.now();
        const ch = build(c.name, cfg(), { now: () => now });
        fake.setMode(c.service, 'daycap');
        try {
          const e = await failure(ch.send(message(c.name, '+8613911116666')));
          expect(e).toBeInstanceOf(ChannelRefusal);
          expect(e.message).toMatch(c.provider === 'aliyun' ? /isv\.DAY_LIMIT_CONTROL/ : /LimitExceeded\.AppDailyLimit/);
          const midnight = chinaMidnightAfter(now);
          expect((e as ChannelRefusal).retryAt).toBe(midnight);
          const asked = fake.requests[c.service] ?? 0;
          const other = await failure(ch.send(message(c.name, '+8613911117777')));
          expect(other).toBeInstanceOf(ChannelRefusal);
          expect(other.code).toBe('WF_NOTIFY_LIMIT');
          expect((other as ChannelRefusal).retryAt).toBe(midnight);
          expect(fake.requests[c.service]).toBe(asked);
          // After midnight the provider is asked again (and, its cap reset, sends).
          fake.setMode(c.service, 'ok');
          now = midnight;
          await ch.send(message(c.name, '+8613911117777'));
          expect(fake.requests[c.service]).toBe(asked + 1);
        } finally {
          fake.setMode(c.service, 'ok');
        }
      });
    }

    it('a provider that does not answer fails within the configured timeout', async () => {
      const ch = build(c.name, cfg({ timeoutMs: 400 }));
      fake.setMode(c.service, 'hang');
      try {
        const t0 = Date.now();
        const e = await failure(ch.send(message(c.name, '+8613911115555')));
        expect(e.code).toBe(CHANNELS[c.name].code);
        // Tencent's SDK counts its timeout in whole seconds.
        expect(Date.now() - t0).toBeLessThan(c.provider === 'tencent' ? 1_900 : 1_400);
      } finally {
        fake.setMode(c.service, 'ok');
      }
    });
  });
}

describe('our own per-number limits', () => {
  it('refuse before the provider with the time the window reopens, per number, and let the number through again then', async () => {
    let now = Date.parse('2026-12-07T02:00:00Z');
    const clock = { now: () => now };
    const ch = build('sms', { ...endpoints().aliyun, signName: '鼓楼消防', templateId: 'SMS_465000001', limits: { perMinute: 1, perHour: 2, perDay: 3 } }, clock);
    const a = '+8613700001111';
    await ch.send(message('sms', a));
    const minute = await failure(ch.send(message('sms', a)));
    expect(minute).toBeInstanceOf(ChannelRefusal);
    expect(minute.code).toBe('WF_NOTIFY_LIMIT');
    expect((minute as ChannelRefusal).retryAt).toBe(now + 60_000);
    // Another number is not held back.
    await ch.send(message('sms', '+8613700002222'));
    now += 60_000;
    await ch.send(message('sms', a));
    now += 60_000;
    const hour = await failure(ch.send(message('sms', a)));
    expect(hour.message).toContain('perHour');
    expect((hour as ChannelRefusal).retryAt).toBe(Date.parse('2026-12-07T03:00:00Z'));
    now = Date.parse('2026-12-07T03:00:00Z');
    await ch.send(message('sms', a));
    now += 3_600_000;
    const day = await failure(ch.send(message('sms', a)));
    expect(day.message).toContain('perDay');
    expect((day as ChannelRefusal).retryAt).toBe(Date.parse('2026-12-08T02:00:00Z'));
    // Refused sends never reached the provider.
    expect(fake.messages.filter((m) => m.to === a)).toHaveLength(3);
  });

  it('landlines take calls but not texts; a number in no known format is no address', () => {
    const t = (phone: string) => ({ kind: 'liaison' as const, id: 'li', centerId: 'fc1', name: 'x', locale: 'zh-CN' as const, phone });
    expect(CHANNELS.sms.address(t('02500000119'), undefined)).toBeUndefined();
    expect(CHANNELS.voice.address(t('02500000119'), undefined)).toBe('+862500000119');
    expect(CHANNELS.sms.address(t('138 0000 0001'), undefined)).toBe('+8613800000001');
    expect(CHANNELS.voice.address(t('call me'), undefined)).toBeUndefined();
  });
});
