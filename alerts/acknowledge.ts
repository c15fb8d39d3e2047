// Issue 19 point 5: acknowledging from where the message landed. Three ways in, one outcome:
// - a signed one-tap link (ack.ts) — the page GETs `inspect` and POSTs `redeem`;
// - an SMS reply: one of the configured words ("1") acknowledges the incident the last SMS to that
//   phone was about; any other text is put in the timeline for the operators to read;
// - a keypress in a voice call: someone answered, so the call tree calls nobody else; the
//   configured digit also acknowledges.
// Every one is written in the timeline as the person it reached, naming the channel.
import type { Logger } from 'pino';
import type { Clock, RegistryReader } from '../contracts/ports.ts';
import type { AckLinkView, AckLinks, Incident } from '../contracts/incidents.ts';
import { toE164, type ChannelInbound } from '../contracts/channels.ts';
import type { Locale } from '../contracts/registry.ts';
import { STATE_RANK, type IncidentStore } from './store.ts';
import type { AckTokens } from './ack.ts';
import type { OutboxRow } from './outbox.ts';
import type { LegacyOutbox as Outbox } from './outbox-bridge.ts';
import { channelLabel, channelWords } from './channels/registry.ts';


/** An SMS reply counts for the last incident SMS to that phone within this long. */
const REPLY_WINDOW_MS = 7 * 86_400_000;

export interface RemoteAckOptions {
  /** SMS replies that acknowledge, compared trimmed and case-insensitive (default ["1"]). */
  readonly replyWords: readonly string[];
  /** The digit that acknowledges in a voice call (default "1"); any keypress stops the call tree. */
  readonly keypressDigit: string;
}

export interface RemoteAckDeps {
  clock: Clock;
  logger: Logger;
  registry: RegistryReader;
  store: IncidentStore;
  outbox: Pick<Outbox, 'get' | 'lastTo' | 'byProviderId'>;
  tokens: AckTokens | undefined;
  timezoneOf: (centerId: string) => string;
  acknowledgeFrom: (id: string, actor: string, note: { en: string; zh: string }) => Incident;
  remark: (id: string, actor: string, action: string, note: { en: string; zh: string }) => Incident;
  stopTree: (incidentId: string, now: number) => number;
  /** A call came back unanswered: the call tree's next stage may not need to wait (escalation.ts). */
  unanswered: (outboxId: number, now: number) => boolean;
  /** Tells the consoles an incident's message got a receipt (bus 'incident', kind notified), so its timeline refreshes. */
  notified: (incidentId: string, note: string) => void;
  options: RemoteAckOptions;
}

export function createRemoteAck(deps: RemoteAckDeps) {
  const { clock, logger, registry, store, outbox, options } = deps;

  function view(status: AckLinkView['status'], row: OutboxRow | undefined, i: Incident | undefined): AckLinkView {
    const locale: Locale = row?.locale ?? 'zh-CN';
    if (!row || !i) return { status, locale };
    const site = registry.site(i.siteId);
    return {
      status, locale, recipientName: row.recipientName, channel: row.channel, channelName: channelLabel(row.channel),
      incident: {
        id: i.id, level: i.level, title: i.title, siteName: site?.name ?? i.siteId, address: site?.address ?? '',
        openedAt: i.openedAt, acknowledgedAt: i.acknowledgedAt, timezone: deps.timezoneOf(i.centerId),
      },
    };
  }

  function stateOf(i: Incident): AckLinkView['status'] {
    if (i.state === 'open') return 'ready';
    return STATE_RANK[i.state] >= STATE_RANK.resolved ? 'closed' : 'already';
  }

  /** The row and incident a token names, or why not. */
  function resolve(token: string): { row: OutboxRow; incident: Incident } | AckLinkView['status'] {
    if (!deps.tokens) return 'invalid';
    const t = deps.tokens.verify(token, clock.now());
    if (!t.ok) return t.reason === 'expired' ? 'expired' : 'invalid';
    const row = outbox.get(t.outboxId);
    const incident = row?.incidentId ? store.get(row.incidentId) : undefined;
    if (!row || !incident) return 'invalid';
    return { row, incident };
  }

  /** Acknowledges as the row's recipient; false when someone else already had. */
  function acknowledgeAs(row: OutboxRow, i: Incident, how: { en: string; zh: string }): boolean {
    if (i.state !== 'open') return false;
    try {
      deps.acknowledgeFrom(i.id, row.recipientId, { en: `${row.recipientName} ${how.en}`, zh: `${row.recipientName}${how.zh}` });
      return true;
    } catch (err) {
      // Two taps at once: the other one won; the incident is acknowledged either way.
      if ((err as { code?: string }).code === 'WF_INCIDENT_TRANSITION') return false;
      throw err;
    }
  }

  const links: AckLinks = {
    inspect(token) {
      const r = resolve(token);
      if (typeof r === 'string') return view(r, undefined, undefined);
      return view(stateOf(r.incident), r.row, r.incident);
    },
    redeem(token) {
      const r = resolve(token);
      if (typeof r === 'string') return view(r, undefined, undefined);
      const c = channelWords(r.row.channel);
      const done = acknowledgeAs(r.row, r.incident, { en: `acknowledged with the link in the ${c.en} (message ${r.row.id})`, zh: ` 通过${c.zh}中的一键接警链接确认（消息 ${r.row.id}）` });
      if (done) {
        deps.stopTree(r.incident.id, clock.now());
        logger.info({ incident: r.incident.id, outbox: r.row.id, recipient: r.row.recipientId, channel: r.row.channel }, 'acknowledged by link');
      }
      const after = store.get(r.incident.id)!;
      return view(done ? 'done' : stateOf(after), r.row, after);
    },
  };

  function onReply(e: Extract<ChannelInbound, { kind: 'reply' }>): void {
    // Providers send no message id with a reply: the adapter matched the last SMS to the phone, or we do.
    const match = e.match ?? outbox.lastTo(e.channel, toE164(e.from) ?? e.from, REPLY_WINDOW_MS);
    const row = match ? outbox.get(match.outboxId) : undefined;
    const i = row?.incidentId ? store.get(row.incidentId) : undefined;
    if (!row || !i) {
      logger.warn({ from: e.from.replace(/\d(?=\d{4})/g, '*') }, 'SMS reply from a phone we sent no incident message to: ignored');
      return;
    }
    const text = e.text.trim();
    if (options.replyWords.some((w) => w.toLowerCase() === text.toLowerCase())) {
      if (acknowledgeAs(row, i, { en: `acknowledged by replying "${text}" to the SMS (message ${row.id})`, zh: ` 回复短信“${text}”确认接警（消息 ${row.id}）` })) {
        deps.stopTree(i.id, clock.now());
        return;
      }
    }
    // Anything else a person writes back is for the operators to read.
    deps.remark(i.id, row.recipientId, 'reply:sms', { en: `${row.recipientName} replied by SMS: ${text.slice(0, 500)}`, zh: `${row.recipientName} 回复短信：${text.slice(0, 500)}` });
  }

  function onKeypress(e: Extract<ChannelInbound, { kind: 'keypress' }>): void {
    const match = e.match ?? outbox.byProviderId(e.channel, e.providerId);
    const row = match ? outbox.get(match.outboxId) : undefined;
    const i = row?.incidentId ? store.get(row.incidentId) : undefined;
    if (!row || !i) {
      logger.warn({ providerId: e.providerId }, 'keypress for a call we do not know: ignored');
      return;
    }
    const now = clock.now();
    // Someone is on the line and pressed a key: a person, not a voicemail. Nobody else is called.
    const stopped = deps.stopTree(i.id, now);
    if (e.digits.includes(options.keypressDigit)
      && acknowledgeAs(row, i, { en: `acknowledged by pressing ${options.keypressDigit} in the voice call (message ${row.id})`, zh: ` 在语音电话中按 ${options.keypressDigit} 键确认接警（消息 ${row.id}）` })) return;
    deps.remark(i.id, row.recipientId, 'answered:voice', {
      en: `${row.recipientName} answered the voice call and pressed ${e.digits}${stopped ? '; the call tree stopped' : ''}`,
      zh: `${row.recipientName} 接听语音电话并按键 ${e.digits}${stopped ? '，呼叫树已停止' : ''}`,
    });
  }

  return {
    links,
    /** Bus 'channel.inbound': replies and keypresses; a receipt only refreshes the consoles' timelines. */
    onInbound(e: ChannelInbound): void {
      if (e.kind === 'reply') onReply(e);
      else if (e.kind === 'keypress') onKeypress(e);
      else {
        // The receipt itself is recorded on the attempt by the outbox's own listener (index.ts).
        const match = e.match ?? outbox.byProviderId(e.channel, e.providerId);
        if (!match?.incidentId) return;
        if (e.status === 'no_answer' || e.status === 'busy' || e.status === 'failed') deps.unanswered(match.outboxId, clock.now());
        deps.notified(match.incidentId, `${e.channel} ${e.status}`);
      }
    },
  };
}

export type RemoteAck = ReturnType<typeof createRemoteAck>;
