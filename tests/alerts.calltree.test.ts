// Issue 19 point 4, the call tree with fake timers and real SQLite: stages one after another with
// their waits, stopped by an acknowledgement or a keypress, carried on after a restart exactly
// once; per-person channel order; quiet hours hold yellow and never red.
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { join } from 'node:path';
import { parsePolicies, DEFAULT_POLICIES, type EscalationPoliciesInput, type OutboundMessage } from '../alerts/index.ts';
import { quietUntil, preferredChannels } from '../alerts/recipients.ts';
import { DAY_SHIFT_TIME, finding, recordingChannel, registryFile, startAlerts, tempDir, WEBHOOK_SECRET, type Harness } from './alerts.fixture.ts';
import type { RegistryFile } from '../contracts/registry.ts';

const tmp = tempDir();
afterAll(() => tmp.remove());
let n = 0;
const clock = { now: () => Date.now() };

/** Red fire: the console at once, then resident → contacts → grid worker, 60 s each. */
export const TREE: EscalationPoliciesInput = {
  policies: [
    {
      id: 'red-tree', level: 'red',
      steps: [
        { id: 'alarm', kind: 'alarm', notify: [{ to: 'console' }] },
        {
          id: 'tree', kind: 'alarm',
          sequence: [{ to: 'resident', via: ['webhook'], wait: '60s' }, { to: 'contacts', via: ['webhook', 'email'], wait: '90s' }, { to: 'grid_worker', via: ['webhook'] }],
        },
      ],
    },
    ...DEFAULT_POLICIES.policies.filter((p) => p.level === 'yellow').map((p) => ({ ...p, steps: p.steps.map((s) => ({ ...s, sequence: undefined })) })),
  ],
};

async function setup(file = join(tmp.dir, `t${n++}.db`), registry?: RegistryFile, policies: EscalationPoliciesInput = TREE): Promise<Harness> {
  return startAlerts({
    file,
    clock,
    ...(registry ? { registry } : {}),
    config: { webhook: { url: 'http://127.0.0.1:9/sms-gateway', secret: WEBHOOK_SECRET } },
    alerts: { policies: parsePolicies(policies), channels: { email: recordingChannel('email'), webhook: recordingChannel('webhook') } },
  });
}

const who = async (h: Harness, id: string) => (await h.alerts.outbox.ofIncident(id)).filter((r) => r.channel !== 'console').map((r) => `${r.channel}:${r.recipientId}`);

let h: Harness | undefined;
beforeEach(() => {
  vi.useFakeTimers({ now: DAY_SHIFT_TIME });
});
afterEach(async () => {
  await h?.close();
  h = undefined;
  vi.useRealTimers();
});

describe('policy schema', () => {
  it('a sequence step from the opening ends at acknowledgement; notify and sequence exclude each other; a tree does not repeat', () => {
    const p = parsePolicies(TREE);
    const tree = p.policies[0]!.steps[1]!;
    expect(tree.until).toBe('acknowledged');
    expect(tree.sequence!.map((s) => [s.to, s.via, s.wait])).toEqual([['resident', ['webhook'], 60_000], ['contacts', ['webhook', 'email'], 90_000], ['grid_worker', ['webhook'], 60_000]]);
    const bad = (step: Record<string, unknown>) => () => parsePolicies({ policies: [{ id: 'r', level: 'red', steps: [step] }, ...TREE.policies.slice(1)] });
    expect(bad({ id: 'x', kind: 'alarm', notify: [{ to: 'console' }], sequence: [{ to: 'resident' }] })).toThrow(/either notify .* or sequence/);
    expect(bad({ id: 'x', kind: 'alarm' })).toThrow(/not neither/);
    expect(bad({ id: 'x', kind: 'alarm', every: '1m', sequence: [{ to: 'resident' }] })).toThrow(/call tree runs once/);
    expect(bad({ id: 'x', kind: 'alarm', sequence: [{ to: 'console' }] })).toThrow(/sequence\.0\.to/);
    expect(bad({ id: 'x', kind: 'alarm', sequence: [{ to: 'resident', wait: 'soon' }] })).toThrow(/sequence\.0\.wait/);
  });
});

describe('call tree', () => {
  it('reaches the resident, then the contacts after 60 s, then the grid worker after 90 s more', async () => {
    h = await setup();
    await h.alerts.handleFinding(finding());
    const id = (await h.alerts.service.list({}))[0]!.id;
    expect(await who(h, id)).toEqual(['webhook:h1#resident']);
    await vi.advanceTimersByTimeAsync(59_999);
    expect(await who(h, id)).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect((await who(h, id)).slice(1)).toEqual(['webhook:h1#contact0', 'webhook:h1#contact1', 'email:h1#contact1']);
    await vi.advanceTimersByTimeAsync(90_000);
    expect((await who(h, id)).slice(4)).toEqual(['webhook:gw-wang']);
    await vi.advanceTimersByTimeAsync(3_600_000);
    expect(await who(h, id)).toHaveLength(5);
    const tl = (await h.alerts.service.timeline(id)).filter((a) => a.action === 'tree:tree');
    expect(tl.map((a) => a.note)).toEqual([
      'call tree 1/3, resident: 1 notification(s) queued; emergency contacts in 60 s unless answered',
      'call tree 2/3, emergency contacts: 3 notification(s) queued; grid worker in 90 s unless answered',
      'call tree 3/3, grid worker: 1 notification(s) queued',
    ]);
    expect(tl[0]!.noteZh).toBe('呼叫树第 1/3 级，住户：已发出 1 条通知；60 秒内无人应答则通知紧急联系人');
  });

  it('an acknowledgement stops it: nobody after', async () => {
    h = await setup();
    await h.alerts.handleFinding(finding());
    const id = (await h.alerts.service.list({}))[0]!.id;
    await vi.advanceTimersByTimeAsync(30_000);
    await h.alerts.service.acknowledge(id, 'op-liu');
    await vi.advanceTimersByTimeAsync(3_600_000);
    expect(await who(h, id)).toEqual(['webhook:h1#resident']);
    expect((await h.alerts.escalations.of(id)).map((s) => [s.step, s.stage, s.status])).toEqual([['tree', 1, 'cancelled']]);
  });

  it('stopping it (a keypress) calls nobody else and leaves the incident open', async () => {
    h = await setup();
    await h.alerts.handleFinding(finding());
    const id = (await h.alerts.service.list({}))[0]!.id;
    await vi.advanceTimersByTimeAsync(60_000);
    expect(await h.alerts.stopTree(id)).toBe(1);
    await vi.advanceTimersByTimeAsync(3_600_000);
    expect(await who(h, id)).toHaveLength(4);
    expect((await h.alerts.service.get(id))!.state).toBe('open');
  });

  it('a stage that reaches nobody passes on at once', async () => {
    const reg = registryFile();
    delete reg.sites[0]!.resident!.phone;
    h = await setup(undefined, reg);
    await h.alerts.handleFinding(finding());
    const id = (await h.alerts.service.list({}))[0]!.id;
    await vi.advanceTimersByTimeAsync(0);
    expect(await who(h, id)).toEqual(['webhook:h1#contact0', 'webhook:h1#contact1', 'email:h1#contact1']);
  });

  it('carries on after a restart exactly once', async () => {
    const file = join(tmp.dir, `t${n++}.db`);
    h = await setup(file);
    await h.alerts.handleFinding(finding());
    const id = (await h.alerts.service.list({}))[0]!.id;
    await vi.advanceTimersByTimeAsync(10_000);
    await h.close();
    // Down across the contacts' turn: on start the stage runs at once, the next waits its 90 s.
    vi.setSystemTime(DAY_SHIFT_TIME + 120_000);
    h = await setup(file);
    await vi.advanceTimersByTimeAsync(0);
    expect(await who(h, id)).toHaveLength(4);
    await vi.advanceTimersByTimeAsync(89_999);
    expect(await who(h, id)).toHaveLength(4);
    await vi.advanceTimersByTimeAsync(1);
    expect(await who(h, id)).toHaveLength(5);
    expect((await h.alerts.escalations.of(id)).map((s) => [s.stage, s.status])).toEqual([[1, 'done'], [2, 'done']]);
  });
});

describe('end to end: nobody answers at home, the son presses 1', () => {
  it('calls the resident, then after 60 s without an answer the contacts; the son’s keypress acknowledges and nobody else is called', async () => {
    h = await setup();
    await h.alerts.handleFinding(finding());
    const id = (await h.alerts.service.list({}))[0]!.id;
    expect(await who(h, id)).toEqual(['webhook:h1#resident']);
    // The resident's call is not answered: a receipt says so; the tree waits its 60 s regardless.
    await vi.advanceTimersByTimeAsync(60_000);
    expect(await who(h, id)).toEqual(['webhook:h1#resident', 'webhook:h1#contact0', 'webhook:h1#contact1', 'email:h1#contact1']);
    await vi.advanceTimersByTimeAsync(25_000);
    const son = (await h.alerts.outbox.ofIncident(id)).find((r) => r.recipientId === 'h1#contact0')!;
    const acked = h.incident((e) => e.kind === 'transition');
    h.bus.emit('channel.inbound', { kind: 'keypress', channel: 'voice', provider: 'aliyun', providerId: 'call-1', digits: '1', at: Date.now(), match: { outboxId: son.id, incidentId: id, recipientId: son.recipientId } });
    await acked;
    const inc = (await h.alerts.service.get(id))!;
    expect(inc.state).toBe('acknowledged');
    expect(inc.acknowledgedAt).toBe(DAY_SHIFT_TIME + 85_000);
    await vi.advanceTimersByTimeAsync(3_600_000);
    // The grid worker was never called.
    expect(await who(h, id)).toHaveLength(4);
    expect((await h.alerts.escalations.of(id)).map((s) => [s.stage, s.status])).toEqual([[1, 'done'], [2, 'cancelled']]);
    expect((await h.alerts.service.timeline(id)).map((a) => `${a.action}:${a.actor}`)).toEqual(['opened:system', 'tree:tree:system', 'tree:tree:system', 'acknowledge:h1#contact0']);
  });
});

describe('nobody is going to answer', () => {
  it('when every call of a stage came back unanswered, the next stage is called at once; texts do not count', async () => {
    const sent: OutboundMessage[] = [];
    const voice = { name: 'voice' as const, send: (m: OutboundMessage) => { sent.push(m); return Promise.resolve(); }, close: () => Promise.resolve() };
    const calls = (to: string, wait = 60): EscalationPoliciesInput['policies'][number]['steps'][number] => ({ id: 'tree', kind: 'alarm', sequence: [{ to: 'resident', via: ['voice', 'webhook'], wait: `${wait}s` }, { to: 'contacts', via: ['voice'], wait: `${wait}s` }, { to: to as 'grid_worker', via: ['voice'] }] });
    h = await startAlerts({
      file: join(tmp.dir, `t${n++}.db`), clock,
      config: { webhook: { url: 'http://127.0.0.1:9/sms-gateway', secret: WEBHOOK_SECRET } },
      alerts: { policies: parsePolicies({ policies: [{ id: 'r', level: 'red', steps: [calls('grid_worker')] }, ...TREE.policies.slice(1)] }), channels: { voice, webhook: recordingChannel('webhook') } },
    });
    await h.alerts.handleFinding(finding());
    const id = (await h.alerts.service.list({}))[0]!.id;
    const row = async (rid: string, ch = 'voice') => (await h!.alerts.outbox.ofIncident(id)).find((r) => r.recipientId === rid && r.channel === ch);
    const receipt = async (rid: string, status: 'no_answer' | 'busy' | 'delivered', ch = 'voice') => h!.bus.emit('channel.inbound', {
      kind: 'receipt', channel: ch, provider: 'aliyun', status, providerId: `x-${rid}-${ch}`, at: Date.now(), match: { outboxId: (await row(rid, ch))!.id, incidentId: id, recipientId: rid },
    });
    await vi.advanceTimersByTimeAsync(10_000);
    // The text was delivered: nothing to hurry about.
    await receipt('h1#resident', 'delivered', 'webhook');
    await vi.advanceTimersByTimeAsync(10_000);
    expect(await row('h1#contact0')).toBeUndefined();
    // The resident's phone rang out at 20 s: the contacts are called now, not at 60 s.
    await receipt('h1#resident', 'no_answer');
    await vi.advanceTimersByTimeAsync(0);
    expect((await row('h1#contact0'))!.createdAt).toBe(DAY_SHIFT_TIME + 20_000);
    expect((await row('h1#contact1'))!.createdAt).toBe(DAY_SHIFT_TIME + 20_000);
    // One contact not answering is not enough; the second one busy is.
    await vi.advanceTimersByTimeAsync(10_000);
    await receipt('h1#contact0', 'no_answer');
    await vi.advanceTimersByTimeAsync(0);
    expect(await row('gw-wang')).toBeUndefined();
    await vi.advanceTimersByTimeAsync(5_000);
    await receipt('h1#contact1', 'busy');
    await vi.advanceTimersByTimeAsync(0);
    expect((await row('gw-wang'))!.createdAt).toBe(DAY_SHIFT_TIME + 35_000);
    expect((await h.alerts.escalations.of(id)).map((s) => [s.stage, s.status, s.dueAt - DAY_SHIFT_TIME])).toEqual([[1, 'done', 20_000], [2, 'done', 35_000]]);
  });
});

describe('per-person reach', () => {
  it('orders the step channels by the person’s preference; none accepted keeps the step’s', () => {
    expect(preferredChannels({ channels: ['email', 'webhook'] }, ['webhook', 'email'])).toEqual(['email', 'webhook']);
    expect(preferredChannels({ channels: ['email'] }, ['webhook', 'email'])).toEqual(['email']);
    expect(preferredChannels({ channels: ['voice'] }, ['webhook'])).toEqual(['webhook']);
    expect(preferredChannels({}, ['webhook', 'email'])).toEqual(['webhook', 'email']);
  });

  it('quiet hours: a night window across midnight ends next morning local time', () => {
    const tz = 'Asia/Shanghai';
    const q = { from: '22:00', to: '07:00' };
    expect(quietUntil(q, Date.parse('2026-11-23T23:30:00+08:00'), tz)).toBe(Date.parse('2026-11-24T07:00:00+08:00'));
    expect(quietUntil(q, Date.parse('2026-11-24T03:00:00+08:00'), tz)).toBe(Date.parse('2026-11-24T07:00:00+08:00'));
    expect(quietUntil(q, Date.parse('2026-11-24T07:00:00+08:00'), tz)).toBeUndefined();
    expect(quietUntil({ from: '12:00', to: '14:00' }, Date.parse('2026-11-24T13:00:00+08:00'), tz)).toBe(Date.parse('2026-11-24T14:00:00+08:00'));
  });

  it('a yellow notice in the grid worker’s quiet hours waits for their end; red goes at once; their channel order is kept', async () => {
    const reg = registryFile();
    const gw = reg.people.find((p) => p.id === 'gw-wang')!;
    gw.email = 'wang@example.org';
    gw.channels = ['email', 'webhook'];
    gw.quietHours = { from: '09:00', to: '11:30' };
    const both = [{ to: 'grid_worker' as const, via: ['webhook' as const, 'email' as const] }];
    h = await setup(undefined, reg, { policies: [{ id: 'r', level: 'red', steps: [{ id: 'a', kind: 'alarm', notify: both }] }, { id: 'y', level: 'yellow', steps: [{ id: 'n', kind: 'notice', notify: both }] }] });
    // 10:00 local: inside 09:00–11:30.
    await h.alerts.handleFinding(finding({ level: 'yellow', category: 'maintenance', condition: 'low_battery', ruleId: 'smoke.battery', message: { en: 'Low battery', zh: '电量低' } }));
    const yellow = (await h.alerts.service.list({ level: ['yellow'] }))[0]!.id;
    const held = (await h.alerts.outbox.ofIncident(yellow)).filter((r) => r.recipientId === 'gw-wang');
    expect(held.map((r) => [r.channel, r.nextAt])).toEqual([['email', Date.parse('2026-11-23T11:30:00+08:00')], ['webhook', Date.parse('2026-11-23T11:30:00+08:00')]]);
    await h.alerts.handleFinding(finding());
    const red = (await h.alerts.service.list({ level: ['red'] }))[0]!.id;
    const now = (await h.alerts.outbox.ofIncident(red)).filter((r) => r.recipientId === 'gw-wang');
    expect(now.map((r) => [r.channel, r.nextAt])).toEqual([['email', DAY_SHIFT_TIME], ['webhook', DAY_SHIFT_TIME]]);
    // The held ones go out at 11:30, not before.
    await vi.advanceTimersByTimeAsync(Date.parse('2026-11-23T11:30:00+08:00') - DAY_SHIFT_TIME - 1);
    expect((await h.alerts.outbox.ofIncident(yellow)).filter((r) => r.recipientId === 'gw-wang').map((r) => r.status)).toEqual(['pending', 'pending']);
    await vi.advanceTimersByTimeAsync(1);
    expect((await h.alerts.outbox.ofIncident(yellow)).filter((r) => r.recipientId === 'gw-wang').map((r) => r.status)).toEqual(['sent', 'sent']);
  });
});
