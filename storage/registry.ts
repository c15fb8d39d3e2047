// The registry's tables behind the storage seam (contracts/storage.ts), one set of kysely queries
// for SQLite and PostgreSQL. Each entity is stored as its validated JSON (the single source of its
// shape, so a new optional field needs no migration) plus the columns queries need; a device's
// secret hash lives in its own column, never in the JSON, so nothing that serialises a device can
// leak it. The registry module keeps everything in memory and writes through here.
//
// Issue 21: on PostgreSQL every write also announces what it changed, with pg_notify in its own
// transaction (PostgreSQL delivers a NOTIFY only on commit, once, in commit order), and every
// node's registry LISTENs and re-reads what another node changed. Why NOTIFY rather than Redis
// pub/sub: the announcement commits or rolls back with the write, so no crash between a commit and
// a publish can leave a node behind, and every writer announces by the same code, the command
// line too (wf device disable on any machine reaches every node), with no Redis needed for a
// shared registry.
import { randomUUID } from 'node:crypto';
import { CompiledQuery, sql, type Compilable } from 'kysely';
import { WatchfireError, formatIssues } from '../contracts/errors.ts';
import { Center, Device, Grid, Person, Roster, Site } from '../contracts/registry.ts';
import type { RegistryFile } from '../contracts/registry.ts';
import type { RegistryChange } from '../contracts/ports.ts';
import type { RegistryEntity, RegistryKind, RegistryStorage } from '../contracts/storage.ts';
import { tx, type SqlRunner } from './sql.ts';

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

/** The channel every writer of a shared registry notifies on. */
export const REGISTRY_CHANNEL = 'watchfire_registry';
// PostgreSQL refuses a NOTIFY payload of 8,000 bytes or more: a larger write is announced in parts.
const MAX_PAYLOAD_BYTES = 7_500;
// Ids per IN list: far below SQLite's 32,766 bound variables and PostgreSQL's 65,535.
const IDS_PER_QUERY = 1_000;

const KINDS: readonly RegistryKind[] = ['center', 'grid', 'site', 'device', 'person', 'roster'];
const OPS = { u: 'upsert', r: 'remove' } as const;

/** `{"o":<writer>,"c":[[kind,id,"u"|"r"],…]}`, each at most MAX_PAYLOAD_BYTES. */
export function noticePayloads(origin: string, changes: readonly RegistryChange[]): string[] {
  const head = `{"o":${JSON.stringify(origin)},"c":[`;
  const out: string[] = [];
  let parts: string[] = [];
  let bytes = Buffer.byteLength(head) + 2;
  for (const c of changes) {
    const item = JSON.stringify([c.kind, c.id, c.op === 'upsert' ? 'u' : 'r']);
    const size = Buffer.byteLength(item) + 1;
    if (parts.length && bytes + size > MAX_PAYLOAD_BYTES) {
      out.push(`${head}${parts.join(',')}]}`);
      parts = [];
      bytes = Buffer.byteLength(head) + 2;
    }
    parts.push(item);
    bytes += size;
  }
  if (parts.length) out.push(`${head}${parts.join(',')}]}`);
  return out;
}

/** A notice's writer and changes; undefined when it is not one of ours. */
export function parseNotice(payload: string): { origin: string; changes: RegistryChange[] } | undefined {
  try {
    const v = JSON.parse(payload) as { o?: unknown; c?: unknown };
    if (typeof v.o !== 'string' || !Array.isArray(v.c)) return undefined;
    const changes: RegistryChange[] = [];
    for (const item of v.c as unknown[]) {
      if (!Array.isArray(item)) return undefined;
      const [kind, id, op] = item as unknown[];
      if (!KINDS.includes(kind as RegistryKind) || typeof id !== 'string' || (op !== 'u' && op !== 'r')) return undefined;
      changes.push({ kind: kind as RegistryKind, id, op: OPS[op] });
    }
    return { origin: v.o, changes };
  } catch {
    return undefined;
  }
}

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

  /** The rows of `ids` in chunks, each with its position (sorted on after), devices with their hash. */
  function readSome(kind: RegistryKind, ids: readonly string[]): CompiledQuery<unknown>[] {
    const { table, key } = TABLE[kind];
    const hash = sql.raw(kind === 'device' ? ', secret_hash AS h' : '');
    const out: CompiledQuery<unknown>[] = [];
    for (let i = 0; i < ids.length; i += IDS_PER_QUERY) {
      const some = ids.slice(i, i + IDS_PER_QUERY);
      out.push(sql`SELECT ${sql.ref(key)} AS k, json, ${firstStored} AS p${hash} FROM ${sql.table(table)} WHERE ${sql.ref(key)} IN (${sql.join(some)})`.compile(q));
    }
    return out;
  }

  // Every writer stamps its notices, so that its own watchers skip what it wrote itself.
  const origin = randomUUID();
  /** On PostgreSQL, the statements announcing `changes`, for the end of the write's transaction. */
  function notices(changes: readonly RegistryChange[]): CompiledQuery<unknown>[] {
    if (dialect !== 'postgres') return [];
    return noticePayloads(origin, changes).map((p) => sql`SELECT pg_notify(${REGISTRY_CHANNEL}, ${p})`.compile(q));
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

  /**
   * Each kind's upsert, compiled once: building and compiling a kysely query costs about 50 µs,
   * which an import of 100,000 devices would pay per row (seconds at every start with a
   * registryFile). Compiled with a marker per value, then each row only fills the parameters in.
   */
  function template<K extends string>(keys: readonly K[], build: (v: Record<K, never>) => Compilable<unknown>): (v: Record<K, unknown>) => CompiledQuery<unknown> {
    const marks = Object.fromEntries(keys.map((k) => [k, `\u0000${k}`])) as Record<K, never>;
    const c = build(marks).compile();
    const order = c.parameters.map((p) => {
      const k = keys.find((key) => marks[key] === p);
      if (k === undefined) throw new Error(`registry upsert: a parameter that is not a value (${String(p)})`);
      return k;
    });
    return (v) => CompiledQuery.raw(c.sql, order.map((k) => v[k]));
  }

  const upserts = {
    center: template(['id', 'json', 'at'], (v) => q.insertInto('registry_centers').values({ id: v.id, json: v.json, updated_at: v.at })
      .onConflict((oc) => oc.column('id').doUpdateSet((eb) => ({ json: eb.ref('excluded.json'), updated_at: eb.ref('excluded.updated_at') })))),
    grid: template(['id', 'centerId', 'workerId', 'json', 'at'], (v) => q.insertInto('registry_grids').values({ id: v.id, center_id: v.centerId, worker_id: v.workerId, json: v.json, updated_at: v.at })
      .onConflict((oc) => oc.column('id').doUpdateSet((eb) => ({
        center_id: eb.ref('excluded.center_id'), worker_id: eb.ref('excluded.worker_id'), json: eb.ref('excluded.json'), updated_at: eb.ref('excluded.updated_at'),
      })))),
    site: template(['id', 'kind', 'centerId', 'gridId', 'json', 'at'], (v) => q.insertInto('registry_sites').values({ id: v.id, kind: v.kind, center_id: v.centerId, grid_id: v.gridId, json: v.json, updated_at: v.at })
      .onConflict((oc) => oc.column('id').doUpdateSet((eb) => ({
        kind: eb.ref('excluded.kind'), center_id: eb.ref('excluded.center_id'), grid_id: eb.ref('excluded.grid_id'),
        json: eb.ref('excluded.json'), updated_at: eb.ref('excluded.updated_at'),
      })))),
    device: template(['id', 'type', 'siteId', 'enabled', 'hash', 'json', 'at'], (v) => q.insertInto('registry_devices').values({
      id: v.id, type: v.type, site_id: v.siteId, enabled: v.enabled, secret_hash: v.hash, json: v.json, updated_at: v.at,
    }).onConflict((oc) => oc.column('id').doUpdateSet((eb) => ({
      type: eb.ref('excluded.type'), site_id: eb.ref('excluded.site_id'), enabled: eb.ref('excluded.enabled'),
      // Keeps the stored hash when the incoming device carries none.
      secret_hash: eb.fn.coalesce('excluded.secret_hash', 'registry_devices.secret_hash'),
      json: eb.ref('excluded.json'), updated_at: eb.ref('excluded.updated_at'),
    })))),
    person: template(['id', 'role', 'centerId', 'json', 'at'], (v) => q.insertInto('registry_people').values({ id: v.id, role: v.role, center_id: v.centerId, json: v.json, updated_at: v.at })
      .onConflict((oc) => oc.column('id').doUpdateSet((eb) => ({
        role: eb.ref('excluded.role'), center_id: eb.ref('excluded.center_id'), json: eb.ref('excluded.json'), updated_at: eb.ref('excluded.updated_at'),
      })))),
    roster: template(['centerId', 'json', 'at'], (v) => q.insertInto('registry_rosters').values({ center_id: v.centerId, json: v.json, updated_at: v.at })
      .onConflict((oc) => oc.column('center_id').doUpdateSet((eb) => ({ json: eb.ref('excluded.json'), updated_at: eb.ref('excluded.updated_at') })))),
  };

  function upsertOne(e: RegistryEntity, at: number): CompiledQuery<unknown> {
    switch (e.kind) {
      case 'center':
        return upserts.center({ id: e.value.id, json: JSON.stringify(e.value), at });
      case 'grid': {
        const g = e.value;
        return upserts.grid({ id: g.id, centerId: g.centerId, workerId: g.workerId ?? null, json: JSON.stringify(g), at });
      }
      case 'site': {
        const x = e.value;
        return upserts.site({ id: x.id, kind: x.kind, centerId: x.centerId, gridId: x.gridId ?? null, json: JSON.stringify(x), at });
      }
      case 'device': {
        const { secretHash, ...rest } = e.value;
        return upserts.device({ id: rest.id, type: rest.type, siteId: rest.siteId, enabled: rest.enabled ? 1 : 0, hash: secretHash ?? null, json: JSON.stringify(rest), at });
      }
      case 'person': {
        const p = e.value;
        return upserts.person({ id: p.id, role: p.role, centerId: p.centerId ?? null, json: JSON.stringify(p), at });
      }
      case 'roster':
        return upserts.roster({ centerId: e.value.centerId, json: JSON.stringify(e.value), at });
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

    async get(ids) {
      const queries: Array<{ kind: RegistryKind; query: CompiledQuery<unknown> }> = [];
      for (const kind of KINDS) for (const query of readSome(kind, [...new Set(ids[kind] ?? [])])) queries.push({ kind, query });
      const results = queries.length ? await deps.sql.snapshot(queries.map((x) => x.query)) : [];
      const rows: Record<RegistryKind, Array<{ k: string; json: string; p: number; h?: string | null }>> = { center: [], grid: [], site: [], device: [], person: [], roster: [] };
      queries.forEach((x, i) => rows[x.kind].push(...(results[i] as Array<{ k: string; json: string; p: number; h?: string | null }>)));
      for (const list of Object.values(rows)) list.sort((a, b) => a.p - b.p);
      const problems: string[] = [];
      const file: RegistryFile = {
        centers: parse('center', rows.center, Center, problems),
        grids: parse('grid', rows.grid, Grid, problems),
        sites: parse('site', rows.site, Site, problems),
        devices: parse('device', rows.device, Device, problems),
        people: parse('person', rows.person, Person, problems),
        rosters: parse('roster', rows.roster, Roster, problems),
      };
      if (problems.length) throw new WatchfireError('WF_REGISTRY_INVALID', 'Stored registry rows fail validation', problems);
      const hashes = new Map<string, string>();
      for (const r of rows.device) if (r.h) hashes.set(r.k, r.h);
      return { file, hashes };
    },

    async upsert(entities, at) {
      if (!entities.length) return;
      const announce = notices(entities.map((e) => ({ kind: e.kind, id: e.kind === 'roster' ? e.value.centerId : e.value.id, op: 'upsert' as const })));
      await deps.sql.batch([...entities.map((e) => upsertOne(e, at)), ...announce]);
    },

    async setSecret(deviceId, hash, at) {
      const set = q.updateTable('registry_devices').set({ secret_hash: hash, provisioned_at: at, updated_at: at }).where('id', '=', deviceId);
      return changedThenAnnounced(set, { kind: 'device', id: deviceId, op: 'upsert' });
    },

    async remove(kind, id) {
      const { table, key } = TABLE[kind];
      return changedThenAnnounced(sql`DELETE FROM ${sql.table(table)} WHERE ${sql.ref(key)} = ${id}`.compile(q), { kind, id, op: 'remove' });
    },

    async watch(watcher) {
      return deps.sql.listen(REGISTRY_CHANNEL, (payload) => {
        const notice = parseNotice(payload);
        // Not ours to read: re-read everything rather than miss what it meant.
        if (!notice) return watcher.gap();
        if (notice.origin !== origin && notice.changes.length) watcher.changed(notice.changes);
      }, () => watcher.gap());
    },
  };

  /** One statement and, when it changed a row, its announcement, in one transaction. */
  function changedThenAnnounced(statement: Compilable<unknown> | CompiledQuery<unknown>, change: RegistryChange): Promise<boolean> {
    const announce = notices([change]);
    return deps.sql.transaction(function* () {
      const n = yield* tx.run(statement);
      if (n > 0) for (const a of announce) yield* tx.all(a);
      return n > 0;
    });
  }
}
