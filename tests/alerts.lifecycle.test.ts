// Incidents: one per situation and place, the lifecycle and its audit trail, dispositions,
// automatic resolution of yellow conditions, recurrences, storms, reports.
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { join } from 'node:path';
import { Registry as MetricsRegistry } from 'prom-client';
import { WatchfireError } from '../contracts/errors.ts';
import type { IncidentEvent } from '../contracts/incidents.ts';
import {
  DAY_SHIFT_TIME, finding, manualClock, recordingChannel, startAlerts, tempDir, WEBHOOK_SECRET, type Harness,
} from './alerts.fixture.ts';

const tmp = tempDir();
afterAll(() => tmp.remove());
let n = 0;

async function setup(start = DAY_SHIFT_TIME) {
  const clock = manualClock(start);
  const email = recordingChannel('email');
  const webhook = recordingChannel('webhook');
  const metrics = new MetricsRegistry();
  const h = await startAlerts({
    file: join(tmp.dir, `l${n++}.db`),
    clock,
    config: { webhook: { url: 'http://127.0.0.1:9/sms-gateway', secret: WEBHOOK_SECRET } },
    alerts: { channels: { email, webhook }, metrics },
  });
  return { h, clock, email, webhook, metrics };
}

async function code(fn: () => Promise<unknown>): Promise<string | undefined> {
  try {
    await fn();
  } catch (err) {
    if (err instanceof WatchfireError) return err.code;
    throw err;
  }
  return undefined;
}

let current: Harness | undefined;
afterEach(async () => {
  await current?.close();
  current = undefined;
});

describe('incidents from findings', () => {
  it('a detector alarm opens one incident and queues the first step for the people on duty', async () => {
    const { h } = await setup();
    current = h;
    await h.alerts.handleFinding(finding(), DAY_SHIFT_TIME - 3);
    const list = await h.alerts.service.list({ active: true });
    expect(list).toHaveLength(1);
    const inc = list[0]!;
    expect(inc).toMatchObject({ key: 'site:h1:fire', level: 'red', state: 'open', siteId: 'h1', findingCount: 1, recurrenceOf: null });
    expect(h.events).toEqual([expect.objectContaining({ kind: 'opened', receivedAt: DAY_SHIFT_TIME - 3 })]);
    const rows = await h.alerts.outbox.ofIncident(inc.id);
    const to = (ch: string) => rows.filter((r) => r.channel === ch).map((r) => r.recipientId).sort();
    expect(to('console')).toEqual(['fc1']);
    // Day shift on duty: Liu and Sun, not the night shift's Zhou and Wu.
    expect(to('email')).toEqual(['op-liu', 'op-sun']);
    expect(to('webhook')).toEqual(['gw-wang', 'h1#contact0', 'h1#contact1']);
    expect(rows.every((r) => r.kind === 'alarm' && r.status === 'pending')).toBe(true);
    // The unacknowledged chain is waiting on the timer.
    expect(await h.alerts.escalations.of(inc.id)).toEqual([expect.objectContaining({ step: 'unacknowledged', dueAt: DAY_SHIFT_TIME + 30_000, status: 'pending' })]);
  });

  it('new findings update the open incident, a higher level raises it and notifies once more', async () => {
    const { h, clock } = await setup();
    current = h;
    await h.alerts.handleFinding(finding({ ruleId: 'smoke.pre_alarm', level: 'yellow', score: 50, condition: 'smoke', message: { en: 'Smoke pre-alarm', zh: '烟雾预警' } }));
    const id = (await h.alerts.service.list({}))[0]!.id;
    const yellowRows = (await h.alerts.outbox.ofIncident(id)).length;
    clock.advance(1000);
    await h.alerts.handleFinding(finding({ ruleId: 'smoke.pre_alarm', level: 'yellow', score: 55, condition: 'smoke', message: { en: 'Smoke pre-alarm', zh: '烟雾预警' } }));
    expect(await h.alerts.outbox.ofIncident(id)).toHaveLength(yellowRows);
    clock.advance(1000);
    await h.alerts.handleFinding(finding({ deviceId: 'sd2' }));
    const raisedRows = (await h.alerts.outbox.ofIncident(id)).filter((r) => r.kind === 'raised');
    expect(raisedRows.length).toBeGreaterThan(0);
    clock.advance(1000);
    await h.alerts.handleFinding(finding({ level: 'yellow', score: 50, condition: 'smoke' }));
    const all = await h.alerts.service.list({});
    expect(all).toHaveLength(1);
    expect(all[0]).toMatchObject({ id, level: 'red', findingCount: 4, condition: 'alarm', score: 90 });
    expect(h.events.map((e) => e.kind)).toEqual(['opened', 'updated', 'raised', 'updated']);
    expect((await h.alerts.outbox.ofIncident(id)).filter((r) => r.kind === 'raised')).toHaveLength(raisedRows.length);
    // The yellow reminders gave way to the red chain.
    expect((await h.alerts.escalations.of(id)).filter((s) => s.status === 'pending').map((s) => s.step)).toEqual(['unacknowledged']);
  });

  it('keeps the alarm value as the headline when a second detector confirms (issue 17)', async () => {
    const { h, clock } = await setup();
    current = h;
    const smoke = (deviceId: string, v: string, over: Parameters<typeof finding>[0] = {}) => finding({
      deviceId, ruleId: 'smoke.smoke', condition: 'smoke', message: { en: `Fire: smoke at alarm level ${v} dB/m`, zh: `火警：烟雾浓度达到报警值 ${v} dB/m` }, ...over,
    });
    // A pre-alarm at one detector, then the alarm at the other raises it: the headline is the alarm's.
    await h.alerts.handleFinding(smoke('sd1', '0.080', { level: 'yellow', score: 50 }));
    const id = h.events[0]!.incident.id;
    clock.advance(1000);
    await h.alerts.handleFinding(smoke('sd2', '1.045'));
    // The first detector now reaches the alarm level too and confirms: counted and confirmed, the
    // headline stays 1.045, and the timeline says what confirmed it.
    for (let k = 0; k < 3; k++) {
      clock.advance(1000);
      await h.alerts.handleFinding(smoke('sd1', '0.151', { ruleId: 'smoke.smoke_confirmed', score: 100, confirmed: true }));
    }
    await new Promise<void>((resolve) => h.bus.on('incident', 'confirm-test', (e) => e.incident.findingCount === 5 && resolve()));
    const inc = (await h.alerts.service.get(id))!;
    expect(inc).toMatchObject({ level: 'red', confirmed: true, score: 100, findingCount: 5, title: { en: 'Fire: smoke at alarm level 1.045 dB/m' } });
    const confirmedBy = (await h.alerts.service.timeline(id)).filter((e) => e.action === 'second_detector');
    expect(confirmedBy.map((e) => [e.note, e.noteZh])).toEqual([['Fire: smoke at alarm level 0.151 dB/m', '火警：烟雾浓度达到报警值 0.151 dB/m']]);
    // The alarm's own detector still moves its headline (a rising value stays visible).
    clock.advance(1000);
    await h.alerts.handleFinding(smoke('sd2', '1.380', { confirmed: true, score: 100 }));
    await h.alerts.handleFinding(smoke('sd2', '1.420', { confirmed: true, score: 100 }));
    await h.alerts.service.acknowledge(id, 'op-liu');
    expect((await h.alerts.service.get(id))!.title.en).toBe('Fire: smoke at alarm level 1.420 dB/m');
  });

  it('an alarm storm of 500 panel events makes one incident per zone and a bounded number of notifications', async () => {
    const { h, clock } = await setup();
    current = h;
    const zones = ['1', '2', '3', '4'];
    for (let k = 0; k < 500; k++) {
      clock.advance(10);
      await h.alerts.handleFinding(finding({ ruleId: 'panel.fire', deviceId: 'fp1', deviceType: 'fire_panel', siteId: 'b1', gridId: undefined, condition: 'fire', zone: zones[k % 4], message: { en: `Fire at point ${k}`, zh: `火警：点位 ${k}` } }));
    }
    const list = await h.alerts.service.list({ active: true });
    expect(list.map((i) => i.key).sort()).toEqual(zones.map((z) => `panel:fp1:${z}:fire`));
    expect(list.reduce((s, i) => s + i.findingCount, 0)).toBe(500);
    const rows = (await Promise.all(list.map((i) => h.alerts.outbox.ofIncident(i.id)))).flat();
    // The console, two operators, the bank's contact — once for the site's storm (issue 17 digest),
    // never per zone or per event.
    expect(rows).toHaveLength(4);
  });

  it('repeats of an open incident are written together, never lost or reordered behind a raise or a resolve', async () => {
    const { h, clock, metrics } = await setup();
    current = h;
    const yellow = (score: number, msg = 'Smoke pre-alarm') => finding({ ruleId: 'smoke.pre_alarm', level: 'yellow', score, condition: 'smoke', message: { en: msg, zh: '烟雾预警' } });
    await h.alerts.handleFinding(yellow(50));
    await h.alerts.handleFinding(yellow(51));
    const id = h.events[0]!.incident.id;
    // The first repeat is written at once; the 98 after it wait together for one update.
    for (let k = 0; k < 98; k++) {
      clock.advance(10);
      await h.alerts.handleFinding(yellow(52 + (k % 7), `Smoke pre-alarm ${k}`), clock.now() - 2);
    }
    expect(h.events.map((e) => e.kind)).toEqual(['opened', 'updated']);
    const flushed = await new Promise<IncidentEvent>((resolve) => h.bus.on('incident', 'hold-test', resolve));
    expect(flushed).toMatchObject({ kind: 'updated', at: clock.now(), receivedAt: clock.now() - 2 });
    expect(flushed.incident).toMatchObject({ id, findingCount: 100, score: 58, level: 'yellow', title: { en: 'Smoke pre-alarm 97' }, lastFindingAt: clock.now() });
    // The flood goes on: the incident stays held for the next window. A red alarm behind held
    // repeats: the repeats are counted first, then the raise notifies at once.
    await h.alerts.handleFinding(yellow(50));
    await h.alerts.handleFinding(yellow(50));
    await h.alerts.handleFinding(yellow(50));
    expect(h.events).toHaveLength(3);
    await h.alerts.handleFinding(finding({ deviceId: 'sd2' }));
    expect(h.events.slice(3).map((e) => [e.kind, e.incident.findingCount])).toEqual([['updated', 103], ['raised', 104]]);
    // Held repeats land on the incident before a person resolves it, not on the next one.
    await h.alerts.handleFinding(finding());
    await h.alerts.handleFinding(finding());
    await h.alerts.service.acknowledge(id, 'op-liu');
    await h.alerts.handleFinding(finding());
    await h.alerts.handleFinding(finding());
    await h.alerts.service.resolve(id, 'op-liu', { disposition: 'nuisance', feedback: '烹饪烟雾' });
    await h.alerts.handleFinding(finding());
    const all = await h.alerts.service.list({});
    expect(all.map((i) => [i.id === id, i.state, i.findingCount])).toEqual([[false, 'open', 1], [true, 'resolved', 108]]);
    const m = await metrics.getSingleMetric('watchfire_alerts_findings_total')!.get();
    expect(m.values.find((v) => v.labels.outcome === 'updated')?.value).toBe(106);
  });

  it('handleFinding resolves, never rejects, even when the finding cannot be recorded; the service rejects', async () => {
    // The pipeline does not await it (an unhandled rejection would end the process): a finding
    // after stop() is logged as fatal and the promise still resolves. Reads reject instead.
    const { h } = await setup();
    await h.alerts.stop();
    await expect(h.alerts.handleFinding(finding())).resolves.toBeUndefined();
    await expect(h.alerts.service.list({})).rejects.toThrow(/alerts not started/);
    await h.alerts.start();
    current = h;
    expect(await h.alerts.service.list({})).toEqual([]);
  });

  it('finding nobody to notify is counted and logged as WF_NOTIFY_NO_RECIPIENT', async () => {
    const { h, metrics } = await setup();
    current = h;
    // The bank has no grid, so no grid worker.
    await h.alerts.handleFinding(finding({ deviceId: 'fp1', deviceType: 'fire_panel', siteId: 'b1', gridId: undefined, zone: '1', condition: 'fire' }));
    const m = await metrics.getSingleMetric('watchfire_alerts_no_recipient_total')!.get();
    expect(m.values).toEqual([expect.objectContaining({ labels: { step: 'alarm', to: 'grid_worker' }, value: 1 })]);
  });
});

describe('lifecycle', () => {
  it('walks open → acknowledged → dispatched → on_site → resolved → reviewed, each step in the audit trail', async () => {
    const { h, clock } = await setup();
    current = h;
    await h.alerts.handleFinding(finding());
    const id = (await h.alerts.service.list({}))[0]!.id;
    const s = h.alerts.service;
    clock.advance(20_000);
    expect((await s.acknowledge(id, 'op-liu', '电话联系住户')).state).toBe('acknowledged');
    clock.advance(10_000);
    expect((await s.dispatch(id, 'op-liu', 'gw-wang')).assignee).toBe('gw-wang');
    clock.advance(10_000);
    expect((await s.enRoute(id, 'gw-wang')).state).toBe('dispatched');
    clock.advance(200_000);
    expect((await s.onSite(id, 'gw-wang', '已到场')).onSiteAt).toBe(clock.now());
    clock.advance(300_000);
    const resolved = await s.resolve(id, 'gw-wang', { disposition: 'nuisance', feedback: '烹饪烟雾，已开窗通风' });
    expect(resolved).toMatchObject({ state: 'resolved', disposition: 'nuisance', feedback: '烹饪烟雾，已开窗通风' });
    clock.advance(3_600_000);
    expect((await s.review(id, 'sup-huang', 'ok')).state).toBe('reviewed');
    const t = await s.timeline(id);
    expect(t.map((a) => [a.action, a.actor, a.fromState, a.toState])).toEqual([
      ['opened', 'system', null, 'open'],
      ['acknowledge', 'op-liu', 'open', 'acknowledged'],
      ['dispatch', 'op-liu', 'acknowledged', 'dispatched'],
      ['en_route', 'gw-wang', 'dispatched', 'dispatched'],
      ['on_site', 'gw-wang', 'dispatched', 'on_site'],
      ['resolve', 'gw-wang', 'on_site', 'resolved'],
      ['review', 'sup-huang', 'resolved', 'reviewed'],
    ]);
    expect(t[1]).toMatchObject({ at: DAY_SHIFT_TIME + 20_000, note: '电话联系住户' });
    expect(h.events.filter((e) => e.kind === 'transition').map((e) => e.incident.state)).toEqual(['acknowledged', 'dispatched', 'on_site', 'resolved', 'reviewed']);
    expect(() => h.db.prepare('UPDATE alert_audit SET actor = ? WHERE incident_id = ?').run('someone', id)).toThrow(/append-only/);
    expect(() => h.db.prepare('DELETE FROM alert_audit WHERE incident_id = ?').run(id)).toThrow(/append-only/);
    expect((await h.alerts.escalations.of(id)).filter((x) => x.status === 'pending')).toEqual([]);
  });

  it('refuses illegal transitions and red closures without disposition and feedback', async () => {
    const { h } = await setup();
    current = h;
    await h.alerts.handleFinding(finding());
    const id = (await h.alerts.service.list({}))[0]!.id;
    const s = h.alerts.service;
    expect(await code(() => s.dispatch(id, 'op-liu', 'gw-wang'))).toBe('WF_INCIDENT_TRANSITION');
    expect(await code(() => s.onSite(id, 'gw-wang'))).toBe('WF_INCIDENT_TRANSITION');
    expect(await code(() => s.review(id, 'sup-huang'))).toBe('WF_INCIDENT_TRANSITION');
    expect(await code(() => s.enRoute(id, 'gw-wang'))).toBe('WF_INCIDENT_TRANSITION');
    expect(await code(() => s.acknowledge('nope', 'op-liu'))).toBe('WF_INCIDENT_NOT_FOUND');
    await s.acknowledge(id, 'op-liu');
    expect(await code(() => s.acknowledge(id, 'op-sun'))).toBe('WF_INCIDENT_TRANSITION');
    expect(await code(() => s.resolve(id, 'op-liu', { disposition: 'nuisance', feedback: '  ' }))).toBe('WF_INCIDENT_DISPOSITION');
    expect(await code(() => s.resolve(id, 'op-liu', { disposition: 'condition_cleared', feedback: 'gone' }))).toBe('WF_INCIDENT_DISPOSITION');
    expect(await code(() => s.resolve(id, 'op-liu', {} as never))).toBe('WF_INCIDENT_DISPOSITION');
    expect((await s.get(id))!.state).toBe('acknowledged');
    await s.resolve(id, 'op-liu', { disposition: 'device_false_alarm', feedback: '探测器脏污，已更换' });
    expect(await code(() => s.resolve(id, 'op-liu', { disposition: 'test', feedback: 'again' }))).toBe('WF_INCIDENT_TRANSITION');
    // Failed attempts left no trace in the audit trail.
    expect((await s.timeline(id)).map((a) => a.action)).toEqual(['opened', 'acknowledge', 'resolve']);
  });

  it('a yellow condition that clears resolves by itself with its duration; a red one waits for a person', async () => {
    const { h, clock } = await setup();
    current = h;
    const offline = finding({ ruleId: 'any.offline', level: 'yellow', score: 50, category: 'maintenance', condition: 'offline', message: { en: 'Device offline', zh: '设备离线' } });
    await h.alerts.handleFinding(offline);
    const id = (await h.alerts.service.list({}))[0]!.id;
    expect((await h.alerts.escalations.of(id)).filter((x) => x.status === 'pending').map((x) => x.step)).toEqual(['reminder', 'warning', 'enforcement']);
    clock.advance(95 * 60_000);
    await h.alerts.handleFinding({ ...offline, ruleId: 'any.offline_clear', level: 'green', score: 0, clears: true, message: { en: 'Device back online', zh: '设备已恢复在线' } });
    const inc = (await h.alerts.service.get(id))!;
    expect(inc).toMatchObject({ state: 'resolved', disposition: 'condition_cleared', resolvedAt: DAY_SHIFT_TIME + 95 * 60_000 });
    expect(inc.feedback).toContain('1 h 35 min');
    expect((await h.alerts.service.timeline(id)).at(-1)).toMatchObject({ actor: 'system', action: 'auto_resolve', toState: 'resolved' });
    expect((await h.alerts.escalations.of(id)).filter((x) => x.status === 'pending')).toEqual([]);

    const power = finding({ ruleId: 'panel.power_both_failed', deviceId: 'fp1', deviceType: 'fire_panel', siteId: 'b1', gridId: undefined, level: 'red', score: 85, category: 'maintenance', condition: 'power' });
    await h.alerts.handleFinding(power);
    await h.alerts.handleFinding({ ...power, level: 'green', score: 0, clears: true });
    const red = await h.alerts.service.list({ active: true });
    expect(red).toHaveLength(1);
    expect((await h.alerts.service.timeline(red[0]!.id)).map((a) => a.action)).toEqual(['opened', 'condition_cleared']);
  });

  it('a condition returning to the same place within 60 days is a recurrence', async () => {
    const { h, clock } = await setup();
    current = h;
    const battery = finding({ ruleId: 'smoke.low_battery', level: 'yellow', score: 45, category: 'maintenance', condition: 'low_battery' });
    const cleared = { ...battery, level: 'green' as const, score: 0, clears: true };
    await h.alerts.handleFinding(battery);
    const first = (await h.alerts.service.list({}))[0]!.id;
    clock.advance(86_400_000);
    await h.alerts.handleFinding(cleared);
    clock.advance(59 * 86_400_000);
    await h.alerts.handleFinding(battery);
    const second = (await h.alerts.service.list({ active: true }))[0]!;
    expect(second.recurrenceOf).toBe(first);
    expect((await h.alerts.service.timeline(second.id))[0]!.note).toContain(first);
    await h.alerts.handleFinding(cleared);
    clock.advance(61 * 86_400_000);
    await h.alerts.handleFinding(battery);
    expect((await h.alerts.service.list({ active: true }))[0]!.recurrenceOf).toBeNull();
  });
});

describe('reports', () => {
  let r: Awaited<ReturnType<typeof setup>>;
  beforeAll(async () => {
    r = await setup(Date.parse('2026-10-14T09:00:00+08:00'));
    const { h, clock } = r;
    await h.alerts.handleFinding(finding({ ts: clock.now() }));
    const id = (await h.alerts.service.list({}))[0]!.id;
    clock.advance(40_000);
    await h.alerts.service.acknowledge(id, 'op-liu');
    await h.alerts.service.dispatch(id, 'op-liu', 'gw-wang');
    clock.advance(60_000);
    await h.alerts.service.enRoute(id, 'gw-wang');
    clock.advance(300_000);
    await h.alerts.service.onSite(id, 'gw-wang');
    clock.advance(600_000);
    await h.alerts.service.resolve(id, 'gw-wang', { disposition: 'nuisance', feedback: '住户做饭烟雾，已提醒开窗通风' });
    await h.alerts.handleFinding(finding({ ruleId: 'smoke.low_battery', level: 'yellow', score: 45, category: 'maintenance', condition: 'low_battery' }));
  });
  afterAll(() => r.h.close());

  it('the daily report counts the day in the center time zone, is stored once and emailed to supervisors and the manager once', async () => {
    const { h } = r;
    const d = await h.alerts.reports.daily('fc1', '2026-10-14');
    expect(d.created).toBe(true);
    expect(d.body.data).toMatchObject({ opened: 2, byLevel: { red: 1, yellow: 1 }, resolved: 1, byDisposition: { nuisance: 1 }, medianAckSec: 40, active: 1 });
    const again = await h.alerts.reports.daily('fc1', '2026-10-14');
    expect(again).toMatchObject({ id: d.id, created: false });
    const rows = (await h.alerts.outbox.pending()).filter((x) => x.reportId === d.id);
    expect(rows.map((x) => x.recipientId).sort()).toEqual(['mgr-qian', 'sup-huang', 'sup-ma']);
    expect((await h.alerts.reports.daily('fc1', '2026-10-13')).body.data).toMatchObject({ opened: 0 });
  });

  it('the daily report goes out by email as stored, in each reader\'s language', async () => {
    const { h, email } = r;
    const d = await h.alerts.reports.daily('fc1', '2026-10-14');
    await vi.waitFor(() => expect(email.sent.filter((m) => m.kind === 'report:daily' && m.data.period === '2026-10-14')).toHaveLength(3));
    const mails = email.sent.filter((m) => m.kind === 'report:daily' && m.data.period === '2026-10-14');
    expect(mails.map((m) => m.data.lines)).toEqual([d.body.lines.zh, d.body.lines.zh, d.body.lines.zh]);
    expect(mails[0]!.messageId).toContain(`.report-${d.id}@`);
  });

  it('the monthly rating gives the grid worker stars from the month\'s tasks', async () => {
    // Two tasks of her grid: the alarm she handled and the low battery still open.
    const m = await r.h.alerts.reports.monthlyRatings('fc1', '2026-10');
    const wang = m.ratings.find((x) => x.personId === 'gw-wang')!;
    expect(wang.month).toMatchObject({ tasks: 2, ackSeconds: [60], toSiteSeconds: [360], closed: 1, closedWithinTarget: 1, feedbackComplete: 1 });
    expect(wang.stars).toBe(5);
  });

  it('the handover lists what is still open for the incoming shift', async () => {
    const ho = await r.h.alerts.reports.handover('fc1', Date.parse('2026-10-14T20:00:00+08:00'));
    expect(ho.body.data).toMatchObject({ opened: 2, resolved: 1, shifts: ['night'] });
    const rows = (await r.h.alerts.outbox.pending()).filter((x) => x.reportId === ho.id);
    expect(rows.map((x) => x.recipientId).sort()).toEqual(['op-wu', 'op-zhou', 'sup-ma']);
  });
});
