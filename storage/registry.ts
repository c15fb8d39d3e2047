// The registry's tables behind the storage seam (contracts/storage.ts): the SQL of
// registry/store.ts as one set of kysely queries for SQLite and PostgreSQL. Each entity is stored
// as its validated JSON plus the columns queries need; a device's secret hash lives in its own
// column, never in the JSON. The embedded registry keeps registry/store.ts (synchronous, loaded
// once into memory).
import { sql } from 'kysely';
import { WatchfireError, formatIssues } from '../contracts/errors.ts';
import { Center, Device, Grid, Person, Roster, Site } from '../contracts/registry.ts';
import type { RegistryFile } from '../contracts/registry.ts';
import type { RegistryEntity, RegistryKind, RegistryStorage } from '../contracts/storage.ts';
import type { SqlRunner } from './sql.ts';

export interface RegistryStorageDeps {
  sql: SqlRunner;
}

const TABLE = {
  center: { table: 'registry_centers', key: 'id' },
  grid: { table: 'registry_grids', key: 'id' },
  site: { table: 'registry_sites', key: 'id' },
  device: { table: 'registry_devices', key: 'id' },
  person: { table: 'registry_people', key: 'id' },
  roster: { table: 'registry_rosters', key: 'center_id' },
} as const satisfies Record<RegistryKind, { table: string; key: string }>;

interface Parser<T> {
  safeParse(v: unknown): { success: true; data: T } | { success: false; error: { issues: Array<{ path: PropertyKey[]; message: string }> } };
}

export function createRegistryStorage(deps: RegistryStorageDeps): RegistryStorage {
  const { q, dialect } = deps.sql;
  // The order rows were first stored in: SQLite's rowid (an upsert keeps it), PostgreSQL's `pos`
  // identity (storage/postgres-migrations.ts).
  const firstStored = sql.raw(dialect === 'postgres' ? 'pos' : 'rowid');

  function readAll(kind: RegistryKind) {
    const { table, key } = TABLE[kind];
    return sql<{ k: string; json: string }>`SELECT ${sql.ref(key)} AS k, json FROM ${sql.table(table)} ORDER BY ${firstStored}`.compile(q);
  }

  function parse<T>(kind: RegistryKind, rows: unknown[], schema: Parser<T>, problems: string[]): T[] {
    const out: T[] = [];
    for (const row of rows as Array<{ k: string; json: string }>) {
      const r = schema.safeParse(JSON.parse(row.json));
      if (r.success) out.push(r.data);
      else problems.push(...formatIssues(r.error.issues).map((p) => `${TABLE[kind].table}["${row.k}"].${p}`));
    }
    return out;
  }

  function upsertOne(e: RegistryEntity, at: number) {
    switch (e.kind) {
      case 'center': {
        const c = e.value;
        return q.insertInto('registry_centers').values({ id: c.id, json: JSON.stringify(c), updated_at: at })
          .onConflict((oc) => oc.column('id').doUpdateSet((eb) => ({ json: eb.ref('excluded.json'), updated_at: eb.ref('excluded.updated_at') })));
      }
      case 'grid': {
        const g = e.value;
        return q.insertInto('registry_grids').values({ id: g.id, center_id: g.centerId, worker_id: g.workerId ?? null, json: JSON.stringify(g), updated_at: at })
          .onConflict((oc) => oc.column('id').doUpdateSet((eb) => ({
            center_id: eb.ref('excluded.center_id'), worker_id: eb.ref('excluded.worker_id'), json: eb.ref('excluded.json'), updated_at: eb.ref('excluded.updated_at'),
          })));
      }
      case 'site': {
        const s = e.value;
        return q.insertInto('registry_sites').values({ id: s.id, kind: s.kind, center_id: s.centerId, grid_id: s.gridId ?? null, json: JSON.stringify(s), updated_at: at })
          .onConflict((oc) => oc.column('id').doUpdateSet((eb) => ({
            kind: eb.ref('excluded.kind'), center_id: eb.ref('excluded.center_id'), grid_id: eb.ref('excluded.grid_id'),
            json: eb.ref('excluded.json'), updated_at: eb.ref('excluded.updated_at'),
          })));
      }
      case 'device': {
        const { secretHash, ...rest } = e.value;
        return q.insertInto('registry_devices').values({
          id: rest.id, type: rest.type, site_id: rest.siteId, enabled: rest.enabled ? 1 : 0, secret_hash: secretHash ?? null, json: JSON.stringify(rest), updated_at: at,
        }).onConflict((oc) => oc.column('id').doUpdateSet((eb) => ({
          type: eb.ref('excluded.type'), site_id: eb.ref('excluded.site_id'), enabled: eb.ref('excluded.enabled'),
          // Keeps the stored hash when the incoming device carries none.
          secret_hash: eb.fn.coalesce('excluded.secret_hash', 'registry_devices.secret_hash'),
          json: eb.ref('excluded.json'), updated_at: eb.ref('excluded.updated_at'),
        })));
      }
      case 'person': {
        const p = e.value;
        return q.insertInto('registry_people').values({ id: p.id, role: p.role, center_id: p.centerId ?? null, json: JSON.stringify(p), updated_at: at })
          .onConflict((oc) => oc.column('id').doUpdateSet((eb) => ({
            role: eb.ref('excluded.role'), center_id: eb.ref('excluded.center_id'), json: eb.ref('excluded.json'), updated_at: eb.ref('excluded.updated_at'),
          })));
      }
      case 'roster': {
        const r = e.value;
        return q.insertInto('registry_rosters').values({ center_id: r.centerId, json: JSON.stringify(r), updated_at: at })
          .onConflict((oc) => oc.column('center_id').doUpdateSet((eb) => ({ json: eb.ref('excluded.json'), updated_at: eb.ref('excluded.updated_at') })));
      }
    }
  }

  return {
    async load() {
      // One snapshot: another node's import or removal lands wholly before or after this load.
      const [centers, grids, sites, devices, people, rosters, hashRows] = await deps.sql.snapshot([
        readAll('center'), readAll('grid'), readAll('site'), readAll('device'), readAll('person'), readAll('roster'),
        q.selectFrom('registry_devices').select(['id', 'secret_hash']).where('secret_hash', 'is not', null),
      ]);
      const problems: string[] = [];
      const file: RegistryFile = {
        centers: parse('center', centers!, Center, problems),
        grids: parse('grid', grids!, Grid, problems),
        sites: parse('site', sites!, Site, problems),
        devices: parse('device', devices!, Device, problems),
        people: parse('person', people!, Person, problems),
        rosters: parse('roster', rosters!, Roster, problems),
      };
      // A stored row that no longer parses would make its device "unknown" and its alarms
      // rejected: refuse and say which rows, rather than run with holes in the registry.
      if (problems.length) throw new WatchfireError('WF_REGISTRY_INVALID', 'Stored registry rows fail validation', problems);
      const hashes = new Map<string, string>();
      for (const r of hashRows as Array<{ id: string; secret_hash: string }>) hashes.set(r.id, r.secret_hash);
      return { file, hashes };
    },

    async upsert(entities, at) {
      if (!entities.length) return;
      await deps.sql.batch(entities.map((e) => upsertOne(e, at)));
    },

    async setSecret(deviceId, hash, at) {
      return (await deps.sql.run(q.updateTable('registry_devices').set({ secret_hash: hash, provisioned_at: at, updated_at: at }).where('id', '=', deviceId))) > 0;
    },

    async remove(kind, id) {
      const { table, key } = TABLE[kind];
      return (await deps.sql.run(sql`DELETE FROM ${sql.table(table)} WHERE ${sql.ref(key)} = ${id}`.compile(q))) > 0;
    },
  };
}
