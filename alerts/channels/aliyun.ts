// Alibaba Cloud SMS (SendSms) and voice notification (SingleCallByTts) through the official SDKs:
// @alicloud/dysmsapi20170525 for SMS; for voice, no Dyvmsapi package is published on npm, so the
// same official OpenAPI core (@alicloud/openapi-core, which Dysmsapi extends) calls the documented
// RPC action. Both sign requests with ACS3-HMAC-SHA256. The provider's answer is mapped to an
// outcome: OK (with BizId / CallId), a per-number throttle (a limit refusal), or a failure.
//
// The SDKs are loaded on the first send, not at import: they take seconds to load on a busy
// machine, and every `wf` command reads the channel table when it validates the configuration.
import type * as DysmsapiModule from '@alicloud/dysmsapi20170525';
import type * as OpenApiModule from '@alicloud/openapi-core';

export interface AliyunEndpoint {
  readonly accessKeyId: string;
  readonly accessKeySecret: string;
  /** host[:port], e.g. dysmsapi.aliyuncs.com. */
  readonly endpoint: string;
  readonly protocol: 'https' | 'http';
  readonly timeoutMs: number;
}

/**
 * What the provider said; `throttled` carries the window its message names, and `account` says
 * the limit is the whole account's (its daily cap), not this number's: nobody can be reached
 * through it until the window reopens.
 */
export type ProviderAnswer =
  | { readonly ok: true; readonly providerId: string }
  | { readonly ok: false; readonly throttled?: 'minute' | 'hour' | 'day' | undefined; readonly account?: boolean | undefined; readonly code: string; readonly message: string };

// The SDKs are CommonJS compiled from TypeScript: Node's ESM import gives module.exports, whose
// `default` is the class (or, through another interop, the class itself).
function classOf<T>(d: unknown): T {
  return (typeof d === 'function' ? d : (d as { default: T }).default) as T;
}

type Sdk = {
  SmsClient: typeof DysmsapiModule.default.default;
  SendSmsRequest: typeof DysmsapiModule.SendSmsRequest;
  CoreClient: typeof OpenApiModule.default.default;
  util: typeof OpenApiModule.$OpenApiUtil;
};
let sdk: Promise<Sdk> | undefined;
function loadSdk(): Promise<Sdk> {
  sdk ??= Promise.all([import('@alicloud/dysmsapi20170525'), import('@alicloud/openapi-core')]).then(([d, c]) => ({
    SmsClient: classOf<typeof DysmsapiModule.default.default>(d.default),
    SendSmsRequest: d.SendSmsRequest,
    CoreClient: classOf<typeof OpenApiModule.default.default>(c.default),
    util: c.$OpenApiUtil,
  }));
  return sdk;
}

function config(util: Sdk['util'], e: AliyunEndpoint) {
  return new util.Config({
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
 * (触发分钟级流控 / 小时级 / 天级, "Permits:1"). isv.DAY_LIMIT_CONTROL: the account's daily cap
 * (触发日发送限额, set in the console), which holds for every number.
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
  return { ok: false, code: code || 'NoCode', message, throttled: throttleOf(code, message), account: code === 'isv.DAY_LIMIT_CONTROL' };
}

function thrown(err: unknown): ProviderAnswer {
  const e = err as { code?: string; message?: string; data?: { Code?: string; Message?: string } };
  const code = e.data?.Code ?? e.code ?? 'RequestFailed';
  const message = e.data?.Message ?? e.message ?? String(err);
  return { ok: false, code, message, throttled: throttleOf(code, message), account: code === 'isv.DAY_LIMIT_CONTROL' };
}

export function createAliyunSms(e: AliyunEndpoint) {
  let made: Promise<{ client: InstanceType<Sdk['SmsClient']>; Request: Sdk['SendSmsRequest'] }> | undefined;
  const ready = () => (made ??= loadSdk().then((m) => ({ client: new m.SmsClient(config(m.util, e)), Request: m.SendSmsRequest })));
  return {
    /** `phone`: mainland 11 digits (SendSms takes them bare) or the international number without +. */
    async send(req: { phone: string; signName: string; templateCode: string; params: Record<string, string>; outId: string }): Promise<ProviderAnswer> {
      try {
        const { client, Request } = await ready();
        const res = await client.sendSms(new Request({
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
  let made: Promise<{ client: InstanceType<Sdk['CoreClient']>; util: Sdk['util'] }> | undefined;
  const ready = () => (made ??= loadSdk().then((m) => ({ client: new m.CoreClient(config(m.util, e)), util: m.util })));
  return {
    async call(req: { phone: string; showNumber?: string | undefined; ttsCode: string; params: Record<string, string>; playTimes: number; outId: string }): Promise<ProviderAnswer> {
      const query: Record<string, string> = {
        CalledNumber: req.phone, TtsCode: req.ttsCode, TtsParam: JSON.stringify(req.params), PlayTimes: String(req.playTimes), OutId: req.outId,
      };
      if (req.showNumber) query.CalledShowNumber = req.showNumber;
      try {
        const { client, util } = await ready();
        const params = new util.Params({
          action: 'SingleCallByTts', version: '2017-05-25', protocol: e.protocol.toUpperCase(), pathname: '/', method: 'POST',
          authType: 'AK', style: 'RPC', reqBodyType: 'formData', bodyType: 'json',
        });
        const res = (await client.callApi(params, new util.OpenApiRequest({ query }), {} as never)) as { body?: { Code?: string; Message?: string; CallId?: string } };
        return answer({ code: res.body?.Code, message: res.body?.Message }, res.body?.CallId);
      } catch (err) {
        return thrown(err);
      }
    },
  };
}
