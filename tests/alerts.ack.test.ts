// Issue 19 point 5: acknowledging from where the message lands, on real SQLite and the real HTTP
// routes (inject): the signed link (GET shows, POST acknowledges once, a tampered or expired token
// does nothing), an SMS reply, a keypress — each audited as the person, naming the channel.
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { join } from 'node:path';
import pino from 'pino';
import { Registry as Metrics } from 'prom-client';
import { createAckTokens } from '../alerts/ack.ts';
import { createHttpServer } from '../dashboards/index.ts';
import { Config } from '../contracts/config.ts';
import type { ChannelInbound } from '../contracts/channels.ts';
import { DAY_SHIFT_TIME, finding, manualClock, recordingChannel, startAlerts, tempDir, WEBHOOK_SECRET, type Harness } from './alerts.fixture.ts';
import { createUserStorage, sqliteRunner } from '../storage/index.ts';

const tmp = tempDir();
afterAll(() => tmp.remove());
let n = 0;
const SECRET = 'ack-link-secret-for-tests-0123456789';
const TTL = 3_600_000;

describe('tokens', () => {
  const t = createAckTokens({ secret: SECRET, ttlMs: TTL });
  it('verifies its own, refuses a changed id, expiry or MAC and another key, and expires', () => {
    const token = t.sign(42, DAY_SHIFT_TIME);
    expect(token.length).toBeLessThan(40);
    expect(t.verify(token, DAY_SHIFT_TIME)).toEqual({ ok: true, outboxId: 42, expiresAt: DAY_SHIFT_TIME + TTL });
    const [id, exp, mac] = token.split('.') as [string, string, string];
    expect(t.verify(`${(43).toString(36)}.${exp}.${mac}`, DAY_SHIFT_TIME)).toEqual({ ok: false, reason: 'forged' });
    expect(t.verify(`${id}.${(parseInt(exp, 36) + 3600).toString(36)}.${mac}`, DAY_SHIFT_TIME)).toEqual({ ok: false, reason: 'forged' });
    const flipped = `${mac.slice(0, 5)}${mac[5] === 'A' ? 'B' : 'A'}${mac.slice(6)}`;
    expect(t.verify(`${id}.${exp}.${flipped}`, DAY_SHIFT_TIME)).toEqual({ ok: false, reason: 'forged' });
    expect(createAckTokens({ secret: 'another-secret-0123456789', ttlMs: TTL }).verify(token, DAY_SHIFT_TIME)).toEqual({ ok: false, reason: 'forged' });
    expect(t.verify(`${token}x`, DAY_SHIFT_TIME)).toEqual({ ok: false, reason: 'malformed' });
    expect(t.verify(token, DAY_SHIFT_TIME + TTL)).toEqual({ ok: false, reason: 'expired' });
  });
});

describe('acknowledging without a login', () => {
  const clock = manualClock(DAY_SHIFT_TIME);
  let h: Harness | undefined;
  let server: ReturnType<typeof createHttpServer> | undefined;
  const webhook = recordingChannel('webhook');
  afterEach(async () => {
    await server?.stop();
    await h?.close();
    server = undefined;
    h = undefined;
    webhook.sent.length = 0;
    clock.set(DAY_SHIFT_TIME);
  });

  async function setup() {
    h = await startAlerts({
      file: join(tmp.dir, `a${n++}.db`), clock,
      config: { webhook: { url: 'http://127.0.0.1:9/sms-gateway', secret: WEBHOOK_SECRET }, ack: { secret: SECRET, ttlMs: TTL, replyWords: ['1', '收到'], keypressDigit: '1' } },
      alerts: { channels: { webhook } },
    });
    server = createHttpServer({
      config: { ...Config.parse({}).http, host: '127.0.0.1', port: 0, publicUrl: 'http://watchfire.test:8080', timezone: 'Asia/Shanghai' },
      db: h.db, users: createUserStorage({ sql: sqliteRunner(h.db) }), registry: h.registry, incidents: h.alerts.service, ackLinks: h.alerts.ackLinks, bus: h.bus, metrics: new Metrics(),
      health: () => ({ live: true, ready: true, checks: {} }), logger: pino({ level: 'silent' }), clock,
    });
    await h.alerts.handleFinding(finding());
    const id = (await h.alerts.service.list({}))[0]!.id;
    // The contacts' messages (default policy: webhook to the SMS gateway at once).
    await vi.waitFor(() => expect(webhook.sent.filter((m) => m.recipient.id.startsWith('h1#contact'))).toHaveLength(2));
    const to = (rid: string) => webhook.sent.find((m) => m.recipient.id === rid)!;
    return { id, h, app: server.app, to };
  }

  const tokenOf = (m: { data: Readonly<Record<string, unknown>> }) => String(m.data.ackLink).split('/ack/')[1]!;

  it('every message but the console carries its own link; the text and the SMS short text name it', async () => {
    const { to } = await setup();
    const son = to('h1#contact0');
    expect(son.data.ackLink).toMatch(/^http:\/\/watchfire\.test:8080\/ack\/[0-9a-z]+\.[0-9a-z]+\.[\w-]{22}$/);
    expect(son.text).toContain(`一键接警（无需登录）: ${String(son.data.ackLink)}`);
    expect(son.data.text).toContain(`回复1或点 ${String(son.data.ackLink)} 确认接警`);
    expect(to('h1#contact1').data.ackLink).not.toBe(son.data.ackLink);
  });

  it('GET shows a button and acknowledges nothing; POST acknowledges once, as the person, naming the channel', async () => {
    const { id, h, app, to } = await setup();
    const token = tokenOf(to('h1#contact1'));
    const page = await app.inject({ method: 'GET', url: `/ack/${token}` });
    expect(page.statusCode).toBe(200);
    expect(page.headers['cache-control']).toBe('no-store');
    expect(page.body).toContain('<html lang="en">'); // 王芳 reads English
    // The channel in the table's words (the page lists no channels of its own).
    expect(page.body).toContain('Sent to 王芳 (Webhook)');
    expect(page.body).toContain('data-status="ready"');
    expect(page.body).toContain(`<form method="post" action="/ack/${token}?lang=en">`);
    expect((await h.alerts.service.get(id))!.state).toBe('open');
    clock.advance(20_000);
    const post = await app.inject({ method: 'POST', url: `/ack/${token}?lang=zh-CN`, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: '' });
    expect(post.statusCode).toBe(200);
    expect(post.body).toContain('data-status="done"');
    expect(post.body).toContain('已确认接警');
    const inc = (await h.alerts.service.get(id))!;
    expect(inc.state).toBe('acknowledged');
    expect(inc.acknowledgedAt).toBe(DAY_SHIFT_TIME + 20_000);
    const again = await app.inject({ method: 'POST', url: `/ack/${token}`, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: '' });
    expect(again.body).toContain('data-status="already"');
    expect(again.body).not.toContain('<form');
    const acks = (await h.alerts.service.timeline(id)).filter((a) => a.action === 'acknowledge');
    expect(acks).toHaveLength(1);
    expect(acks[0]).toMatchObject({ actor: 'h1#contact1', note: expect.stringMatching(/^王芳 acknowledged with the link in the webhook \(message \d+\)$/), noteZh: expect.stringMatching(/^王芳 通过Webhook 推送中的一键接警链接确认/) });
  });

  it('a tampered or expired token is refused and acknowledges nothing', async () => {
    const { id, h, app, to } = await setup();
    const token = tokenOf(to('h1#contact0'));
    const [oid, exp, mac] = token.split('.') as [string, string, string];
    const forged = `${(parseInt(oid, 36) + 1).toString(36)}.${exp}.${mac}`;
    for (const t of [forged, `${oid}.${exp}.${'A'.repeat(22)}`, 'nonsense']) {
      const r = await app.inject({ method: 'POST', url: `/ack/${t}`, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: '' });
      expect(r.statusCode, t).toBe(404);
      expect(r.body).toContain('data-status="invalid"');
    }
    clock.advance(TTL);
    const late = await app.inject({ method: 'POST', url: `/ack/${token}`, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: '' });
    expect(late.statusCode).toBe(410);
    expect(late.body).toContain('data-status="expired"');
    expect((await h.alerts.service.get(id))!.state).toBe('open');
  });

  it('an SMS reply "1" acknowledges as its sender; other words land in the timeline', async () => {
    const { id, h, to } = await setup();
    const son = to('h1#contact0');
    const match = { outboxId: son.id, incidentId: id, recipientId: 'h1#contact0' };
    const reply = (text: string): ChannelInbound => ({ kind: 'reply', channel: 'sms', provider: 'aliyun', from: '+8613900000001', text, at: clock.now(), match });
    const remarked = h.incident((e) => e.kind === 'updated' && e.actor === 'h1#contact0');
    h.bus.emit('channel.inbound', reply('我马上过去'));
    expect((await remarked).incident.state).toBe('open');
    const acked = h.incident((e) => e.kind === 'transition');
    h.bus.emit('channel.inbound', reply(' 1 '));
    expect((await acked).incident.state).toBe('acknowledged');
    expect((await h.alerts.service.get(id))!.state).toBe('acknowledged');
    const tl = await h.alerts.service.timeline(id);
    expect(tl.find((a) => a.action === 'reply:sms')).toMatchObject({ actor: 'h1#contact0', note: '李明 replied by SMS: 我马上过去', noteZh: '李明 回复短信：我马上过去' });
    expect(tl.find((a) => a.action === 'acknowledge')).toMatchObject({ actor: 'h1#contact0', noteZh: expect.stringContaining('李明 回复短信“1”确认接警') });
  });

  it('a keypress of the configured digit acknowledges; another digit only says the call was answered', async () => {
    const { id, h, to } = await setup();
    const match = (rid: string) => ({ outboxId: to(rid).id, incidentId: id, recipientId: rid });
    const press = (rid: string, digits: string): ChannelInbound => ({ kind: 'keypress', channel: 'voice', provider: 'tencent', providerId: `call-${rid}`, digits, at: clock.now(), match: match(rid) });
    const answered = h.incident((e) => e.kind === 'updated' && e.actor === 'h1#contact1');
    h.bus.emit('channel.inbound', press('h1#contact1', '9'));
    expect((await answered).incident.state).toBe('open');
    const acked = h.incident((e) => e.kind === 'transition');
    h.bus.emit('channel.inbound', press('h1#contact0', '1'));
    expect((await acked).incident.state).toBe('acknowledged');
    expect((await h.alerts.service.get(id))!.state).toBe('acknowledged');
    const tl = await h.alerts.service.timeline(id);
    expect(tl.find((a) => a.action === 'answered:voice')).toMatchObject({ actor: 'h1#contact1', note: '王芳 answered the voice call and pressed 9' });
    expect(tl.find((a) => a.action === 'acknowledge')).toMatchObject({ actor: 'h1#contact0', note: expect.stringContaining('李明 acknowledged by pressing 1 in the voice call') });
  });
});
