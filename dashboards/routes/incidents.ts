// Issue 4 point 7: the incident API. Every transition takes its actor from the logged-in user;
// bodies are validated before the service is called, and the service changes state and audit
// trail in one transaction, so a refused request leaves nothing behind.
import { z } from 'zod';
import { Delivery, IncidentState, ResolveBody, type Incident, type IncidentFilter } from '../../contracts/incidents.ts';
import { Level } from '../../contracts/findings.ts';
import { formatIssues } from '../../contracts/errors.ts';
import { ApiError, httpError } from '../http-errors.ts';
import { actorOf, auditRead, canSee, personalSite, userOf, type App, type HttpDeps } from '../kit.ts';
import type { User } from '../users.ts';
import { dispatchRefusal, peopleInScope } from '../scope.ts';
import { IncidentView, TimelineEntry, queueOrder, timelineEntry, viewOf } from '../views.ts';

const Id = z.object({ id: z.string().min(1).max(200) });
const Note = z.object({ note: z.string().trim().max(2000).optional() }).optional();
const DispatchBody = z.object({
  assignee: z.string().min(1).max(64).optional().describe("Person id; default: the grid worker of the site's grid"),
  note: z.string().trim().max(2000).optional(),
}).optional();

const ListQuery = z.object({
  state: z.string().optional().describe('Comma-separated states, e.g. open,acknowledged'),
  level: z.string().optional().describe('Comma-separated levels, e.g. red,yellow'),
  centerId: z.string().optional(),
  gridId: z.string().optional(),
  siteId: z.string().optional(),
  assignee: z.string().optional(),
  active: z.enum(['true', 'false']).optional().describe('true: only incidents not yet resolved'),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
  offset: z.coerce.number().int().min(0).max(1_000_000_000).optional(),
});

const ListAnswer = z.object({ incidents: z.array(IncidentView) });
const BulkAck = z.object({ ids: z.array(z.string().min(1).max(200)).min(1).max(500), note: z.string().trim().max(2000).optional() });
const BulkAnswer = z.object({ acknowledged: z.array(IncidentView), refused: z.array(z.object({ id: z.string(), code: z.string(), message: z.string() })) });
/** Issue 19 point 6: every message and call with its outcome beside the audit trail. */
const Detail = z.object({ incident: IncidentView, timeline: z.array(TimelineEntry), deliveries: z.array(Delivery) });
const OPS = ['operator', 'supervisor'] as const;
const FIELD = ['grid_worker', 'operator', 'supervisor'] as const;
const errors = { 400: ApiError, 401: ApiError, 403: ApiError, 404: ApiError, 409: ApiError };

function parseList(q: z.infer<typeof ListQuery>, user: User) {
  const split = (s: string | undefined) => (s === undefined ? undefined : s.split(',').map((x) => x.trim()).filter(Boolean));
  const raw = {
    state: split(q.state),
    level: split(q.level),
    centerId: q.centerId,
    gridId: q.gridId,
    siteId: q.siteId,
    assignee: q.assignee,
    active: q.active === undefined ? undefined : q.active === 'true',
    limit: q.limit,
    offset: q.offset,
  };
  const r = z.object({ state: z.array(IncidentState).optional(), level: z.array(Level).optional() }).safeParse(raw);
  if (!r.success) {
    throw httpError('WF_HTTP_VALIDATION', 'Invalid querystring', formatIssues(r.error.issues).map((m) => ({ field: m.split(':')[0]!.split('.')[0]!, in: 'querystring', reason: m })));
  }
  const filter = Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined)) as IncidentFilter;
  // Scope is the user's, whatever the query says: a center's staff see their center, a grid
  // worker sees the tasks given to them.
  if (user.centerId) filter.centerId = user.centerId;
  if (user.role === 'grid_worker') filter.assignee = actorOf(user);
  return filter;
}

export function incidentRoutes(app: App, deps: HttpDeps): void {
  const tz = deps.config.timezone;
  const visible = async (id: string, user: User): Promise<Incident> => {
    const inc = await deps.incidents.get(id);
    // Not yours to see is answered like not there: ids of other centers' incidents stay private.
    if (!inc || !canSee(user, inc)) throw httpError('WF_INCIDENT_NOT_FOUND', `No incident ${id}`);
    return inc;
  };
  const view = (inc: Incident) => viewOf(deps.registry, inc, tz);

  app.route({
    method: 'GET',
    url: '/api/incidents',
    config: { roles: ['operator', 'grid_worker', 'supervisor', 'admin'] },
    schema: { tags: ['incidents'], summary: 'List and filter incidents, queue order (red first, unacknowledged first, oldest first)', querystring: ListQuery, response: { 200: ListAnswer, ...errors } },
    handler: async (req) => {
      const filter = parseList(req.query, userOf(req));
      const list = await deps.incidents.list(filter);
      // One row per user per few minutes for the queue (it shows residents' names and phones).
      if (list.some((i) => personalSite(deps.registry.site(i.siteId)))) auditRead(deps, req, 'incidents', null, null, filter.centerId ?? null);
      return { incidents: list.sort(queueOrder).map(view) };
    },
  });

  app.route({
    method: 'GET',
    url: '/api/incidents/:id',
    config: { roles: ['operator', 'grid_worker', 'supervisor', 'admin'] },
    schema: { tags: ['incidents'], summary: 'One incident with its timeline from the audit trail and every message and call about it with its outcome (sent, delivered, answered, no answer, failed)', params: Id, response: { 200: Detail, ...errors } },
    handler: async (req) => {
      const inc = await visible(req.params.id, userOf(req));
      if (personalSite(deps.registry.site(inc.siteId))) auditRead(deps, req, 'incident', inc.id, inc.siteId, inc.centerId);
      const [entries, deliveries] = await Promise.all([deps.incidents.timeline(inc.id), deps.incidents.deliveries(inc.id)]);
      return { incident: view(inc), timeline: entries.map((e) => timelineEntry(deps.registry, e)), deliveries };
    },
  });

  app.route({
    method: 'POST',
    url: '/api/incidents/:id/acknowledge',
    config: { roles: OPS },
    schema: { tags: ['incidents'], summary: 'Acknowledge (接警): stops the alarm sound on every console', params: Id, body: Note, response: { 200: IncidentView, ...errors } },
    handler: async (req) => {
      const user = userOf(req);
      const inc = await visible(req.params.id, user);
      return view(await deps.incidents.acknowledge(inc.id, actorOf(user), req.body?.note));
    },
  });

  // Issue 17 point 3: one click for an alarm storm's incidents. Each is acknowledged on its own (its
  // own audit entry and escalation change); those someone else moved on are listed, not fatal.
  app.route({
    method: 'POST',
    url: '/api/incidents/bulk/acknowledge',
    config: { roles: OPS },
    schema: {
      tags: ['incidents'], summary: 'Acknowledge (接警) several incidents at once, e.g. the zones of one panel in an alarm storm',
      body: BulkAck, response: { 200: BulkAnswer, ...errors },
    },
    handler: async (req) => {
      const user = userOf(req);
      const acknowledged: IncidentView[] = [];
      const refused: Array<{ id: string; code: string; message: string }> = [];
      for (const id of new Set(req.body.ids)) {
        try {
          // Awaited inside the try, so a refused acknowledgement (a rejected promise) is listed, not fatal.
          const inc = await visible(id, user);
          acknowledged.push(view(await deps.incidents.acknowledge(inc.id, actorOf(user), req.body.note)));
        } catch (err) {
          const e = err as { code?: string; message?: string };
          if (!e.code) throw err;
          refused.push({ id, code: e.code ?? 'WF_HTTP_INTERNAL', message: e.message ?? String(err) });
        }
      }
      return { acknowledged, refused };
    },
  });

  app.route({
    method: 'POST',
    url: '/api/incidents/:id/dispatch',
    config: { roles: OPS },
    schema: { tags: ['incidents'], summary: "Dispatch (派单) to a grid worker, by default the site's", params: Id, body: DispatchBody, response: { 200: IncidentView, ...errors } },
    handler: async (req) => {
      const user = userOf(req);
      const inc = await visible(req.params.id, user);
      const assignee = req.body?.assignee ?? (inc.gridId ? deps.registry.grid(inc.gridId)?.workerId : undefined);
      if (!assignee) throw httpError('WF_HTTP_VALIDATION', 'No grid worker to dispatch to', [{ field: 'assignee', in: 'body', reason: "the site's grid has no grid worker: name one" }]);
      const refusal = dispatchRefusal(deps.registry, inc, assignee, deps.config.dispatchRoles);
      if (refusal) throw httpError('WF_HTTP_VALIDATION', `Cannot dispatch to ${assignee}: ${refusal}`, [{ field: 'assignee', in: 'body', reason: refusal }]);
      return view(await deps.incidents.dispatch(inc.id, actorOf(user), assignee, req.body?.note));
    },
  });

  app.route({
    method: 'POST',
    url: '/api/incidents/:id/en-route',
    config: { roles: FIELD },
    schema: { tags: ['incidents'], summary: '"On my way" (出发): recorded in the timeline, state unchanged', params: Id, body: Note, response: { 200: IncidentView, ...errors } },
    handler: async (req) => {
      const user = userOf(req);
      const inc = await visible(req.params.id, user);
      return view(await deps.incidents.enRoute(inc.id, actorOf(user), req.body?.note));
    },
  });

  app.route({
    method: 'POST',
    url: '/api/incidents/:id/on-site',
    config: { roles: FIELD },
    schema: { tags: ['incidents'], summary: 'Arrived on site (到场)', params: Id, body: Note, response: { 200: IncidentView, ...errors } },
    handler: async (req) => {
      const user = userOf(req);
      const inc = await visible(req.params.id, user);
      return view(await deps.incidents.onSite(inc.id, actorOf(user), req.body?.note));
    },
  });

  app.route({
    method: 'POST',
    url: '/api/incidents/:id/resolve',
    config: { roles: FIELD },
    schema: { tags: ['incidents'], summary: 'Resolve (处置完毕) with a disposition and what was found', params: Id, body: ResolveBody, response: { 200: IncidentView, ...errors } },
    handler: async (req) => {
      const user = userOf(req);
      const inc = await visible(req.params.id, user);
      return view(await deps.incidents.resolve(inc.id, actorOf(user), req.body));
    },
  });

  app.route({
    method: 'POST',
    url: '/api/incidents/:id/review',
    config: { roles: ['supervisor'] },
    schema: { tags: ['incidents'], summary: 'Supervisor review (复盘) of a resolved incident', params: Id, body: Note, response: { 200: IncidentView, ...errors } },
    handler: async (req) => {
      const user = userOf(req);
      const inc = await visible(req.params.id, user);
      return view(await deps.incidents.review(inc.id, actorOf(user), req.body?.note));
    },
  });

  app.route({
    method: 'GET',
    url: '/api/people',
    config: { roles: ['operator', 'supervisor', 'admin'] },
    schema: {
      tags: ['registry'],
      summary: "People to dispatch to (filter by role); a center's staff see their center's people only",
      querystring: z.object({ role: z.string().optional(), centerId: z.string().optional() }),
      response: { 200: z.object({ people: z.array(z.object({ id: z.string(), name: z.string(), role: z.string(), phone: z.string().nullable(), centerId: z.string().nullable() })) }) },
    },
    handler: async (req) => {
      const people = peopleInScope(deps.registry, userOf(req), req.query.centerId)
        .filter((p) => !req.query.role || p.role === req.query.role)
        .map((p) => ({ id: p.id, name: p.name, role: p.role, phone: p.phone ?? null, centerId: p.centerId ?? null }));
      return { people };
    },
  });
}
