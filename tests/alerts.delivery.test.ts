// Delivery with the real things: a real SMTP server (smtp-server on loopback) receiving the emails
// and a real HTTP receiver checking each webhook's HMAC. Escalation delays are shortened through
// the policy data; their exact timing is the fake-timer suite's job.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { startTestSmtp, type TestSmtp } from './support/smtp.ts';
import { waitFor } from './support/wait.ts';
import { DEFAULT_POLICIES, parsePolicies, type EscalationPoliciesInput } from '../alerts/index.ts';
import {
  DAY_SHIFT_TIME, finding, registryFile, shiftedClock, startAlerts, startWebhookReceiver, tempDir, WEBHOOK_SECRET, type Harness,
} from './alerts.fixture.ts';

const tmp = tempDir();
let smtp: TestSmtp;
let hook: Awaited<ReturnType<typeof startWebhookReceiver>>;
let n = 0;

/** The default policies with the 30 s unacknowledged step brought down to `afterMs`. */
function fastPolicies(afterMs: number) {
  const input = structuredClone(DEFAULT_POLICIES) as unknown as EscalationPoliciesInput;
  const red = input.policies.find((p) => p.id === 'red')!;
  red.steps = red.steps.map((s) => (s.id === 'unacknowledged' ? { ...s, after: afterMs } : s));
  return parsePolicies(input);
}

async function setup(opts: { file?: string; clock?: ReturnType<typeof shiftedClock>; afterMs?: number } = {}): Promise<Harness> {
  return startAlerts({
    file: opts.file ?? join(tmp.dir, `d${n++}.db`),
    clock: opts.clock ?? shiftedClock(DAY_SHIFT_TIME),
    registry: registryFile({ contactWebhook: `${hook.url}?contact=li` }),
    config: {
      smtp: { host: '127.0.0.1', port: smtp.port, secure: false, ignoreTLS: true, from: 'Watchfire <watchfire@test.local>' },
      webhook: { url: hook.url, secret: WEBHOOK_SECRET },
    },
    alerts: { policies: fastPolicies(opts.afterMs ?? 400), outbox: { baseDelayMs: 50, maxDelayMs: 300 } },
  });
}

beforeAll(async () => {
  smtp = await startTestSmtp();
  hook = await startWebhookReceiver();
});
afterAll(async () => {
  await smtp.stop();
  await hook.stop();
  tmp.remove();
});

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
  smtp.mails.length = 0;
  hook.received.length = 0;
  hook.setFailing(false);
});

const incidentOf = (x: { body: Record<string, unknown> }) => (x.body.incident as { id: string }).id;

describe('delivery to real SMTP and webhook receivers', () => {
  it('a detector alarm reaches the on-duty operators by email, nobody off duty, and the grid worker and contacts by signed webhook; unacknowledged, the supervisor', async () => {
    h = await setup();
    await h.alerts.handleFinding(finding());
    const inc = (await h.alerts.service.list({}))[0]!;
    const alarm = await smtp.waitForMails((m) => m.filter((x) => x.subject.includes('烟感报警') || x.subject.includes('Smoke alarm')).length >= 2, 'alarm emails');
    const liu = alarm.find((m) => m.to.includes('liu@example.org'))!;
    expect(liu.subject).toBe('[红色警情] 烟感报警 — 张桂英家 (幸福小区3栋201) 厨房');
    expect(liu.text).toContain(`http://watchfire.test:8080/#/incidents/${inc.id}`);
    expect(liu.html).toContain('张桂英');
    expect(liu.messageId).toMatch(new RegExp(`^<outbox-\\d+\\.${inc.id}@watchfire\\.test>$`));
    const sun = alarm.find((m) => m.to.includes('sun@example.org'))!;
    expect(sun.subject).toBe('[RED ALERT] Smoke alarm — 张桂英家 (幸福小区3栋201) 厨房');
    const alarmHooks = () => hook.received.filter((x) => x.body.kind === 'alarm');
    const hooks = await waitFor(() => (alarmHooks().length >= 3 ? alarmHooks() : undefined), { what: 'three alarm webhooks' });
    expect(hooks.every((x) => x.signatureOk)).toBe(true);
    expect(hooks.map((x) => (x.body.recipient as { id: string }).id).sort()).toEqual(['gw-wang', 'h1#contact0', 'h1#contact1']);
    expect(hooks.find((x) => (x.body.recipient as { id: string }).id === 'h1#contact0')!.headers['x-watchfire-timestamp']).toMatch(/^\d+$/);
    expect(hooks.every((x) => incidentOf(x) === inc.id)).toBe(true);
    // Issue 17 point 1: every webhook links exactly this incident, and its SMS text carries a link
    // for it (the one-tap acknowledge link where there is one, else the incident's).
    for (const x of hooks) {
      expect(x.body.link).toBe(`http://watchfire.test:8080/#/incidents/${encodeURIComponent(inc.id)}`);
      expect(String(x.body.text)).toContain(String(x.body.ackLink ?? x.body.link));
    }
    // Not acknowledged: the supervisor hears of it after the configured delay.
    const esc = await smtp.waitForMails((m) => m.some((x) => x.to.includes('huang@example.org')), 'escalation to the supervisor');
    expect(esc.find((x) => x.to.includes('huang@example.org'))!.subject).toMatch(/^\[未接警·升级红色警情\]/);
    await h.alerts.service.acknowledge(inc.id, 'op-liu');
    expect((await h.alerts.escalations.of(inc.id)).find((s) => s.step === 'unacknowledged' && s.status === 'pending')).toBeUndefined();
    await waitFor(async () => (await h!.alerts.outbox.pending()).length === 0, { what: 'outbox drained' });
    const to = smtp.mails.flatMap((m) => m.to);
    expect(to).not.toContain('zhou@example.org');
    expect(to).not.toContain('wu@example.org');
  });

  it('acknowledged before the delay, the supervisor gets nothing', async () => {
    h = await setup({ afterMs: 60_000 });
    await h.alerts.handleFinding(finding());
    const id = (await h.alerts.service.list({}))[0]!.id;
    await h.alerts.service.acknowledge(id, 'op-liu');
    await smtp.waitForMails((m) => m.length >= 2, 'alarm emails');
    await waitFor(async () => (await h!.alerts.outbox.pending()).length === 0, { what: 'outbox drained' });
    expect((await h.alerts.escalations.of(id)).map((s) => [s.step, s.status])).toEqual([['unacknowledged', 'cancelled'], ['not_on_site', 'pending']]);
    expect(smtp.mails.flatMap((m) => m.to)).not.toContain('huang@example.org');
  });

  it('SMTP down for a while then up: webhooks are not held up, and every email arrives exactly once', async () => {
    await smtp.down();
    h = await setup({ afterMs: 60_000 });
    await h.alerts.handleFinding(finding());
    const id = (await h.alerts.service.list({}))[0]!.id;
    // The webhook channel delivers while SMTP refuses connections.
    await waitFor(() => hook.received.length >= 3, { what: 'webhooks during the SMTP outage' });
    const emailRows = async () => (await h!.alerts.outbox.ofIncident(id)).filter((r) => r.channel === 'email');
    await waitFor(async () => (await emailRows()).every((r) => r.attempts >= 2), { what: 'failed email attempts' });
    expect((await emailRows()).every((r) => r.status !== 'sent' && r.lastError !== null)).toBe(true);
    await smtp.up();
    await waitFor(async () => (await emailRows()).every((r) => r.status === 'sent'), { what: 'emails sent after SMTP returned' });
    expect(smtp.mails).toHaveLength(2);
    expect(new Set(smtp.mails.map((m) => m.messageId)).size).toBe(2);
    for (const r of await emailRows()) {
      const a = await h.alerts.outbox.attempts(r.id);
      expect(a.at(-1)!.outcome).toBe('sent');
      expect(a.slice(0, -1).every((x) => x.outcome === 'failed' && x.error !== null)).toBe(true);
    }
  });

  it('an alarm storm on a panel yields one notification set for the site, not per zone or per event (issue 17 digest)', async () => {
    h = await setup({ afterMs: 60_000 });
    for (let k = 0; k < 500; k++) {
      await h.alerts.handleFinding(finding({ deviceId: 'fp1', deviceType: 'fire_panel', siteId: 'b1', gridId: undefined, condition: 'fire', zone: String(k % 3), message: { en: `Fire at point ${k}`, zh: `火警：点位 ${k}` } }));
    }
    await waitFor(async () => (await h!.alerts.outbox.pending()).length === 0 && smtp.mails.length >= 2, { what: 'storm notifications delivered' });
    // One digest per person: the two operators by email, the bank's contact by webhook.
    expect(smtp.mails).toHaveLength(2);
    expect(hook.received).toHaveLength(1);
    // Each names the other two zones: 此处另有2条 (zh-CN), +2 more here (the English-speaking operator).
    expect(smtp.mails.every((m) => /此处另有2条|\+2 more here/.test(m.subject))).toBe(true);
  });
});

describe('restart safety', () => {
  it('killed with an incident open, an escalation pending and emails undelivered: on start everything carries on, nothing twice', async () => {
    const file = join(tmp.dir, 'restart.db');
    const clock = shiftedClock(DAY_SHIFT_TIME);
    await smtp.down();
    h = await setup({ file, clock, afterMs: 5_000 });
    await h.alerts.handleFinding(finding());
    const id = (await h.alerts.service.list({}))[0]!.id;
    await waitFor(async () => (await h!.alerts.outbox.ofIncident(id)).filter((r) => r.channel === 'email').every((r) => r.attempts >= 1 && r.status === 'pending'), { what: 'failed email attempts' });
    await h.close();
    h = undefined;
    // A crash between the SMTP hand-over and its 'sent' commit leaves a row 'sending'.
    const { default: Database } = await import('better-sqlite3');
    const raw = new Database(file);
    const crashed = raw.prepare("SELECT id FROM alert_outbox WHERE channel = 'email' ORDER BY id LIMIT 1").pluck().get() as number;
    raw.prepare("UPDATE alert_outbox SET status = 'sending' WHERE id = ?").run(crashed);
    // Its retries every 25-50 ms may have made more than one attempt before the close: all failed.
    const firstLife = raw.prepare('SELECT COUNT(*) FROM alert_outbox_attempts WHERE outbox_id = ?').pluck().get(crashed) as number;
    raw.close();
    await smtp.up();
    // Back 10 s later: the 5 s escalation fell due while down.
    clock.advance(10_000);
    h = await setup({ file, clock, afterMs: 5_000 });
    await waitFor(async () => (await h!.alerts.outbox.pending()).length === 0, { what: 'outbox drained after restart' });
    const mails = await smtp.waitForMails((m) => m.some((x) => x.to.includes('huang@example.org')), 'escalation after restart');
    const ids = mails.map((m) => m.messageId);
    expect(new Set(ids).size).toBe(ids.length);
    expect(mails.filter((m) => m.subject.startsWith('[红色警情]') || m.subject.startsWith('[RED ALERT]')).map((m) => m.to[0]).sort()).toEqual(['liu@example.org', 'sun@example.org']);
    expect(mails.filter((m) => m.to.includes('huang@example.org'))).toHaveLength(1);
    expect((await h.alerts.service.timeline(id)).filter((a) => a.action === 'escalation:unacknowledged')).toHaveLength(1);
    expect(firstLife).toBeGreaterThanOrEqual(1);
    expect((await h.alerts.outbox.attempts(crashed)).map((a) => a.outcome)).toEqual([...Array<string>(firstLife).fill('failed'), 'sent']);
    // Webhooks went out in the first life and were not repeated.
    expect(hook.received.filter((x) => x.body.kind === 'alarm')).toHaveLength(3);
  });
});
