// The registry module: its database (the node's SQLite file, or the PostgreSQL every node shares
// when storage.postgresUrl is set; both behind RegistryStorage) is the durable copy, and in-memory
// maps (memory.ts) answer every read without I/O. Every write goes to the database first, in one
// transaction, and only once it is committed to the maps and to the caller, so the two never
// disagree after a failed write and an answered write is durable.
//
// Issue 21: with a shared PostgreSQL, what another node writes is announced on commit
// (storage/registry.ts) and re-read here, then applied and emitted as if written here: the
// gateway disconnects a device disabled on another node, the rule engine sees an edited site. A
// node that may have missed announcements (its listening connection dropped) re-reads everything
// and emits what differs.
//
// Writes, re-reads and reloads run one at a time, in the order they came: a write is checked
// against the maps as the writes before it left them, and a re-read applied after a write of this
// node that committed before it cannot be overtaken by that write's own (older) values.
import type { Logger } from 'pino';
import { Device as DeviceSchema } from '../contracts/registry.ts';
import type { Device, RegistryFile } from '../contracts/registry.ts';
import type {
  AuthResult, Clock, ProvisionResult, RegistryChange, RegistryChanges, RegistryReader, RegistryWriter, Lifecycle,
} from '../contracts/ports.ts';
import { systemClock } from '../contracts/ports.ts';
import type { RegistryEntity, RegistryIds, RegistryKind, RegistryStorage } from '../contracts/storage.ts';
import { WatchfireError, formatIssues } from '../contracts/errors.ts';
import { generateSecret, hashSecret, verifySecret as verifyHash } from '../contracts/secrets.ts';
import { validateRegistry, type ParseOptions } from './parse.ts';
import { createMemory } from './memory.ts';
import { referrersOf } from './referrers.ts';

export type Kind = RegistryKind;

export interface RegistryDeps {
  /** The durable copy: storage/registry.ts on the SQLite file or on the shared PostgreSQL. */
  storage: RegistryStorage;
  logger: Logger;
  clock?: Clock;
  /** The rule engine's check of a device's rule override (see ParseOptions.checkRules). */
  checkRules?: ParseOptions['checkRules'];
  /** After a failed re-read of another node's change, the wait before re-reading everything (default 1 s). */
  retryMs?: number;
}

export type Registry = RegistryReader & RegistryWriter & RegistryChanges & Lifecycle & {
  /** Deletes one entity; refused with WF_REGISTRY_IN_USE while others refer to it. */
  remove(kind: Kind, id: string): Promise<void>;
  /** The stored device (without its secret hash), e.g. for editing. */
  device(id: string): Device | undefined;
  /** Whether a secret was ever issued to the device. */
  provisioned(id: string): boolean;
  /** Everything registered, without secret hashes: the context a partial import is checked against. */
  snapshot(): RegistryFile;
};

/** A file's entities in the order references follow, so a reader of the tables sees no dangling ids mid-way. */
export function registryEntities(file: RegistryFile): RegistryEntity[] {
  return [
    ...file.centers.map((value) => ({ kind: 'center' as const, value })),
    ...file.people.map((value) => ({ kind: 'person' as const, value })),
    ...file.grids.map((value) => ({ kind: 'grid' as const, value })),
    ...file.sites.map((value) => ({ kind: 'site' as const, value })),
    ...file.devices.map((value) => ({ kind: 'device' as const, value })),
    ...file.rosters.map((value) => ({ kind: 'roster' as const, value })),
  ];
}

export function createRegistry(deps: RegistryDeps): Registry {
  const { storage, logger } = deps;
  const clock = deps.clock ?? systemClock;
  const mem = createMemory();
  const { centers, grids, sites, people, rosters, devices, hashes, infos, bySite, lists } = mem;
  const listeners = new Set<(changes: readonly RegistryChange[]) => void>();
  let started = false;
  let unwatch: (() => Promise<void>) | undefined;
  let retry: NodeJS.Timeout | undefined;
  /** The end of the line of writes and re-reads (each runs after the one before has settled). */
  let tail: Promise<unknown> = Promise.resolve();

  function serial<T>(work: () => Promise<T>): Promise<T> {
    const run = tail.then(work);
    tail = run.catch(() => undefined);
    return run;
  }

  /** A write, in line, refused before start() and after stop(). */
  function write<T>(work: () => Promise<T>): Promise<T> {
    return serial(async () => {
      if (!started) throw new Error('registry not started');
      return work();
    });
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

  function notFound(what: string, id: string): WatchfireError {
    return new WatchfireError('WF_REGISTRY_NOT_FOUND', `No ${what} "${id}"`);
  }

  /** Everything again from the database; emits what differs from memory. */
  async function reload(): Promise<void> {
    const changes = mem.apply(await storage.load(), 'all');
    if (changes.length) logger.info({ changes: changes.length }, 'registry re-read: changes another node made while this one was not listening');
    emit(changes);
  }

  /** A failed re-read leaves memory behind the database: re-read everything, until that succeeds. */
  function recover(): void {
    if (retry || !started) return;
    retry = setTimeout(() => {
      retry = undefined;
      serial(reload).catch((err: unknown) => {
        logger.error({ err, code: 'WF_DB_POSTGRES' }, 'registry re-read failed; trying again');
        recover();
      });
    }, deps.retryMs ?? 1_000);
  }

  /** Another node committed these: re-read them and apply them as if written here. */
  function heard(changes: readonly RegistryChange[]): void {
    const ids: Record<RegistryKind, string[]> = { center: [], grid: [], site: [], device: [], person: [], roster: [] };
    for (const c of changes) ids[c.kind].push(c.id);
    serial(async () => {
      if (!started) return;
      const wanted: RegistryIds = ids;
      emit(mem.apply(await storage.get(wanted), wanted));
    }).catch((err: unknown) => {
      logger.error({ err, code: 'WF_DB_POSTGRES' }, 'registry: re-reading another node\'s change failed; re-reading everything');
      recover();
    });
  }

  const registry: Registry = {
    async start() {
      // Listening first: what another node commits while this one loads is heard, and re-read after.
      unwatch = await storage.watch({
        changed: heard,
        gap: () => {
          serial(async () => (started ? reload() : undefined)).catch((err: unknown) => {
            logger.error({ err, code: 'WF_DB_POSTGRES' }, 'registry re-read after a gap failed');
            recover();
          });
        },
      });
      try {
        await serial(async () => {
          mem.apply(await storage.load(), 'all');
          started = true;
        });
      } catch (err) {
        await unwatch();
        unwatch = undefined;
        throw err;
      }
      logger.info({ centers: centers.size, sites: sites.size, devices: devices.size, people: people.size }, 'registry loaded');
    },

    async stop() {
      // Listeners stay, so a restarted registry keeps its subscribers.
      await unwatch?.();
      unwatch = undefined;
      if (retry) clearTimeout(retry);
      retry = undefined;
      await serial(async () => {
        started = false;
      });
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
    provisioned: (id) => hashes.has(id),
    snapshot: () => mem.snapshot(),

    // ---- RegistryWriter ----
    importFile: (input) => write(async () => {
      // References may point at what is registered already (a CSV of devices for known sites).
      const file = validateRegistry(input, { registered: mem.snapshot(), ...(deps.checkRules ? { checkRules: deps.checkRules } : {}) });
      const entities = registryEntities(file);
      await storage.upsert(entities, clock.now());
      const changes: RegistryChange[] = [];
      const up = (kind: RegistryChange['kind'], id: string) => changes.push({ kind, id, op: 'upsert' });
      for (const c of file.centers) { mem.put('center', c); up('center', c.id); }
      for (const p of file.people) { mem.put('person', p); up('person', p.id); }
      for (const g of file.grids) { mem.put('grid', g); up('grid', g.id); }
      for (const x of file.sites) { mem.put('site', x); up('site', x.id); }
      for (const r of file.rosters) { mem.put('roster', r); up('roster', r.centerId); }
      const touched = new Set<string>();
      for (const d of file.devices) { mem.remember(d); touched.add(d.id); up('device', d.id); }
      for (const id of mem.follow(file.sites.map((x) => x.id), touched)) up('device', id);
      mem.invalidate();
      const upserted = {
        centers: file.centers.length, grids: file.grids.length, sites: file.sites.length,
        devices: file.devices.length, people: file.people.length, rosters: file.rosters.length,
      };
      logger.info({ upserted }, 'registry import');
      emit(changes);
      return { upserted };
    }),

    upsertDevice: (input) => write(async () => {
      const parsed = DeviceSchema.safeParse(input);
      const problems = parsed.success ? [] : formatIssues(parsed.error.issues);
      if (parsed.success && !sites.has(parsed.data.siteId)) problems.push(`siteId: no site "${parsed.data.siteId}"`);
      if (parsed.success && parsed.data.rules !== undefined && deps.checkRules) problems.push(...deps.checkRules(parsed.data.type, parsed.data.rules));
      if (!parsed.success || problems.length) throw new WatchfireError('WF_REGISTRY_INVALID', `Invalid device "${String((input as { id?: unknown }).id)}"`, problems);
      await storage.upsert([{ kind: 'device', value: parsed.data }], clock.now());
      mem.remember(parsed.data);
      emit([{ kind: 'device', id: parsed.data.id, op: 'upsert' }]);
    }),

    setDeviceEnabled: (deviceId, enabled) => write(async () => {
      const dev = devices.get(deviceId);
      if (!dev) throw notFound('device', deviceId);
      if (dev.enabled === enabled) return;
      const next = { ...dev, enabled };
      await storage.upsert([{ kind: 'device', value: next }], clock.now());
      mem.remember(next);
      logger.info({ deviceId, enabled }, 'device enabled changed');
      emit([{ kind: 'device', id: deviceId, op: 'upsert' }]);
    }),

    provision: (deviceId) => write(async (): Promise<ProvisionResult> => {
      if (!devices.has(deviceId)) throw notFound('device', deviceId);
      const secret = generateSecret();
      const hash = hashSecret(secret);
      // Another node may have removed it since this one last heard: no secret for a device that is gone.
      if (!(await storage.setSecret(deviceId, hash, clock.now()))) throw notFound('device', deviceId);
      hashes.set(deviceId, hash);
      // Never log the secret (PROTOCOL.md "Authentication").
      logger.info({ deviceId }, 'device secret issued');
      emit([{ kind: 'device', id: deviceId, op: 'upsert' }]);
      return { deviceId, secret };
    }),

    remove: (kind, id) => write(async () => {
      if (!mem.byKind[kind].has(id)) throw notFound(kind, id);
      const refs = referrersOf(mem, kind, id);
      if (refs.length) throw new WatchfireError('WF_REGISTRY_IN_USE', `Cannot remove ${kind} "${id}": still referred to`, refs);
      await storage.remove(kind, id);
      mem.drop(kind, id);
      mem.invalidate();
      logger.info({ kind, id }, 'registry entry removed');
      emit([{ kind, id, op: 'remove' }]);
    }),

    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
  return registry;
}
