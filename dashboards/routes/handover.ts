// Issue 17 point 6, the shift handover (交接班): the summary of a shift (by default the roster's
// shift on duty), handing over with a remark, and the incoming operator's receipt; each printable
// and exportable as text or CSV. Scoped to the user's center like everything else.
import { z } from 'zod';
import { ApiError, EpochMs, EpochMsQuery, httpError } from '../http-errors.ts';
import { userOf, type App, type HttpDeps } from '../kit.ts';
import type { User } from '../users.ts';
import { HandoverSummary, rangeOf, summarise } from '../handover.ts';
import { createHandoverStore, Handover } from '../handover-store.ts';
import { handoverCsv, handoverText, type Lang } from '../handover-export.ts';
import { personName } from '../views.ts';

const STAFF = ['operator', 'supervisor', 'admin'] as const;
const HANDS = ['operator', 'supervisor'] as const;
const errors = { 400: ApiError, 401: ApiError, 403: ApiError, 404: ApiError, 409: ApiError };

const Export = {
  format: z.enum(['json', 'text', 'csv']).optional().describe('text: to print or paste; csv: for Excel (UTF-8 with BOM)'),
  lang: z.enum(['zh-CN', 'en']).optional().describe('Language of text and CSV (default: the session\'s, else zh-CN)'),
};
const SummaryQuery = z.object({
  centerId: z.string().optional().describe('Only for users without a center; a center\'s staff always get their own'),
  from: EpochMsQuery.optional().describe('Start (ms since the epoch); default: the start of the roster\'s shift on duty'),
  to: EpochMsQuery.optional().describe('End (ms); default now'),
  hours: z.coerce.number().int().min(1).max(72).optional().describe('The last N hours instead of the shift (8, 12)'),
  shift: z.enum(['current', 'previous']).optional().describe('The roster\'s shift on duty now (default) or the one before it'),
  ...Export,
});
const HandOverBody = z.object({
  centerId: z.string().optional(),
  from: EpochMs,
  to: EpochMs,
  remark: z.string().trim().min(1).max(4000).describe('What the incoming shift must know (交班留言)'),
});
const ReceiveBody = z.object({ note: z.string().trim().max(2000).optional() });
const Id = z.object({ id: z.coerce.number().int().min(1).max(Number.MAX_SAFE_INTEGER) });

export function handoverRoutes(app: App, deps: HttpDeps): void {
  const store = createHandoverStore(deps.db);
  const now = () => deps.clock?.now() ?? Date.now();
  const tzOf = (centerId: string) => deps.registry.center(centerId)?.timezone ?? deps.config.timezone;
  const nameOf = (user: User) => personName(deps.registry, user.personId) ?? user.username;

  /** A center's staff get their center; others name one (or there is only one). */
  function centerOf(user: User, asked: string | undefined): string {
    if (user.centerId) return user.centerId;
    const centers = deps.registry.centers();
    const id = asked ?? (centers.length === 1 ? centers[0]!.id : undefined);
    if (!id || !deps.registry.center(id)) throw httpError('WF_HTTP_VALIDATION', 'Name the center', [{ field: 'centerId', in: 'querystring', reason: 'required: one of the centers' }]);
    return id;
  }

  const summaryOf = (centerId: string, from: number, to: number, duty: ReturnType<typeof rangeOf>['duty']) => summarise({
    registry: deps.registry, incidents: deps.incidents, deviceState: deps.deviceState, centerId, timezone: tzOf(centerId), from, to, now: now(), duty,
  });

  /** The text or CSV of a summary (and of a stored handover's remark and receipt). */
  function exported(format: 'text' | 'csv', lang: Lang, s: HandoverSummary, h?: Handover) {
    const name = `watchfire-handover-${s.centerId}-${new Date(s.to).toISOString().slice(0, 16).replace(/[-:T]/g, '')}`;
    return format === 'text'
      ? { type: 'text/plain; charset=utf-8', disposition: `inline; filename="${name}.txt"`, body: handoverText(s, lang, h) }
      : { type: 'text/csv; charset=utf-8', disposition: `attachment; filename="${name}.csv"`, body: handoverCsv(s, lang, h) };
  }
  const langOf = (asked: Lang | undefined, user: User): Lang => asked ?? (user.locale === 'en' ? 'en' : 'zh-CN');

  app.route({
    method: 'GET',
    url: '/api/handover',
    config: { roles: STAFF },
    schema: {
      tags: ['handover'],
      summary: 'The shift summary: incidents opened, acknowledged, dispatched and resolved in the range, those still open with age and last note, devices offline, maintenance findings, calls and notes',
      querystring: SummaryQuery,
      response: { 200: HandoverSummary, ...errors },
    },
    handler: async (req, reply) => {
      const user = userOf(req);
      const centerId = centerOf(user, req.query.centerId);
      const r = rangeOf(req.query, now(), (at) => deps.onDuty?.(centerId, at));
      if (r.to <= r.from) throw httpError('WF_HTTP_VALIDATION', 'The range ends before it starts', [{ field: 'to', in: 'querystring', reason: 'must be after from' }]);
      const s = await summaryOf(centerId, r.from, r.to, r.duty);
      if (!req.query.format || req.query.format === 'json') return s;
      const x = exported(req.query.format, langOf(req.query.lang, user), s);
      return reply.type(x.type).header('content-disposition', x.disposition).send(x.body as never); // a string: sent as is, not through the JSON schema
    },
  });

  app.route({
    method: 'GET',
    url: '/api/handovers',
    config: { roles: STAFF },
    schema: {
      tags: ['handover'], summary: 'The center\'s latest handovers, newest first (received or waiting for the incoming operator)',
      querystring: z.object({ centerId: z.string().optional(), limit: z.coerce.number().int().min(1).max(100).optional() }),
      response: { 200: z.object({ handovers: z.array(Handover) }), ...errors },
    },
    handler: async (req) => ({ handovers: store.recent(centerOf(userOf(req), req.query.centerId), req.query.limit ?? 10) }),
  });

  app.route({
    method: 'POST',
    url: '/api/handovers',
    config: { roles: HANDS },
    schema: { tags: ['handover'], summary: 'Hand the shift over: the remark, the summary as it stands, who and when', body: HandOverBody, response: { 200: Handover, ...errors } },
    handler: async (req) => {
      const user = userOf(req);
      const centerId = centerOf(user, req.body.centerId);
      const at = now();
      const to = Math.min(req.body.to, at);
      if (to <= req.body.from) throw httpError('WF_HTTP_VALIDATION', 'The range ends before it starts', [{ field: 'to', in: 'body', reason: 'must be after from' }]);
      const duty = deps.onDuty?.(centerId, req.body.from);
      const summary = await summaryOf(centerId, req.body.from, to, duty);
      const h = store.handOver({ centerId, from: req.body.from, to, summary, remark: req.body.remark, user: user.username, name: nameOf(user), at });
      deps.logger.info({ handover: h.id, centerId, by: user.username }, 'shift handed over');
      return h;
    },
  });

  const visible = (id: number, user: User): Handover => {
    const h = store.get(id);
    if (!h || (user.centerId && h.centerId !== user.centerId)) throw httpError('WF_HANDOVER_NOT_FOUND', `No shift handover ${id}`);
    return h;
  };

  app.route({
    method: 'GET',
    url: '/api/handovers/:id',
    config: { roles: STAFF },
    schema: { tags: ['handover'], summary: 'One handover (format=text or csv to print or export)', params: Id, querystring: z.object(Export), response: { 200: Handover, ...errors } },
    handler: async (req, reply) => {
      const user = userOf(req);
      const h = visible(req.params.id, user);
      if (!req.query.format || req.query.format === 'json') return h;
      const x = exported(req.query.format, langOf(req.query.lang, user), h.summary, h);
      return reply.type(x.type).header('content-disposition', x.disposition).send(x.body as never);
    },
  });

  app.route({
    method: 'POST',
    url: '/api/handovers/:id/receive',
    config: { roles: HANDS },
    schema: { tags: ['handover'], summary: 'The incoming operator signs for the handover (once; not the one who handed it over)', params: Id, body: ReceiveBody, response: { 200: Handover, ...errors } },
    handler: async (req) => {
      const user = userOf(req);
      visible(req.params.id, user);
      const h = store.receive(req.params.id, { user: user.username, name: nameOf(user), at: now(), note: req.body.note || null });
      deps.logger.info({ handover: h.id, centerId: h.centerId, by: user.username }, 'shift handover received');
      return h;
    },
  });
}
