// The registry module: SQLite is the durable copy, in-memory maps answer every read in O(1) without
// I/O (the gateway authenticates and ingest resolves devices from them on the hot path). Every
// write goes to SQLite first, in one transaction, and only then to the maps, so the two never
// disagree after a failed write.
import type { Database } from 'better-sqlite3';
import type { Logger } from 'pino';
import { DEFAULT_INTERVAL_SEC, Device as DeviceSchema } from '../contracts/registry.ts';
import type { Center, Device, DeviceInfo, Grid, Person, RegistryFile, Roster, Site } from '../contracts/registry.ts';
import type {
  AuthResult, Clock, ProvisionResult, RegistryChange, RegistryChanges, RegistryReader, RegistryWriter, Lifecycle,
} from '../contracts/ports.ts';
import { systemClock } from '../contracts/ports.ts';
import { WatchfireError, formatIssues } from '../contracts/errors.ts';
import { generateSecret, hashSecret, verifySecret as verifyHash } from '../contracts/secrets.ts';
import { validateRegistry, type ParseOptions } from './parse.ts';
import { loadAll, prepareWrites, type Kind, type Writes } from './store.ts';

export interface RegistryDeps {
  db: Database;
  logger: Logger;
  clock?: Clock;
  /** The rule engine's check of a device's rule override (see ParseOptions.checkRules). */
  checkRules?: ParseOptions['checkRules'];
}

export type Registry = RegistryReader & RegistryWriter & RegistryChanges & Lifecycle & {
  /** Deletes one entity; refused with WF_REGISTRY_IN_USE while others refer to it. */
  remove(kind: Kind, id: string): void;
  /** The stored device (without its secret hash), e.g. for editing. */
  device(id: string): Device | undefined;
  /** Everything registered, without secret hashes: the context a partial import is checked against. */
  snapshot(): RegistryFile;
};

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

export function createRegistry(deps: RegistryDeps): Registry {
  const { db, logger } = deps;
  const clock = deps.clock ?? systemClock;

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
  const listeners = new Set<(changes: readonly RegistryChange[]) => void>();
  let writes: Writes | undefined;

  function must(): Writes {
    if (!writes) throw new Error('registry not started');
    return writes;
  }

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
    return JSON.stringify(before) !== JSON.stringify(info);
  }

  function emit(changes: RegistryChange[]): void {
    if (!changes.length) return;
    for (const l of listeners) {
      try {
        l(changes);
      } catch (err) {
        logger.error({ err }, 'registry change listener failed');
      }
    }
  }

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

  function notFound(what: string, id: string): WatchfireError {
    return new WatchfireError('WF_REGISTRY_NOT_FOUND', `No ${what} "${id}"`);
  }

  /** Who refers to an entity: removing it would leave them dangling. */
  function referrers(kind: Kind, id: string): string[] {
    const out: string[] = [];
    const rosterRefs = (pred: (r: Roster) => boolean) => {
      for (const r of rosters.values()) if (pred(r)) out.push(`roster of center "${r.centerId}"`);
    };
    switch (kind) {
      case 'center':
        for (const g of grids.values()) if (g.centerId === id) out.push(`grid "${g.id}"`);
        for (const s of sites.values()) if (s.centerId === id) out.push(`site "${s.id}"`);
        for (const p of people.values()) if (p.centerId === id) out.push(`person "${p.id}"`);
        rosterRefs((r) => r.centerId === id);
        break;
      case 'grid':
        for (const s of sites.values()) if (s.gridId === id) out.push(`site "${s.id}"`);
        break;
      case 'site':
        for (const d of bySite.get(id) ?? []) out.push(`device "${d.id}"`);
        break;
      case 'person':
        for (const g of grids.values()) if (g.workerId === id) out.push(`grid "${g.id}"`);
        rosterRefs((r) => r.liaison === id || r.manager === id || r.shifts.some((s) => s.supervisor === id || s.operators.includes(id)));
        break;
      case 'device':
      case 'roster':
        break;
    }
    return out;
  }

  const registry: Registry = {
    async start() {
      const loaded = loadAll(db);
      writes = prepareWrites(db);
      for (const c of loaded.file.centers) centers.set(c.id, deepFreeze(c));
      for (const g of loaded.file.grids) grids.set(g.id, deepFreeze(g));
      for (const s of loaded.file.sites) sites.set(s.id, deepFreeze(s));
      for (const p of loaded.file.people) people.set(p.id, deepFreeze(p));
      for (const r of loaded.file.rosters) rosters.set(r.centerId, deepFreeze(r));
      for (const d of loaded.file.devices) remember(d);
      for (const [id, h] of loaded.hashes) hashes.set(id, h);
      for (const l of Object.values(lists)) l.invalidate();
      logger.info({ centers: centers.size, sites: sites.size, devices: devices.size, people: people.size }, 'registry loaded');
    },

    async stop() {
      // Nothing runs between calls; listeners stay, so a restarted registry keeps its subscribers.
      writes = undefined;
    },

    // ---- DeviceDirectory (hot path: memory only) ----
    get: (id) => infos.get(id),
    all: () => lists.devices.get(),
    verifySecret(deviceId, secret): AuthResult {
      const info = infos.get(deviceId);
      if (!info) return 'unknown';
      // The secret is checked before the enabled flag: without the secret, nobody learns whether
      // a device is merely disabled.
      if (!verifyHash(secret, hashes.get(deviceId))) return 'bad_secret';
      return info.enabled ? 'ok' : 'disabled';
    },

    // ---- RegistryReader ----
    center: (id) => centers.get(id),
    grid: (id) => grids.get(id),
    site: (id) => sites.get(id),
    person: (id) => people.get(id),
    roster: (centerId) => rosters.get(centerId),
    centers: () => lists.centers.get(),
    grids: () => lists.grids.get(),
    sites: () => lists.sites.get(),
    people: () => lists.people.get(),
    devicesOfSite: (siteId) => bySite.get(siteId) ?? [],
    device: (id) => devices.get(id),
    snapshot,

    // ---- RegistryWriter ----
    importFile(input) {
      const w = must();
      // References may point at what is registered already (a CSV of devices for known sites).
      const file = validateRegistry(input, { registered: snapshot(), ...(deps.checkRules ? { checkRules: deps.checkRules } : {}) });
      const at = clock.now();
      db.transaction(() => {
        // Order follows references, so a reader of the table sees no dangling ids mid-way.
        for (const c of file.centers) w.center(c, at);
        for (const p of file.people) w.person(p, at);
        for (const g of file.grids) w.grid(g, at);
        for (const s of file.sites) w.site(s, at);
        for (const d of file.devices) w.device(d, at);
        for (const r of file.rosters) w.roster(r, at);
      })();
      const changes: RegistryChange[] = [];
      const up = (kind: RegistryChange['kind'], id: string) => changes.push({ kind, id, op: 'upsert' });
      for (const c of file.centers) { centers.set(c.id, deepFreeze(c)); up('center', c.id); }
      for (const p of file.people) { people.set(p.id, deepFreeze(p)); up('person', p.id); }
      for (const g of file.grids) { grids.set(g.id, deepFreeze(g)); up('grid', g.id); }
      const movedSites = new Set<string>();
      for (const s of file.sites) { sites.set(s.id, deepFreeze(s)); up('site', s.id); movedSites.add(s.id); }
      for (const r of file.rosters) { rosters.set(r.centerId, deepFreeze(r)); up('roster', r.centerId); }
      const touched = new Set<string>();
      for (const d of file.devices) { remember(d); touched.add(d.id); up('device', d.id); }
      // A site that moved to another center or grid moves its devices with it.
      for (const siteId of movedSites) {
        for (const info of [...(bySite.get(siteId) ?? [])]) {
          const dev = devices.get(info.id);
          if (dev && !touched.has(info.id) && remember(dev)) up('device', info.id);
        }
      }
      for (const l of Object.values(lists)) l.invalidate();
      const upserted = {
        centers: file.centers.length, grids: file.grids.length, sites: file.sites.length,
        devices: file.devices.length, people: file.people.length, rosters: file.rosters.length,
      };
      logger.info({ upserted }, 'registry import');
      emit(changes);
      return { upserted };
    },

    upsertDevice(input) {
      const w = must();
      const parsed = DeviceSchema.safeParse(input);
      const problems = parsed.success ? [] : formatIssues(parsed.error.issues);
      if (parsed.success && !sites.has(parsed.data.siteId)) problems.push(`siteId: no site "${parsed.data.siteId}"`);
      if (parsed.success && parsed.data.rules !== undefined && deps.checkRules) problems.push(...deps.checkRules(parsed.data.type, parsed.data.rules));
      if (!parsed.success || problems.length) throw new WatchfireError('WF_REGISTRY_INVALID', `Invalid device "${String((input as { id?: unknown }).id)}"`, problems);
      w.device(parsed.data, clock.now());
      remember(parsed.data);
      emit([{ kind: 'device', id: parsed.data.id, op: 'upsert' }]);
    },

    setDeviceEnabled(deviceId, enabled) {
      const w = must();
      const dev = devices.get(deviceId);
      if (!dev) throw notFound('device', deviceId);
      if (dev.enabled === enabled) return;
      const next = { ...dev, enabled };
      w.device(next, clock.now());
      remember(next);
      logger.info({ deviceId, enabled }, 'device enabled changed');
      emit([{ kind: 'device', id: deviceId, op: 'upsert' }]);
    },

    provision(deviceId): ProvisionResult {
      const w = must();
      if (!devices.has(deviceId)) throw notFound('device', deviceId);
      const secret = generateSecret();
      const hash = hashSecret(secret);
      w.secret(deviceId, hash, clock.now());
      hashes.set(deviceId, hash);
      // Never log the secret (PROTOCOL.md "Authentication").
      logger.info({ deviceId }, 'device secret issued');
      emit([{ kind: 'device', id: deviceId, op: 'upsert' }]);
      return { deviceId, secret };
    },

    remove(kind, id) {
      const w = must();
      const exists = { center: centers, grid: grids, site: sites, device: devices, person: people, roster: rosters }[kind].has(id);
      if (!exists) throw notFound(kind, id);
      const refs = referrers(kind, id);
      if (refs.length) throw new WatchfireError('WF_REGISTRY_IN_USE', `Cannot remove ${kind} "${id}": still referred to`, refs);
      w.remove(kind, id);
      switch (kind) {
        case 'center': centers.delete(id); break;
        case 'grid': grids.delete(id); break;
        case 'site': sites.delete(id); break;
        case 'person': people.delete(id); break;
        case 'roster': rosters.delete(id); break;
        case 'device': devices.delete(id); hashes.delete(id); unindex(id); break;
      }
      for (const l of Object.values(lists)) l.invalidate();
      logger.info({ kind, id }, 'registry entry removed');
      emit([{ kind, id, op: 'remove' }]);
    },

    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
  return registry;
}
