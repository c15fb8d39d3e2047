// Operations: health, readiness, Prometheus metrics, the overview, live stream, dead letters,
// rule reload and console users.
import { z } from 'zod';
import type { ErrorCode } from '../../contracts/errors.ts';
import { ERROR_CODES } from '../../contracts/errors.ts';
import { verifySecret } from '../../contracts/secrets.ts';
import { ApiError, httpError } from '../http-errors.ts';
import { canSeeSite, devicesInScope } from '../scope.ts';
import { userOf, type App, type HttpDeps } from '../kit.ts';
import { Overview, computeOverview, listAll } from '../overview.ts';
import type { StreamHub } from '../stream.ts';
import { NewUser, User, createUser, listUsers } from '../users.ts';

const Health = z.object({ live: z.boolean(), ready: z.boolean(), checks: z.record(z.string(), z.union([z.boolean(), z.string()])) });

const LOOPBACK = /^(127\.|::1$|::ffff:127\.)/;

function metricsAllowed(authorization: string | undefined, ip: string, tokenHash: string | undefined): boolean {
  if (!tokenHash) return LOOPBACK.test(ip);
  const m = /^Bearer (\S+)$/i.exec(authorization ?? '');
  return m !== null && verifySecret(m[1], tokenHash);
}

export function opsRoutes(app: App, deps: HttpDeps, hub: StreamHub): void {
  const now = () => deps.clock?.now() ?? Date.now();

  app.route({
    method: 'GET',
    url: '/healthz',
    config: { roles: 'public' },
    schema: { tags: ['operations'], summary: 'Liveness: 200 while the process can serve', response: { 200: Health, 503: Health } },
    handler: async (_req, reply) => {
      const h = deps.health();
      return reply.code(h.live ? 200 : 503).send(h);
    },
  });

  app.route({
    method: 'GET',
    url: '/readyz',
    config: { roles: 'public' },
    schema: { tags: ['operations'], summary: 'Readiness: 200 once every part has started, 503 before and while stopping', response: { 200: Health, 503: Health } },
    handler: async (_req, reply) => {
      const h = deps.health();
      return reply.code(h.ready ? 200 : 503).send(h);
    },
  });

  app.route({
    method: 'GET',
    url: '/metrics',
    config: { roles: 'public' },
    schema: {
      tags: ['operations'],
      summary: 'Prometheus metrics of every module (text exposition format). Needs `Authorization: Bearer <token>` when http.metricsTokenHash is set, else answers loopback addresses only',
      security: [{ metricsToken: [] }],
    },
    handler: async (req, reply) => {
      // Issue 16 point 4: live incident counts and the system's internals are not for the street.
      if (!metricsAllowed(req.headers.authorization, req.ip, deps.config.metricsTokenHash)) {
        void reply.header('www-authenticate', 'Bearer realm="watchfire-metrics"');
        throw httpError('WF_HTTP_UNAUTHENTICATED', deps.config.metricsTokenHash ? 'Send the metrics bearer token' : 'Metrics are served to loopback addresses only unless http.metricsTokenHash is set');
      }
      const body = await deps.metrics.metrics();
      return reply.type(deps.metrics.contentType).send(body);
    },
  });

  app.route({
    method: 'GET',
    url: '/api/overview',
    config: { roles: ['operator', 'supervisor', 'admin'] },
    schema: { tags: ['overview'], summary: 'Three-colour counts per center and grid, devices offline, low batteries, open incidents by age, today\'s response times', response: { 200: Overview } },
    handler: async (req) => {
      const user = userOf(req);
      const scope = user.centerId ? { centerId: user.centerId } : {};
      // Today's incidents, closed ones included. list() orders active first, then the newest
      // (alerts/incidents.ts), within a level: a few pages per level reach back past today.
      const [active, red, yellow] = await Promise.all([
        listAll(deps.incidents, { ...scope, active: true }),
        listAll(deps.incidents, { ...scope, level: ['red'] }, 5),
        listAll(deps.incidents, { ...scope, level: ['yellow'] }, 5),
      ]);
      const recent = [...red, ...yellow];
      return computeOverview({ registry: deps.registry, active, recent, deviceState: deps.deviceState, now: now(), defaultTimezone: deps.config.timezone, centerId: user.centerId });
    },
  });

  app.route({
    method: 'GET',
    url: '/api/stream',
    config: { roles: ['operator', 'grid_worker', 'supervisor', 'admin'] },
    schema: {
      tags: ['live'],
      summary: 'Server-sent events: incident, presence, and (with ?site=) readings of that site; honours Last-Event-ID',
      querystring: z.object({ site: z.string().max(64).optional() }),
    },
    handler: async (req, reply) => {
      const user = userOf(req);
      const siteId = req.query.site;
      // Readings of a site are for those who may open the site (issue 16: a grid worker's homes).
      // The console's own stream (no site) awaits nothing: it is served in the request's tick.
      // A hijacked reply is left alone by Fastify when the handler resolves.
      if (siteId !== undefined) {
        const site = deps.registry.site(siteId);
        if (!site || !(await canSeeSite(deps, user, site))) throw httpError('WF_HTTP_NOT_FOUND', `No site ${siteId}`);
      }
      hub.serve(req, reply, user, siteId);
    },
  });

  app.route({
    method: 'GET',
    url: '/api/rejects',
    config: { roles: ['supervisor', 'admin'] },
    schema: {
      tags: ['operations'],
      summary: "Dead-lettered messages (rejected readings) with their reason, newest first; a center's supervisor sees their center's devices only",
      querystring: z.object({ deviceId: z.string().optional(), code: z.string().optional(), limit: z.coerce.number().int().min(1).max(500).default(100), before: z.coerce.number().optional() }),
      response: {
        200: z.object({ total: z.number(), rejects: z.array(z.object({ id: z.number().optional(), at: z.number(), deviceId: z.string().nullable(), topic: z.string(), code: z.string(), reason: z.string(), index: z.number().nullable(), payload: z.string() })) }),
        400: ApiError,
      },
    },
    handler: async (req) => {
      const dl = deps.deadLetters;
      if (!dl) return { total: 0, rejects: [] };
      const { deviceId, code, limit, before } = req.query;
      if (code !== undefined && !(code in ERROR_CODES)) throw httpError('WF_HTTP_VALIDATION', `Unknown code ${code}`, [{ field: 'code', in: 'querystring', reason: 'not a WF_ code' }]);
      // A center's supervisor reads the dead letters of their center's devices only; rejects of
      // unknown devices (no center to tie them to) are for center-less staff.
      const deviceIds = devicesInScope(deps.registry, userOf(req));
      const f = { ...(deviceId ? { deviceId } : {}), ...(code ? { code: code as ErrorCode } : {}), ...(deviceIds ? { deviceIds } : {}) };
      const [rows, total] = await Promise.all([dl.list({ ...f, limit, ...(before !== undefined ? { before } : {}) }), dl.count(f)]);
      return { total, rejects: rows.map((r) => ({ ...r, deviceId: r.deviceId ?? null, index: r.index ?? null })) };
    },
  });

  app.route({
    method: 'POST',
    url: '/api/rules',
    config: { roles: ['admin'] },
    schema: {
      tags: ['operations'],
      summary: 'Replace the running rule set; an invalid one is refused with every reason and the running one stays',
      body: z.unknown(),
      response: { 200: z.object({ ok: z.literal(true) }), 400: ApiError },
    },
    handler: async (req) => {
      if (!deps.rules) throw httpError('WF_HTTP_NOT_FOUND', 'Rule reload is not available here');
      const r = deps.rules.reload(req.body);
      if (!r.ok) throw httpError('WF_RULES_INVALID', 'Rule set refused; the running one stays', r.errors.map((e) => ({ field: e.split(':')[0] ?? '(root)', in: 'body', reason: e })));
      return { ok: true as const };
    },
  });

  app.route({
    method: 'GET',
    url: '/api/users',
    config: { roles: ['admin'] },
    schema: { tags: ['users'], summary: 'Console users', response: { 200: z.object({ users: z.array(User) }) } },
    handler: async () => ({ users: await listUsers(deps.users) }),
  });

  app.route({
    method: 'POST',
    url: '/api/users',
    config: { roles: ['admin'] },
    schema: { tags: ['users'], summary: 'Add a console user (password hashed with scrypt)', body: NewUser, response: { 201: User, 400: ApiError, 409: ApiError } },
    handler: async (req, reply) => {
      const b = req.body;
      if (b.personId && !deps.registry.person(b.personId)) throw httpError('WF_HTTP_VALIDATION', `Unknown person ${b.personId}`, [{ field: 'personId', in: 'body', reason: 'no such person in the registry' }]);
      if (b.centerId && !deps.registry.center(b.centerId)) throw httpError('WF_HTTP_VALIDATION', `Unknown center ${b.centerId}`, [{ field: 'centerId', in: 'body', reason: 'no such center in the registry' }]);
      const u = await createUser(deps.users, b, deps.passwordCost ? { cost: deps.passwordCost } : {});
      req.log.info({ username: u.username, role: u.role, by: userOf(req).username }, 'user created');
      return reply.code(201).send(u);
    },
  });
}
