// Issue 16 point 5: who sees what, in one place. A center's staff see their center; a grid worker
// sees the personal data (residents' phones, notes, contacts) of the homes of their grid and of
// their tasks only; people, dead letters, streams and dispatch targets follow the same scope.
// A thing out of scope is answered like a thing that does not exist (404), so ids stay private.
import type { Incident, IncidentService } from '../contracts/incidents.ts';
import type { RegistryReader } from '../contracts/ports.ts';
import type { Person, Role, Site } from '../contracts/registry.ts';
import { actorOf } from './kit.ts';
import type { User } from './users.ts';

export interface ScopeDeps {
  registry: RegistryReader;
  incidents: IncidentService;
}

/** May this user open this site (its resident, contacts, devices, chart, live readings)? */
export async function canSeeSite(deps: ScopeDeps, user: User, site: Site): Promise<boolean> {
  if (user.centerId && site.centerId !== user.centerId) return false;
  if (user.role !== 'grid_worker') return true;
  const me = actorOf(user);
  if (site.gridId && deps.registry.grid(site.gridId)?.workerId === me) return true;
  // A home of one of their tasks, open or closed: they went there and may need to call back.
  return (await deps.incidents.list({ siteId: site.id, assignee: me, limit: 1 })).length > 0;
}

/** Device ids a center-bound user may read dead letters of; undefined: everything (no center). */
export function devicesInScope(registry: RegistryReader, user: User): string[] | undefined {
  if (!user.centerId) return undefined;
  const ids: string[] = [];
  for (const d of registry.all()) if (d.centerId === user.centerId) ids.push(d.id);
  return ids;
}

/** People a user may list (and so see the phones of): their own center's, or all for center-less staff. */
export function peopleInScope(registry: RegistryReader, user: User, centerId: string | undefined): Person[] {
  const center = user.centerId ?? centerId;
  return registry.people().filter((p) => !center || p.centerId === center);
}

/**
 * Why this person may not take this incident, or undefined when they may: the person must exist,
 * belong to the incident's center (an operator of another center could never see the task), and
 * hold a role the deployment allows dispatch to (http.dispatchRoles).
 */
export function dispatchRefusal(registry: RegistryReader, inc: Incident, personId: string, roles: readonly Role[]): string | undefined {
  const p = registry.person(personId);
  if (!p) return `no person ${personId} in the registry`;
  if (p.centerId !== inc.centerId) return `${personId} is not of the incident's center ${inc.centerId}`;
  if (!roles.includes(p.role)) return `a ${p.role} cannot be dispatched to; allowed: ${roles.join(', ')}`;
  return undefined;
}
