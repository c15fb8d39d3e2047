// Issue 19 point 1: the channel table is the one list of channels. Policies accept exactly its
// names, configuration sections are checked by its schemas (every problem by path), and a
// provider's receipt published on the bus lands on the attempt whose provider id it names.
import { afterEach, describe, expect, it } from 'vitest';
import { CHANNEL_NAMES, CHANNELS, ChannelRefusal, parseChannelConfig, parsePolicies, type OutboundMessage } from '../alerts/index.ts';
import { loadConfig } from '../app/config.ts';
import { RecipientKind } from '../alerts/policies.ts';
import type { WatchfireError } from '../contracts/errors.ts';
import type { ChannelInbound } from '../contracts/channels.ts';
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { DAY_SHIFT_TIME, WEBHOOK_SECRET, finding, shiftedClock, startAlerts, tempDir, type Harness } from './alerts.fixture.ts';
import { waitFor } from './support/wait.ts';

const err = (f: () => unknown): WatchfireError => {
  try {
    f();
  } catch (e) {
    return e as WatchfireError;
  }
  throw new Error('did not throw');
};

describe('the channel table', () => {
  it('every entry has a code documented in contracts/errors.ts and positive outbox defaults', () => {
    for (const name of CHANNEL_NAMES) {
      expect(CHANNELS[name].code).toMatch(/^WF_NOTIFY_/);
      expect(CHANNELS[name].concurrency).toBeGreaterThan(0);
      expect(CHANNELS[name].sendTimeoutMs).toBeGreaterThan(0);
    }
  });

  it('every channel has its words in both languages in its entry', () => {
    for (const name of CHANNEL_NAMES) {
      expect(CHANNELS[name].words.zh, name).toMatch(/[\u3400-\u9fff]/);
      expect(CHANNELS[name].words.en, name).toBeTruthy();
    }
  });

  // Adding a channel is its file and its entry: no other source may list the channels (words for
  // them, a switch over them, a set of them). Three or more channel names, quoted or as keys,
  // within a few lines of each other is a list; found that way before the words moved into the
  // table: contracts/words.ts, alerts/acknowledge.ts, dashboards/routes/ack.ts and the console's words.js.
  it('no source outside alerts/channels/ lists the channels', () => {
    const root = join(import.meta.dirname, '..');
    const names = CHANNEL_NAMES.join('|');
    const mention = new RegExp(`(?:['"\`](?:channel\\.)?(${names})['"\`]|\\b(${names})\\s*:(?!:))`, 'g');
    // A policy naming the channels it uses (`to: 'console'`, `via: ['voice', 'sms']`, a recipient's
    // default `grid_worker: ['webhook']`) is data, not a list of them.
    const policyData = new RegExp(`via:\\s*\\[[^\\]]*\\]|to:\\s*'[^']*'|\\b(?:${RecipientKind.options.join('|')}):\\s*\\[[^\\]]*\\]`, 'g');
    const lists: string[] = [];
    const walk = (dir: string): void => {
      if (dir === join(root, 'alerts', 'channels')) return;
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = join(dir, e.name);
        if (e.isDirectory()) {
          if (!['node_modules', 'tests', 'bench', '.git'].includes(e.name)) walk(p);
        } else if (/\.(ts|js|html)$/.test(e.name)) {
          const src = readFileSync(p, 'utf8').replace(policyData, '');
          const hits = [...src.matchAll(mention)].map((m) => ({ at: m.index, name: m[1] ?? m[2] }));
          for (const h of hits) {
            const near = new Set(hits.filter((x) => x.at >= h.at && x.at - h.at < 240).map((x) => x.name));
            if (near.size >= 3) {
              lists.push(`${relative(root, p)}: ${[...near].join(', ')}`);
              break;
            }
          }
        }
      }
    };
    walk(root);
    expect(lists).toEqual([]);
  });

  it('policies accept every channel of the table and nothing else', () => {
    const steps = (via: string[]) => ({ policies: ['red', 'yellow'].map((level) => ({ id: level, level, steps: [{ id: 'a', kind: 'alarm', notify: [{ to: 'operators', via }] }] })) });
    expect(() => parsePolicies(steps([...CHANNEL_NAMES]))).not.toThrow();
    expect(err(() => parsePolicies(steps(['pigeon']))).code).toBe('WF_POLICY_INVALID');
  });

  it('an unknown channel section and a bad one are refused with their paths, at config load too', () => {
    const e = err(() => parseChannelConfig({ smtp: undefined, webhook: { url: 'http://x.test/hook', secret: 'short' }, channels: { pigeon: {} } }));
    expect(e.code).toBe('WF_CONFIG_INVALID');
    expect(e.details.some((d) => d.startsWith('alerts.channels.pigeon: no such channel'))).toBe(true);
    expect(e.details.some((d) => d.startsWith('alerts.webhook.secret'))).toBe(true);
    const c = err(() => loadConfig({ env: {}, overrides: { 'alerts.channels': { pigeon: {} } } }));
    expect(c.code).toBe('WF_CONFIG_INVALID');
    expect(c.details.join('\n')).toContain('alerts.channels.pigeon');
  });
});

describe('receipts on attempts', () => {
  let h: Harness | undefined;
  const dir = tempDir();
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it('a send returns the provider id; the receipt naming it is recorded on that attempt and found by the ledger', async () => {
    const sent: OutboundMessage[] = [];
    let refuseOnce = true;
    let retryAt = 0;
    const clock = shiftedClock(DAY_SHIFT_TIME);
    h = await startAlerts({
      file: `${dir.dir}/receipts.db`,
      clock,
      config: { webhook: { url: 'http://gateway.test/hook', secret: WEBHOOK_SECRET } },
      alerts: {
        outbox: { baseDelayMs: 10, maxDelayMs: 20 },
        channels: {
          webhook: {
            name: 'webhook',
            send(m) {
              // The first attempt of one row is refused until a reset time: it is retried no earlier.
              if (refuseOnce && m.recipient.id === 'gw-wang') {
                refuseOnce = false;
                retryAt = clock.now() + 300;
                return Promise.reject(new ChannelRefusal('WF_NOTIFY_WEBHOOK', 'per-number limit', retryAt));
              }
              sent.push(m);
              return Promise.resolve({ providerId: `biz-${m.id}` });
            },
            close: () => Promise.resolve(),
          },
        },
      },
    });
    await h.alerts.handleFinding(finding());
    const incident = (await h.alerts.service.list({ active: true }))[0]!;
    const rows = await waitFor(async () => {
      const r = (await h!.alerts.outbox.ofIncident(incident.id)).filter((x) => x.channel === 'webhook');
      return r.length >= 3 && r.every((x) => x.status === 'sent') ? r : undefined;
    }, { what: 'webhook rows sent' });
    const gw = rows.find((r) => r.recipientId === 'gw-wang')!;
    const gwAttempts = await h.alerts.outbox.attempts(gw.id);
    expect(gwAttempts.map((a) => a.outcome)).toEqual(['failed', 'sent']);
    // The base retry delay is 10–20 ms: only the refusal's reset time held the row back this long.
    expect(gwAttempts[1]!.startedAt).toBeGreaterThanOrEqual(retryAt);
    expect(gwAttempts[1]!.providerId).toBe(`biz-${gw.id}`);

    const match = await h.alerts.ledger.byProviderId('webhook', `biz-${gw.id}`);
    expect(match).toEqual({ outboxId: gw.id, incidentId: incident.id, recipientId: 'gw-wang' });
    expect((await h.alerts.ledger.lastTo('webhook', gw.address, 60_000))?.outboxId).toBe(Math.max(...rows.filter((r) => r.address === gw.address).map((r) => r.id)));
    expect(await h.alerts.ledger.byProviderId('webhook', 'nobody')).toBeUndefined();

    const receipt: ChannelInbound = { kind: 'receipt', channel: 'webhook', provider: 'aliyun', status: 'delivered', providerId: `biz-${gw.id}`, at: 1234, detail: 'DELIVERED', match };
    h.bus.emit('channel.inbound', receipt);
    // Recorded asynchronously (the outbox's store may be a network database).
    const after = await waitFor(async () => {
      const a = (await h!.alerts.outbox.attempts(gw.id))[1];
      return a?.receipt ? a : undefined;
    }, { what: 'receipt recorded' });
    expect(after).toMatchObject({ receipt: 'delivered', receiptAt: 1234, receiptDetail: 'DELIVERED' });
    // The other rows got no receipt.
    for (const r of rows.filter((x) => x.id !== gw.id)) expect((await h.alerts.outbox.attempts(r.id)).every((a) => a.receipt === null)).toBe(true);
  });
});
