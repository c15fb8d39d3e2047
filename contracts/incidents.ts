// Incidents: one situation at one place, and its lifecycle (DESIGN.md "Incidents and escalation").
import { z } from 'zod';
import { Category, Level } from './findings.ts';
import type { Locale } from './registry.ts';

export const IncidentState = z.enum(['open', 'acknowledged', 'dispatched', 'on_site', 'resolved', 'reviewed']);
export type IncidentState = z.infer<typeof IncidentState>;

/** 真实火情, 烹饪烟雾/其他误报, 设备误报, 测试, 不明. */
export const Disposition = z.enum(['real_fire', 'nuisance', 'device_false_alarm', 'test', 'unknown', 'condition_cleared']);
export type Disposition = z.infer<typeof Disposition>;

export const Incident = z.object({
  id: z.string(),
  /** Dedup key: `site:{site}:{category}`, `panel:{device}:{zone}:{category}`, `device:{device}:{condition}`. */
  key: z.string(),
  level: Level,
  score: z.number(),
  category: Category,
  condition: z.string(),
  state: IncidentState,
  centerId: z.string(),
  siteId: z.string(),
  gridId: z.string().nullable(),
  deviceId: z.string(),
  zone: z.string().nullable(),
  title: z.object({ en: z.string(), zh: z.string() }),
  confirmed: z.boolean(),
  findingCount: z.number().int(),
  openedAt: z.number(),
  updatedAt: z.number(),
  lastFindingAt: z.number(),
  acknowledgedAt: z.number().nullable(),
  dispatchedAt: z.number().nullable(),
  onSiteAt: z.number().nullable(),
  resolvedAt: z.number().nullable(),
  reviewedAt: z.number().nullable(),
  assignee: z.string().nullable(),
  disposition: Disposition.nullable(),
  feedback: z.string().nullable(),
  recurrenceOf: z.string().nullable(),
});
export type Incident = z.infer<typeof Incident>;

export const IncidentEventKind = z.enum(['opened', 'updated', 'raised', 'transition', 'escalated', 'notified']);
export type IncidentEventKind = z.infer<typeof IncidentEventKind>;

export interface IncidentEvent {
  readonly kind: IncidentEventKind;
  readonly incident: Incident;
  readonly at: number;
  /** For transitions: who (person id or `system`) and the note. */
  readonly actor?: string;
  readonly note?: string;
  /** Set on the event that was caused by a reading: its gateway receive time (for latency). */
  readonly receivedAt?: number;
}

export const IncidentFilter = z.object({
  state: z.array(IncidentState).optional(),
  level: z.array(Level).optional(),
  centerId: z.string().optional(),
  gridId: z.string().optional(),
  siteId: z.string().optional(),
  assignee: z.string().optional(),
  /** Only incidents not yet resolved. */
  active: z.boolean().optional(),
  /** Opened at or after (epoch ms). */
  openedFrom: z.number().int().optional(),
  /** Opened before (epoch ms). */
  openedBefore: z.number().int().optional(),
  limit: z.number().int().min(1).max(1000).default(200),
  offset: z.number().int().min(0).default(0),
});
export type IncidentFilter = z.input<typeof IncidentFilter>;

export const AuditEntry = z.object({
  id: z.number().int(),
  incidentId: z.string(),
  at: z.number(),
  actor: z.string(),
  action: z.string(),
  fromState: IncidentState.nullable(),
  toState: IncidentState.nullable(),
  note: z.string().nullable(),
  /** The same note in Chinese when the system wrote it (issue 17); null for a person's own words. */
  noteZh: z.string().nullable(),
});
export type AuditEntry = z.infer<typeof AuditEntry>;

export const ResolveBody = z.object({
  disposition: Disposition,
  feedback: z.string().trim().min(1).max(4000),
});
export type ResolveBody = z.infer<typeof ResolveBody>;

/**
 * Issue 17 point 6: what came of a call to a resident, a contact or a worker (the call log). GLOSSARY
 * words in dashboards/public/js/words.js (`call.*`).
 */
export const CallOutcome = z.enum(['reached', 'no_answer', 'busy', 'unreachable', 'wrong_number']);
export type CallOutcome = z.infer<typeof CallOutcome>;

export const CallBody = z.object({
  /** Who was called, as written on the console (a name; the phone number alongside). */
  contact: z.string().trim().min(1).max(100),
  phone: z.string().trim().max(40).optional(),
  outcome: CallOutcome,
  note: z.string().trim().max(2000).optional(),
});
export type CallBody = z.infer<typeof CallBody>;

/**
 * Issue 19 point 6: what became of one message or call about an incident. queued: waiting (to be
 * sent, retried, or held over quiet hours); sending; sent: handed to the server or provider;
 * delivered / answered / no_answer / busy: the provider's receipt; failed: refused, or given up.
 */
export const DeliveryOutcome = z.enum(['queued', 'sending', 'sent', 'delivered', 'answered', 'no_answer', 'busy', 'failed']);
export type DeliveryOutcome = z.infer<typeof DeliveryOutcome>;

export const Delivery = z.object({
  /** The outbox row. */
  id: z.number().int(),
  channel: z.string(),
  /** The channel as the timeline labels it, from the channel table (the console lists no channels). */
  channelName: z.object({ en: z.string(), zh: z.string() }),
  /** alarm, escalation, …; `step` the policy step (a call tree's id for its stages). */
  kind: z.string(),
  step: z.string().nullable(),
  recipientKind: z.string(),
  recipientId: z.string(),
  recipientName: z.string(),
  outcome: DeliveryOutcome,
  createdAt: z.number(),
  /** When it was handed over, and when the outcome was last known (receipt, failure). */
  sentAt: z.number().nullable(),
  outcomeAt: z.number().nullable(),
  attempts: z.number().int(),
  /** The last failure, or the provider's words with a receipt (`MN:0001 用户关机`). */
  detail: z.string().nullable(),
});
export type Delivery = z.infer<typeof Delivery>;

/** The incident operations the HTTP API exposes; the actor is the authenticated person's id. */
export interface IncidentService {
  list(filter: IncidentFilter): Promise<Incident[]>;
  get(id: string): Promise<Incident | undefined>;
  timeline(id: string): Promise<AuditEntry[]>;
  acknowledge(id: string, actor: string, note?: string): Promise<Incident>;
  dispatch(id: string, actor: string, assignee: string, note?: string): Promise<Incident>;
  onSite(id: string, actor: string, note?: string): Promise<Incident>;
  /** "On my way" (出发) from the grid worker: recorded in the audit trail, state unchanged. */
  enRoute(id: string, actor: string, note?: string): Promise<Incident>;
  resolve(id: string, actor: string, body: ResolveBody): Promise<Incident>;
  review(id: string, actor: string, note?: string): Promise<Incident>;
  /** An operator's note (e.g. 电话未接通), in the timeline; the state is unchanged. */
  note(id: string, actor: string, text: string): Promise<Incident>;
  /** One call and its outcome, in the timeline as `call:<outcome>`; the state is unchanged. */
  call(id: string, actor: string, call: CallBody): Promise<Incident>;
  /** Every message and call about the incident (the console excepted), oldest first, with its outcome. */
  deliveries(id: string): Promise<Delivery[]>;
  /** The notes and calls on a center's incidents in [from, to), oldest first (the shift handover, issue 17 point 6). */
  remarks(centerId: string, from: number, to: number): Promise<AuditEntry[]>;
}

/**
 * Issue 19 point 5: what the one-tap acknowledge page shows. ready: the incident waits for an
 * acknowledgement (GET shows the button); done: this request acknowledged it; already: someone had
 * (the link is idempotent); closed: it is resolved; expired, invalid: the token.
 */
export interface AckLinkView {
  readonly status: 'ready' | 'done' | 'already' | 'closed' | 'expired' | 'invalid';
  /** The language of the person the message went to (zh-CN when unknown). */
  readonly locale: Locale;
  readonly incident?: {
    readonly id: string;
    readonly level: Level;
    readonly title: { readonly en: string; readonly zh: string };
    readonly siteName: string;
    readonly address: string;
    readonly openedAt: number;
    readonly acknowledgedAt: number | null;
    readonly timezone: string;
  };
  /** Who the message went to, and over which channel. */
  readonly recipientName?: string;
  readonly channel?: string;
  /** The channel in words, from the channel table (the page lists no channels). */
  readonly channelName?: { readonly en: string; readonly zh: string };
}

/** The one action a signed link may take, without a login. */
export interface AckLinks {
  inspect(token: string): Promise<AckLinkView>;
  redeem(token: string): Promise<AckLinkView>;
}
