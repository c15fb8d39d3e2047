// The demo's phones (issue 19 point 7): a stand-in for Alibaba Cloud's SMS and voice API on the
// demo's catcher port, so the sms and voice channels send through their real SDK to something a
// newcomer can watch. Each number gets a phone on the catcher page: texts as bubbles, calls as
// incoming calls read out, with what a person would do — reply 1, answer and press 1, let it ring
// — published on the bus as the provider's callback would be (contracts/channels.ts).
//
// Demo only: it takes the SDK's requests without checking their signature (the tests' fake provider,
// tests/support/providers.ts, checks it) and answers as Alibaba documents.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ChannelInbound } from '../contracts/channels.ts';

export interface PhoneEvent {
  readonly id: number;
  readonly kind: 'sms' | 'call';
  /** E.164. */
  readonly to: string;
  readonly text: string;
  readonly signName: string | undefined;
  /** BizId / CallId we answered with: receipts and keypresses name it. */
  readonly providerId: string;
  readonly at: number;
  /** What the person did with it on the catcher page. */
  outcome?: 'replied' | 'pressed' | 'no_answer' | 'answered';
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function createPhoneCatcher(deps: { onInbound: (e: ChannelInbound) => void; keep?: number; now?: () => number }) {
  const now = deps.now ?? Date.now;
  const keep = deps.keep ?? 300;
  const events: PhoneEvent[] = [];
  let seq = 0;

  function json(res: ServerResponse, body: unknown): void {
    res.writeHead(200, { 'content-type': 'application/json;charset=utf-8' }).end(JSON.stringify(body));
  }

  function textOf(raw: string | null): string {
    try {
      const p = JSON.parse(raw ?? '{}') as Record<string, unknown>;
      return Object.values(p).map(String).join(' ');
    } catch {
      return raw ?? '';
    }
  }

  function add(e: Omit<PhoneEvent, 'id' | 'at'>): PhoneEvent {
    const full = { ...e, id: ++seq, at: now() };
    events.unshift(full);
    if (events.length > keep) events.length = keep;
    return full;
  }

  /** Alibaba's RPC actions as @alicloud/openapi-core sends them: the action in a header, the fields in the query. */
  function provider(req: IncomingMessage, res: ServerResponse): void {
    const action = String(req.headers['x-acs-action']);
    const q = new URL(req.url ?? '/', 'http://catcher').searchParams;
    const requestId = `DEMO-${seq + 1}`;
    if (action === 'SendSms') {
      const e = add({ kind: 'sms', to: `+86${(q.get('PhoneNumbers') ?? '').slice(-11)}`, text: textOf(q.get('TemplateParam')), signName: q.get('SignName') ?? undefined, providerId: `${800000 + seq + 1}^0` });
      return json(res, { Code: 'OK', Message: 'OK', BizId: e.providerId, RequestId: requestId });
    }
    if (action === 'SingleCallByTts') {
      const e = add({ kind: 'call', to: `+86${q.get('CalledNumber') ?? ''}`, text: textOf(q.get('TtsParam')), signName: undefined, providerId: `${116000 + seq + 1}^demo` });
      return json(res, { Code: 'OK', Message: 'OK', CallId: e.providerId, RequestId: requestId });
    }
    res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ Code: 'InvalidAction.NotFound', RequestId: requestId }));
  }

  /** A button on a phone: what the person did, as the provider would report it. */
  function act(id: number, action: string): void {
    const e = events.find((x) => x.id === id);
    if (!e) return;
    const at = now();
    if (e.kind === 'sms' && action === 'reply') {
      e.outcome = 'replied';
      deps.onInbound({ kind: 'reply', channel: 'sms', provider: 'aliyun', from: e.to, text: '1', at });
    } else if (e.kind === 'call' && action === 'press') {
      e.outcome = 'pressed';
      deps.onInbound({ kind: 'receipt', channel: 'voice', provider: 'aliyun', status: 'answered', providerId: e.providerId, at });
      deps.onInbound({ kind: 'keypress', channel: 'voice', provider: 'aliyun', providerId: e.providerId, digits: '1', at });
    } else if (e.kind === 'call' && action === 'answer') {
      e.outcome = 'answered';
      deps.onInbound({ kind: 'receipt', channel: 'voice', provider: 'aliyun', status: 'answered', providerId: e.providerId, at });
    } else if (e.kind === 'call' && action === 'no_answer') {
      e.outcome = 'no_answer';
      deps.onInbound({ kind: 'receipt', channel: 'voice', provider: 'aliyun', status: 'no_answer', providerId: e.providerId, at, detail: '000001 用户未接听' });
    }
  }

  const OUTCOME = { replied: '已回复 1', pressed: '已接听并按 1', answered: '已接听', no_answer: '未接听' } as const;

  function item(e: PhoneEvent): string {
    const time = new Date(e.at).toLocaleTimeString('zh-CN', { hour12: false });
    const button = (action: string, label: string) => `<form method="post" action="/phones/${e.id}/${action}"><button>${label}</button></form>`;
    const actions = e.outcome ? `<p class="done">${OUTCOME[e.outcome]}</p>`
      : e.kind === 'sms' ? button('reply', '回复 1')
        : `${button('press', '接听并按 1')}${button('answer', '接听')}${button('no_answer', '未接听')}`;
    return e.kind === 'sms'
      ? `<div class="sms" data-kind="sms"><small>短信 · ${time}</small><p>${e.signName ? `【${esc(e.signName)}】` : ''}${esc(e.text)}</p>${actions}</div>`
      : `<div class="call" data-kind="call"><small>☎ 来电 · 语音通知 · ${time}</small><p>“${esc(e.text)}”</p>${actions}</div>`;
  }

  return {
    events: () => events as readonly PhoneEvent[],
    /** True when this request was ours to answer. */
    handle(req: IncomingMessage, res: ServerResponse): boolean {
      if (req.method === 'POST' && req.headers['x-acs-action']) {
        // The body carries nothing the RPC actions need; drain it before answering.
        req.resume();
        req.on('end', () => provider(req, res));
        return true;
      }
      const m = req.method === 'POST' ? /^\/phones\/(\d+)\/(reply|press|answer|no_answer)$/.exec(req.url ?? '') : null;
      if (m) {
        req.resume();
        act(Number(m[1]), m[2]!);
        res.writeHead(303, { location: '/#phones' }).end();
        return true;
      }
      if (req.url === '/api/phones') {
        json(res, events);
        return true;
      }
      return false;
    },
    /** The phones section of the catcher page: one phone per number, newest first. */
    section(): string {
      const byPhone = new Map<string, PhoneEvent[]>();
      for (const e of events) byPhone.set(e.to, [...(byPhone.get(e.to) ?? []), e]);
      const phones = [...byPhone].map(([to, list]) => `<div class="phone" data-phone="${esc(to)}"><header>${esc(to)}</header>${list.slice(0, 20).map(item).join('')}</div>`).join('');
      return `<h2 id="phones">Phones (SMS and voice calls via the Alibaba Cloud stand-in)</h2><p>${events.length} text(s) and call(s).</p><div class="phones">${phones}</div>`;
    },
    style: '.phones{display:flex;flex-wrap:wrap;gap:1em}.phone{width:300px;background:#000;border:8px solid #333;border-radius:28px;padding:1em .7em;max-height:560px;overflow:auto}'
      + '.phone header{text-align:center;color:#aaa;margin-bottom:.6em}.sms{background:#2b2b2e;border-radius:14px;padding:.5em .7em;margin:.5em 0}.call{background:#113a1c;border-radius:14px;padding:.5em .7em;margin:.5em 0}'
      + '.phone small{color:#999}.phone p{margin:.3em 0;overflow-wrap:anywhere}.phone form{display:inline}.phone button{margin:.2em .3em 0 0}.done{color:#8fd19e}',
  };
}

export type PhoneCatcher = ReturnType<typeof createPhoneCatcher>;
