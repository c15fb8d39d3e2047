// The providers' callbacks as they document them, parsed into ChannelInbound events (issue 19
// points 2 and 5). Pure: no I/O. Matching to the outbox row is the caller's (ChannelLedger).
//   Alibaba SMS: SmsReport (HTTP batch push: JSON array of {phone_number, success, err_code,
//     err_msg, biz_id, out_id, report_time}) and SmsUp ({phone_number, content, send_time, …}).
//   Alibaba voice: VoiceReport ({call_id, status_code, out_id, dtmf?, …}) and VoiceCallReport
//     ({call_id, status_code, dtmf, out_id}; status 300000 carries the keys pressed).
//   Tencent SMS: status callback (array of {report_status SUCCESS|FAIL, errmsg, description, sid,
//     mobile, nationcode, user_receive_time, ext?}) and reply callback ({mobile, nationcode, text, time, …}).
//   Tencent voice: {voiceprompt_callback: {result 0|1|2, callid, …}}, {voicekey_callback: {callid,
//     keypress, …}}, {voicefailure_callback: {callid, failure_code, failure_reason, …}}.
import type { ChannelInbound, ChannelProvider, ReceiptStatus } from '../../contracts/channels.ts';
import { toE164 } from '../../contracts/channels.ts';

/** An event before matching, with what the ledger needs to match it. */
export type Parsed =
  | { readonly event: Extract<ChannelInbound, { kind: 'receipt' | 'keypress' }>; readonly outboxId?: number | undefined }
  | { readonly event: Extract<ChannelInbound, { kind: 'reply' }>; readonly outboxId?: undefined };

export class CallbackFormatError extends Error {}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '');

function need(o: Obj, key: string): string {
  const v = str(o[key]);
  if (!v) throw new CallbackFormatError(`missing ${key}`);
  return v;
}

/** "2017-01-01 00:00:00" in China time (both providers stamp Beijing time), else `fallback`. */
export function chinaTime(s: string, fallback: number): number {
  const m = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})$/.exec(s);
  if (!m) return fallback;
  const t = Date.parse(`${m[1]}T${m[2]}+08:00`);
  return Number.isFinite(t) ? t : fallback;
}

function unixSeconds(s: string, fallback: number): number {
  return /^\d{9,11}$/.test(s) ? Number(s) * 1000 : fallback;
}

function outboxIdOf(v: unknown): number | undefined {
  const s = str(v);
  return /^\d{1,15}$/.test(s) ? Number(s) : undefined;
}

function list(body: unknown): Obj[] {
  const items = Array.isArray(body) ? body : [body];
  if (!items.every(isObj)) throw new CallbackFormatError('expected an object or an array of objects');
  return items;
}

function receipt(provider: ChannelProvider, channel: 'sms' | 'voice', status: ReceiptStatus, providerId: string, at: number, detail: string, outboxId: number | undefined): Parsed {
  return { event: { kind: 'receipt', channel, provider, status, providerId, at, detail: detail.trim() || undefined }, outboxId };
}

function phoneOf(national: string, nationcode?: string): string {
  const raw = nationcode && nationcode !== '86' ? `+${nationcode}${national}` : national;
  const e164 = toE164(raw);
  if (!e164) throw new CallbackFormatError(`not a phone number: ${raw}`);
  return e164;
}

/** Alibaba call result codes (运营商回执错误码): 200000 heard it all, 200001 hung up early — both answered. */
export function aliyunCallStatus(code: string): ReceiptStatus {
  if (code === '200000' || code === '200001') return 'answered';
  if (code === '200002') return 'busy';
  if (code === '200003') return 'no_answer';
  return 'failed';
}

export type CallbackKind = 'aliyun/sms-report' | 'aliyun/sms-up' | 'aliyun/voice-report' | 'aliyun/voice-call-report' | 'tencent/sms-status' | 'tencent/sms-reply' | 'tencent/voice';
export const CALLBACK_KINDS: readonly CallbackKind[] = ['aliyun/sms-report', 'aliyun/sms-up', 'aliyun/voice-report', 'aliyun/voice-call-report', 'tencent/sms-status', 'tencent/sms-reply', 'tencent/voice'];

export function parseCallback(kind: CallbackKind, body: unknown, now: number): Parsed[] {
  const out: Parsed[] = [];
  switch (kind) {
    case 'aliyun/sms-report':
      for (const o of list(body)) {
        const ok = o.success === true || o.success === 'true';
        out.push(receipt('aliyun', 'sms', ok ? 'delivered' : 'failed', need(o, 'biz_id'), chinaTime(str(o.report_time), now), `${str(o.err_code)} ${str(o.err_msg)}`, outboxIdOf(o.out_id)));
      }
      return out;
    case 'aliyun/sms-up':
      for (const o of list(body)) {
        out.push({ event: { kind: 'reply', channel: 'sms', provider: 'aliyun', from: phoneOf(need(o, 'phone_number')), text: str(o.content), at: chinaTime(str(o.send_time), now) } });
      }
      return out;
    case 'aliyun/voice-report':
      for (const o of list(body)) {
        const callId = need(o, 'call_id');
        const at = chinaTime(str(o.end_time) || str(o.status_time), now);
        out.push(receipt('aliyun', 'voice', aliyunCallStatus(need(o, 'status_code')), callId, at, `${str(o.status_code)} ${str(o.status_msg)}`, outboxIdOf(o.out_id)));
        const dtmf = str(o.dtmf);
        if (dtmf) out.push({ event: { kind: 'keypress', channel: 'voice', provider: 'aliyun', providerId: callId, digits: dtmf, at }, outboxId: outboxIdOf(o.out_id) });
      }
      return out;
    case 'aliyun/voice-call-report':
      // Intermediate states (ringing, answered, ended) come here too; only the keys are news.
      for (const o of list(body)) {
        const dtmf = str(o.dtmf);
        if (str(o.status_code) === '300000' && dtmf) {
          out.push({ event: { kind: 'keypress', channel: 'voice', provider: 'aliyun', providerId: need(o, 'call_id'), digits: dtmf, at: chinaTime(str(o.status_time), now) }, outboxId: outboxIdOf(o.out_id) });
        }
      }
      return out;
    case 'tencent/sms-status':
      for (const o of list(body)) {
        const ok = str(o.report_status) === 'SUCCESS';
        out.push(receipt('tencent', 'sms', ok ? 'delivered' : 'failed', need(o, 'sid'), chinaTime(str(o.user_receive_time), now), `${str(o.errmsg)} ${str(o.description)}`, outboxIdOf(o.ext)));
      }
      return out;
    case 'tencent/sms-reply':
      for (const o of list(body)) {
        out.push({ event: { kind: 'reply', channel: 'sms', provider: 'tencent', from: phoneOf(need(o, 'mobile'), str(o.nationcode)), text: str(o.text), at: unixSeconds(str(o.time), now) } });
      }
      return out;
    case 'tencent/voice':
      for (const o of list(body)) {
        if (isObj(o.voiceprompt_callback)) {
          const c = o.voiceprompt_callback;
          const r = str(c.result);
          const status: ReceiptStatus = r === '0' ? 'answered' : r === '1' ? 'no_answer' : 'failed';
          out.push(receipt('tencent', 'voice', status, need(c, 'callid'), unixSeconds(str(c.end_calltime) || str(c.accept_time), now), `result ${r}`, outboxIdOf(c.ext)));
        } else if (isObj(o.voicekey_callback)) {
          const c = o.voicekey_callback;
          out.push({ event: { kind: 'keypress', channel: 'voice', provider: 'tencent', providerId: need(c, 'callid'), digits: need(c, 'keypress'), at: now } });
        } else if (isObj(o.voicefailure_callback)) {
          const c = o.voicefailure_callback;
          out.push(receipt('tencent', 'voice', 'failed', need(c, 'callid'), now, `${str(c.failure_code)} ${str(c.failure_reason)}`, undefined));
        } else {
          throw new CallbackFormatError('expected voiceprompt_callback, voicekey_callback or voicefailure_callback');
        }
      }
      return out;
    default: {
      const never: never = kind;
      return never;
    }
  }
}
