// Issues 3 and 4 end to end: a detector's `alarm` published over MQTT is stored red in InfluxDB,
// raises a finding, opens one incident, emails the on-duty operator (and nobody off duty), sends
// signed webhooks to the grid worker and the emergency contact, escalates to the supervisor when
// nobody acknowledges, and stops escalating once someone does.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSystem, type TestSystem } from './support/system.ts';
import { smallCounty } from './support/registries.ts';
import { startWebhookReceiver, WEBHOOK_SECRET } from './alerts.fixture.ts';
import { topics } from '../contracts/protocol.ts';
import type { Finding } from '../contracts/findings.ts';
import { DEFAULT_POLICIES, parsePolicies } from '../alerts/index.ts';

const ESCALATE_AFTER_MS = 1500;
let sys: TestSystem;
let hook: Awaited<ReturnType<typeof startWebhookReceiver>>;

/** The default red policy with the 30 s "unacknowledged" step shortened, so the suite runs fast. */
function fastPolicies() {
  const input = structuredClone(DEFAULT_POLICIES) as unknown as { policies: Array<{ id: string; steps: Array<{ id: string; after: unknown; every?: unknown }> }> };
  const red = input.policies.find((p) => p.id === 'red')!;
  red.steps = red.steps.map((s) => (s.id === 'unacknowledged' ? { ...s, after: ESCALATE_AFTER_MS, every: 60_000 } : s));
  return parsePolicies(input);
}

beforeAll(async () => {
  hook = await startWebhookReceiver();
  const county = smallCounty();
  county.sites = county.sites!.map((s) => (s.id === 'h-1' ? { ...s, contacts: [{ name: '李明', relation: '儿子', phone: '13800000001', webhook: `${hook.url}?contact=li` }] } : s));
  county.people = county.people!.map((p) => (p.id === 'p-grid' ? { ...p, webhook: `${hook.url}?grid=liu` } : p));
  sys = await startTestSystem({
    registry: county,
    config: { 'alerts.webhook': { url: hook.url, secret: WEBHOOK_SECRET } },
    alerts: { policies: fastPolicies(), outbox: { baseDelayMs: 50, maxDelayMs: 300 } },
  });
});
afterAll(async () => {
  await sys?.stop();
  await hook?.stop();
});

describe('a smoke alarm in the home of a resident who lives alone', () => {
  it('is stored red, raises a finding and one incident, and reaches the right people', async () => {
    const findings: Finding[] = [];
    sys.wf.bus.on('finding', 'test', (f) => findings.push(f));
    const detector = await sys.connectDevice('sd-1');
    await detector.publishAsync(topics.events('sd-1'), JSON.stringify({ type: 'alarm', seq: 1 }), { qos: 1 });
    // A second alarm from the same device a moment later updates the incident; it opens no other.
    await detector.publishAsync(topics.events('sd-1'), JSON.stringify({ type: 'alarm', seq: 2 }), { qos: 1 });

    // Stored with its level (InfluxDB), and raised as a finding on the bus for the incident manager.
    await sys.waitFor(async () => (await sys.count('event', `"device"='sd-1' AND "event"='alarm' AND "level"='red'`)) === 2, { what: 'two red alarm events in InfluxDB' });
    expect(findings.some((f) => f.deviceId === 'sd-1' && f.level === 'red' && f.category === 'fire')).toBe(true);

    const incidents = await sys.wf.alerts.service.list({ siteId: 'h-1' });
    expect(incidents).toHaveLength(1);
    const incident = incidents[0]!;
    expect(incident).toMatchObject({ level: 'red', category: 'fire', state: 'open', findingCount: 2 });

    // Email to the on-duty operator only (p-op2 is on no shift), subject with the essentials.
    const mails = await sys.smtp!.waitForMails((m) => m.some((x) => x.to.includes('op@example.test')), 'alarm email to the on-duty operator');
    const alarmMail = mails.find((x) => x.to.includes('op@example.test'))!;
    expect(alarmMail.subject).toContain('张桂英家');
    expect(alarmMail.subject).toContain('幸福小区3栋201');
    // Signed webhooks to the grid worker and the emergency contact.
    await sys.waitFor(() => hook.received.some((h) => h.headers['x-watchfire-signature'] && JSON.stringify(h.body).includes('p-grid'))
      && hook.received.some((h) => JSON.stringify(h.body).includes('李明')), { what: 'webhooks to grid worker and contact' });
    expect(hook.received.every((h) => h.signatureOk)).toBe(true);

    // Nobody acknowledged: after the configured delay the supervisor is emailed.
    await sys.smtp!.waitForMails((m) => m.some((x) => x.to.includes('sup@example.test')), 'escalation email to the supervisor', 15_000);
    expect(sys.smtp!.mails.some((x) => x.to.includes('op2@example.test'))).toBe(false);
    await detector.endAsync();
  });

  it('stops escalating once an operator acknowledges', async () => {
    const detector = await sys.connectDevice('sd-3');
    await detector.publishAsync(topics.events('sd-3'), JSON.stringify({ type: 'alarm', seq: 1 }), { qos: 1 });
    const incident = await sys.waitFor(async () => (await sys.wf.alerts.service.list({ siteId: 'h-2' })).find((i) => i.level === 'red'), { what: 'h-2 incident' });
    const unacknowledgedStep = async () => (await sys.wf.alerts.escalations.of(incident.id)).filter((e) => e.step === 'unacknowledged' && e.status === 'pending');
    expect(await unacknowledgedStep()).toHaveLength(1);
    await sys.wf.alerts.service.acknowledge(incident.id, 'p-op', '已电话联系老人');
    expect((await sys.wf.alerts.service.get(incident.id))?.state).toBe('acknowledged');
    // The escalation step for this incident is cancelled, not merely late.
    expect(await unacknowledgedStep()).toHaveLength(0);
    await detector.endAsync();
  });
});
