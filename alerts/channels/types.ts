// One interface for every notifier channel (STYLE.md: replaceable adapters behind one interface,
// one shared contract test run against each — tests/alerts.channels.test.ts). Which channels exist
// is one table, alerts/channels/registry.ts.
import type { ChannelName } from './registry.ts';
import type { Locale } from '../../contracts/registry.ts';
import { WatchfireError, type ErrorCode } from '../../contracts/errors.ts';

export interface OutboundMessage {
  /** The outbox row: stable across retries and restarts, so a receiver can drop duplicates. */
  readonly id: number;
  /** Stable RFC 5322 Message-ID for this row, `<outbox-{id}.{incident}@{host}>`. */
  readonly messageId: string;
  readonly channel: ChannelName;
  /** alarm, escalation, reminder, …, report. */
  readonly kind: string;
  /** Email address, webhook URL, phone number, group robot name, or the center id for the console. */
  readonly address: string;
  readonly recipient: { readonly kind: string; readonly id: string; readonly name: string; readonly locale: Locale; readonly phone?: string | undefined };
  readonly subject: string;
  readonly text: string;
  readonly html: string;
  /** The JSON a webhook carries (and the console shows). */
  readonly data: Readonly<Record<string, unknown>>;
}

/** What a provider said when it took the message: its id, which its delivery receipt will name. */
export interface SendResult {
  readonly providerId?: string | undefined;
}

export interface Channel {
  readonly name: ChannelName;
  /**
   * Resolves once the message is handed over (SMTP accepted, 2xx, shown, the provider's OK);
   * rejects with a coded WatchfireError otherwise (a ChannelRefusal when retrying soon is futile).
   */
  send(message: OutboundMessage): Promise<void | SendResult>;
  /** Releases sockets; a closed channel rejects further sends. */
  close(): Promise<void>;
}

/**
 * A refusal with a time before which retrying cannot help: a per-number limit (ours or the
 * provider's throttling) or a robot's per-minute limit. The outbox retries no earlier than
 * `retryAt`; the row stays visible as failed-and-waiting, never silently dropped.
 */
export class ChannelRefusal extends WatchfireError {
  constructor(code: ErrorCode, message: string, readonly retryAt: number) {
    super(code, message);
  }
}
