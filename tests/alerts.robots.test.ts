// Issue 19 point 3: WeCom and DingTalk group robots in their own message formats, DingTalk's
// signed timestamp checked by the fake robot, their rate limits as limit refusals, and the
// templated webhook producing a gateway's body shape from configuration alone.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CHANNELS, ChannelRefusal, parseChannelConfig, type Channel, type ChannelName, type OutboundMessage } from '../alerts/index.ts';
import { WatchfireError } from '../contracts/errors.ts';
import { FAKE_CREDENTIALS, startFakeProviders, type FakeProviders } from './support/providers.ts';

let fake: FakeProviders;
beforeAll(async () => {
  fake = await startFakeProviders();
});
afterAll(() => fake.stop());

let seq = 5000;
function message(channel: ChannelName, address: string, phone?: string, locale: 'zh-CN' | 'en' = 'zh-CN'): OutboundMessage {
  const id = seq++;
  return {
    id, messageId: `<outbox-${id}.i1@watchfire.test>`, channel, kind: 'alarm', address,
    recipient: { kind: 'operators', id: 'op-liu', name: '刘洋', locale, phone },
    subject: `[红色警情] 火警 #${id}`, text: 'long text', html: 'h',
    data: { type: 'incident', text: '张桂英家 厨房烟感报警', link: 'https://wf.example.org/i/abc', incident: { id: 'abc', level: 'red', title: '火警', siteName: '张桂英家 & "邻居"', address: '幸福小区3栋201' } },
  };
}

function build(name: ChannelName, config: unknown, now: () => number = Date.now): Channel {
  const spec = CHANNELS[name];
  return spec.create!(spec.config.parse(config), { clock: { now }, logger: pino({ level: 'silent' }), providers: {} });
}

async function failure(p: Promise<unknown>): Promise<WatchfireError> {
  const e = await p.then(() => undefined, (err: unknown) => err);
  expect(e).toBeInstanceOf(WatchfireError);
  return e as WatchfireError;
}

const wecomUrl = (key: string) => `${fake.url}/cgi-bin/webhook/send?key=${key}`;
const dingUrl = () => `${fake.url}/robot/send?access_token=dt-token-1`;

describe('WeCom group robot', () => {
  it('markdown to the group; a person with a mobile is @-mentioned through a text message (markdown cannot mention mobiles)', async () => {
    const ch = build('wecom', { robots: { fc1: wecomUrl('00000000-aaaa-0001') } });
    const plain = message('wecom', 'fc1');
    await ch.send(plain);
    const md = fake.messages.at(-1)!;
    expect(md).toMatchObject({ service: 'wecom', to: '00000000-aaaa-0001', template: 'markdown', mentions: [] });
    expect(md.text).toContain(`### ${plain.subject}`);
    expect(md.text).toContain('[打开警情](https://wf.example.org/i/abc)');
    await ch.send(message('wecom', 'fc1', '+8613600000021'));
    expect(fake.messages.at(-1)).toMatchObject({ template: 'text', mentions: ['13600000021'] });
  });

  it('errcode 45009 (20 a minute per robot) is a limit refusal for a minute; our own count refuses before the robot does', async () => {
    let now = Date.now();
    const ch = build('wecom', { robots: { fc1: wecomUrl('00000000-aaaa-0002') }, perMinute: 2 }, () => now);
    await ch.send(message('wecom', 'fc1'));
    await ch.send(message('wecom', 'fc1'));
    const requests = fake.requests.wecom;
    const ours = await failure(ch.send(message('wecom', 'fc1')));
    expect(ours).toBeInstanceOf(ChannelRefusal);
    expect(ours.code).toBe('WF_NOTIFY_LIMIT');
    expect(fake.requests.wecom).toBe(requests);
    now += 60_000;
    fake.setMode('wecom', 'throttle');
    try {
      const theirs = await failure(ch.send(message('wecom', 'fc1')));
      expect(theirs.code).toBe('WF_NOTIFY_LIMIT');
      expect(theirs.message).toContain('45009');
      expect((theirs as ChannelRefusal).retryAt).toBe(now + 60_000);
    } finally {
      fake.setMode('wecom', 'ok');
    }
  });

  it('each center reaches its own duty group, others the default robot; the key stays out of the address', () => {
    const cfg = parseChannelConfig({ smtp: undefined, webhook: undefined, channels: { wecom: { robots: { fc1: wecomUrl('00000000-aaaa-0003'), default: wecomUrl('00000000-aaaa-0004') } } } }).get('wecom');
    const t = (centerId: string) => ({ kind: 'operators' as const, id: 'x', centerId, name: 'x', locale: 'zh-CN' as const });
    expect(CHANNELS.wecom.address(t('fc1'), cfg)).toBe('fc1');
    expect(CHANNELS.wecom.address(t('fc9'), cfg)).toBe('default');
  });
});

describe('DingTalk group robot', () => {
  it('signs timestamp+"\\n"+secret as DingTalk checks it; markdown with title and the person in at.atMobiles and the text', async () => {
    const ch = build('dingtalk', { robots: { fc1: { url: dingUrl(), secret: FAKE_CREDENTIALS.dingtalk['dt-token-1'] } } });
    const before = fake.refused.length;
    await ch.send(message('dingtalk', 'fc1', '13600000021'));
    expect(fake.refused.length).toBe(before);
    const got = fake.messages.at(-1)!;
    expect(got).toMatchObject({ service: 'dingtalk', template: 'markdown', mentions: ['13600000021'] });
    expect(got.text).toContain('@13600000021');
  });

  it('a wrong secret is refused by the robot (310000 sign not match): a coded failure', async () => {
    const ch = build('dingtalk', { robots: { fc1: { url: dingUrl(), secret: 'SECnot-the-secret' } } });
    const e = await failure(ch.send(message('dingtalk', 'fc1')));
    expect(e.code).toBe('WF_NOTIFY_DINGTALK');
    expect(e.message).toContain('310000');
    expect(fake.refused.at(-1)).toEqual({ service: 'dingtalk', reason: 'sign' });
  });

  it('a clock an hour off makes the timestamp stale: refused, not silently accepted', async () => {
    const ch = build('dingtalk', { robots: { fc1: { url: dingUrl(), secret: FAKE_CREDENTIALS.dingtalk['dt-token-1'] } } }, () => Date.now() - 2 * 3_600_000);
    const e = await failure(ch.send(message('dingtalk', 'fc1')));
    expect(e.message).toContain('310000');
  });

  it('130101 (send too fast) is a limit refusal', async () => {
    const ch = build('dingtalk', { robots: { fc1: { url: dingUrl(), secret: FAKE_CREDENTIALS.dingtalk['dt-token-1'] } }, format: 'text' });
    fake.setMode('dingtalk', 'throttle');
    try {
      const e = await failure(ch.send(message('dingtalk', 'fc1')));
      expect(e).toBeInstanceOf(ChannelRefusal);
      expect(e.message).toContain('130101');
    } finally {
      fake.setMode('dingtalk', 'ok');
    }
  });
});

describe('templated webhook', () => {
  let server: Server;
  let url: string;
  const got: Array<{ method: string; path: string; headers: Record<string, unknown>; body: string }> = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        got.push({ method: req.method!, path: req.url!, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        res.writeHead(200).end('{"code":0}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('a JSON template: placeholders filled as JSON strings (quotes and ampersands survive), numbers stay numbers, headers filled (non-ASCII percent-encoded)', async () => {
    const ch = build('template', {
      url: `${url}/api/notify`, method: 'PUT', headers: { 'X-Api-Key': 'k-123', 'X-Level': '{level}' },
      json: { mobile: '{phone}', content: '{site}：{title}，{link}', tag: ['fire', '{level}'], priority: 1 },
    });
    await ch.send(message('template', 'x', '+8613600000021'));
    const r = got.at(-1)!;
    expect(r.method).toBe('PUT');
    expect(r.path).toBe('/api/notify');
    expect(r.headers['x-api-key']).toBe('k-123');
    // Header values are bytes: beyond ASCII, percent-encoded UTF-8.
    expect(decodeURIComponent(String(r.headers['x-level']))).toBe('红色');
    expect(JSON.parse(r.body)).toEqual({ mobile: '+8613600000021', content: '张桂英家 & "邻居"：火警，https://wf.example.org/i/abc', tag: ['fire', '红色'], priority: 1 });
  });

  it('a form template: placeholders URL-encoded, in the recipient\'s language', async () => {
    const ch = build('template', {
      url: `${url}/sms.php`, body: 'to={phone}&msg={site}+{level}', contentType: 'application/x-www-form-urlencoded', encode: 'form',
    });
    await ch.send(message('template', 'x', '+8613600000021', 'en'));
    const r = got.at(-1)!;
    expect(r.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(Object.fromEntries(new URLSearchParams(r.body))).toEqual({ to: '+8613600000021', msg: '张桂英家 & "邻居" red' });
  });

  it('unknown placeholders, both or neither body kind are configuration errors with their paths', () => {
    const bad = (template: unknown) => {
      try {
        parseChannelConfig({ smtp: undefined, webhook: undefined, channels: { template } });
        return [];
      } catch (e) {
        return [...(e as WatchfireError).details];
      }
    };
    expect(bad({ url: 'http://gw.test/x', json: { to: '{mobile}' } }).join('\n')).toMatch(/alerts\.channels\.template\.json\.to: unknown placeholder \{mobile\}/);
    expect(bad({ url: 'http://gw.test/x' }).join('\n')).toContain('exactly one of json or body');
    expect(bad({ url: 'http://gw.test/x', json: {}, body: 'x' }).join('\n')).toContain('exactly one of json or body');
    expect(bad({ url: 'http://gw.test/x', json: { to: '{phone}' } })).toEqual([]);
  });
});
