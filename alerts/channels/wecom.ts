// WeCom (企业微信) group robot for a center's duty group (issue 19 point 3): POST to the robot's
// webhook (…/cgi-bin/webhook/send?key=…) as markdown (up to 4096 bytes) or text. Markdown cannot
// @-mention by mobile, so a message to a person with a mobile goes as text with
// mentioned_mobile_list. errcode 45009: the robot's 20-a-minute limit.
import { z } from 'zod';
import type { Clock } from '../../contracts/ports.ts';
import { WatchfireError } from '../../contracts/errors.ts';
import { createRobotPoster, mentionOf, robotFields, robotText } from './robots.ts';
import type { Channel } from './types.ts';

export const WecomConfig = z.object({
  /** The duty group's robot webhook URL per center id (or `default`). */
  robots: z.record(z.string().min(1), z.url().refine((u) => new URL(u).searchParams.has('key'), { message: 'expected the robot webhook URL with its key=' })).refine((r) => Object.keys(r).length > 0, { message: 'at least one robot' }),
  ...robotFields,
});
export type WecomConfig = z.output<typeof WecomConfig>;

export function createWecomChannel(config: WecomConfig, ctx: { clock: Clock }): Channel {
  const poster = createRobotPoster({ code: 'WF_NOTIFY_WECOM', clock: ctx.clock, perMinute: config.perMinute, timeoutMs: config.timeoutMs, limitCodes: [45009], name: 'WeCom' });
  return {
    name: 'wecom',
    send(m) {
      const url = config.robots[m.address];
      if (!url) return Promise.reject(new WatchfireError('WF_NOTIFY_WECOM', `no WeCom robot ${m.address} configured`));
      const mention = config.mention ? mentionOf(m) : undefined;
      if (config.format === 'markdown' && !mention) {
        return poster.post(m.address, url, { msgtype: 'markdown', markdown: { content: robotText(m, 'markdown', undefined, 4096).body } });
      }
      return poster.post(m.address, url, { msgtype: 'text', text: { content: robotText(m, 'text', undefined, 2048).body, ...(mention ? { mentioned_mobile_list: [mention] } : {}) } });
    },
    close() {
      poster.close();
      return Promise.resolve();
    },
  };
}
