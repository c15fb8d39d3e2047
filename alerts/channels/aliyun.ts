// Alibaba Cloud SMS (SendSms) and voice notification (SingleCallByTts) through the official SDKs:
// @alicloud/dysmsapi20170525 for SMS; for voice, no Dyvmsapi package is published on npm, so the
// same official OpenAPI core (@alicloud/openapi-core, which Dysmsapi extends) calls the documented
// RPC action. Both sign requests with ACS3-HMAC-SHA256. The provider's answer is mapped to an
// outcome: OK (with BizId / CallId), a per-number throttle (a limit refusal), or a failure.
import Dysmsapi, { SendSmsRequest } from '@alicloud/dysmsapi20170525';
import OpenApi, { $OpenApiUtil } from '@alicloud/openapi-core';

export interface AliyunEndpoint {
  readonly accessKeyId: string;
  readonly accessKeySecret: string;
  /** host[:port], e.g. dysmsapi.aliyuncs.com. */
  readonly endpoint: string;
  readonly protocol: 'https' | 'http';
  readonly timeoutMs: number;
}

/** What the provider said; `throttled` carries the window its message names. */
export type ProviderAnswer =
  | { readonly ok: true; readonly providerId: string }
  | { readonly ok: false; readonly throttled?: 'minute' | 'hour' | 'day' | undefined; readonly code: string; readonly message: string };

// The SDKs are CommonJS compiled from TypeScript: Node's ESM import gives module.exports, whose
// `default` is the class; a bundler's interop (vitest) may hand the class itself.
function classOf<T>(mod: { default: T }): T {
  return typeof mod === 'function' ? (mod as unknown as T) : mod.default;
}
const SmsClient = classOf(Dysmsapi);
const CoreClient = classOf(OpenApi);

function config(e: AliyunEndpoint) {
  return new $OpenApiUtil.Config({
    accessKeyId: e.accessKeyId,
    accessKeySecret: e.accessKeySecret,
    endpoint: e.endpoint,
    protocol: e.protocol,
    readTimeout: e.timeoutMs,
    connectTimeout: Math.min(e.timeoutMs, 5_000),
  });
}

/**
 * isv.BUSINESS_LIMIT_CONTROL is Alibaba's per-number flow control; its message names the window
 * (触发分钟级流控 / 小时级 / 天级, "Permits:1"). isv.DAY_LIMIT_CONTROL: the account's daily cap.
 */
function throttleOf(code: string, message: string): 'minute' | 'hour' | 'day' | undefined {
  if (code === 'isv.DAY_LIMIT_CONTROL') return 'day';
  if (code !== 'isv.BUSINESS_LIMIT_CONTROL' && code !== 'Throttling.User' && code !== 'isv.OUT_OF_SERVICE_LIMIT') return undefined;
  if (/天|day/i.test(message)) return 'day';
  if (/小时|hour/i.test(message)) return 'hour';
  return 'minute';
}

function answer(body: { code?: string | undefined; message?: string | undefined }, id: string | undefined): ProviderAnswer {
  const code = body.code ?? '';
  const message = body.message ?? '';
  if (code === 'OK' && id) return { ok: true, providerId: id };
  return { ok: false, code: code || 'NoCode', message, throttled: throttleOf(code, message) };
}

function thrown(err: unknown): ProviderAnswer {
  const e = err as { code?: string; message?: string; data?: { Code?: string; Message?: string } };
  const code = e.data?.Code ?? e.code ?? 'RequestFailed';
  const message = e.data?.Message ?? e.message ?? String(err);
  return { ok: false, code, message, throttled: throttleOf(code, message) };
}

export function createAliyunSms(e: AliyunEndpoint) {
  const client = new SmsClient(config(e));
  return {
    /** `phone`: mainland 11 digits (SendSms takes them bare) or the international number without +. */
    async send(req: { phone: string; signName: string; templateCode: string; params: Record<string, string>; outId: string }): Promise<ProviderAnswer> {
      try {
        const res = await client.sendSms(new SendSmsRequest({
          phoneNumbers: req.phone, signName: req.signName, templateCode: req.templateCode,
          templateParam: JSON.stringify(req.params), outId: req.outId,
        }));
        return answer(res.body ?? {}, res.body?.bizId);
      } catch (err) {
        return thrown(err);
      }
    },
  };
}

export function createAliyunVoice(e: AliyunEndpoint) {
  const client = new CoreClient(config(e));
  const params = new $OpenApiUtil.Params({
    action: 'SingleCallByTts', version: '2017-05-25', protocol: e.protocol.toUpperCase(), pathname: '/', method: 'POST',
    authType: 'AK', style: 'RPC', reqBodyType: 'formData', bodyType: 'json',
  });
  return {
    async call(req: { phone: string; showNumber?: string | undefined; ttsCode: string; params: Record<string, string>; playTimes: number; outId: string }): Promise<ProviderAnswer> {
      const query: Record<string, string> = {
        CalledNumber: req.phone, TtsCode: req.ttsCode, TtsParam: JSON.stringify(req.params), PlayTimes: String(req.playTimes), OutId: req.outId,
      };
      if (req.showNumber) query.CalledShowNumber = req.showNumber;
      try {
        const res = (await client.callApi(params, new $OpenApiUtil.OpenApiRequest({ query }), {} as never)) as { body?: { Code?: string; Message?: string; CallId?: string } };
        return answer({ code: res.body?.Code, message: res.body?.Message }, res.body?.CallId);
      } catch (err) {
        return thrown(err);
      }
    },
  };
}
