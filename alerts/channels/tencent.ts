// Tencent Cloud SMS (SendSms, API 2021-01-11) through the official tencentcloud-sdk-nodejs-sms,
// and voice messages (VMS SendTtsVoice, API 2020-09-02) through the official
// tencentcloud-sdk-nodejs-common CommonClient (the per-product VMS package is not published on
// npm; the common client is Tencent's documented way to call any product). Both sign with
// TC3-HMAC-SHA256. Per-number limits answer LimitExceeded.PhoneNumber*Limit.
// The SDKs are loaded on the first send (see aliyun.ts).
import type { Agent } from 'node:http';
import type * as SmsModule from 'tencentcloud-sdk-nodejs-sms';
import type * as CommonModule from 'tencentcloud-sdk-nodejs-common';
import type { ProviderAnswer } from './aliyun.ts';

export interface TencentEndpoint {
  readonly secretId: string;
  readonly secretKey: string;
  readonly region: string;
  /** host, e.g. sms.tencentcloudapi.com (the first label is the signed service name). */
  readonly endpoint: string;
  readonly protocol: 'https' | 'http';
  readonly timeoutMs: number;
  /** An HTTP agent (an outbound proxy; tests route the provider host to a local fake). */
  readonly agent?: Agent | undefined;
}

type SmsClient = InstanceType<typeof SmsModule.sms.v20210111.Client>;
type CommonClient = InstanceType<typeof CommonModule.CommonClient>;

/** CommonJS through ESM: the named exports may sit on `default`. */
function named<T extends object>(m: T & { default?: unknown }): T {
  return (m.default && typeof m.default === 'object' ? m.default : m) as T;
}

function profile(e: TencentEndpoint) {
  return {
    signMethod: 'TC3-HMAC-SHA256' as const,
    httpProfile: {
      endpoint: e.endpoint,
      protocol: `${e.protocol}://`,
      reqMethod: 'POST' as const,
      reqTimeout: Math.max(1, Math.ceil(e.timeoutMs / 1000)),
      ...(e.agent ? { agent: e.agent } : {}),
    },
  };
}

/** LimitExceeded.PhoneNumberThirtySecondLimit / OneHourLimit / DailyLimit / SameContentDailyLimit, FrequencyLimit. */
function throttleOf(code: string): 'minute' | 'hour' | 'day' | undefined {
  if (!code.startsWith('LimitExceeded.') && code !== 'RequestLimitExceeded') return undefined;
  if (/Daily|Day/.test(code)) return 'day';
  if (/Hour/.test(code)) return 'hour';
  return 'minute';
}

/**
 * The application's daily caps (LimitExceeded.AppDailyLimit, AppMainlandChinaDailyLimit,
 * AppGlobalDailyLimit, DailyLimit — set in the console) hold for every number, not just this one.
 */
function accountWide(code: string): boolean {
  return /^LimitExceeded\.(?:App\w*DailyLimit|DailyLimit)$/.test(code);
}

function thrown(err: unknown): ProviderAnswer {
  const e = err as { code?: string; message?: string };
  const code = e.code || 'RequestFailed';
  return { ok: false, code, message: e.message ?? String(err), throttled: throttleOf(code), account: accountWide(code) };
}

export function createTencentSms(e: TencentEndpoint) {
  let made: Promise<SmsClient> | undefined;
  const ready = () => (made ??= import('tencentcloud-sdk-nodejs-sms').then((m) => new (named(m).sms.v20210111.Client)({ credential: { secretId: e.secretId, secretKey: e.secretKey }, region: e.region, profile: profile(e) })));
  return {
    /** `phone` in E.164 (+8613…); params in the template's order. */
    async send(req: { phone: string; appId: string; signName: string; templateId: string; params: string[]; outId: string }): Promise<ProviderAnswer> {
      try {
        const client = await ready();
        const res = await client.SendSms({
          PhoneNumberSet: [req.phone], SmsSdkAppId: req.appId, SignName: req.signName, TemplateId: req.templateId,
          TemplateParamSet: req.params, SessionContext: req.outId,
        });
        // Per-number outcomes (including the limits) are in SendStatusSet, the call itself succeeded.
        const s = res.SendStatusSet?.[0];
        if (s?.Code === 'Ok' && s.SerialNo) return { ok: true, providerId: s.SerialNo };
        const code = s?.Code ?? 'NoStatus';
        return { ok: false, code, message: s?.Message ?? 'no send status', throttled: throttleOf(code), account: accountWide(code) };
      } catch (err) {
        return thrown(err);
      }
    },
  };
}

export function createTencentVoice(e: TencentEndpoint) {
  let made: Promise<CommonClient> | undefined;
  const ready = () => (made ??= import('tencentcloud-sdk-nodejs-common').then((m) => new (named(m).CommonClient)(e.endpoint, '2020-09-02', { credential: { secretId: e.secretId, secretKey: e.secretKey }, region: e.region, profile: profile(e) })));
  return {
    async call(req: { phone: string; appId: string; templateId: string; params: string[]; playTimes: number; outId: string }): Promise<ProviderAnswer> {
      try {
        const client = await ready();
        const res = (await client.request('SendTtsVoice', {
          TemplateId: req.templateId, TemplateParamSet: req.params, CalledNumber: req.phone, VoiceSdkAppid: req.appId,
          PlayTimes: req.playTimes, SessionContext: req.outId,
        })) as { SendStatus?: { CallId?: string } };
        const id = res.SendStatus?.CallId;
        return id ? { ok: true, providerId: id } : { ok: false, code: 'NoCallId', message: 'no CallId in the answer' };
      } catch (err) {
        return thrown(err);
      }
    },
  };
}
