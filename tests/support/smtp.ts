// A real SMTP server on loopback for tests: receives what nodemailer sends, parses it, and lets a
// test wait for the messages it expects. It can be taken down and brought back on the same port.
import { catchingSmtpServer } from '../../app/mailcatcher.ts';
import type { AddressInfo } from 'node:net';
import { waitFor } from './wait.ts';

export interface TestMail {
  from: string;
  to: string[];
  subject: string;
  text: string;
  html: string;
  messageId: string | undefined;
}

export interface TestSmtp {
  readonly port: number;
  readonly mails: TestMail[];
  waitForMails(pred: (m: TestMail[]) => boolean, what?: string, timeoutMs?: number): Promise<TestMail[]>;
  /** Close the listener (the server is "down"), then listen again on the same port. */
  down(): Promise<void>;
  up(): Promise<void>;
  stop(): Promise<void>;
}

export async function startTestSmtp(): Promise<TestSmtp> {
  const mails: TestMail[] = [];
  let port = 0;
  const make = () => catchingSmtpServer((m) => mails.push({ ...m, html: m.html ?? '' }));
  let server = make();
  const listen = () =>
    new Promise<void>((res, rej) => {
      server.once('error', rej);
      server.listen(port, '127.0.0.1', () => {
        port = (server.server.address() as AddressInfo).port;
        res();
      });
    });
  await listen();
  const close = () => new Promise<void>((res) => server.close(() => res()));
  return {
    get port() {
      return port;
    },
    mails,
    waitForMails: (pred, what = 'mails', timeoutMs = 20_000) =>
      waitFor(() => (pred(mails) ? mails : undefined), { what, timeoutMs }),
    async down() {
      await close();
    },
    async up() {
      server = make();
      await listen();
    },
    stop: close,
  };
}
