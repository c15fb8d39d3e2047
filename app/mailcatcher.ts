// A local mail catcher for the demo: an SMTP server on loopback that keeps what it receives and
// shows it on a small web page, so a newcomer sees the escalation emails without a mail account.
// It also stands in for the SMS/voice gateway: webhooks POSTed to /hooks are kept and shown; and,
// given phones (phonecatcher.ts), for Alibaba Cloud's SMS and voice API, shown as phones.
import { createServer as createHttp, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { simpleParser } from 'mailparser';
import type { PhoneCatcher } from './phonecatcher.ts';

export interface CaughtMail extends ReceivedMail {
  id: number;
  at: number;
}

export interface ReceivedMail {
  from: string;
  to: string[];
  subject: string;
  text: string;
  html: string | undefined;
  messageId: string | undefined;
}

/** An SMTP server on loopback terms (no TLS, no auth) that parses each message it receives. */
export function catchingSmtpServer(onMail: (m: ReceivedMail) => void): SMTPServer {
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, session, callback) {
      simpleParser(stream)
        .then((m) => {
          onMail({
            from: m.from?.text ?? '',
            to: session.envelope.rcptTo.map((r) => r.address),
            subject: m.subject ?? '',
            text: m.text ?? '',
            html: typeof m.html === 'string' ? m.html : undefined,
            messageId: m.messageId,
          });
          callback();
        })
        .catch((err: Error) => callback(err));
    },
  });
  // smtp-server emits a client's socket error (ECONNRESET when a sender dies mid-session, as the
  // crash test's kill -9 does) on the server: unheard, it would end the whole process.
  server.on('error', () => undefined);
  return server;
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function createMailCatcher(deps: { host?: string; smtpPort?: number; httpPort?: number; keep?: number; phones?: PhoneCatcher }) {
  const host = deps.host ?? '127.0.0.1';
  const keep = deps.keep ?? 500;
  const mails: CaughtMail[] = [];
  const hooks: Array<{ at: number; body: string }> = [];
  let nextId = 1;
  const smtp = catchingSmtpServer((m) => {
    mails.unshift({ id: nextId++, at: Date.now(), ...m });
    if (mails.length > keep) mails.length = keep;
  });
  let http: HttpServer | undefined;

  function page(): string {
    const rows = mails
      .map((m) => `<details><summary><b>${esc(m.subject)}</b> — ${esc(m.to.join(', '))} <small>${new Date(m.at).toLocaleString()}</small></summary>${m.html ?? `<pre>${esc(m.text)}</pre>`}</details>`)
      .join('\n');
    const hookRows = hooks
      .slice(0, 50)
      .map((h) => `<details><summary>${new Date(h.at).toLocaleString()} — ${esc(h.body.slice(0, 120))}</summary><pre>${esc(h.body)}</pre></details>`)
      .join('\n');
    return `<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="10"><title>Watchfire demo mail</title>
<style>body{font:14px system-ui;background:#111;color:#ddd;margin:2em}details{background:#1c1c1c;margin:.5em 0;padding:.6em;border-radius:6px}summary{cursor:pointer}${deps.phones?.style ?? ''}</style>
${deps.phones ? deps.phones.section() : ''}
<h1>Demo mail catcher</h1><p>${mails.length} message(s); newest first; refreshes every 10 s.</p>${rows}
<h2>Webhooks (SMS / voice gateway stand-in)</h2><p>${hooks.length} received.</p>${hookRows}`;
  }

  return {
    mails: () => mails as readonly CaughtMail[],
    async start(): Promise<{ smtpPort: number; httpPort: number }> {
      await new Promise<void>((res, rej) => {
        smtp.once('error', rej);
        smtp.listen(deps.smtpPort ?? 0, host, () => res());
      });
      http = createHttp((req, res) => {
        if (deps.phones?.handle(req, res)) return;
        if (req.method === 'POST' && req.url?.startsWith('/hooks')) {
          const chunks: Buffer[] = [];
          req.on('data', (c: Buffer) => chunks.push(c));
          req.on('end', () => {
            hooks.unshift({ at: Date.now(), body: Buffer.concat(chunks).toString('utf8') });
            if (hooks.length > keep) hooks.length = keep;
            res.writeHead(204).end();
          });
          return;
        }
        if (req.url === '/api/hooks') {
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(hooks));
          return;
        }
        if (req.url === '/api/mails') {
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(mails));
          return;
        }
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page());
      });
      await new Promise<void>((res) => http!.listen(deps.httpPort ?? 0, host, () => res()));
      return {
        smtpPort: (smtp.server.address() as AddressInfo).port,
        httpPort: (http.address() as AddressInfo).port,
      };
    },
    async stop(): Promise<void> {
      await new Promise<void>((res) => smtp.close(() => res()));
      if (http) await new Promise<void>((res) => http!.close(() => res()));
    },
  };
}
