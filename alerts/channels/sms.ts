// Text messages through Alibaba Cloud or Tencent Cloud SMS (issue 19 point 2): a registered
// sign name (签名) and an approved template (模板) whose variables are filled from the message.
// Chinese carriers deliver only approved templates, so the words are the template's; the
// variables carry the site, the alarm and the link.
import { z } from 'zod';
import { isMobileE164, toE164 } from '../../contracts/channels.ts';
import type { Target } from '../recipients.ts';
import { createAliyunSms } from './aliyun.ts';
import { createTencentSms } from './tencent.ts';
import { aliyunNumber, createLimitedSender, paramsOf, phoneFields, phoneOf, type PhoneContext } from './phone.ts';
import type { Channel } from './types.ts';

export const SmsConfig = z.object({
  ...phoneFields,
  /** The registered sign name, e.g. 鼓楼消防 (shown as 【鼓楼消防】). */
  signName: z.string().min(1),
  /** Alibaba TemplateCode (SMS_…) or Tencent TemplateId (digits). */
  templateId: z.string().min(1),
}).superRefine((c, ctx) => {
  if (c.provider === 'aliyun' && !/^SMS_\d+$/.test(c.templateId)) ctx.addIssue({ code: 'custom', path: ['templateId'], message: 'Alibaba template codes look like SMS_123456789' });
  if (c.provider === 'tencent' && !/^\d+$/.test(c.templateId)) ctx.addIssue({ code: 'custom', path: ['templateId'], message: 'Tencent template ids are digits' });
});
export type SmsConfig = z.output<typeof SmsConfig>;

/** A person's mobile number in E.164; landlines cannot take SMS. */
export function smsAddress(t: Target): string | undefined {
  const e164 = t.phone ? toE164(t.phone) : undefined;
  return e164 && isMobileE164(e164) ? e164 : undefined;
}

export function createSmsChannel(config: SmsConfig, ctx: PhoneContext): Channel {
  const sender = createLimitedSender({ code: 'WF_NOTIFY_SMS', limits: config.limits, clock: ctx.clock, provider: config.provider });
  let send: (phone: string, params: Record<string, string>, outId: string) => ReturnType<ReturnType<typeof createAliyunSms>['send']>;
  if (config.provider === 'aliyun') {
    const keys = ctx.providers.aliyun!;
    const client = createAliyunSms({ ...keys, endpoint: config.endpoint ?? 'dysmsapi.aliyuncs.com', protocol: config.protocol, timeoutMs: config.timeoutMs });
    send = (phone, params, outId) => client.send({ phone: aliyunNumber(phone), signName: config.signName, templateCode: config.templateId, params, outId });
  } else {
    const keys = ctx.providers.tencent!;
    const client = createTencentSms({ ...keys, region: config.region, endpoint: config.endpoint ?? 'sms.tencentcloudapi.com', protocol: config.protocol, timeoutMs: config.timeoutMs, agent: ctx.agent });
    send = (phone, params, outId) => client.send({ phone, appId: config.appId!, signName: config.signName, templateId: config.templateId, params: Object.values(params), outId });
  }
  return {
    name: 'sms',
    send(m) {
      const phone = phoneOf(m, 'WF_NOTIFY_SMS');
      // OutId / SessionContext carry the outbox id: the provider's receipt names it back.
      return sender.send(phone, () => send(phone, paramsOf(m, config.params, config.maxParamChars), String(m.id)));
    },
    close() {
      sender.close();
      return Promise.resolve();
    },
  };
}
