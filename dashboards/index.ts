// The HTTP side of Watchfire: the JSON API (schemas from contracts/, OpenAPI at /docs), the live
// stream, the operator console and the grid worker's page as static files, health and metrics.
import Fastify, { LogController } from 'fastify';
import cookie from '@fastify/cookie';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import fastifyStatic from '@fastify/static';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { jsonSchemaTransform, serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Lifecycle } from '../contracts/ports.ts';
import { errorHandler } from './http-errors.ts';
import { installAuth } from './auth.ts';
import { aggregateRefusals, createLoginGuard } from './login-guard.ts';
import { rolesText, type App, type HttpDeps, type Roles } from './kit.ts';
import { incidentRoutes } from './routes/incidents.ts';
import { siteRoutes } from './routes/sites.ts';
import { opsRoutes } from './routes/ops.ts';
import { shiftRoutes } from './routes/shift.ts';
import { ackRoutes } from './routes/ack.ts';
import { handoverRoutes } from './routes/handover.ts';
import { mapRoutes, tileOrigin } from './routes/map.ts';
import { privacyRoutes } from './routes/privacy.ts';
import { createStreamHub } from './stream.ts';
import { createHttpMetrics } from './metrics.ts';
import { viewOf } from './views.ts';
import { createListener, warnIfPlainText, type TlsEvents } from './tls.ts';
import type { EventEmitter } from 'node:events';

export type { HttpDeps } from './kit.ts';
export { createUser, setUserPassword, listUsers, findUser, countAdmins, USER_ROLES, type User, type UserRole } from './users.ts';
export { CSRF_HEADER, SESSION_COOKIE } from './auth.ts';

// Pages are our own files only: no inline script, no third-party origin (OWASP CSP cheat sheet).
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; media-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

const DOCS_CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'";
const LOGIN_OUTCOME: Record<number, string> = { 200: 'ok', 429: 'rate_limited', 503: 'busy' };

export interface RouteInfo {
  method: string;
  url: string;
  roles: Roles | undefined;
}

export function createHttpServer(deps: HttpDeps): Lifecycle & { app: App; address(): { port: number }; routes(): RouteInfo[]; tlsEvents: EventEmitter<TlsEvents> } {
  const publicDir = deps.publicDir ?? fileURLToPath(new URL('./public/', import.meta.url));
  // The map's tiles (http.map.tileUrl) are the one image source from elsewhere a deployment may name.
  const tiles = tileOrigin(deps.config.map.tileUrl);
  const pageCsp = tiles ? CSP.replace("img-src 'self' data:", `img-src 'self' data: ${tiles}`) : CSP;
  const listener = createListener(deps.config.tls, deps.logger);
  const app = Fastify({
    serverFactory: listener.factory,
    loggerInstance: deps.logger,
    // Per-request lines would drown the log (consoles poll and stream all shift); errors are logged.
    logController: new LogController({ disableRequestLogging: true }),
    // Phones on a flaky mobile link in a stairwell: do not hold sockets forever, but be patient.
    requestTimeout: 30_000,
    bodyLimit: 1024 * 1024,
    // stop() must not wait on browsers holding keep-alive sockets open.
    forceCloseConnections: true,
  }).withTypeProvider<ZodTypeProvider>() as unknown as App;
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler(errorHandler(deps.logger));

  const hub = createStreamHub({
    bus: deps.bus,
    view: (inc) => viewOf(deps.registry, inc, deps.config.timezone),
    onDrop: (reason) => metrics.sseDrops.inc({ reason }),
    centerOf: (deviceId) => deps.registry.get(deviceId)?.centerId,
    relay: deps.consoleRelay,
  });
  const now = () => deps.clock?.now() ?? Date.now();
  const guard = createLoginGuard(deps.config.login, { now, onRefuse: aggregateRefusals(deps.logger, now) });
  const metrics = createHttpMetrics(deps.metrics, { incidents: deps.incidents, sseClients: () => hub.clients(), logins: () => guard.stats() });

  const table: RouteInfo[] = [];
  app.addHook('onRoute', (r) => {
    const methods = Array.isArray(r.method) ? r.method : [r.method];
    const roles = r.config?.roles;
    for (const m of methods) if (m !== 'HEAD') table.push({ method: m, url: r.url, roles });
    // Each route says in its OpenAPI entry who may call it, from the same declaration the gate uses.
    if (roles && r.schema) r.schema.description = [rolesText(roles), r.schema.description].filter(Boolean).join(' ');
  });
  // RFC 6797: under HTTPS (here or at the proxy publicUrl names), browsers must not fall back to HTTP.
  const hsts = (deps.config.tls || deps.config.publicUrl.startsWith('https:')) && deps.config.hstsMaxAgeSec > 0 ? `max-age=${deps.config.hstsMaxAgeSec}` : undefined;
  app.addHook('onSend', async (_req, reply, payload) => {
    void reply.header('x-content-type-options', 'nosniff').header('referrer-policy', 'same-origin');
    if (hsts) void reply.header('strict-transport-security', hsts);
    return payload;
  });
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    metrics.requests.inc({ method: req.method, route, status: String(reply.statusCode) });
    if (route === '/api/auth/login') metrics.logins.inc({ outcome: LOGIN_OUTCOME[reply.statusCode] ?? 'refused' });
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send({ code: 'WF_HTTP_NOT_FOUND', message: `No route ${req.method} ${req.url.split('?')[0]}` });
  });

  void app.register(cookie);
  void app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Watchfire API',
        version: '1',
        description: 'Incidents, sites and the three-colour overview of Watchfire. Log in with POST /api/auth/login; writes need the X-CSRF-Token header from the login answer. Every route states the roles that may call it.',
      },
      components: { securitySchemes: { session: { type: 'apiKey', in: 'cookie', name: 'wf_session' }, metricsToken: { type: 'http', scheme: 'bearer' } } },
      security: [{ session: [] }],
    },
    transform: jsonSchemaTransform,
  });
  // Swagger UI's page loads only its own files (no inline script): the same strict policy as the
  // console's pages, styles inline allowed for the UI's components (issue 16 point 4).
  void app.register(swaggerUi, { routePrefix: '/docs', staticCSP: DOCS_CSP });
  for (const plugin of deps.plugins ?? []) void app.register(plugin as unknown as Parameters<App['register']>[0]);
  void app.register(async (api: App) => {
    await installAuth(api, deps, guard);
    incidentRoutes(api, deps);
    siteRoutes(api, deps);
    opsRoutes(api, deps, hub);
    shiftRoutes(api, deps);
    if (deps.ackLinks) {
      const links = deps.ackLinks;
      await api.register(async (scope: App) => ackRoutes(scope, links));
    }
    handoverRoutes(api, deps);
    mapRoutes(api, deps);
    privacyRoutes(api, deps);
    await api.register(fastifyStatic, {
      root: publicDir,
      prefix: '/',
      index: ['index.html'],
      setHeaders: (res, path) => {
        if (path.endsWith('.html')) void res.header('content-security-policy', pageCsp);
      },
    });
  });

  let listening = false;
  return {
    app,
    routes: () => [...table],
    tlsEvents: listener.events,
    async start() {
      listener.start();
      warnIfPlainText(deps.config, deps.logger);
      hub.start();
      await app.listen({ host: deps.config.host, port: deps.config.port });
      listening = true;
    },
    async stop() {
      listener.stop();
      // Streams first: an open EventSource would otherwise keep close() waiting.
      hub.stop();
      await app.close();
      listening = false;
    },
    address() {
      if (!listening) throw new Error('HTTP server is not listening');
      return { port: (app.server.address() as AddressInfo).port };
    },
  };
}
