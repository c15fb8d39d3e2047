// Issue 19 point 5: the page behind the one-tap link in an SMS, an email or an IM message. No login:
// the signed token is the permission, for this one incident and this one action. GET only shows
// the incident and a button — mail and chat apps fetch links to preview them, and a preview must
// not acknowledge a fire nobody has seen — and POST acknowledges. Plain HTML, no script, the
// console's strict CSP; in the recipient's language, the other one a tap away.
import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import type { AckLinkView, AckLinks } from '../../contracts/incidents.ts';
import type { App } from '../kit.ts';

const WORDS = {
  'zh-CN': {
    title: '确认接警', button: '我已知晓，确认接警', level: { red: '红色警情', yellow: '黄色警情', green: '绿色' },
    opened: '发生时间', to: (name: string, ch: string) => `发给 ${name}（${ch}）`,
    ready: '请确认您已知晓此警情。确认后，其他人将不再被依次呼叫。',
    done: '已确认接警，谢谢。值班中心可看到是您通过此链接确认的。',
    already: '此警情已有人确认接警，无需再次确认。',
    closed: '此警情已处置完毕。', expired: '此链接已过期。如仍需处置，请致电值班中心。', invalid: '此链接无效。',
    other: 'English',
  },
  en: {
    title: 'Acknowledge alarm', button: 'I have seen it — acknowledge', level: { red: 'RED ALERT', yellow: 'YELLOW ALERT', green: 'GREEN' },
    opened: 'Opened', to: (name: string, ch: string) => `Sent to ${name} (${ch})`,
    ready: 'Please confirm you have seen this alarm. Once acknowledged, nobody else is called in turn.',
    done: 'Acknowledged, thank you. The center sees that you acknowledged it with this link.',
    already: 'Someone has already acknowledged this alarm; nothing more to do here.',
    closed: 'This alarm has been dealt with and closed.', expired: 'This link has expired. If help is still needed, call the center.', invalid: 'This link is not valid.',
    other: '中文',
  },
} as const;

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function time(ms: number, tz: string, lang: 'zh-CN' | 'en'): string {
  return new Intl.DateTimeFormat(lang === 'en' ? 'en-GB' : 'zh-CN', { timeZone: tz, dateStyle: 'medium', timeStyle: 'short' }).format(ms);
}

export function ackPage(v: AckLinkView, token: string, lang: 'zh-CN' | 'en'): string {
  const w = WORDS[lang];
  const i = v.incident;
  const other = lang === 'en' ? 'zh-CN' : 'en';
  const self = `/ack/${encodeURIComponent(token)}`;
  const body = i ? `
      <p class="ack-level ${i.level}">${esc(w.level[i.level])}</p>
      <h2>${esc(lang === 'en' ? i.title.en : i.title.zh)}</h2>
      <p>${esc(i.siteName)}${i.address ? ` · ${esc(i.address)}` : ''}</p>
      <p class="muted">${esc(w.opened)}: ${esc(time(i.openedAt, i.timezone, lang))}${v.recipientName ? ` · ${esc(w.to(v.recipientName, (lang === 'en' ? v.channelName?.en : v.channelName?.zh) ?? v.channel ?? ''))}` : ''}</p>` : '';
  const action = v.status === 'ready'
    ? `<form method="post" action="${self}?lang=${lang}"><button type="submit" class="btn primary big" id="ack">${esc(w.button)}</button></form>`
    : '';
  return `<!doctype html>
<html lang="${lang}">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <meta name="robots" content="noindex">
  <title>${esc(w.title)} · Watchfire 守望</title>
  <link rel="stylesheet" href="/css/base.css">
  <link rel="stylesheet" href="/css/login.css">
</head>
<body>
  <main class="login">
    <section class="login-card ack" data-status="${v.status}">
      <h1>${esc(w.title)}</h1>${body}
      <p id="status" role="status">${esc(w[v.status])}</p>
      ${action}
      <p class="lang-switch center"><a href="${self}?lang=${other}">${esc(w.other)}</a></p>
    </section>
  </main>
</body>
</html>`;
}

export function ackRoutes(app: App, links: AckLinks): void {
  // The button posts a form with no fields; the token in the path is all it carries.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 1024 }, (_req, _body, done) => done(null, {}));
  const langOf = (q: z.infer<typeof Query>, v: AckLinkView): 'zh-CN' | 'en' => q.lang ?? v.locale;
  const send = (reply: FastifyReply, v: AckLinkView, token: string, lang: 'zh-CN' | 'en') => reply
    .code(v.status === 'invalid' ? 404 : v.status === 'expired' ? 410 : 200)
    .header('content-type', 'text/html; charset=utf-8')
    .header('cache-control', 'no-store')
    .header('content-security-policy', "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
    .send(ackPage(v, token, lang));
  const Params = z.object({ token: z.string().max(64) });
  const Query = z.object({ lang: z.enum(['zh-CN', 'en']).optional() });

  app.route({
    method: 'GET',
    url: '/ack/:token',
    config: { roles: 'public' },
    schema: { hide: true, params: Params, querystring: Query },
    handler: async (req, reply) => {
      const { token } = req.params;
      const v = await links.inspect(token);
      return send(reply, v, token, langOf(req.query, v));
    },
  });
  app.route({
    method: 'POST',
    url: '/ack/:token',
    config: { roles: 'public' },
    bodyLimit: 1024,
    schema: { hide: true, params: Params, querystring: Query },
    handler: async (req, reply) => {
      const { token } = req.params;
      const v = await links.redeem(token);
      req.log.info({ status: v.status, incident: v.incident?.id, channel: v.channel }, 'acknowledge link used');
      return send(reply, v, token, langOf(req.query, v));
    },
  });
}
