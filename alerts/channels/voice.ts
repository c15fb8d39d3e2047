// Voice notification calls (语音通知) through Alibaba Cloud (SingleCallByTts) or Tencent Cloud
// (VMS SendTtsVoice), issue 19 point 2: an approved text-to-speech template read to the person,
// repeated `playTimes`. The provider's status callback tells answered / not answered / busy, and
// a keypress during the call arrives as a 'keypress' event (adapters/notify/).
import { z } from 'zod';
import { toE164 } from '../../contracts/channels.ts';
import type { Target } from '../recipients.ts';
import { createAliyunVoice } from './aliyun.ts';
import { createTencentVoice } from './tencent.ts';
import { NumberLimits } from './limits.ts';
import { aliyunNumber, createLimitedSender, paramsOf, phoneFields, phoneOf, type PhoneContext } from './phone.ts';
import type { Channel } from './types.ts';

export const VoiceConfig = z.object({
  ...phoneFields,
  /** Alibaba TtsCode (TTS_…) or Tencent voice TemplateId (digits). */
  templateId: z.string().min(1),
  /** Alibaba CalledShowNumber: the number bought for calls (omit for the public pool). */
  showNumber: z.string().regex(/^\d{5,15}$/).optional(),
  /** How often the text is read in one call (both providers: 1–3). */
  playTimes: z.number().int().min(1).max(3).default(2),
  /** A call is more intrusive than a text: by default one a minute, three an hour, ten a day per number. */
  limits: NumberLimits.default({ perMinute: 1, perHour: 3, perDay: 10 }),
}).superRefine((c, ctx) => {
  if (c.provider === 'aliyun' && !/^TTS_\d+$/.test(c.templateId)) ctx.addIssue({ code: 'custom', path: ['templateId'], message: 'Alibaba TTS template codes look like TTS_123456789' });
  if (c.provider === 'tencent' && !/^\d+$/.test(c.templateId)) ctx.addIssue({ code: 'custom', path: ['templateId'], message: 'Tencent template ids are digits' });
});
export type VoiceConfig = z.output<typeof VoiceConfig>;

export function voiceAddress(t: Target): string | undefined {
  return t.phone ? toE164(t.phone) : undefined;
}

export function createVoiceChannel(config: VoiceConfig, ctx: PhoneContext): Channel {
  const sender = createLimitedSender({ code: 'WF_NOTIFY_VOICE', limits: config.limits, clock: ctx.clock, provider: config.provider });
  let call: (phone: string, params: Record<string, string>, outId: string) => ReturnType<ReturnType<typeof createAliyunVoice>['call']>;
  if (config.provider === 'aliyun') {
    const client = createAliyunVoice({ ...ctx.providers.aliyun!, endpoint: config.endpoint ?? 'dyvmsapi.aliyuncs.com', protocol: config.protocol, timeoutMs: config.timeoutMs });
    call = (phone, params, outId) => client.call({ phone: aliyunNumber(phone), showNumber: config.showNumber, ttsCode: config.templateId, params, playTimes: config.playTimes, outId });
  } else {
    const client = createTencentVoice({ ...ctx.providers.tencent!, region: config.region, endpoint: config.endpoint ?? 'vms.tencentcloudapi.com', protocol: config.protocol, timeoutMs: config.timeoutMs, agent: ctx.agent });
    call = (phone, params, outId) => client.call({ phone, appId: config.appId!, templateId: config.templateId, params: Object.values(params), playTimes: config.playTimes, outId });
  }
  return {
    name: 'voice',
    send(m) {
      const phone = phoneOf(m, 'WF_NOTIFY_VOICE');
      return sender.send(phone, () => call(phone, paramsOf(m, config.params, config.maxParamChars), String(m.id)));
    },
    close() {
      sender.close();
      return Promise.resolve();
    },
  };
}
