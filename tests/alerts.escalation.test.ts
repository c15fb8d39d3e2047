// Escalation timing with fake timers: the persisted steps, driven by one timer on the clock,
// fire at the policy's times, stop on acknowledgement / arrival / resolution, and carry on after
// a restart exactly once.
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { join } from 'node:path';
import { DAY_SHIFT_TIME, finding, recordingChannel, startAlerts, tempDir, WEBHOOK_SECRET, type Harness } from './alerts.fixture.ts';

const tmp = tempDir();
afterAll(() => tmp.remove());
let n = 0;
const clock = { now: () => Date.now() };

async function setup(file = join(tmp.dir, `e${n++}.db`)): Promise<Harness> {
  return startAlerts({
    file,
    clock,
    config: { webhook: { url: 'http://127.0.0.1:9/sms-gateway', secret: WEBHOOK_SECRET } },
    alerts: { channels: { email: recordingChannel('email'), webhook: recordingChannel('webhook') } },
  });
}

async function rows(h: Harness, id: string, kind: string) {
  return (await h.alerts.outbox.ofIncident(id)).filter((r) => r.kind === kind);
}

let h: Harness | undefined;
beforeEach(() => {
  vi.useFakeTimers({ now: DAY_SHIFT_TIME });
});
afterEach(async () => {
  await h?.close();
  h = undefined;
  vi.useRealTimers();
});

describe('red escalation', () => {
  it('unacknowledged after 30 s reaches the supervisor, then every 2 min until acknowledged; then nobody on site in 10 min reaches supervisor and liaison', async () => {
    h = await setup();
    await h.alerts.handleFinding(finding());
    const id = (await h.alerts.service.list({}))[0]!.id;
    await vi.advanceTimersByTimeAsync(29_999);
    expect(await rows(h, id, 'escalation')).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    const first = await rows(h, id, 'escalation');
    expect(first.map((r) => `${r.channel}:${r.recipientId}`).sort()).toEqual(['console:fc1', 'email:op-liu', 'email:op-sun', 'email:sup-huang', 'webhook:sup-huang']);
    expect(h.events.filter((e) => e.kind === 'escalated')).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(119_999);
    expect(await rows(h, id, 'escalation')).toHaveLength(5);
    await vi.advanceTimersByTimeAsync(1);
    expect(await rows(h, id, 'escalation')).toHaveLength(10);
    await vi.advanceTimersByTimeAsync(60_000);
    await h.alerts.service.acknowledge(id, 'op-liu');
    const ackAt = Date.now();
    await vi.advanceTimersByTimeAsync(30 * 60_000);
    // Acknowledging stopped the chain: no third round.
    expect(await rows(h, id, 'escalation')).toHaveLength(10);
    const late = await rows(h, id, 'not_on_site');
    expect(late.map((r) => `${r.channel}:${r.recipientId}`).sort()).toEqual(['console:fc1', 'email:li-119', 'email:sup-huang', 'webhook:li-119', 'webhook:sup-huang']);
    expect(late.every((r) => r.createdAt === ackAt + 10 * 60_000)).toBe(true);
    expect((await h.alerts.service.timeline(id)).map((a) => a.action)).toEqual(['opened', 'escalation:unacknowledged', 'escalation:unacknowledged', 'acknowledge', 'escalation:not_on_site']);
  });

  it('someone on site within 10 min cancels the nobody-on-site step; resolving cancels everything', async () => {
    h = await setup();
    await h.alerts.handleFinding(finding());
    const id = (await h.alerts.service.list({}))[0]!.id;
    await vi.advanceTimersByTimeAsync(10_000);
    await h.alerts.service.acknowledge(id, 'op-liu');
    await h.alerts.service.dispatch(id, 'op-liu', 'gw-wang');
    // Setting out (出发) at once ends the dispatch's not-accepted step (issue 17 point 4).
    await h.alerts.service.enRoute(id, 'gw-wang');
    await vi.advanceTimersByTimeAsync(9 * 60_000);
    await h.alerts.service.onSite(id, 'gw-wang');
    await vi.advanceTimersByTimeAsync(60 * 60_000);
    expect(await rows(h, id, 'escalation')).toEqual([]);
    expect(await rows(h, id, 'not_on_site')).toEqual([]);
    expect((await h.alerts.escalations.of(id)).map((s) => [s.step, s.status])).toEqual([['unacknowledged', 'cancelled'], ['not_on_site', 'cancelled'], ['not_accepted', 'cancelled']]);
  });
});

describe('yellow escalation', () => {
  it('first a reminder at 24 h, then a warning at 72 h, then enforcement at 7 days, and a place on the enforcement list', async () => {
    h = await setup();
    await h.alerts.handleFinding(finding({ ruleId: 'smoke.tamper', level: 'yellow', score: 50, category: 'maintenance', condition: 'tamper' }));
    const id = (await h.alerts.service.list({}))[0]!.id;
    const hour = 3_600_000;
    await vi.advanceTimersByTimeAsync(24 * hour - 1);
    expect(await rows(h, id, 'reminder')).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect((await rows(h, id, 'reminder')).map((r) => r.recipientId).sort()).toEqual(['fc1', 'gw-wang']);
    await vi.advanceTimersByTimeAsync(48 * hour);
    expect((await rows(h, id, 'warning')).map((r) => `${r.channel}:${r.recipientId}`).sort()).toEqual(['console:fc1', 'email:sup-huang', 'webhook:gw-wang', 'webhook:h1#contact0', 'webhook:h1#contact1']);
    await vi.advanceTimersByTimeAsync(96 * hour);
    expect((await rows(h, id, 'enforcement')).map((r) => `${r.channel}:${r.recipientId}`).sort()).toEqual(['console:fc1', 'email:mgr-qian', 'email:sup-huang']);
    const daily = await h.alerts.reports.daily('fc1', '2026-11-30');
    expect(daily.body.data.enforcement).toEqual([id]);
    await vi.advanceTimersByTimeAsync(30 * 24 * hour);
    expect((await h.alerts.outbox.ofIncident(id)).filter((r) => r.kind === 'reminder' || r.kind === 'warning' || r.kind === 'enforcement')).toHaveLength(2 + 5 + 3);
  });
});

describe('restart', () => {
  it('steps due while the process was down fire once at start, repeats collapse, and the cadence carries on', async () => {
    const file = join(tmp.dir, 'restart.db');
    h = await setup(file);
    await h.alerts.handleFinding(finding());
    const id = (await h.alerts.service.list({}))[0]!.id;
    await vi.advanceTimersByTimeAsync(20_000);
    await h.close();
    // Down for 5 minutes: the 30 s step and two 2-min repeats fell due meanwhile.
    vi.setSystemTime(DAY_SHIFT_TIME + 5 * 60_000);
    h = await setup(file);
    const after = await rows(h, id, 'escalation');
    expect(after).toHaveLength(5);
    expect((await h.alerts.escalations.of(id)).filter((s) => s.status === 'pending').map((s) => s.dueAt)).toEqual([DAY_SHIFT_TIME + 30_000 + 3 * 120_000]);
    // Restarted at 5:00; the next repeat keeps the 2-min grid of the original chain: 6:30.
    await vi.advanceTimersByTimeAsync(89_999);
    expect(await rows(h, id, 'escalation')).toHaveLength(5);
    await vi.advanceTimersByTimeAsync(1);
    expect(await rows(h, id, 'escalation')).toHaveLength(10);
  });
});
