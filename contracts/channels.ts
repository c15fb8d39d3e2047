// What the notification channels' providers tell us back (issue 19 points 2 and 5): delivery
// receipts, SMS replies and voice-call keypresses, parsed from each provider's callback by
// adapters/notify/ and published once on the bus as 'channel.inbound'. alerts/ records receipts
// on the outbox attempt; acknowledgement by reply or keypress consumes 'reply' and 'keypress'.

/** A receipt's verdict: SMS delivered/failed; a voice call answered, not answered, busy or failed. */
export type ReceiptStatus = 'delivered' | 'failed' | 'answered' | 'no_answer' | 'busy';

/** Which provider sent the callback (the channel's config names the provider it sends through). */
export type ChannelProvider = 'aliyun' | 'tencent';

/** The outbox row an inbound event belongs to, when it could be matched (see ChannelLedger.resolve). */
export interface InboundMatch {
  readonly outboxId: number;
  readonly incidentId: string | null;
  /** The person or contact the row was for (alert_outbox.recipient_id). */
  readonly recipientId: string;
}

export type ChannelInbound =
  | {
      readonly kind: 'receipt';
      readonly channel: string;
      readonly provider: ChannelProvider;
      readonly status: ReceiptStatus;
      /** The provider's id of the message or call (Alibaba BizId / CallId, Tencent SerialNo / CallId). */
      readonly providerId: string;
      readonly at: number;
      /** The provider's own status code and words (e.g. `DELIVERED`, `MN:0001 用户关机`). */
      readonly detail?: string | undefined;
      readonly match?: InboundMatch | undefined;
    }
  | {
      readonly kind: 'reply';
      readonly channel: 'sms';
      readonly provider: ChannelProvider;
      /** E.164, e.g. +8613800000000. */
      readonly from: string;
      readonly text: string;
      readonly at: number;
      /** The last SMS Watchfire sent to that phone (providers give no message id with a reply). */
      readonly match?: InboundMatch | undefined;
    }
  | {
      readonly kind: 'keypress';
      readonly channel: 'voice';
      readonly provider: ChannelProvider;
      readonly providerId: string;
      /** The keys pressed, as the provider reports them (e.g. `1`). */
      readonly digits: string;
      readonly at: number;
      readonly match?: InboundMatch | undefined;
    };

/**
 * The outbox as the callback adapter sees it: who a provider id or a phone belongs to. alerts/
 * implements it (app/watchfire.ts wires it), the adapter only asks.
 */
export interface ChannelLedger {
  /** The outbox row whose attempt returned this provider id (or, given, the row of that id). */
  byProviderId(channel: string, providerId: string, outboxId?: number): Promise<InboundMatch | undefined>;
  /** The newest row sent on `channel` to this phone (E.164) within `withinMs`. */
  lastTo(channel: string, phone: string, withinMs: number): Promise<InboundMatch | undefined>;
}

/** E.164 as providers want it; a bare 11-digit mainland mobile number or 0-prefixed landline gets +86. */
export function toE164(phone: string): string | undefined {
  const p = phone.replace(/[\s-]/g, '');
  if (/^1[3-9]\d{9}$/.test(p)) return `+86${p}`;
  if (/^0[1-9]\d{8,10}$/.test(p)) return `+86${p.slice(1)}`;
  if (/^0086\d{6,14}$/.test(p)) return `+${p.slice(2)}`;
  if (/^86(1[3-9]\d{9})$/.test(p)) return `+${p}`;
  if (/^\+[1-9]\d{6,14}$/.test(p)) return p;
  return undefined;
}

/** A mainland mobile number (SMS reaches only mobiles). */
export function isMobileE164(e164: string): boolean {
  return /^\+861[3-9]\d{9}$/.test(e164) || (!e164.startsWith('+86') && /^\+[1-9]\d{6,14}$/.test(e164));
}
