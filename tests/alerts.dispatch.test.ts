// Issue 17 point 4: dispatch (派单) reaches the chosen grid worker at once on their channels, and
// when they do not set out (出发) in 3 min the operators and the supervisor are told and the worker
// asked again, every 3 min, until they set out or arrive. Fake timers drive the schedule.
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { join } from 'node:path';
import { DAY_SHIFT_TIME, finding, recordingChannel, startAlerts, tempDir, WEBHOOK_SECRET, type Harness } from './alerts.fixture.ts';

const tmp = tempDir();
afterAll(() => tmp.remove());
let n = 0;

async function setup(): Promise<Harness> {
  return startAlerts({
    file: join(tmp.dir, `d${n++}.db`),
    clock: { now: () => Date.now() },
    config: { webhook: { url: 'http://127.0.0.1:9/sms-gateway', secret: WEBHOOK_SECRET } },
    alerts: { channels: { email: recordingChannel('email'), webhook: recordingChannel('webhook') } },
  });
}

const to = async (h: Harness, id: string, kind: string) => (await h.alerts.outbox.ofIncident(id)).filter((r) => r.kind === kind).map((r) => `${r.channel}:${r.recipientId}`).sort();

let h: Harness | undefined;
beforeEach(() => {
  vi.useFakeTimers({ now: DAY_SHIFT_TIME });
});
afterEach(async () => {
  await h?.close();
  h = undefined;
  vi.useRealTimers();
});

describe('dispatch reaches the worker', () => {
  it('notifies the assignee at once and escalates every 3 min until they set out', async () => {
    h = await setup();
    await h.alerts.handleFinding(finding());
    const id = (await h.alerts.service.list({}))[0]!.id;
    await h.alerts.service.acknowledge(id, 'op-liu');
    // Dispatched to someone other than the grid's own worker: the chosen one is told.
    await h.alerts.service.dispatch(id, 'op-liu', 'sup-ma');
    expect(await to(h, id, 'dispatch')).toEqual(['email:sup-ma', 'webhook:sup-ma']);
    await vi.advanceTimersByTimeAsync(3 * 60_000 - 1);
    expect(await to(h, id, 'not_accepted')).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(await to(h, id, 'not_accepted')).toEqual(['console:fc1', 'email:op-liu', 'email:op-sun', 'email:sup-huang', 'email:sup-ma', 'webhook:sup-huang', 'webhook:sup-ma']);
    await vi.advanceTimersByTimeAsync(3 * 60_000);
    expect(await to(h, id, 'not_accepted')).toHaveLength(14);
    // 出发: the chain stops.
    await h.alerts.service.enRoute(id, 'sup-ma');
    await vi.advanceTimersByTimeAsync(30 * 60_000);
    expect(await to(h, id, 'not_accepted')).toHaveLength(14);
    const tl = await h.alerts.service.timeline(id);
    expect(tl.filter((e) => e.action === 'escalation:not_accepted').map((e) => e.noteZh)).toEqual(['未出发升级：已发出 7 条通知', '未出发升级：已发出 7 条通知']);
  });

  it('reaches the grid worker by webhook (SMS gateway) and stops escalating on arrival', async () => {
    h = await setup();
    await h.alerts.handleFinding(finding());
    const id = (await h.alerts.service.list({}))[0]!.id;
    await h.alerts.service.acknowledge(id, 'op-liu');
    await h.alerts.service.dispatch(id, 'op-liu', 'gw-wang');
    // gw-wang has a phone and no email: the SMS gateway webhook reaches them.
    expect(await to(h, id, 'dispatch')).toEqual(['webhook:gw-wang']);
    await h.alerts.service.onSite(id, 'gw-wang');
    await vi.advanceTimersByTimeAsync(30 * 60_000);
    expect(await to(h, id, 'not_accepted')).toEqual([]);
  });
});
