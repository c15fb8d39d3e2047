// What the WeCom and DingTalk group robots share (issue 19 point 3): a center's duty group is a
// robot webhook per center (or one `default`), the outbox row's address is the robot's name (the
// URL, which holds the robot's key, stays in configuration, not in the database), a message is
// markdown or text with the person @-mentioned by mobile, and both robots take at most 20
// messages a minute (over it: WF_NOTIFY_LIMIT until the minute has passed).
import { z } from 'zod';
import { WatchfireError, type ErrorCode } from '../../contracts/errors.ts';
import type { Clock } from '../../contracts/ports.ts';
import type { Target } from '../recipients.ts';
import { createNumberLimits } from './limits.ts';
import { createHttpPoster } from './http.ts';
import { ChannelRefusal, type OutboundMessage, type SendResult } from './types.ts';

export const robotFields = {
  /** `markdown` (headline, text, link) or plain `text`. */
  format: z.enum(['markdown', 'text']).default('markdown'),
  /** @-mention the person by their mobile number when they have one. */
  mention: z.boolean().default(true),
  /** Both robots allow 20 messages a minute (WeCom and DingTalk documentation). */
  perMinute: z.number().int().min(1).max(20).default(20),
  timeoutMs: z.number().int().min(100).default(10_000),
};

/** The robot of the target's center, else the `default` one. */
export function robotAddress(robots: Readonly<Record<string, unknown>> | undefined, t: Target): string | undefined {
  if (!robots) return undefined;
  if (Object.hasOwn(robots, t.centerId)) return t.centerId;
  return Object.hasOwn(robots, 'default') ? 'default' : undefined;
}

/** The mobile to @-mention: the 11 digits of a mainland mobile (what both robots match against members). */
export function mentionOf(m: OutboundMessage): string | undefined {
  const p = (m.recipient.phone ?? '').replace(/[\s-]/g, '').replace(/^(\+?86|0086)/, '');
  return /^1[3-9]\d{9}$/.test(p) ? p : undefined;
}

function truncateBytes(s: string, max: number): string {
  if (Buffer.byteLength(s) <= max) return s;
  let out = '';
  for (const ch of s) {
    if (Buffer.byteLength(out + ch) > max - 3) break;
    out += ch;
  }
  return `${out}…`;
}

/** The message as a robot posts it: a headline, the short text, the link. */
export function robotText(m: OutboundMessage, format: 'markdown' | 'text', mention: string | undefined, maxBytes: number): { title: string; body: string } {
  const d = m.data as { text?: unknown; link?: unknown };
  const text = typeof d.text === 'string' ? d.text : m.text;
  const link = typeof d.link === 'string' ? d.link : '';
  const open = m.recipient.locale === 'en' ? 'Open the incident' : '打开警情';
  const body = format === 'markdown'
    ? `### ${m.subject}\n${text}${link ? `\n\n[${open}](${link})` : ''}${mention ? `\n\n@${mention}` : ''}`
    : `${m.subject}\n${text}${link ? `\n${link}` : ''}`;
  return { title: m.subject, body: truncateBytes(body, maxBytes) };
}

/** Posts JSON to a robot and reads its `errcode`; `limitCodes` are the robot's rate-limit answers. */
export function createRobotPoster(deps: { code: ErrorCode; clock: Clock; perMinute: number; timeoutMs: number; limitCodes: readonly number[]; name: string }) {
  const limits = createNumberLimits({ perMinute: deps.perMinute, perHour: 1_000_000, perDay: 1_000_000 }, () => deps.clock.now());
  const http = createHttpPoster(deps.code, deps.name);
  return {
    async post(robot: string, url: string, body: unknown): Promise<SendResult> {
      http.assertOpen();
      const over = limits.check(robot);
      if (over) throw new ChannelRefusal('WF_NOTIFY_LIMIT', `${deps.name} robot ${robot}: ${deps.perMinute} messages a minute reached`, over.retryAt);
      const raw = await http.post(url, { body: JSON.stringify(body), headers: { 'content-type': 'application/json; charset=utf-8' } }, deps.timeoutMs, `${deps.name} robot ${robot}`);
      let answer: { errcode?: unknown; errmsg?: unknown };
      try {
        answer = JSON.parse(raw) as typeof answer;
      } catch {
        throw new WatchfireError(deps.code, `${deps.name} robot ${robot} answered something that is not JSON`);
      }
      const code = Number(answer.errcode);
      if (code === 0) {
        limits.record(robot);
        return {};
      }
      if (deps.limitCodes.includes(code)) throw new ChannelRefusal('WF_NOTIFY_LIMIT', `${deps.name} robot ${robot} is rate limited (${code} ${String(answer.errmsg)})`, deps.clock.now() + 60_000);
      throw new WatchfireError(deps.code, `${deps.name} robot ${robot} refused: ${code} ${String(answer.errmsg)}`);
    },
    close(): void {
      http.close();
    },
  };
}
