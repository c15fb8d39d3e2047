// Issue 17 point 6, the map of sites: every site of the caller's center with its coordinates, its
// live colour (red / yellow from open incidents, grey while a device is offline, else green), its
// devices (so the console can patch presence events in place) and its open incidents. The tiles
// come from http.map.tileUrl when one is configured; without one the console draws the sites on a
// plain grid of their coordinates and fetches nothing.
import { z } from 'zod';
import { ApiError } from '../http-errors.ts';
import { userOf, type App, type HttpDeps } from '../kit.ts';
import { listAll } from '../overview.ts';

const MapIncident = z.object({ id: z.string(), level: z.string(), state: z.string(), title: z.object({ en: z.string(), zh: z.string() }), openedAt: z.number() });
export const SiteColour = z.enum(['red', 'yellow', 'green', 'grey']);
const MapSite = z.object({
  id: z.string(), name: z.string(), kind: z.string(), address: z.string(), centerId: z.string(),
  lat: z.number().nullable(), lon: z.number().nullable(),
  colour: SiteColour,
  devices: z.array(z.object({ id: z.string(), online: z.boolean().nullable() })),
  open: z.array(MapIncident),
});
export const SiteMap = z.object({
  tiles: z.object({ url: z.string(), attribution: z.string(), maxZoom: z.number() }),
  sites: z.array(MapSite),
});
export type SiteMap = z.infer<typeof SiteMap>;

/** Red over everything; then grey (a device silent: its risk is not being watched); then yellow; else green. */
export function colourOf(open: readonly { level: string }[], devicesOnline: readonly (boolean | null)[]): z.infer<typeof SiteColour> {
  if (open.some((i) => i.level === 'red')) return 'red';
  if (devicesOnline.some((o) => o === false)) return 'grey';
  if (open.some((i) => i.level === 'yellow')) return 'yellow';
  return 'green';
}

/** The origin a tile template loads from, for the pages' img-src (`{s}` subdomains as a wildcard); none for a path on this server. */
export function tileOrigin(url: string): string | undefined {
  const m = /^(https?:\/\/)([^/?#]+)/i.exec(url);
  if (!m) return undefined;
  return `${m[1]!.toLowerCase()}${m[2]!.replace(/^\{s\}\./, '*.')}`;
}

export function mapRoutes(app: App, deps: HttpDeps): void {
  app.route({
    method: 'GET',
    url: '/api/map',
    config: { roles: ['operator', 'supervisor', 'admin'] },
    schema: {
      tags: ['sites'],
      summary: 'The sites of the caller\'s center with coordinates, live colour, devices and open incidents, and the configured tile source (empty: draw on a plain grid)',
      response: { 200: SiteMap, 401: ApiError, 403: ApiError },
    },
    handler: async (req) => {
      const user = userOf(req);
      const center = user.centerId ?? undefined;
      const open = new Map<string, z.infer<typeof MapIncident>[]>();
      for (const i of await listAll(deps.incidents, { active: true, ...(center ? { centerId: center } : {}) })) {
        if (i.level === 'green') continue;
        open.set(i.siteId, [...(open.get(i.siteId) ?? []), { id: i.id, level: i.level, state: i.state, title: i.title, openedAt: i.openedAt }]);
      }
      const sites = deps.registry.sites().filter((s) => !center || s.centerId === center).map((s) => {
        const devices = deps.registry.devicesOfSite(s.id).filter((d) => d.enabled).map((d) => ({ id: d.id, online: deps.deviceState?.(d.id)?.online ?? null }));
        const incidents = (open.get(s.id) ?? []).sort((a, b) => (a.level === 'red' ? 0 : 1) - (b.level === 'red' ? 0 : 1) || b.openedAt - a.openedAt);
        return {
          id: s.id, name: s.name, kind: s.kind, address: s.address, centerId: s.centerId, lat: s.lat ?? null, lon: s.lon ?? null,
          colour: colourOf(incidents, devices.map((d) => d.online)), devices, open: incidents,
        };
      });
      const m = deps.config.map;
      return { tiles: { url: m.tileUrl, attribution: m.attribution, maxZoom: m.maxZoom }, sites };
    },
  });
}
