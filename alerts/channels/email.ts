// Email through nodemailer: HTML and text, the recipient's language, a stable Message-ID per
// outbox row so a receiver (or a person) can tell a retried copy from a new message.
import nodemailer from 'nodemailer';
import type { Config } from '../../contracts/config.ts';
import { WatchfireError } from '../../contracts/errors.ts';
import type { Channel } from './types.ts';

export type SmtpConfig = NonNullable<Config['alerts']['smtp']>;

export function createEmailChannel(deps: { smtp: SmtpConfig; timeoutMs?: number }): Channel {
  const { smtp } = deps;
  const timeout = deps.timeoutMs ?? 15_000;
  // Not pooled: one connection per message leaves no socket open between alarms, and a dead
  // server costs one refused connection per attempt, not a stuck pool.
  const transport = nodemailer.createTransport({
    host: smtp.host,
    port: smtp.port,
    secure: smtp.secure,
    ignoreTLS: smtp.ignoreTLS,
    ...(smtp.user ? { auth: { user: smtp.user, pass: smtp.pass ?? '' } } : {}),
    connectionTimeout: timeout,
    greetingTimeout: timeout,
    socketTimeout: timeout * 2,
  });
  let closed = false;
  return {
    name: 'email',
    async send(m) {
      if (closed) throw new WatchfireError('WF_NOTIFY_SMTP', 'email channel is closed');
      try {
        await transport.sendMail({
          from: smtp.from,
          to: m.address,
          subject: m.subject,
          text: m.text,
          html: m.html,
          messageId: m.messageId,
          headers: { 'X-Watchfire-Outbox': String(m.id) },
        });
      } catch (err) {
        throw new WatchfireError('WF_NOTIFY_SMTP', `SMTP ${smtp.host}:${smtp.port} did not accept the message: ${(err as Error).message}`);
      }
    },
    close() {
      closed = true;
      transport.close();
      return Promise.resolve();
    },
  };
}
