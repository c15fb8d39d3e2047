// What the sms and voice channels share: the provider choice and its endpoint, the template
// variables filled from placeholders, per-number limits, and how a provider's answer becomes an
// outcome (issue 19 point 2). Over a limit, ours or the provider's, is a ChannelRefusal with
// WF_NOTIFY_LIMIT and a reset time: the row is retried when the window reopens, never dropped,
// and the policy's other channels (and the call tree's next step) carry the alarm meanwhile.
import type { Agent } from 'node:http';
import { z } from 'zod';
import { WatchfireError, type ErrorCode } from '../../contracts/errors.ts';
import { toE164 } from '../../contracts/channels.ts';
import type { Clock } from '../../contracts/ports.ts';
import type { Config } from '../../contracts/config.ts';
import type { ProviderAnswer } from './aliyun.ts';
import { NumberLimits, createNumberLimits, providerRetryAt } from './limits.ts';
import { TemplateString, fill, viewOf } from './placeholders.ts';
import { ChannelRefusal, type OutboundMessage, type SendResult } from './types.ts';

export const Provider = z.enum(['aliyun', 'tencent']);

/** The fields both phone channels configure; each adds its own. */
export const phoneFields = {
  provider: Provider,
  /**
   * The template's variables: name → a string with placeholders ({title}, {site}, {address},
   * {level}, {link}, …). Tencent's variables are positional: name them 1, 2, 3 in order.
   */
  params: z.record(z.string().regex(/^\w{1,32}$/), TemplateString).default({ title: '{title}', site: '{site}' }),
  /** Tencent SmsSdkAppId / VoiceSdkAppid (required with tencent). */
  appId: z.string().regex(/^\d+$/).optional(),
  /** Tencent's region (SMS: ap-guangzhou, ap-beijing, ap-nanjing). */
  region: z.string().default('ap-guangzhou'),
  /** The API host; default the provider's public one. */
  endpoint: z.string().min(1).optional(),
  protocol: z.enum(['https', 'http']).default('https'),
  /** Providers cap each template variable (Alibaba: 35 characters for notices; check your template's rule). */
  maxParamChars: z.number().int().min(1).max(500).default(35),
  limits: NumberLimits,
  /** The provider's answer must come within this (the SDK's read timeout). */
  timeoutMs: z.number().int().min(100).default(10_000),
};

export interface PhoneContext {
  readonly clock: Clock;
  readonly providers: Config['alerts']['providers'];
  readonly agent?: Agent | undefined;
}

/** The credentials the chosen provider needs, or the configuration problem. */
export function credentialsProblem(provider: 'aliyun' | 'tencent', appId: string | undefined, providers: Config['alerts']['providers'], path: string): string[] {
  const out: string[] = [];
  if (!providers[provider]) out.push(`${path}.provider: ${provider} needs alerts.providers.${provider} (keys, or WF_${provider.toUpperCase()}_… in the environment)`);
  if (provider === 'tencent' && !appId) out.push(`${path}.appId: Tencent needs the SdkAppId of the application`);
  return out;
}

export function phoneOf(m: OutboundMessage, code: ErrorCode): string {
  const e164 = toE164(m.address);
  if (!e164) throw new WatchfireError(code, `${m.address} is not a phone number`);
  return e164;
}

/** The template variables for this message, each cut to the provider's length. */
export function paramsOf(m: OutboundMessage, params: Readonly<Record<string, string>>, max: number): Record<string, string> {
  const view = viewOf(m);
  return Object.fromEntries(Object.entries(params).map(([k, tpl]) => {
    const v = fill(tpl, view);
    return [k, [...v].length > max ? `${[...v].slice(0, max - 1).join('')}…` : v];
  }));
}

/** Mainland numbers go to Alibaba without +86 (its documented form); others as digits with the country code. */
export function aliyunNumber(e164: string): string {
  if (!e164.startsWith('+86')) return e164.slice(1);
  const national = e164.slice(3);
  return /^1[3-9]\d{9}$/.test(national) ? national : `0${national}`;
}

/** Sends through `attempt` within the per-number limits and maps the provider's answer. */
export function createLimitedSender(deps: { code: ErrorCode; limits: NumberLimits; clock: Clock; provider: string }) {
  const limits = createNumberLimits(deps.limits, () => deps.clock.now());
  let closed = false;
  // Once the provider says the account's daily cap is spent, every number is refused here until
  // it resets: asking again would only pile up refusals (and, at Alibaba, count against the sign).
  let accountHeld: { until: number; why: string } | undefined;
  return {
    close(): void {
      closed = true;
    },
    async send(phone: string, attempt: () => Promise<ProviderAnswer>): Promise<SendResult> {
      if (closed) throw new WatchfireError(deps.code, 'channel is closed');
      if (accountHeld && deps.clock.now() < accountHeld.until) {
        throw new ChannelRefusal('WF_NOTIFY_LIMIT', `not sent to ${phone}: ${accountHeld.why}`, accountHeld.until);
      }
      const over = limits.check(phone);
      if (over) throw new ChannelRefusal('WF_NOTIFY_LIMIT', `not sent to ${phone}: ${over.reason}`, over.retryAt);
      const a = await attempt();
      if (a.ok) {
        limits.record(phone);
        return { providerId: a.providerId };
      }
      if (a.throttled) {
        const retryAt = providerRetryAt(a.throttled, deps.clock.now());
        if (a.account) accountHeld = { until: retryAt, why: `the ${deps.provider} account's limit is reached (${a.code}: ${a.message})` };
        throw new ChannelRefusal('WF_NOTIFY_LIMIT', `${deps.provider} throttled ${phone} (${a.code}: ${a.message})`, retryAt);
      }
      throw new WatchfireError(deps.code, `${deps.provider} refused: ${a.code}: ${a.message}`);
    },
  };
}
