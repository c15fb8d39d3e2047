// Validation of registry data beyond its zod shape: unknown fields (an installer's typo must not be
// dropped silently), duplicate ids, and references between entities. Every problem is collected
// and reported with its path, so one run of `registry check` shows everything to fix.
import { CronExpressionParser } from 'cron-parser';
import type { z } from 'zod';
import { Center, Device, Grid, Person, RegistryFile, Roster, Shift, Site } from '../contracts/registry.ts';
import type { Role } from '../contracts/registry.ts';

/** An entity and the label its problems are reported under (`devices.3` or `registered device "d-1"`). */
export interface Labelled<T> {
  readonly label: string;
  readonly value: T;
}

/** The registry an import lands in, seen as labelled entities of each kind. */
export interface LabelledRegistry {
  centers: Labelled<Center>[];
  grids: Labelled<Grid>[];
  sites: Labelled<Site>[];
  devices: Labelled<Device>[];
  people: Labelled<Person>[];
  rosters: Labelled<Roster>[];
}

export function labelFile(file: RegistryFile): LabelledRegistry {
  const lab = <T>(kind: string, list: readonly T[]) => list.map((value, i) => ({ label: `${kind}.${i}`, value }));
  return {
    centers: lab('centers', file.centers),
    grids: lab('grids', file.grids),
    sites: lab('sites', file.sites),
    devices: lab('devices', file.devices),
    people: lab('people', file.people),
    rosters: lab('rosters', file.rosters),
  };
}

// ---- unknown fields ------------------------------------------------------------------------
const ENTITY_SHAPES: Record<keyof RegistryFile, z.ZodObject> = {
  centers: Center, grids: Grid, sites: Site, devices: Device, people: Person, rosters: Roster,
};

function unknownKeys(value: unknown, known: readonly string[], path: string, problems: string[]): void {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return;
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) problems.push(`${path}${path ? '.' : ''}${key}: unknown field (expected one of ${known.join(', ')})`);
  }
}

/** Fields zod would strip without a word; a misspelt `intervalsec` would otherwise be lost. */
export function findUnknownFields(raw: unknown): string[] {
  const problems: string[] = [];
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return problems;
  unknownKeys(raw, Object.keys(RegistryFile.shape), '', problems);
  const rec = raw as Record<string, unknown>;
  for (const [kind, shape] of Object.entries(ENTITY_SHAPES)) {
    const list = rec[kind];
    if (!Array.isArray(list)) continue;
    const known = Object.keys(shape.shape);
    list.forEach((item: unknown, i) => {
      const path = `${kind}.${i}`;
      unknownKeys(item, known, path, problems);
      if (!item || typeof item !== 'object') return;
      const entity = item as Record<string, unknown>;
      if (kind === 'sites') {
        unknownKeys(entity.resident, Object.keys((Site.shape.resident.unwrap()).shape), `${path}.resident`, problems);
        if (Array.isArray(entity.contacts)) {
          const contactKeys = Object.keys(Site.shape.contacts.unwrap().element.shape);
          entity.contacts.forEach((c: unknown, j) => unknownKeys(c, contactKeys, `${path}.contacts.${j}`, problems));
        }
      }
      if (kind === 'rosters' && Array.isArray(entity.shifts)) {
        const shiftKeys = Object.keys(Shift.shape);
        entity.shifts.forEach((s: unknown, j) => unknownKeys(s, shiftKeys, `${path}.shifts.${j}`, problems));
      }
    });
  }
  return problems;
}

// ---- duplicates and references -------------------------------------------------------------
function index<T extends { id: string }>(list: readonly Labelled<T>[]): Map<string, Labelled<T>> {
  const m = new Map<string, Labelled<T>>();
  for (const e of list) m.set(e.value.id, e);
  return m;
}

/** Duplicate ids inside one file (an import overriding a registered entity is no duplicate). */
export function findDuplicates(file: RegistryFile): string[] {
  const problems: string[] = [];
  const dup = (kind: string, ids: readonly string[], what: string) => {
    const first = new Map<string, number>();
    ids.forEach((id, i) => {
      const j = first.get(id);
      if (j === undefined) first.set(id, i);
      else problems.push(`${kind}.${i}.${what}: duplicate "${id}" (first at ${kind}.${j})`);
    });
  };
  dup('centers', file.centers.map((e) => e.id), 'id');
  dup('grids', file.grids.map((e) => e.id), 'id');
  dup('sites', file.sites.map((e) => e.id), 'id');
  dup('devices', file.devices.map((e) => e.id), 'id');
  dup('people', file.people.map((e) => e.id), 'id');
  dup('rosters', file.rosters.map((e) => e.centerId), 'centerId');
  file.rosters.forEach((r, i) => dup(`rosters.${i}.shifts`, r.shifts.map((s) => s.id), 'id'));
  return problems;
}

function validTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** Installer baselines the settlement rules read from a device's meta (rules/settlement.ts). */
export const BASELINE_KEYS = ['settlementBaseline', 'tiltXBaseline', 'tiltYBaseline', 'crackBaseline'] as const;

const ROLE_OF = {
  worker: ['grid_worker'],
  operator: ['operator', 'supervisor'],
  supervisor: ['supervisor'],
  liaison: ['liaison'],
  manager: ['manager'],
} as const satisfies Record<string, readonly Role[]>;

/**
 * References between entities of `reg` (the file alone, or the file merged over what is
 * registered). Returns every problem as `label.field: reason`.
 */
export function findReferenceProblems(reg: LabelledRegistry): string[] {
  const problems: string[] = [];
  const centers = index(reg.centers);
  const grids = index(reg.grids);
  const sites = index(reg.sites);
  const people = index(reg.people);

  const needPerson = (at: string, id: string, roles: readonly Role[]) => {
    const p = people.get(id);
    if (!p) problems.push(`${at}: no person "${id}"`);
    else if (!roles.includes(p.value.role)) problems.push(`${at}: person "${id}" is a ${p.value.role}, expected ${roles.join(' or ')}`);
  };

  for (const c of reg.centers) {
    if (!validTimeZone(c.value.timezone)) problems.push(`${c.label}.timezone: unknown time zone "${c.value.timezone}"`);
  }
  for (const { label, value: g } of reg.grids) {
    if (!centers.has(g.centerId)) problems.push(`${label}.centerId: no center "${g.centerId}"`);
    if (g.workerId !== undefined) needPerson(`${label}.workerId`, g.workerId, ROLE_OF.worker);
  }
  for (const { label, value: s } of reg.sites) {
    if (!centers.has(s.centerId)) problems.push(`${label}.centerId: no center "${s.centerId}"`);
    if (s.gridId !== undefined) {
      const g = grids.get(s.gridId);
      if (!g) problems.push(`${label}.gridId: no grid "${s.gridId}"`);
      else if (g.value.centerId !== s.centerId) {
        problems.push(`${label}.gridId: grid "${s.gridId}" belongs to center "${g.value.centerId}", not "${s.centerId}"`);
      }
    }
  }
  for (const { label, value: d } of reg.devices) {
    if (!sites.has(d.siteId)) problems.push(`${label}.siteId: no site "${d.siteId}"`);
    // Issue 14: a baseline under another name (the old example's baselineMm) was silently unused.
    for (const key of Object.keys(d.meta ?? {})) {
      if (/baseline/i.test(key) && !(BASELINE_KEYS as readonly string[]).includes(key)) {
        problems.push(`${label}.meta.${key}: not a baseline the rules read (expected one of ${BASELINE_KEYS.join(', ')})`);
      }
    }
  }
  for (const { label, value: p } of reg.people) {
    if (p.centerId !== undefined && !centers.has(p.centerId)) problems.push(`${label}.centerId: no center "${p.centerId}"`);
  }
  for (const { label, value: r } of reg.rosters) {
    if (!centers.has(r.centerId)) problems.push(`${label}.centerId: no center "${r.centerId}"`);
    const tzOk = validTimeZone(r.timezone);
    if (!tzOk) problems.push(`${label}.timezone: unknown time zone "${r.timezone}"`);
    if (r.liaison !== undefined) needPerson(`${label}.liaison`, r.liaison, ROLE_OF.liaison);
    if (r.manager !== undefined) needPerson(`${label}.manager`, r.manager, ROLE_OF.manager);
    r.shifts.forEach((s, j) => {
      const at = `${label}.shifts.${j}`;
      try {
        CronExpressionParser.parse(s.start, tzOk ? { tz: r.timezone } : {});
      } catch (err) {
        problems.push(`${at}.start: invalid cron pattern "${s.start}": ${(err as Error).message}`);
      }
      s.operators.forEach((id, k) => needPerson(`${at}.operators.${k}`, id, ROLE_OF.operator));
      if (s.supervisor !== undefined) needPerson(`${at}.supervisor`, s.supervisor, ROLE_OF.supervisor);
    });
  }
  return problems;
}

const SINGULAR: Record<keyof RegistryFile, string> = {
  centers: 'center', grids: 'grid', sites: 'site', devices: 'device', people: 'person', rosters: 'roster',
};

/**
 * The file laid over what is registered: file entries keep their file path as label, registered
 * entities the file does not replace are labelled `registered device "d-1"`, so a partial import
 * (a CSV of devices for sites already registered) is checked against the whole registry.
 */
export function overlay(registered: RegistryFile, file: RegistryFile): LabelledRegistry {
  const out = labelFile(file);
  const add = <K extends keyof RegistryFile>(kind: K, key: (e: RegistryFile[K][number]) => string) => {
    const replaced = new Set((file[kind] as ReadonlyArray<RegistryFile[K][number]>).map(key));
    for (const e of registered[kind] as ReadonlyArray<RegistryFile[K][number]>) {
      const id = key(e);
      if (!replaced.has(id)) (out[kind] as Labelled<RegistryFile[K][number]>[]).push({ label: `registered ${SINGULAR[kind]} "${id}"`, value: e });
    }
  };
  add('centers', (e) => e.id);
  add('grids', (e) => e.id);
  add('sites', (e) => e.id);
  add('devices', (e) => e.id);
  add('people', (e) => e.id);
  add('rosters', (e) => e.centerId);
  return out;
}
