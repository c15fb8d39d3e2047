// One interface for every notifier channel (STYLE.md: replaceable adapters behind one interface,
// one shared contract test run against each — tests/alerts.channels.test.ts).
import type { ChannelName } from '../policies.ts';
import type { Locale } from '../../contracts/registry.ts';

export interface OutboundMessage {
  /** The outbox row: stable across retries and restarts, so a receiver can drop duplicates. */
  readonly id: number;
  /** Stable RFC 5322 Message-ID for this row, `<outbox-{id}.{incident}@{host}>`. */
  readonly messageId: string;
  readonly channel: ChannelName;
  /** alarm, escalation, reminder, …, report. */
  readonly kind: string;
  /** Email address, webhook URL, or the center id for the console. */
  readonly address: string;
  readonly recipient: { readonly kind: string; readonly id: string; readonly name: string; readonly locale: Locale; readonly phone?: string | undefined };
  readonly subject: string;
  readonly text: string;
  readonly html: string;
  /** The JSON a webhook carries (and the console shows). */
  readonly data: Readonly<Record<string, unknown>>;
}

export interface Channel {
  readonly name: ChannelName;
  /** Resolves once the message is handed over (SMTP accepted, 2xx, shown); rejects with a coded WatchfireError otherwise. */
  send(message: OutboundMessage): Promise<void>;
  /** Releases sockets; a closed channel rejects further sends. */
  close(): Promise<void>;
}
