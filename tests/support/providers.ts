// A fake of the providers the sms, voice, wecom and dingtalk channels talk to, on a free loopback
// port: Alibaba Cloud's SMS and voice OpenAPI (RPC style, ACS3-HMAC-SHA256 as the
// @alicloud/openapi-core SDK signs), Tencent Cloud's SMS and VMS API 3.0 (TC3-HMAC-SHA256), the
// WeCom group robot and the DingTalk custom robot (signed timestamp). Each request's signature
// is checked by the provider's documented algorithm, written here independently of the SDKs; its
// fields are checked as documented (phone formats, template params JSON); it answers as the
// provider does and can be told to fail, throttle or hang. The demo's catcher shows `messages`.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { Agent, createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';

/** throttle: this number's limit; daycap: the account's daily cap (SMS), which holds for every number. */
export type FakeMode = 'ok' | 'fail' | 'throttle' | 'daycap' | 'hang';
export type FakeService = 'aliyun.sms' | 'aliyun.voice' | 'tencent.sms' | 'tencent.voice' | 'wecom' | 'dingtalk';

/** One message or call as the provider took it (signature already verified). */
export interface FakeMessage {
  readonly service: FakeService;
  /** E.164 of the phone, or the robot's key / access token. */
  readonly to: string;
  /** The template id (TemplateCode, TtsCode, TemplateId) or the robot message type. */
  readonly template: string;
  /** Template variables by name (Alibaba) or position (Tencent, keys "1", "2", …). */
  readonly params: Readonly<Record<string, string>>;
  /** The text as the person would see or hear it: a robot's text, or the params joined. */
  readonly text: string;
  readonly signName?: string | undefined;
  /** OutId / SessionContext: the outbox id Watchfire passed. */
  readonly outId?: string | undefined;
  /** The robot's @mentions. */
  readonly mentions?: readonly string[] | undefined;
  /** The id the provider answered with (BizId, CallId, SerialNo). */
  readonly providerId: string;
  readonly at: number;
}

export interface FakeCredentials {
  aliyun: { accessKeyId: string; accessKeySecret: string };
  tencent: { secretId: string; secretKey: string };
  /** DingTalk robot secrets by access token. */
  dingtalk: Record<string, string>;
}

export const FAKE_CREDENTIALS: FakeCredentials = {
  aliyun: { accessKeyId: 'LTAI5tFakeAccessKeyId', accessKeySecret: 'fake-aliyun-access-key-secret-0123' },
  tencent: { secretId: 'AKIDfakeTencentSecretId0123456789', secretKey: 'fake-tencent-secret-key-0123456789' },
  dingtalk: { 'dt-token-1': 'SECfake-dingtalk-robot-secret-0123456789' },
};

/** Alibaba SendSms: mainland numbers as 11 digits, optionally +86/86/0086 (SendSms documentation). */
const ALIYUN_PHONE = /^(?:\+?86|0086)?1[3-9]\d{9}$/;
/** Tencent SendSms / SendTtsVoice: E.164 with + (e.g. +8613711112222). */
const E164 = /^\+[1-9]\d{6,14}$/;

function percent(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function sha256hex(b: Buffer | string): string {
  return createHash('sha256').update(b).digest('hex');
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Alibaba Cloud V3 request signature (ACS3-HMAC-SHA256, help.aliyun.com "V3版本请求体&签名机制"):
 * CanonicalRequest = method \n URI \n sorted query (RFC 3986) \n host, content-type and x-acs-*
 * headers, lower-case and sorted, `name:value\n` \n signed header names \n hex SHA-256 of the body;
 * StringToSign = "ACS3-HMAC-SHA256\n" + hex SHA-256 of that; Signature = hex HMAC-SHA256(secret).
 */
export function verifyAcs3(req: IncomingMessage, body: Buffer, secretOf: (keyId: string) => string | undefined): string | undefined {
  const auth = String(req.headers.authorization ?? '');
  const m = /^ACS3-HMAC-SHA256 Credential=([^,]+),SignedHeaders=([^,]+),Signature=([0-9a-f]{64})$/.exec(auth);
  if (!m) return 'no ACS3-HMAC-SHA256 Authorization header';
  const secret = secretOf(m[1]!);
  if (!secret) return `unknown AccessKeyId ${m[1]}`;
  if (req.headers['x-acs-content-sha256'] !== sha256hex(body)) return 'x-acs-content-sha256 does not match the body';
  const signed = m[2]!.split(';');
  for (const h of ['host', 'x-acs-action', 'x-acs-version', 'x-acs-date', 'x-acs-signature-nonce', 'x-acs-content-sha256']) {
    if (!signed.includes(h)) return `header ${h} is not signed`;
  }
  const url = new URL(req.url ?? '/', 'http://fake');
  const query = [...url.searchParams.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => `${percent(k)}=${percent(v)}`).join('&');
  const headers = signed.map((h) => `${h}:${String(req.headers[h] ?? '').trim()}\n`).join('');
  const canonical = `${req.method}\n${url.pathname}\n${query}\n${headers}\n${signed.join(';')}\n${sha256hex(body)}`;
  const expected = createHmac('sha256', secret).update(`ACS3-HMAC-SHA256\n${sha256hex(canonical)}`).digest('hex');
  return safeEqual(expected, m[3]!) ? undefined : 'signature does not match';
}

/**
 * Tencent Cloud API 3.0 signature (TC3-HMAC-SHA256, cloud.tencent.com/document/api/382/52072):
 * CanonicalRequest = method \n / \n query \n content-type and host headers \n "content-type;host"
 * \n hex SHA-256 of the payload; StringToSign = algorithm \n timestamp \n date/service/tc3_request
 * \n hex SHA-256 of that; the key is derived HMAC("TC3"+key, date) → service → "tc3_request".
 */
export function verifyTc3(req: IncomingMessage, body: Buffer, secretOf: (id: string) => string | undefined, service: string): string | undefined {
  const auth = String(req.headers.authorization ?? '');
  const m = /^TC3-HMAC-SHA256 Credential=([^/]+)\/(\d{4}-\d{2}-\d{2})\/([a-z]+)\/tc3_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$/.exec(auth);
  if (!m) return 'no TC3-HMAC-SHA256 Authorization header';
  const [, id, date, svc, signedHeaders, signature] = m as unknown as [string, string, string, string, string, string];
  const secret = secretOf(id);
  if (!secret) return `unknown SecretId ${id}`;
  if (svc !== service) return `credential scope names service ${svc}, not ${service}`;
  const ts = Number(req.headers['x-tc-timestamp']);
  if (!Number.isInteger(ts) || Math.abs(ts * 1000 - Date.now()) > 5 * 60_000) return 'X-TC-Timestamp missing or more than 5 minutes off';
  if (new Date(ts * 1000).toISOString().slice(0, 10) !== date) return 'credential date is not the UTC date of X-TC-Timestamp';
  const signed = signedHeaders.split(';');
  if (!signed.includes('host') || !signed.includes('content-type')) return 'host and content-type must be signed';
  const headers = signed.map((h) => `${h}:${String(req.headers[h] ?? '').trim().toLowerCase()}\n`).join('');
  const canonical = `${req.method}\n/\n\n${headers}\n${signedHeaders}\n${sha256hex(body)}`;
  const scope = `${date}/${service}/tc3_request`;
  const stringToSign = `TC3-HMAC-SHA256\n${ts}\n${scope}\n${sha256hex(canonical)}`;
  const kDate = createHmac('sha256', `TC3${secret}`).update(date).digest();
  const kService = createHmac('sha256', kDate).update(service).digest();
  const kSigning = createHmac('sha256', kService).update('tc3_request').digest();
  const expected = createHmac('sha256', kSigning).update(stringToSign).digest('hex');
  return safeEqual(expected, signature) ? undefined : 'signature does not match';
}

/** DingTalk custom robot (open.dingtalk.com "自定义机器人安全设置" 加签): Base64(HMAC-SHA256(secret, timestamp + "\n" + secret)). */
export function dingtalkSign(secret: string, timestamp: number | string): string {
  return createHmac('sha256', secret).update(`${timestamp}\n${secret}`).digest('base64');
}

export interface FakeProviders {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  /** host:port, for the SDKs' endpoint settings. */
  readonly host: string;
  readonly messages: FakeMessage[];
  /** Requests refused, with the reason (a bad signature, a malformed field). */
  readonly refused: Array<{ service: string; reason: string }>;
  /** Requests per service, whatever their answer. */
  readonly requests: Record<string, number>;
  setMode(service: FakeService, mode: FakeMode): void;
  /** Resolves when `messages` satisfies the probe (checked on every accepted message). */
  waitFor(probe: (ms: FakeMessage[]) => boolean, what: string, timeoutMs?: number): Promise<FakeMessage[]>;
  stop(): Promise<void>;
}

export async function startFakeProviders(creds: FakeCredentials = FAKE_CREDENTIALS): Promise<FakeProviders> {
  const messages: FakeMessage[] = [];
  const refused: Array<{ service: string; reason: string }> = [];
  const requests: Record<string, number> = {};
  const modes = new Map<FakeService, FakeMode>();
  const waiters = new Set<() => void>();
  const hanging = new Set<ServerResponse>();
  let seq = 0;

  function accept(m: Omit<FakeMessage, 'providerId' | 'at'>, providerId: string): FakeMessage {
    const full = { ...m, providerId, at: Date.now() };
    messages.push(full);
    for (const w of [...waiters]) w();
    return full;
  }

  function json(res: ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { 'content-type': 'application/json;charset=utf-8' });
    res.end(JSON.stringify(body));
  }

  function aliyun(req: IncomingMessage, res: ServerResponse, body: Buffer): void {
    const action = String(req.headers['x-acs-action'] ?? '');
    const service: FakeService = action === 'SendSms' ? 'aliyun.sms' : 'aliyun.voice';
    requests[service] = (requests[service] ?? 0) + 1;
    const requestId = `FAKE-${++seq}`;
    const bad = verifyAcs3(req, body, (id) => (id === creds.aliyun.accessKeyId ? creds.aliyun.accessKeySecret : undefined));
    if (bad) {
      refused.push({ service, reason: bad });
      json(res, 400, { Code: bad.startsWith('unknown') ? 'InvalidAccessKeyId.NotFound' : 'IncompleteSignature', Message: bad, RequestId: requestId });
      return;
    }
    if (req.headers['x-acs-version'] !== '2017-05-25') {
      refused.push({ service, reason: `version ${String(req.headers['x-acs-version'])}` });
      json(res, 400, { Code: 'InvalidVersion', Message: 'Specified parameter Version is not valid.', RequestId: requestId });
      return;
    }
    const mode = modes.get(service) ?? 'ok';
    if (mode === 'hang') return void hanging.add(res);
    if (mode === 'fail') return json(res, 503, { Code: 'ServiceUnavailable', Message: 'The request has failed due to a temporary failure of the server.', RequestId: requestId });
    const q = Object.fromEntries(new URL(req.url ?? '/', 'http://fake').searchParams);
    const isvError = (code: string, message: string) => json(res, 200, { Code: code, Message: message, RequestId: requestId });
    if (action === 'SendSms') {
      const phone = q.PhoneNumbers ?? '';
      if (!ALIYUN_PHONE.test(phone)) return isvError('isv.MOBILE_NUMBER_ILLEGAL', `非法手机号 ${phone}`);
      if (!q.SignName) return isvError('isv.SMS_SIGNATURE_ILLEGAL', '签名不合法');
      if (!/^SMS_\d+$/.test(q.TemplateCode ?? '')) return isvError('isv.SMS_TEMPLATE_ILLEGAL', '模板不合法');
      let params: Record<string, string>;
      try {
        params = JSON.parse(q.TemplateParam ?? '{}') as Record<string, string>;
        if (typeof params !== 'object' || params === null || Array.isArray(params) || Object.values(params).some((v) => typeof v !== 'string')) throw new Error('not an object of strings');
      } catch {
        return isvError('isv.INVALID_JSON_PARAM', 'JSON参数不合法，只接受字符串值');
      }
      if (Object.values(params).some((v) => v.length > 35)) return isvError('isv.PARAM_LENGTH_LIMIT', '参数超出长度限制');
      if (mode === 'throttle') return isvError('isv.BUSINESS_LIMIT_CONTROL', '触发号码天级流控Permits:10');
      if (mode === 'daycap') return isvError('isv.DAY_LIMIT_CONTROL', '触发日发送限额');
      const bizId = `${900000 + seq}^0`;
      accept({ service, to: `+86${phone.slice(-11)}`, template: q.TemplateCode!, params, text: Object.values(params).join(' '), signName: q.SignName, outId: q.OutId }, bizId);
      return json(res, 200, { Code: 'OK', Message: 'OK', BizId: bizId, RequestId: requestId });
    }
    if (action === 'SingleCallByTts') {
      const phone = q.CalledNumber ?? '';
      if (!/^1[3-9]\d{9}$|^0\d{9,11}$/.test(phone)) return isvError('isv.MOBILE_NUMBER_ILLEGAL', `被叫号码不合法 ${phone}`);
      if (!/^TTS_\d+$/.test(q.TtsCode ?? '')) return isvError('isv.TTS_TEMPLATE_ILLEGAL', '文本转语音模板不合法');
      let params: Record<string, string>;
      try {
        params = JSON.parse(q.TtsParam ?? '{}') as Record<string, string>;
        if (typeof params !== 'object' || params === null || Array.isArray(params)) throw new Error('not an object');
      } catch {
        return isvError('isv.INVALID_JSON_PARAM', 'JSON参数不合法');
      }
      if (mode === 'throttle') return isvError('isv.BUSINESS_LIMIT_CONTROL', '触发号码流控');
      const callId = `${116000 + seq}^${seq}`;
      accept({ service, to: `+86${phone}`, template: q.TtsCode!, params, text: Object.values(params).join(' '), outId: q.OutId }, callId);
      return json(res, 200, { Code: 'OK', Message: 'OK', CallId: callId, RequestId: requestId });
    }
    refused.push({ service, reason: `action ${action}` });
    json(res, 404, { Code: 'InvalidAction.NotFound', Message: `Specified api ${action} is not found`, RequestId: requestId });
  }

  function tencent(req: IncomingMessage, res: ServerResponse, body: Buffer): void {
    const action = String(req.headers['x-tc-action'] ?? '');
    const svc = action === 'SendSms' ? 'sms' : 'vms';
    const service: FakeService = svc === 'sms' ? 'tencent.sms' : 'tencent.voice';
    requests[service] = (requests[service] ?? 0) + 1;
    const requestId = `fake-${++seq}`;
    const error = (code: string, message: string) => json(res, 200, { Response: { Error: { Code: code, Message: message }, RequestId: requestId } });
    const bad = verifyTc3(req, body, (id) => (id === creds.tencent.secretId ? creds.tencent.secretKey : undefined), svc);
    if (bad) {
      refused.push({ service, reason: bad });
      return error(bad.startsWith('unknown') ? 'AuthFailure.SecretIdNotFound' : 'AuthFailure.SignatureFailure', bad);
    }
    const version = svc === 'sms' ? '2021-01-11' : '2020-09-02';
    if (req.headers['x-tc-version'] !== version) return error('InvalidParameter', `version ${String(req.headers['x-tc-version'])}`);
    const mode = modes.get(service) ?? 'ok';
    if (mode === 'hang') return void hanging.add(res);
    if (mode === 'fail') return error('InternalError.Timeout', '请求下发短信超时');
    let p: Record<string, unknown>;
    try {
      p = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
    } catch {
      return error('InvalidParameter', 'body is not JSON');
    }
    const paramSet = p.TemplateParamSet;
    if (paramSet !== undefined && (!Array.isArray(paramSet) || paramSet.some((v) => typeof v !== 'string'))) return error('InvalidParameterValue.TemplateParameterFormatError', '验证码模板参数格式错误');
    const params = Object.fromEntries(((paramSet ?? []) as string[]).map((v, i) => [String(i + 1), v]));
    if (action === 'SendSms') {
      const phones = p.PhoneNumberSet;
      if (!Array.isArray(phones) || phones.length !== 1) return error('InvalidParameterValue.IncorrectPhoneNumber', '手机号格式错误');
      if (typeof p.SmsSdkAppId !== 'string' || !/^\d+$/.test(p.SmsSdkAppId)) return error('InvalidParameterValue.SdkAppIdNotExist', 'SdkAppId 不存在');
      if (typeof p.TemplateId !== 'string' || !/^\d+$/.test(p.TemplateId)) return error('InvalidParameterValue.TemplateIdNotExist', '模板 ID 不存在');
      if (typeof p.SignName !== 'string' || !p.SignName) return error('MissingParameter.EmptyPhoneNumberSet', '签名为空');
      const phone = String(phones[0]);
      const serialNo = `2645:${100000 + seq}`;
      const status = (code: string, message: string) => json(res, 200, { Response: { SendStatusSet: [{ SerialNo: code === 'Ok' ? serialNo : '', PhoneNumber: phone, Fee: code === 'Ok' ? 1 : 0, SessionContext: p.SessionContext ?? '', Code: code, Message: message, IsoCode: 'CN' }], RequestId: requestId } });
      if (!E164.test(phone)) return status('InvalidParameterValue.IncorrectPhoneNumber', '手机号格式错误');
      if (mode === 'throttle') return status('LimitExceeded.PhoneNumberDailyLimit', '单个手机号日下发短信条数超过设定的上限');
      if (mode === 'daycap') return status('LimitExceeded.AppDailyLimit', '业务短信日下发条数超过设定的上限');
      accept({ service, to: phone, template: p.TemplateId, params, text: Object.values(params).join(' '), signName: p.SignName, outId: typeof p.SessionContext === 'string' ? p.SessionContext : undefined }, serialNo);
      return status('Ok', 'send success');
    }
    if (action === 'SendTtsVoice') {
      const phone = String(p.CalledNumber ?? '');
      if (!E164.test(phone)) return error('InvalidParameterValue.IncorrectPhoneNumber', '手机号格式错误');
      if (typeof p.VoiceSdkAppid !== 'string' || !/^\d+$/.test(p.VoiceSdkAppid)) return error('InvalidParameterValue.SdkAppIdNotExist', 'SdkAppid 不存在');
      if (typeof p.TemplateId !== 'string' || !/^\d+$/.test(p.TemplateId)) return error('InvalidParameterValue.TemplateIdNotExist', '模板 ID 不存在');
      if (mode === 'throttle') return error('LimitExceeded.FrequencyLimit', '频率限制');
      const callId = `fake-call-${seq}`;
      accept({ service, to: phone, template: p.TemplateId, params, text: Object.values(params).join(' '), outId: typeof p.SessionContext === 'string' ? p.SessionContext : undefined }, callId);
      return json(res, 200, { Response: { SendStatus: { CallId: callId, SessionContext: p.SessionContext ?? '' }, RequestId: requestId } });
    }
    refused.push({ service, reason: `action ${action}` });
    error('InvalidAction', `action ${action}`);
  }

  const robotCounts = new Map<string, number[]>();
  /** Both robots allow 20 messages a minute per robot (WeCom and DingTalk documentation). */
  function overRobotLimit(key: string): boolean {
    const now = Date.now();
    const list = (robotCounts.get(key) ?? []).filter((t) => now - t < 60_000);
    robotCounts.set(key, list);
    if (list.length >= 20) return true;
    list.push(now);
    return false;
  }

  function robotText(msg: Record<string, unknown>): { type: string; text: string; mentions: string[] } | undefined {
    const type = String(msg.msgtype ?? '');
    if (type === 'text') {
      const t = msg.text as { content?: unknown; mentioned_mobile_list?: unknown } | undefined;
      if (typeof t?.content !== 'string') return undefined;
      const at = (msg.at as { atMobiles?: unknown } | undefined)?.atMobiles ?? t.mentioned_mobile_list ?? [];
      return { type, text: t.content, mentions: Array.isArray(at) ? at.map(String) : [] };
    }
    if (type === 'markdown') {
      const md = msg.markdown as { content?: unknown; text?: unknown; title?: unknown } | undefined;
      const text = md?.content ?? md?.text;
      if (typeof text !== 'string') return undefined;
      const at = (msg.at as { atMobiles?: unknown } | undefined)?.atMobiles ?? [];
      // WeCom markdown mentions are written inline as <@userid>; mobiles cannot be mentioned there.
      return { type, text, mentions: Array.isArray(at) ? at.map(String) : [] };
    }
    return undefined;
  }

  function wecom(req: IncomingMessage, res: ServerResponse, body: Buffer, url: URL): void {
    requests.wecom = (requests.wecom ?? 0) + 1;
    const key = url.searchParams.get('key') ?? '';
    if (!/^[0-9a-f-]{8,}$/.test(key)) return json(res, 200, { errcode: 93000, errmsg: 'invalid webhook url' });
    const mode = modes.get('wecom') ?? 'ok';
    if (mode === 'hang') return void hanging.add(res);
    if (mode === 'fail') return json(res, 502, { errcode: -1, errmsg: 'system busy' });
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
    } catch {
      return json(res, 200, { errcode: 40035, errmsg: 'invalid parameter' });
    }
    const t = robotText(msg);
    if (!t) return json(res, 200, { errcode: 40008, errmsg: 'invalid message type' });
    if (Buffer.byteLength(t.text) > 4096) return json(res, 200, { errcode: 40058, errmsg: 'markdown.content exceed max length 4096' });
    if (mode === 'throttle' || overRobotLimit(`wecom:${key}`)) return json(res, 200, { errcode: 45009, errmsg: 'api freq out of limit' });
    accept({ service: 'wecom', to: key, template: t.type, params: {}, text: t.text, mentions: t.mentions }, `wecom-${seq++}`);
    json(res, 200, { errcode: 0, errmsg: 'ok' });
  }

  function dingtalk(req: IncomingMessage, res: ServerResponse, body: Buffer, url: URL): void {
    requests.dingtalk = (requests.dingtalk ?? 0) + 1;
    const token = url.searchParams.get('access_token') ?? '';
    const secret = creds.dingtalk[token];
    if (!secret) return json(res, 200, { errcode: 300001, errmsg: 'token is not exist' });
    const ts = url.searchParams.get('timestamp') ?? '';
    const sign = url.searchParams.get('sign') ?? '';
    // DingTalk refuses a timestamp more than an hour from its clock, and a wrong sign (310000).
    if (!/^\d{13}$/.test(ts) || Math.abs(Number(ts) - Date.now()) > 3_600_000) {
      refused.push({ service: 'dingtalk', reason: 'timestamp' });
      return json(res, 200, { errcode: 310000, errmsg: 'invalid timestamp' });
    }
    if (!safeEqual(sign, dingtalkSign(secret, ts))) {
      refused.push({ service: 'dingtalk', reason: 'sign' });
      return json(res, 200, { errcode: 310000, errmsg: 'sign not match' });
    }
    const mode = modes.get('dingtalk') ?? 'ok';
    if (mode === 'hang') return void hanging.add(res);
    if (mode === 'fail') return json(res, 502, { errcode: -1, errmsg: '系统繁忙' });
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
    } catch {
      return json(res, 200, { errcode: 40035, errmsg: '缺少参数 json' });
    }
    const t = robotText(msg);
    if (!t) return json(res, 200, { errcode: 40035, errmsg: '缺少参数 msgtype' });
    if (msg.msgtype === 'markdown' && typeof (msg.markdown as { title?: unknown }).title !== 'string') return json(res, 200, { errcode: 40035, errmsg: '缺少参数 title' });
    if (mode === 'throttle' || overRobotLimit(`dingtalk:${token}`)) return json(res, 200, { errcode: 130101, errmsg: 'send too fast, exceed 20 times per minute' });
    accept({ service: 'dingtalk', to: token, template: t.type, params: {}, text: t.text, mentions: t.mentions }, `dingtalk-${seq++}`);
    json(res, 200, { errcode: 0, errmsg: 'ok' });
  }

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const url = new URL(req.url ?? '/', 'http://fake');
      try {
        if (req.headers['x-acs-action']) aliyun(req, res, body);
        else if (req.headers['x-tc-action']) tencent(req, res, body);
        else if (url.pathname === '/cgi-bin/webhook/send') wecom(req, res, body, url);
        else if (url.pathname === '/robot/send') dingtalk(req, res, body, url);
        else json(res, 404, { error: 'no such fake endpoint' });
      } catch (err) {
        json(res, 500, { error: (err as Error).message });
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    messages,
    refused,
    requests,
    setMode: (service, mode) => {
      modes.set(service, mode);
      if (mode !== 'hang') for (const r of hanging) r.destroy();
    },
    waitFor(probe, what, timeoutMs = 10_000) {
      if (probe(messages)) return Promise.resolve(messages);
      return new Promise((resolve, reject) => {
        const check = () => {
          if (!probe(messages)) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(messages);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`fake providers: timed out waiting for ${what}`));
        }, timeoutMs);
        waiters.add(check);
      });
    },
    async stop() {
      for (const r of hanging) r.destroy();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/**
 * An HTTP agent that sends every request to the fake, whatever its host: the Tencent SDK signs
 * the service named by the endpoint's first label (sms., vms.), so the SDK keeps the real host
 * names and only the socket goes to 127.0.0.1.
 */
export function fakeAgent(fake: Pick<FakeProviders, 'url'>): Agent {
  const port = Number(new URL(fake.url).port);
  return Object.assign(new Agent({ keepAlive: false }), {
    createConnection: () => connect(port, '127.0.0.1'),
  });
}
