// Login, sessions and the gate in front of every route: session cookie (HttpOnly, SameSite=Strict)
// → roles the route declares → CSRF token on writes. The gate runs in onRequest, before the body
// is parsed, so a caller without the right role learns nothing about what a valid body is.
import { addressKey } from '../contracts/net.ts';
import { z } from 'zod';
import type { FastifyRequest } from 'fastify';
import { timingSafeEqual } from 'node:crypto';
import { Locale } from '../contracts/registry.ts';
import { ApiError, httpError } from './http-errors.ts';
import { DEFAULT_SCRYPT, User, checkLogin, createSession, deleteSession, loadSession, setUserLocale } from './users.ts';
import { AuditRow, createLoginAudit } from './login-audit.ts';
import type { LoginGuard } from './login-guard.ts';
import { WRITE_METHODS, rolesText, userOf, type App, type HttpDeps } from './kit.ts';

export const SESSION_COOKIE = 'wf_session';
export const CSRF_HEADER = 'x-csrf-token';

const LoginBody = z.object({ username: z.string().min(1).max(64), password: z.string().min(1).max(256) });
const SessionInfo = z.object({
  user: User.nullable(),
  csrf: z.string().nullable(),
  /** Where this role's page is: the console, or the grid worker's phone page. */
  home: z.string().nullable(),
  timezone: z.string(),
  centerName: z.string().nullable(),
  /** The linked registry person's name, else the user name. */
  displayName: z.string().nullable(),
});

function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function homeOf(role: string): string {
  return role === 'grid_worker' ? '/worker.html' : '/';
}

export async function installAuth(app: App, deps: HttpDeps, guard: LoginGuard): Promise<void> {
  const now = () => deps.clock?.now() ?? Date.now();
  // Issue 16: Secure cookies whenever the browser reaches us over HTTPS, here or at a proxy.
  const secure = deps.config.tls !== undefined || deps.config.publicUrl.startsWith('https:');
  app.decorateRequest('user', null);
  app.decorateRequest('csrf', null);

  app.addHook('onRequest', async (req: FastifyRequest) => {
    const token = req.cookies[SESSION_COOKIE];
    if (token) {
      const s = await loadSession(deps.users, token, now());
      if (s) {
        req.user = s.user;
        req.csrf = s.csrf;
      }
    }
    const roles = req.routeOptions.config.roles;
    if (roles === 'public') return;
    // Deny by default: a route that forgot to say who may call it answers to nobody.
    if (roles === undefined) {
      // Static files and docs are open; an /api route pattern without roles is a mistake.
      if (!req.routeOptions.url?.startsWith('/api/')) return;
      throw httpError('WF_HTTP_FORBIDDEN', 'This route declares no roles');
    }
    if (!req.user) throw httpError('WF_HTTP_UNAUTHENTICATED', 'Log in first');
    if (WRITE_METHODS.has(req.method)) {
      const sent = req.headers[CSRF_HEADER];
      if (typeof sent !== 'string' || !req.csrf || !sameToken(sent, req.csrf)) {
        throw httpError('WF_HTTP_CSRF', `Writes need the session's CSRF token in the ${CSRF_HEADER} header`);
      }
    }
    if (!roles.includes(req.user.role)) {
      throw httpError('WF_HTTP_FORBIDDEN', `A ${req.user.role} may not call ${req.method} ${req.routeOptions.url}; ${rolesText(roles)}`);
    }
  });

  const audit = createLoginAudit(deps.db, deps.config.login.auditMaxRows);
  const cost = deps.passwordCost ?? DEFAULT_SCRYPT;
  app.route({
    method: 'POST',
    url: '/api/auth/login',
    // A login body is two short strings; a flood should not make us parse megabytes.
    bodyLimit: 4096,
    config: { roles: 'public' },
    schema: {
      tags: ['session'],
      summary: 'Log in; sets the HttpOnly session cookie and returns the CSRF token for writes. 429: too many failures from this address (for this name), or a login from it is already being checked; 503: sign-in at capacity. Both say when to retry (Retry-After).',
      body: LoginBody,
      response: { 200: SessionInfo, 400: ApiError, 401: ApiError, 429: ApiError, 503: ApiError },
    },
    handler: async (req, reply) => {
      const { username, password } = req.body;
      const address = req.ip;
      const trusted = audit.trusted(username, address, now());
      // Counted per addressKey: an IPv6 client picks any address of its /64 (contracts/net.ts).
      const r = await guard.run(addressKey(address), username, trusted, () => checkLogin(deps.users, username, password, cost));
      audit.record({ at: now(), username, address, outcome: r.ok ? 'ok' : r.reason, userAgent: req.headers['user-agent'] ?? null });
      if (!r.ok) {
        req.log.info({ username, address, reason: r.reason }, 'login refused');
        throw httpError('WF_HTTP_UNAUTHENTICATED', 'Wrong user name or password');
      }
      const user = r.user;
      const s = await createSession(deps.users, user.username, now());
      void reply.setCookie(SESSION_COOKIE, s.token, { httpOnly: true, sameSite: 'strict', secure, path: '/', expires: new Date(s.expiresAt) });
      req.log.info({ username: user.username, role: user.role, address }, 'login');
      return { user, csrf: s.csrf, home: homeOf(user.role), timezone: timezoneOf(deps, user), centerName: centerNameOf(deps, user), displayName: displayNameOf(deps, user) };
    },
  });

  app.route({
    method: 'GET',
    url: '/api/auth/audit',
    config: { roles: ['admin'] },
    schema: {
      tags: ['session'],
      summary: 'Sign-in audit: every checked login (ok, wrong_password, unknown_user, disabled) with address and time, newest first',
      querystring: z.object({ username: z.string().max(64).optional(), before: z.coerce.number().int().optional().describe('An id, for paging back'), limit: z.coerce.number().int().min(1).max(500).default(100) }),
      response: { 200: z.object({ entries: z.array(AuditRow) }), 400: ApiError },
    },
    handler: async (req) => ({ entries: audit.list(req.query) }),
  });

  app.route({
    method: 'POST',
    url: '/api/auth/logout',
    config: { roles: ['operator', 'grid_worker', 'supervisor', 'admin'] },
    schema: { tags: ['session'], summary: 'Log out: the session is deleted on the server', response: { 204: z.null() } },
    handler: async (req, reply) => {
      const token = req.cookies[SESSION_COOKIE];
      if (token) await deleteSession(deps.users, token);
      void reply.clearCookie(SESSION_COOKIE, { path: '/' });
      return reply.code(204).send(null);
    },
  });

  app.route({
    method: 'GET',
    url: '/api/session',
    config: { roles: 'public' },
    schema: { tags: ['session'], summary: 'Who is logged in (user null when nobody), with the CSRF token', response: { 200: SessionInfo } },
    handler: async (req) => {
      const u = req.user;
      return { user: u, csrf: u ? req.csrf : null, home: u ? homeOf(u.role) : null, timezone: u ? timezoneOf(deps, u) : deps.config.timezone, centerName: u ? centerNameOf(deps, u) : null, displayName: u ? displayNameOf(deps, u) : null };
    },
  });

  app.route({
    method: 'PUT',
    url: '/api/session/locale',
    config: { roles: ['operator', 'grid_worker', 'supervisor', 'admin'] },
    schema: { tags: ['session'], summary: "Remember the user's language (zh-CN or en)", body: z.object({ locale: Locale }), response: { 200: User, 400: ApiError } },
    handler: async (req) => {
      const u = userOf(req);
      await setUserLocale(deps.users, u.username, req.body.locale);
      return { ...u, locale: req.body.locale };
    },
  });
}

export function timezoneOf(deps: HttpDeps, user: { centerId: string | null }): string {
  return (user.centerId ? deps.registry.center(user.centerId)?.timezone : undefined) ?? deps.config.timezone;
}

function centerNameOf(deps: HttpDeps, user: { centerId: string | null }): string | null {
  return user.centerId ? deps.registry.center(user.centerId)?.name ?? user.centerId : null;
}

function displayNameOf(deps: HttpDeps, user: { personId: string | null; username: string }): string {
  return (user.personId ? deps.registry.person(user.personId)?.name : undefined) ?? user.username;
}
