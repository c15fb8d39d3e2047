// DingTalk (钉钉) custom group robot for a center's duty group (issue 19 point 3): POST to
// …/robot/send?access_token=… with, when the robot has a signing secret (加签), `timestamp` (ms)
// and `sign` = Base64(HMAC-SHA256(secret, timestamp + "\n" + secret)), URL-encoded. Markdown or
// text; the person is @-mentioned by mobile in `at.atMobiles` (and in the text, as DingTalk
// requires for the mention to show). errcode 130101: the robot's 20-a-minute limit.
import { createHmac } from 'node:crypto';
import { z } from 'zod';
import type { Clock } from '../../contracts/ports.ts';
import { WatchfireError } from '../../contracts/errors.ts';
import { createRobotPoster, mentionOf, robotFields, robotText } from './robots.ts';
import type { Channel } from './types.ts';

export const DingtalkConfig = z.object({
  /** The duty group's robot per center id (or `default`): its webhook URL and, if 加签 is on, its SEC… secret. */
  robots: z.record(z.string().min(1), z.object({
    url: z.url().refine((u) => new URL(u).searchParams.has('access_token'), { message: 'expected the robot webhook URL with its access_token=' }),
    secret: z.string().min(1).optional(),
  })).refine((r) => Object.keys(r).length > 0, { message: 'at least one robot' }),
  ...robotFields,
});
export type DingtalkConfig = z.output<typeof DingtalkConfig>;

/** The signed URL DingTalk checks (timestamp within an hour of its clock). */
export function signedDingtalkUrl(url: string, secret: string | undefined, now: number): string {
  if (!secret) return url;
  const sign = createHmac('sha256', secret).update(`${now}\n${secret}`).digest('base64');
  const u = new URL(url);
  u.searchParams.set('timestamp', String(now));
  u.searchParams.set('sign', sign);
  return u.toString();
}

export function createDingtalkChannel(config: DingtalkConfig, ctx: { clock: Clock }): Channel {
  const poster = createRobotPoster({ code: 'WF_NOTIFY_DINGTALK', clock: ctx.clock, perMinute: config.perMinute, timeoutMs: config.timeoutMs, limitCodes: [130101], name: 'DingTalk' });
  return {
    name: 'dingtalk',
    send(m) {
      const robot = config.robots[m.address];
      if (!robot) return Promise.reject(new WatchfireError('WF_NOTIFY_DINGTALK', `no DingTalk robot ${m.address} configured`));
      const mention = config.mention ? mentionOf(m) : undefined;
      const t = robotText(m, config.format, mention, 18_000);
      const at = { at: { atMobiles: mention ? [mention] : [], isAtAll: false } };
      const body = config.format === 'markdown'
        ? { msgtype: 'markdown', markdown: { title: t.title, text: t.body }, ...at }
        : { msgtype: 'text', text: { content: mention ? `${t.body}\n@${mention}` : t.body }, ...at };
      // Signed per attempt: DingTalk refuses a timestamp more than an hour old.
      return poster.post(m.address, signedDingtalkUrl(robot.url, robot.secret, ctx.clock.now()), body);
    },
    close() {
      poster.close();
      return Promise.resolve();
    },
  };
}
