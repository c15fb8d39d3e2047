// Issue 18 point 8: residents' personal data over HTTP, for a center's supervisors and admins:
// the export of everything held about one resident, the record of who read it, and (admins) the
// erasure. Scoped like everything else: another center's site is answered as not there.
import { z } from 'zod';
import { ErasureResult, PrivacyExport, ReadRow } from '../../contracts/privacy.ts';
import type { PrivacyService } from '../../contracts/privacy.ts';
import { ApiError, httpError } from '../http-errors.ts';
import { actorOf, userOf, type App, type HttpDeps } from '../kit.ts';
import type { User } from '../users.ts';

const Id = z.object({ id: z.string().min(1).max(64).describe('Site id') });
const EraseBody = z.object({ reason: z.string().trim().min(1).max(500).describe('The request this erasure answers (not the person\'s name): recorded in the audit trail') });
const ReadsQuery = z.object({
  siteId: z.string().max(64).optional(),
  username: z.string().max(64).optional(),
  before: z.coerce.number().int().min(1).max(Number.MAX_SAFE_INTEGER).optional().describe('Rows with a smaller id (paging)'),
  limit: z.coerce.number().int().min(1).max(1000).default(200),
});
const errors = { 400: ApiError, 401: ApiError, 403: ApiError, 404: ApiError, 409: ApiError };

export function privacyRoutes(app: App, deps: HttpDeps): void {
  const privacy = deps.privacy;
  if (!privacy) return;
  /** Only site ids over HTTP (a name or a phone in a URL ends up in logs); scoped by center. */
  const siteIn = (p: PrivacyService, id: string, user: User): string => {
    const site = deps.registry.site(id);
    if (!site || (user.centerId && site.centerId !== user.centerId)) throw httpError('WF_PRIVACY_NOT_FOUND', `No site ${id}`);
    return p.resolve(site.id).siteId;
  };

  app.route({
    method: 'GET',
    url: '/api/privacy/export/:id',
    config: { roles: ['supervisor', 'admin'] },
    schema: { tags: ['privacy'], summary: 'Everything held about the resident of a site (PIPL access request): registry entry, incidents with timeline and notifications, reports naming them, erasures, reads. Recorded as a read', params: Id, response: { 200: PrivacyExport, ...errors } },
    handler: async (req) => {
      const user = userOf(req);
      return privacy.export(siteIn(privacy, req.params.id, user), { username: user.username, role: user.role, centerId: user.centerId });
    },
  });

  app.route({
    method: 'POST',
    url: '/api/privacy/erase/:id',
    config: { roles: ['admin'] },
    schema: { tags: ['privacy'], summary: 'Erase the personal data of the resident and contacts of a site everywhere (PIPL deletion request); refused while an incident there is open. The audit trail keeps every entry and records the erasure', params: Id, body: EraseBody, response: { 200: ErasureResult, ...errors } },
    handler: async (req) => {
      const user = userOf(req);
      return privacy.erase(siteIn(privacy, req.params.id, user), actorOf(user), req.body.reason);
    },
  });

  app.route({
    method: 'GET',
    url: '/api/privacy/reads',
    config: { roles: ['supervisor', 'admin'] },
    schema: { tags: ['privacy'], summary: "Who read residents' personal data, newest first (one row per user and resource per few minutes)", querystring: ReadsQuery, response: { 200: z.object({ reads: z.array(ReadRow) }), ...errors } },
    handler: async (req) => {
      const user = userOf(req);
      const q = req.query;
      return { reads: await privacy.reads.list({ siteId: q.siteId, username: q.username, before: q.before, limit: q.limit, ...(user.centerId ? { centerId: user.centerId } : {}) }) };
    },
  });
}
