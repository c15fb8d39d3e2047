// The words of a message as named placeholders, for channels whose text is a provider template
// (SMS and voice template variables) or a configured body (the templated webhook): `{site}` in a
// configured string becomes the site's name. Unknown placeholders are refused at config load.
import { z } from 'zod';
import type { OutboundMessage } from './types.ts';

// ack, reply, digit (issue 19 point 5): the one-tap acknowledge link, the SMS reply and the key that acknowledge.
export const PLACEHOLDERS = ['title', 'site', 'address', 'location', 'level', 'link', 'text', 'subject', 'recipient', 'phone', 'incident', 'kind', 'center', 'openedAt', 'ack', 'reply', 'digit'] as const;
export type Placeholder = (typeof PLACEHOLDERS)[number];
export type View = Readonly<Record<Placeholder, string>>;

const LEVEL = { 'zh-CN': { red: '红色', yellow: '黄色' }, en: { red: 'red', yellow: 'yellow' } } as const;

function str(v: unknown): string {
  return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '';
}

/** The placeholders' values for one message, in the recipient's language. */
export function viewOf(m: OutboundMessage): View {
  const d = m.data as Record<string, unknown>;
  const inc = (d.incident ?? {}) as Record<string, unknown>;
  const level = str(inc.level);
  const words = LEVEL[m.recipient.locale === 'en' ? 'en' : 'zh-CN'];
  const opened = typeof inc.openedAt === 'number' ? new Date(inc.openedAt).toISOString() : '';
  return {
    title: str(inc.title) || m.subject,
    site: str(inc.siteName),
    address: str(inc.address),
    location: str(inc.location),
    level: level === 'red' || level === 'yellow' ? words[level] : level,
    link: str(d.link),
    text: str(d.text) || m.subject,
    subject: m.subject,
    recipient: m.recipient.name,
    phone: m.recipient.phone ?? '',
    incident: str(inc.id),
    kind: m.kind,
    center: str(inc.centerId) || str(d.centerId),
    openedAt: opened,
    ack: str(d.ackLink),
    reply: str(d.ackReply),
    digit: str(d.ackDigit),
  };
}

const PATTERN = /\{([A-Za-z]+)\}/g;

/** Replaces each `{name}`; `escape` is applied to every value (JSON string escaping for JSON bodies). */
export function fill(template: string, view: View, escape: (s: string) => string = (s) => s): string {
  return template.replace(PATTERN, (_, name: string) => escape((view as Record<string, string>)[name] ?? ''));
}

/** A configured string whose placeholders must all be known. */
export const TemplateString = z.string().superRefine((s, ctx) => {
  for (const [, name] of s.matchAll(PATTERN)) {
    if (!(PLACEHOLDERS as readonly string[]).includes(name!)) ctx.addIssue({ code: 'custom', message: `unknown placeholder {${name}} (known: ${PLACEHOLDERS.join(', ')})` });
  }
});
