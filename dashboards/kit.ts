// Shared pieces of the HTTP layer: the app type with the zod type provider, the role
// declaration every route carries, and who the caller is.
import type { ConsoleRelay } from '../contracts/cluster.ts';
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest, RawReplyDefaultExpression, RawRequestDefaultExpression, RawServerDefault } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Database } from 'better-sqlite3';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { EventBus } from '../contracts/bus.ts';
import type { AckLinks, IncidentService, Incident } from '../contracts/incidents.ts';
import type { DeadLetterStore, InfluxQuery, RegistryReader } from '../contracts/ports.ts';
import type { Config } from '../contracts/config.ts';
import type { LongTermReads } from '../contracts/downsampling.ts';
import type { PrivacyService, ReadResource } from '../contracts/privacy.ts';
import type { Site } from '../contracts/registry.ts';
import type { UserStorage } from '../contracts/storage.ts';
import type { User, UserRole } from './users.ts';
import { httpError } from './http-errors.ts';

/** Who may call a route: a list of roles, or 'public' (login, health, docs). Nothing else. */
export type Roles = readonly UserRole[] | 'public';

declare module 'fastify' {
  interface FastifyContextConfig {
    roles?: Roles;
  }
  interface FastifyRequest {
    user: User | null;
    csrf: string | null;
  }
}

export type App = FastifyInstance<RawServerDefault, RawRequestDefaultExpression, RawReplyDefaultExpression, FastifyBaseLogger, ZodTypeProvider>;

export interface DeviceLive {
  online: boolean;
  lastSeen?: number;
  last?: Record<string, number | string>;
}

/** Who is on duty at a center (alerts' roster, handed in by app/): the shift handover's default range and names. */
export interface DutyNow {
  readonly shifts: ReadonlyArray<{ readonly shift: { readonly id: string; readonly name: string }; readonly startedAt: number; readonly endsAt: number }>;
  readonly operators: ReadonlyArray<{ readonly name: string }>;
  readonly supervisors: ReadonlyArray<{ readonly name: string }>;
}

export interface HttpDeps {
  config: Config['http'] & { timezone: string };
  db: Database;
  /**
   * Console users and sessions (issue 21 point 2): on the embedded SQLite file, or on the
   * PostgreSQL all nodes share (`storage.postgresUrl`), so that any node opens any node's session.
   */
  users: UserStorage;
  registry: RegistryReader;
  incidents: IncidentService;
  bus: EventBus;
  influx?: InfluxQuery | undefined;
  /** Set when InfluxDB keeps 5-minute aggregates (contracts/downsampling.ts): long charts read them. */
  longTerm?: LongTermReads | undefined;
  deadLetters?: DeadLetterStore | undefined;
  metrics: Registry;
  health: () => { live: boolean; ready: boolean; checks: Record<string, boolean | string> };
  rules?: { reload(input: unknown): { ok: true } | { ok: false; errors: string[] } } | undefined;
  deviceState?: ((deviceId: string) => DeviceLive | undefined) | undefined;
  /** The roster's shifts on duty at a center at a moment (issue 17 point 6: the handover's default range). */
  onDuty?: ((centerId: string, at: number) => DutyNow) | undefined;
  logger: Logger;
  clock?: { now(): number } | undefined;
  /** scrypt cost for passwords set through the API (default DEFAULT_SCRYPT; tests lower it). */
  passwordCost?: { N: number; r: number; p: number } | undefined;
  /** Where the static files are (default dashboards/public). */
  publicDir?: string | undefined;
  /**
   * Routes of other modules served on this server outside the console's session gate, each in its
   * own encapsulated scope (issue 20: NB-IoT platform push endpoints, authenticated by their own
   * signatures). Only app/ hands these in.
   */
  plugins?: ReadonlyArray<(app: FastifyInstance) => Promise<void>> | undefined;
  /** Cluster mode (issue 21 point 5): the console stream's events cross between nodes. */
  consoleRelay?: ConsoleRelay | undefined;
  /** Issue 19 point 5: the one-tap acknowledge links in messages (/ack/:token); absent: no such page. */
  ackLinks?: AckLinks | undefined;
  /** Residents' personal data (issue 18 point 8): export, erase, and the record of who read it. */
  privacy?: PrivacyService | undefined;
}

export const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export function userOf(req: FastifyRequest): User {
  if (!req.user) throw httpError('WF_HTTP_UNAUTHENTICATED', 'Log in first');
  return req.user;
}

/** The actor of transitions: the user's registry person, or the login name when unlinked. */
export function actorOf(user: User): string {
  return user.personId ?? user.username;
}

/** Can this user see this incident? Center users see their center; grid workers their tasks. */
export function canSee(user: User, inc: Incident): boolean {
  if (user.centerId && inc.centerId !== user.centerId) return false;
  if (user.role === 'grid_worker') return inc.assignee === actorOf(user);
  return true;
}

export function rolesText(roles: Roles): string {
  return roles === 'public' ? 'Roles: public (no login).' : `Roles: ${roles.join(', ')}.`;
}

/** Does this site hold a person's data (a resident, emergency contacts)? */
export function personalSite(site: Site | undefined): boolean {
  return !!site && (site.resident !== undefined || site.contacts.length > 0);
}

/**
 * Issue 18 point 8: a read of residents' personal data is recorded (privacy/reads.ts keeps one row
 * per user and resource per few minutes). A failure to record is logged, never a refused read: the
 * console of an emergency in progress must answer.
 */
export function auditRead(deps: HttpDeps, req: FastifyRequest, resource: ReadResource, resourceId: string | null, siteId: string | null, centerId: string | null): void {
  const user = req.user;
  if (!user || !deps.privacy) return;
  // Not awaited: the read is answered while its row is written (on PostgreSQL, over the network).
  deps.privacy.reads.record({ username: user.username, role: user.role, centerId: user.centerId }, resource, resourceId, siteId, centerId)
    .catch((err: unknown) => req.log.error({ err, resource, resourceId }, 'could not record a read of personal data'));
}
