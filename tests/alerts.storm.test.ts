// Issue 17 point 3: an alarm storm. A fire panel reports 1,000 fire events over ten minutes across
// four zones (four incidents); nobody acknowledges. Each person gets at most one message per
// channel per escalation step and round — a digest naming every open zone — instead of one per
// zone. Fake timers drive the schedule; the real outbox delivers to recording channels.
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { join } from 'node:path';
import { DAY_SHIFT_TIME, finding, recordingChannel, startAlerts, tempDir, WEBHOOK_SECRET, type Harness } from './alerts.fixture.ts';
import { DEFAULT_POLICIES, parsePolicies } from '../alerts/index.ts';

const tmp = tempDir();
afterAll(() => tmp.remove());
let h: Harness | undefined;
beforeEach(() => {
  vi.useFakeTimers({ now: DAY_SHIFT_TIME });
});
afterEach(async () => {
  await h?.close();
  h = undefined;
  vi.useRealTimers();
});

const EVENTS = 1000;
const SPAN_MS = 10 * 60_000;
const zoneFinding = (zone: string) => finding({
  ruleId: 'panel.fire', condition: 'fire', deviceId: 'fp1', deviceType: 'fire_panel', siteId: 'b1', gridId: undefined, zone,
  message: { en: 'Fire alarm', zh: '火警' }, ts: Date.now(),
});

async function storm(policies = DEFAULT_POLICIES) {
  const email = recordingChannel('email');
  const webhook = recordingChannel('webhook');
  h = await startAlerts({
    file: join(tmp.dir, `s${Math.random().toString(36).slice(2)}.db`),
    clock: { now: () => Date.now() },
    config: { webhook: { url: 'http://127.0.0.1:9/sms-gateway', secret: WEBHOOK_SECRET } },
    alerts: { policies, channels: { email, webhook }, outbox: { baseDelayMs: 10, maxDelayMs: 50 } },
  });
  for (let n = 0; n < EVENTS; n++) {
    await h.alerts.handleFinding(zoneFinding(String((n % 4) + 1)));
    await vi.advanceTimersByTimeAsync(SPAN_MS / EVENTS);
  }
  await vi.advanceTimersByTimeAsync(1_000);
  const rows = h.db.prepare(`SELECT o.channel, o.recipient_id AS who, o.step, o.created_at AS at FROM alert_outbox o WHERE o.incident_id IS NOT NULL`).all() as Array<{ channel: string; who: string; step: string; at: number }>;
  return { rows, email, webhook, incidents: await h.alerts.service.list({ active: true }) };
}

/** Messages per (person, channel, step), and how many rounds of that step ran in the storm. */
function perPersonStep(rows: Array<{ channel: string; who: string; step: string }>) {
  const n = new Map<string, number>();
  for (const r of rows) n.set(`${r.who}|${r.channel}|${r.step}`, (n.get(`${r.who}|${r.channel}|${r.step}`) ?? 0) + 1);
  return n;
}
// The red policy: `alarm` at once; `unacknowledged` 30 s after opening, then every 2 min.
const ROUNDS = { alarm: 1, unacknowledged: 1 + Math.floor((SPAN_MS - 30_000) / 120_000) } as Record<string, number> & { unacknowledged: number };

describe('an alarm storm of one panel', () => {
  it('1,000 events to four zones: at most one message per person per channel per escalation step and round', async () => {
    const { rows, email, incidents } = await storm();
    expect(incidents).toHaveLength(4);
    const counts = perPersonStep(rows);
    expect(counts.size).toBeGreaterThan(0);
    for (const [k, n] of counts) expect(n, k).toBeLessThanOrEqual(ROUNDS[k.split('|')[2]!]!);
    // The supervisor by email: one per round of `unacknowledged`, not four.
    expect(counts.get('sup-huang|email|unacknowledged')).toBe(ROUNDS.unacknowledged);
    // Each digest names the other open zones of the site.
    const digest = email.sent.find((m) => m.address === 'huang@example.org')!;
    expect(digest.subject).toMatch(/此处另有3条/);
    expect(digest.text).toMatch(/此处另有未处置警情（3条）/);
    expect((await h!.alerts.service.timeline(incidents[0]!.id)).length).toBeGreaterThan(0);
  });

  it('sends one per zone when the policy turns the digest off (the test can tell the difference)', async () => {
    const input = structuredClone(DEFAULT_POLICIES) as unknown as { policies: Array<{ storm: { window: number } }> };
    for (const p of input.policies) p.storm = { window: 0 };
    const { rows } = await storm(parsePolicies(input));
    const counts = perPersonStep(rows);
    expect(counts.get('sup-huang|email|unacknowledged')).toBe(4 * ROUNDS.unacknowledged);
  });
});
