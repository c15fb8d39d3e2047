// The templated webhook (issue 19 point 3): any other gateway's request shape from configuration,
// no code. `json` is a JSON value whose strings may hold placeholders ({title}, {phone}, {link},
// …: alerts/channels/placeholders.ts), each filled as a JSON string; or `body` is a text with
// placeholders for gateways that want a form or plain text. Headers may hold placeholders too;
// with a `secret`, the body is signed like the plain webhook (x-watchfire-signature: sha256=…).
import { z } from 'zod';
import { sign, SIGNATURE_HEADER, DELIVERY_HEADER } from './webhook.ts';
import { TemplateString, fill, viewOf, PLACEHOLDERS, type View } from './placeholders.ts';
import type { Target } from '../recipients.ts';
import type { Channel } from './types.ts';
import { createHttpPoster } from './http.ts';

type Json = string | number | boolean | null | Json[] | { [k: string]: Json };
const JsonTemplate: z.ZodType<Json> = z.lazy(() => z.union([TemplateString, z.number(), z.boolean(), z.null(), z.array(JsonTemplate), z.record(z.string(), JsonTemplate)]));

export const TemplateConfig = z.object({
  url: TemplateString.refine((u) => URL.canParse(fill(u, SAMPLE)), { message: 'expected an http(s) URL (placeholders allowed)' }),
  method: z.enum(['POST', 'PUT']).default('POST'),
  headers: z.record(z.string().regex(/^[A-Za-z0-9-]+$/), TemplateString).default({}),
  /** A JSON body template: strings may hold placeholders. */
  json: JsonTemplate.optional(),
  /** Or a text body template (with `contentType`, e.g. application/x-www-form-urlencoded). */
  body: TemplateString.optional(),
  contentType: z.string().default('application/json; charset=utf-8'),
  /** Form bodies: placeholders are URL-encoded; text bodies: inserted as they are. */
  encode: z.enum(['form', 'none']).default('none'),
  /** Sign the body with HMAC-SHA256 (x-watchfire-signature), as the plain webhook does. */
  secret: z.string().min(16).optional(),
  /** Who it reaches: people with a phone (an SMS/voice gateway), with an email, or anyone. */
  needs: z.enum(['phone', 'email', 'any']).default('phone'),
  timeoutMs: z.number().int().min(100).default(10_000),
}).refine((c) => (c.json === undefined) !== (c.body === undefined), { message: 'give exactly one of json or body' });
export type TemplateConfig = z.output<typeof TemplateConfig>;

const SAMPLE: View = Object.fromEntries(PLACEHOLDERS.map((p) => [p, 'x'])) as unknown as View;

function fillJson(t: Json, view: View): Json {
  if (typeof t === 'string') return fill(t, view);
  if (Array.isArray(t)) return t.map((x) => fillJson(x, view));
  if (t && typeof t === 'object') return Object.fromEntries(Object.entries(t).map(([k, v]) => [k, fillJson(v, view)]));
  return t;
}

/** The request a message becomes (exported for the configuration preview and tests). */
export function renderTemplate(c: TemplateConfig, view: View): { url: string; headers: Record<string, string>; body: string } {
  const body = c.json !== undefined
    ? JSON.stringify(fillJson(c.json, view))
    : fill(c.body!, view, c.encode === 'form' ? encodeURIComponent : (s) => s);
  const headers: Record<string, string> = { 'content-type': c.json !== undefined ? 'application/json; charset=utf-8' : c.contentType };
  // HTTP header values are bytes (Latin-1): anything beyond ASCII is percent-encoded, as UTF-8.
  for (const [k, v] of Object.entries(c.headers)) headers[k.toLowerCase()] = fill(v, view, (x) => (/^[\x20-\x7e]*$/.test(x) ? x : encodeURIComponent(x))).replace(/[\r\n]/g, ' ');
  return { url: fill(c.url, view, encodeURIComponent), headers, body };
}

export function templateAddress(c: TemplateConfig | undefined, t: Target): string | undefined {
  if (!c) return undefined;
  if (c.needs === 'phone' && !t.phone) return undefined;
  if (c.needs === 'email' && !t.email) return undefined;
  // The row's address names the gateway's host: the URL itself may carry a key.
  return new URL(fill(c.url, SAMPLE)).host;
}

export function createTemplateChannel(c: TemplateConfig): Channel {
  const http = createHttpPoster('WF_NOTIFY_TEMPLATE', 'template');
  return {
    name: 'template',
    async send(m) {
      http.assertOpen();
      const req = renderTemplate(c, viewOf(m));
      const headers: Record<string, string> = { ...req.headers, [DELIVERY_HEADER]: String(m.id) };
      if (c.secret) headers[SIGNATURE_HEADER] = sign(c.secret, req.body);
      await http.post(req.url, { method: c.method, body: req.body, headers }, c.timeoutMs, `templated webhook ${new URL(req.url).host}`);
      return {};
    },
    close() {
      http.close();
      return Promise.resolve();
    },
  };
}
