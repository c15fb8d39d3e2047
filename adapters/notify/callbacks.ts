// Provider callbacks on Watchfire's HTTP server (issue 19 points 2 and 5): delivery receipts, SMS
// replies and voice keypresses from Alibaba Cloud and Tencent Cloud, each parsed
// (adapters/notify/parse.ts), matched to its outbox row through the ChannelLedger, and published
// once on the bus as 'channel.inbound' (contracts/channels.ts). alerts/ records receipts on the
// attempt; acknowledgement by reply or keypress listens to the same event.
//
// Neither provider signs its HTTP pushes (Alibaba's HTTP batch push and Tencent's callbacks carry
// no signature), so, as for CTWing, the URL holds a secret token of at least 16 characters
// (/callbacks/{token}/…) and an optional source allow-list (both providers publish their
// callback addresses). A wrong token or address: 403, nothing published.
import { timingSafeEqual } from 'node:crypto';
import net from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import type { EventBus } from '../../contracts/bus.ts';
import type { ChannelInbound, ChannelLedger } from '../../contracts/channels.ts';
import type { Clock } from '../../contracts/ports.ts';
import { systemClock } from '../../contracts/ports.ts';
import { allowListOf } from '../allow-list.ts';
import { CALLBACK_KINDS, CallbackFormatError, parseCallback, type CallbackKind } from './parse.ts';

export interface NotifyCallbacksConfig {
  readonly token: string;
  readonly allowFrom: readonly string[];
  /** A reply counts for the last SMS sent to that phone within this window. */
  readonly replyWindowMs: number;
}

export interface NotifyCallbacksDeps {
  config: NotifyCallbacksConfig;
  ledger: ChannelLedger;
  bus: EventBus;
  logger: Logger;
  metrics: Registry;
  clock?: Clock;
}

const BODY_LIMIT = 512 * 1024;
/** Providers retry a push they think failed: the same item is published once. */
const RECENT = 1024;

function counter(reg: Registry): Counter<'kind' | 'outcome'> {
  const name = 'watchfire_notify_callbacks_total';
  return (reg.getSingleMetric(name) as Counter<'kind' | 'outcome'> | undefined)
    ?? new Counter({ name, help: 'Provider callbacks (receipts, SMS replies, keypresses), by kind and outcome', labelNames: ['kind', 'outcome'], registers: [reg] });
}

export function notifyCallbackRoutes(deps: NotifyCallbacksDeps) {
  const clock = deps.clock ?? systemClock;
  const { ledger, bus, logger, config } = deps;
  const count = counter(deps.metrics);
  const from = allowListOf(config.allowFrom);
  const token = Buffer.from(config.token);
  const recent: string[] = [];
  const recentSet = new Set<string>();

  function seen(key: string): boolean {
    if (recentSet.has(key)) return true;
    recentSet.add(key);
    recent.push(key);
    if (recent.length > RECENT) recentSet.delete(recent.shift()!);
    return false;
  }

  function allowed(ip: string): boolean {
    if (!from) return true;
    const bare = ip.replace(/^::ffff:/, '');
    return from.check(bare, net.isIPv6(bare) ? 'ipv6' : 'ipv4');
  }

  function tokenOk(got: string): boolean {
    const b = Buffer.from(got);
    return b.length === token.length && timingSafeEqual(b, token);
  }

  async function publish(kind: CallbackKind, parsed: ReturnType<typeof parseCallback>): Promise<number> {
    let n = 0;
    // In the provider's order, one after the other; seen() is asked before the ledger is, so a
    // retry arriving while this one is matched is still published once.
    for (const p of parsed) {
      const e = p.event;
      if (seen(JSON.stringify(e))) continue;
      const match = e.kind === 'reply' ? await ledger.lastTo('sms', e.from, config.replyWindowMs) : await ledger.byProviderId(e.channel, e.providerId, p.outboxId);
      const event: ChannelInbound = { ...e, match };
      if (!match) logger.info({ kind, event: e.kind, provider: e.provider }, 'provider callback matches no notification Watchfire sent (old, or another system\'s)');
      bus.emit('channel.inbound', event);
      n++;
    }
    return n;
  }

  return async function plugin(app: FastifyInstance): Promise<void> {
    app.addContentTypeParser(['application/json', 'text/plain'], { parseAs: 'string', bodyLimit: BODY_LIMIT }, (_req, body, done) => done(null, body));
    for (const kind of CALLBACK_KINDS) {
      const aliyun = kind.startsWith('aliyun/');
      app.post(`/callbacks/:token/${kind}`, async (req, reply) => {
        const { token: got } = req.params as { token: string };
        if (!tokenOk(got) || !allowed(req.ip)) {
          count.labels(kind, 'refused').inc();
          logger.warn({ code: 'WF_NOTIFY_CALLBACK', kind, from: req.ip }, 'provider callback with a wrong token or from outside allowFrom: refused');
          return reply.code(403).send({ code: 'WF_NOTIFY_CALLBACK', message: 'refused' });
        }
        let published: number;
        try {
          const text = typeof req.body === 'string' ? req.body : '';
          let body: unknown;
          try {
            body = JSON.parse(text);
          } catch {
            throw new CallbackFormatError('not JSON');
          }
          published = await publish(kind, parseCallback(kind, body, clock.now()));
        } catch (err) {
          if (!(err instanceof CallbackFormatError)) throw err;
          count.labels(kind, 'malformed').inc();
          logger.warn({ code: 'WF_NOTIFY_CALLBACK', kind, err: err.message }, 'provider callback not in the documented format');
          return reply.code(400).send(aliyun ? { code: 1, msg: err.message } : { result: 1, errmsg: err.message });
        }
        count.labels(kind, 'accepted').inc(published);
        // Each provider's documented acknowledgement.
        return reply.send(aliyun ? { code: 0, msg: '接收成功' } : { result: 0, errmsg: 'OK' });
      });
    }
  };
}
