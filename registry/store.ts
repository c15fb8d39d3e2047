// The registry's tables. Each entity is stored as its validated JSON (the single source of its
// shape, so a new optional field needs no migration) plus the columns queries need. A device's
// secret hash lives in its own column and never in the JSON, so nothing that serialises a
// device can leak it. The tables themselves come from the migration list in app/migrations/.
import type { Database, Statement } from 'better-sqlite3';
import { Center, Device, Grid, Person, Roster, Site } from '../contracts/registry.ts';
import type { RegistryFile } from '../contracts/registry.ts';
import { WatchfireError, formatIssues } from '../contracts/errors.ts';

export type Kind = 'center' | 'grid' | 'site' | 'device' | 'person' | 'roster';

export const TABLE: Record<Kind, { table: string; key: string }> = {
  center: { table: 'registry_centers', key: 'id' },
  grid: { table: 'registry_grids', key: 'id' },
  site: { table: 'registry_sites', key: 'id' },
  device: { table: 'registry_devices', key: 'id' },
  person: { table: 'registry_people', key: 'id' },
  roster: { table: 'registry_rosters', key: 'center_id' },
};

/** Everything stored, parsed again with the current schemas (defaults of new fields apply). */
export interface Loaded {
  file: RegistryFile;
  hashes: Map<string, string>;
}

export function loadAll(db: Database): Loaded {
  const problems: string[] = [];
  const read = <T>(table: string, key: string, schema: { safeParse(v: unknown): { success: true; data: T } | { success: false; error: { issues: Array<{ path: PropertyKey[]; message: string }> } } }): T[] => {
    const out: T[] = [];
    for (const row of db.prepare(`SELECT ${key} AS k, json FROM ${table} ORDER BY rowid`).all() as Array<{ k: string; json: string }>) {
      const r = schema.safeParse(JSON.parse(row.json));
      if (r.success) out.push(r.data);
      else problems.push(...formatIssues(r.error.issues).map((p) => `${table}["${row.k}"].${p}`));
    }
    return out;
  };
  const file: RegistryFile = {
    centers: read('registry_centers', 'id', Center),
    grids: read('registry_grids', 'id', Grid),
    sites: read('registry_sites', 'id', Site),
    devices: read('registry_devices', 'id', Device),
    people: read('registry_people', 'id', Person),
    rosters: read('registry_rosters', 'center_id', Roster),
  };
  // A stored row that no longer parses would make its device "unknown" and its alarms rejected:
  // refuse to start and say which rows, rather than run with holes in the registry.
  if (problems.length) throw new WatchfireError('WF_REGISTRY_INVALID', 'Stored registry rows fail validation', problems);
  const hashes = new Map<string, string>();
  for (const row of db.prepare('SELECT id, secret_hash FROM registry_devices WHERE secret_hash IS NOT NULL').all() as Array<{ id: string; secret_hash: string }>) {
    hashes.set(row.id, row.secret_hash);
  }
  return { file, hashes };
}

/** Prepared statements of every write; prepared once in start(). */
export function prepareWrites(db: Database) {
  const s = {
    center: db.prepare(`INSERT INTO registry_centers (id, json, updated_at) VALUES (@id, @json, @at)
      ON CONFLICT(id) DO UPDATE SET json = excluded.json, updated_at = excluded.updated_at`),
    grid: db.prepare(`INSERT INTO registry_grids (id, center_id, worker_id, json, updated_at) VALUES (@id, @centerId, @workerId, @json, @at)
      ON CONFLICT(id) DO UPDATE SET center_id = excluded.center_id, worker_id = excluded.worker_id, json = excluded.json, updated_at = excluded.updated_at`),
    site: db.prepare(`INSERT INTO registry_sites (id, kind, center_id, grid_id, json, updated_at) VALUES (@id, @kind, @centerId, @gridId, @json, @at)
      ON CONFLICT(id) DO UPDATE SET kind = excluded.kind, center_id = excluded.center_id, grid_id = excluded.grid_id, json = excluded.json, updated_at = excluded.updated_at`),
    // COALESCE keeps the stored hash when the incoming device carries none.
    device: db.prepare(`INSERT INTO registry_devices (id, type, site_id, enabled, secret_hash, json, updated_at) VALUES (@id, @type, @siteId, @enabled, @secretHash, @json, @at)
      ON CONFLICT(id) DO UPDATE SET type = excluded.type, site_id = excluded.site_id, enabled = excluded.enabled,
        secret_hash = COALESCE(excluded.secret_hash, registry_devices.secret_hash), json = excluded.json, updated_at = excluded.updated_at`),
    person: db.prepare(`INSERT INTO registry_people (id, role, center_id, json, updated_at) VALUES (@id, @role, @centerId, @json, @at)
      ON CONFLICT(id) DO UPDATE SET role = excluded.role, center_id = excluded.center_id, json = excluded.json, updated_at = excluded.updated_at`),
    roster: db.prepare(`INSERT INTO registry_rosters (center_id, json, updated_at) VALUES (@centerId, @json, @at)
      ON CONFLICT(center_id) DO UPDATE SET json = excluded.json, updated_at = excluded.updated_at`),
    secret: db.prepare('UPDATE registry_devices SET secret_hash = ?, provisioned_at = ?, updated_at = ? WHERE id = ?'),
    remove: Object.fromEntries(Object.entries(TABLE).map(([k, t]) => [k, db.prepare(`DELETE FROM ${t.table} WHERE ${t.key} = ?`)])) as Record<Kind, Statement>,
  };
  return {
    center: (c: Center, at: number) => s.center.run({ id: c.id, json: JSON.stringify(c), at }),
    grid: (g: Grid, at: number) => s.grid.run({ id: g.id, centerId: g.centerId, workerId: g.workerId ?? null, json: JSON.stringify(g), at }),
    site: (x: Site, at: number) => s.site.run({ id: x.id, kind: x.kind, centerId: x.centerId, gridId: x.gridId ?? null, json: JSON.stringify(x), at }),
    device: (d: Device, at: number) => {
      const { secretHash, ...rest } = d;
      s.device.run({ id: d.id, type: d.type, siteId: d.siteId, enabled: d.enabled ? 1 : 0, secretHash: secretHash ?? null, json: JSON.stringify(rest), at });
    },
    person: (p: Person, at: number) => s.person.run({ id: p.id, role: p.role, centerId: p.centerId ?? null, json: JSON.stringify(p), at }),
    roster: (r: Roster, at: number) => s.roster.run({ centerId: r.centerId, json: JSON.stringify(r), at }),
    secret: (deviceId: string, hash: string, at: number) => s.secret.run(hash, at, at, deviceId),
    remove: (kind: Kind, id: string) => s.remove[kind].run(id),
  };
}
export type Writes = ReturnType<typeof prepareWrites>;
