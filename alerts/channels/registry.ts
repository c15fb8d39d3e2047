// The one table of notifier channels (issue 19 point 1). A channel is its file in this folder plus
// one entry here: its name, the zod schema of its configuration section, how a recipient is
// addressed on it, its error code, its words in both languages, and its outbox defaults. Policies
// (ChannelName), the outbox (one worker per channel, concurrency, timeout code), recipients (the
// address), the timeline and the one-tap page (the words, through alerts' own API: the console and
// dashboards/ never list channels) read this table; tests/alerts.channels.test.ts runs the shared
// contract against every entry.
import { z } from 'zod';
import type { Logger } from 'pino';
import type { Clock } from '../../contracts/ports.ts';
import { WatchfireError, formatIssues, type ErrorCode } from '../../contracts/errors.ts';
import type { Words } from '../../contracts/words.ts';
import { SmtpConfig, WebhookConfig, type Config } from '../../contracts/config.ts';
import type { Target } from '../recipients.ts';
import type { Channel } from './types.ts';
import { createEmailChannel } from './email.ts';
import { createWebhookChannel } from './webhook.ts';
import { SmsConfig, createSmsChannel, smsAddress } from './sms.ts';
import { VoiceConfig, createVoiceChannel, voiceAddress } from './voice.ts';
import { credentialsProblem } from './phone.ts';
import { WecomConfig, createWecomChannel } from './wecom.ts';
import { DingtalkConfig, createDingtalkChannel } from './dingtalk.ts';
import { TemplateConfig, createTemplateChannel, templateAddress } from './template.ts';
import { robotAddress } from './robots.ts';
import type { Agent } from 'node:http';

export type Providers = Config['alerts']['providers'];
/** The parts of alerts configuration the channels read. */
export type AlertsSections = Pick<Config['alerts'], 'smtp' | 'webhook' | 'channels'> & { readonly providers?: Providers | undefined };

export interface ChannelContext {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly providers: Providers;
  /** HTTP agent for the providers' APIs (an outbound proxy; tests route provider hosts to a local fake). */
  readonly agent?: Agent | undefined;
}

export interface ChannelSpec<C = unknown> {
  /** Its configuration section: alerts.smtp (email), alerts.webhook, or alerts.channels.{name}. */
  readonly config: z.ZodType<C>;
  /** Where its configuration sits, for messages (`alerts.channels.sms`). */
  readonly configPath: string;
  /**
   * The channel as a sentence names it ("with the link in the voice call", "通过短信中的…"); a
   * label capitalises the English (channelLabel). Shown in the timeline, the audit notes and the
   * one-tap page.
   */
  readonly words: Words;
  /**
   * The address of a target on this channel (what the outbox row stores), or undefined when the
   * target cannot be reached there. `config` is undefined when the channel is not configured.
   */
  address(t: Target, config: C | undefined): string | undefined;
  /** One address shared by many people (a gateway URL, a group robot): rows stay one per person. */
  readonly shared: boolean;
  /** The code of every failure of this channel (contracts/errors.ts), also used by the outbox's timeout. */
  readonly code: ErrorCode;
  /** Sends in flight (outbox worker) unless options say otherwise. */
  readonly concurrency: number;
  /** A send with no outcome in this time counts as failed. */
  readonly sendTimeoutMs: number;
  /** The channel from its validated configuration; the console is built by alerts itself (no config). */
  create?(config: C, ctx: ChannelContext): Channel;
  /** Problems with the rest of the configuration this channel needs (its provider's keys), `path: message`. */
  check?(config: C, providers: Providers): string[];
}

/** Type-checks one entry against its own config schema, then forgets the type for the table. */
function entry<C>(spec: ChannelSpec<C>): ChannelSpec {
  return spec as unknown as ChannelSpec;
}

export const CHANNELS = {
  // The center's alert console: no configuration, always there; reaches only the center itself.
  console: entry({
    config: z.object({}),
    configPath: '(none)',
    words: { en: 'console', zh: '值班台' },
    address: (t) => (t.kind === 'console' ? t.id : undefined),
    shared: false,
    code: 'WF_NOTIFY_CONSOLE',
    concurrency: 16,
    sendTimeoutMs: 60_000,
  }),
  email: entry({
    config: SmtpConfig,
    configPath: 'alerts.smtp',
    words: { en: 'email', zh: '邮件' },
    address: (t) => t.email,
    shared: false,
    code: 'WF_NOTIFY_SMTP',
    concurrency: 4,
    sendTimeoutMs: 60_000,
    create: (smtp) => createEmailChannel({ smtp }),
  }),
  webhook: entry<z.output<typeof WebhookConfig>>({
    config: WebhookConfig,
    configPath: 'alerts.webhook',
    words: { en: 'webhook', zh: 'Webhook 推送' },
    // An SMS/voice gateway needs a phone number (or the person's own webhook) to reach anyone.
    address: (t, c) => t.webhook ?? (t.phone || t.email ? c?.url : undefined),
    shared: true,
    code: 'WF_NOTIFY_WEBHOOK',
    concurrency: 8,
    sendTimeoutMs: 60_000,
    create: (c, ctx) => createWebhookChannel({ secret: c.secret, now: () => ctx.clock.now() }),
  }),
  // Issue 19 point 2: SMS and voice calls through Alibaba Cloud or Tencent Cloud, to a person's phone.
  sms: entry<SmsConfig>({
    config: SmsConfig,
    configPath: 'alerts.channels.sms',
    words: { en: 'SMS', zh: '短信' },
    address: smsAddress,
    shared: false,
    code: 'WF_NOTIFY_SMS',
    // Providers take a few hundred requests a second per account; a handful in flight is plenty.
    concurrency: 4,
    sendTimeoutMs: 30_000,
    create: (c, ctx) => createSmsChannel(c, ctx),
    check: (c, p) => credentialsProblem(c.provider, c.appId, p, 'alerts.channels.sms'),
  }),
  voice: entry<VoiceConfig>({
    config: VoiceConfig,
    configPath: 'alerts.channels.voice',
    words: { en: 'voice call', zh: '语音电话' },
    address: voiceAddress,
    shared: false,
    code: 'WF_NOTIFY_VOICE',
    concurrency: 4,
    sendTimeoutMs: 30_000,
    create: (c, ctx) => createVoiceChannel(c, ctx),
    check: (c, p) => credentialsProblem(c.provider, c.appId, p, 'alerts.channels.voice'),
  }),
  // Issue 19 point 3: the center's duty group on WeCom or DingTalk; the address is the robot's name.
  wecom: entry<WecomConfig>({
    config: WecomConfig,
    configPath: 'alerts.channels.wecom',
    words: { en: 'WeCom group', zh: '企业微信群' },
    address: (t, c) => robotAddress(c?.robots, t),
    shared: true,
    code: 'WF_NOTIFY_WECOM',
    // One robot takes 20 a minute: more in flight would only meet its limit sooner.
    concurrency: 2,
    sendTimeoutMs: 30_000,
    create: (c, ctx) => createWecomChannel(c, ctx),
  }),
  dingtalk: entry<DingtalkConfig>({
    config: DingtalkConfig,
    configPath: 'alerts.channels.dingtalk',
    words: { en: 'DingTalk group', zh: '钉钉群' },
    address: (t, c) => robotAddress(c?.robots, t),
    shared: true,
    code: 'WF_NOTIFY_DINGTALK',
    concurrency: 2,
    sendTimeoutMs: 30_000,
    create: (c, ctx) => createDingtalkChannel(c, ctx),
  }),
  // Any other gateway's body shape from configuration (issue 19 point 3).
  template: entry<TemplateConfig>({
    config: TemplateConfig,
    configPath: 'alerts.channels.template',
    words: { en: 'gateway', zh: '网关推送' },
    address: (t, c) => templateAddress(c, t),
    shared: true,
    code: 'WF_NOTIFY_TEMPLATE',
    concurrency: 8,
    sendTimeoutMs: 30_000,
    create: (c) => createTemplateChannel(c),
  }),
} as const satisfies Record<string, ChannelSpec>;

export type ChannelName = keyof typeof CHANNELS;
export const CHANNEL_NAMES = Object.keys(CHANNELS) as [ChannelName, ...ChannelName[]];
export const ChannelName = z.enum(CHANNEL_NAMES);

export function channelSpec(name: ChannelName): ChannelSpec {
  return CHANNELS[name];
}

/** A channel's words; a row of a channel no longer in the table (an old database) keeps its name. */
export function channelWords(name: string): Words {
  return Object.hasOwn(CHANNELS, name) ? CHANNELS[name as ChannelName].words : { en: name, zh: name };
}

/** A channel's words as a label (the timeline's line, the one-tap page): English capitalised. */
export function channelLabel(name: string): Words {
  const w = channelWords(name);
  return { en: w.en.charAt(0).toUpperCase() + w.en.slice(1), zh: w.zh };
}

/** Each configured channel's raw section, by channel name (email and webhook keep their historic keys). */
function sections(alerts: AlertsSections): Map<ChannelName, unknown> {
  const out = new Map<ChannelName, unknown>();
  if (alerts.smtp) out.set('email', alerts.smtp);
  if (alerts.webhook) out.set('webhook', alerts.webhook);
  for (const [name, raw] of Object.entries(alerts.channels)) out.set(name as ChannelName, raw);
  return out;
}

/**
 * Validates every configured channel's section against its schema (every problem listed by path,
 * STYLE.md principle 2) and builds the channels. Throws WF_CONFIG_INVALID; app/config.ts calls
 * checkChannelConfig at load so a bad section stops `wf` before anything starts.
 */
export function createChannels(alerts: AlertsSections, ctx: ChannelContext): Partial<Record<ChannelName, Channel>> {
  const parsed = parseSections(alerts);
  const out: Partial<Record<ChannelName, Channel>> = {};
  for (const [name, config] of parsed) {
    const spec = CHANNELS[name];
    if (spec.create) out[name] = spec.create(config, ctx);
  }
  return out;
}

/** The problems of the channel sections, `path: message` each; empty when all are valid. */
export function checkChannelConfig(alerts: AlertsSections): string[] {
  try {
    parseSections(alerts);
    return [];
  } catch (err) {
    return err instanceof WatchfireError ? [...err.details] : [(err as Error).message];
  }
}

/** The validated configuration of each configured channel. */
export function parseSections(alerts: AlertsSections): Map<ChannelName, unknown> {
  const problems: string[] = [];
  const out = new Map<ChannelName, unknown>();
  for (const [name, raw] of sections(alerts)) {
    if (!Object.hasOwn(CHANNELS, name) || name === 'console') {
      problems.push(`alerts.channels.${name}: no such channel (known: ${CHANNEL_NAMES.filter((n) => n !== 'console').join(', ')})`);
      continue;
    }
    const spec = CHANNELS[name];
    const r = spec.config.safeParse(raw);
    if (!r.success) {
      problems.push(...formatIssues(r.error.issues).map((p) => `${spec.configPath}.${p}`));
      continue;
    }
    const more = spec.check?.(r.data, alerts.providers ?? {}) ?? [];
    problems.push(...more);
    if (!more.length) out.set(name, r.data);
  }
  if (problems.length) throw new WatchfireError('WF_CONFIG_INVALID', 'Invalid notification channel configuration', problems);
  return out;
}

