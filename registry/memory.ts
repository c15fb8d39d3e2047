// The registry's in-memory copy: maps that answer every read in O(1) without I/O (the gateway
// authenticates and ingest resolves devices from them on the hot path). Only registry.ts changes
// them, after the database has committed the change; applying what was stored (a start, another
// node's write, a reload after a gap) goes through apply(), which says what changed.
import { DEFAULT_INTERVAL_SEC } from '../contracts/registry.ts';
import type { Center, Device, DeviceInfo, Grid, Person, RegistryFile, Roster, Site } from '../contracts/registry.ts';
import type { RegistryChange } from '../contracts/ports.ts';
import type { RegistryIds, RegistryKind, StoredRegistry } from '../contracts/storage.ts';

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as Record<string, unknown>)) deepFreeze(v);
  }
  return value;
}

/** A list view over a map, rebuilt only after the map changed. */
function listOf<T>(map: Map<string, T>) {
  let cache: readonly T[] | undefined;
  return { get: () => (cache ??= Object.freeze([...map.values()])), invalidate: () => { cache = undefined; } };
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

export function createMemory() {
  const centers = new Map<string, Center>();
  const grids = new Map<string, Grid>();
  const sites = new Map<string, Site>();
  const people = new Map<string, Person>();
  const rosters = new Map<string, Roster>();
  const devices = new Map<string, Device>();
  const hashes = new Map<string, string>();
  const infos = new Map<string, DeviceInfo>();
  const bySite = new Map<string, DeviceInfo[]>();
  const lists = { centers: listOf(centers), grids: listOf(grids), sites: listOf(sites), people: listOf(people), devices: listOf(infos) };
  const byKind = { center: centers, grid: grids, site: sites, device: devices, person: people, roster: rosters } as const satisfies Record<RegistryKind, Map<string, unknown>>;

  function resolve(d: Device): DeviceInfo | undefined {
    const site = sites.get(d.siteId);
    if (!site) return undefined;
    return Object.freeze({
      id: d.id,
      type: d.type,
      siteId: d.siteId,
      centerId: site.centerId,
      gridId: site.gridId,
      location: d.location,
      intervalSec: d.intervalSec ?? DEFAULT_INTERVAL_SEC[d.type],
      enabled: d.enabled,
      rules: d.rules,
      meta: d.meta,
    });
  }

  function unindex(id: string): void {
    const old = infos.get(id);
    if (!old) return;
    infos.delete(id);
    const list = bySite.get(old.siteId)?.filter((i) => i.id !== id);
    if (list?.length) bySite.set(old.siteId, list);
    else bySite.delete(old.siteId);
  }

  /** Puts a device in memory; returns whether what the hot path sees of it changed. */
  function remember(d: Device): boolean {
    const { secretHash, ...rest } = d;
    const dev = deepFreeze(rest as Device);
    if (secretHash !== undefined) hashes.set(d.id, secretHash);
    const before = infos.get(d.id);
    devices.set(d.id, dev);
    unindex(d.id);
    const info = resolve(dev);
    if (info) {
      infos.set(d.id, info);
      bySite.set(d.siteId, [...(bySite.get(d.siteId) ?? []), info]);
    }
    lists.devices.invalidate();
    return !same(before, info);
  }

  function invalidate(): void {
    for (const l of Object.values(lists)) l.invalidate();
  }

  function put(kind: Exclude<RegistryKind, 'device'>, value: Center | Grid | Site | Person | Roster): void {
    const id = kind === 'roster' ? (value as Roster).centerId : (value as Center).id;
    (byKind[kind] as Map<string, unknown>).set(id, deepFreeze(value));
  }

  function drop(kind: RegistryKind, id: string): void {
    byKind[kind].delete(id);
    if (kind === 'device') {
      hashes.delete(id);
      unindex(id);
    }
  }

  /** A site that moved to another center or grid moves its devices with it: those whose view changed. */
  function follow(siteIds: Iterable<string>, touched: ReadonlySet<string>): string[] {
    const moved: string[] = [];
    for (const siteId of siteIds) {
      for (const info of [...(bySite.get(siteId) ?? [])]) {
        const dev = devices.get(info.id);
        if (dev && !touched.has(info.id) && remember(dev)) moved.push(info.id);
      }
    }
    return moved;
  }

  /** Everything registered, without secret hashes. */
  function snapshot(): RegistryFile {
    return {
      centers: [...centers.values()],
      grids: [...grids.values()],
      sites: [...sites.values()],
      devices: [...devices.values()],
      people: [...people.values()],
      rosters: [...rosters.values()],
    };
  }

  /**
   * Makes the entities named in `ids` what `stored` holds of them (absent there: removed here) and
   * says what changed. `all`: `stored` is everything (a start or a reload), so what is not in it goes.
   * Only what differs is reported, so a reload after a gap reports what was missed.
   */
  function apply(stored: StoredRegistry, ids: RegistryIds | 'all'): RegistryChange[] {
    const changes: RegistryChange[] = [];
    const f = stored.file;
    const wanted = (kind: RegistryKind, found: readonly string[]): string[] =>
      ids === 'all' ? [...new Set([...byKind[kind].keys(), ...found])] : [...(ids[kind] ?? [])];
    const plain = <T>(kind: Exclude<RegistryKind, 'device'>, list: readonly T[], key: (v: T) => string) => {
      const next = new Map(list.map((v) => [key(v), v]));
      for (const id of wanted(kind, [...next.keys()])) {
        const v = next.get(id);
        const before = byKind[kind].get(id);
        if (v === undefined) {
          if (before === undefined) continue;
          drop(kind, id);
          changes.push({ kind, id, op: 'remove' });
        } else if (!same(before, v)) {
          put(kind, v as Center);
          changes.push({ kind, id, op: 'upsert' });
        }
      }
    };
    const byId = (v: { id: string }) => v.id;
    plain('center', f.centers, byId);
    plain('person', f.people, byId);
    plain('grid', f.grids, byId);
    const siteChanges = changes.length;
    plain('site', f.sites, byId);
    const upsertedSites = changes.slice(siteChanges).filter((c) => c.kind === 'site' && c.op === 'upsert').map((c) => c.id);
    plain('roster', f.rosters, (r) => r.centerId);
    const next = new Map(f.devices.map((d) => [d.id, d]));
    const touched = new Set<string>();
    for (const id of wanted('device', [...next.keys()])) {
      const d = next.get(id);
      if (d === undefined) {
        if (!devices.has(id)) continue;
        drop('device', id);
        changes.push({ kind: 'device', id, op: 'remove' });
        continue;
      }
      touched.add(id);
      const hash = stored.hashes.get(id);
      const changed = !same(devices.get(id), d) || hashes.get(id) !== hash;
      if (hash === undefined) hashes.delete(id);
      remember(hash === undefined ? d : { ...d, secretHash: hash });
      if (changed) changes.push({ kind: 'device', id, op: 'upsert' });
    }
    for (const id of follow(upsertedSites, touched)) changes.push({ kind: 'device', id, op: 'upsert' });
    invalidate();
    return changes;
  }

  return { centers, grids, sites, people, rosters, devices, hashes, infos, bySite, lists, byKind, remember, invalidate, put, drop, follow, snapshot, apply };
}

export type Memory = ReturnType<typeof createMemory>;
