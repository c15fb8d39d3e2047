// CSV import: the spreadsheets installers hand over. A header row names the columns (order free,
// names as below, case-insensitive); empty cells mean "not given". Every problem is reported as
// `row N, column name (letter): reason`, counting the header as row 1 as a spreadsheet does.
//
//   devices: id, type, siteId, location, intervalSec, enabled, meta.<key> (any number of these;
//            numbers and true/false become numbers and booleans)
//   sites:   id, kind, centerId, gridId, name, address, compound, lat, lon (WGS 84 degrees, for the map),
//            residentName, residentPhone, residentAge, residentLivesAlone, residentNotes,
//            contact<N>Name, contact<N>Relation, contact<N>Phone, contact<N>Email,
//            contact<N>Webhook, contact<N>Locale  (N = 1, 2, 3, …)
//   people:  id, name, role, centerId, email, phone, webhook, locale
// Booleans accept true/false, yes/no, y/n, 1/0, 是/否. References (siteId, centerId, gridId) are
// checked when the result is imported, against the registry it lands in.
import { parse } from 'csv-parse/sync';
import type { z } from 'zod';
import { Device, Person, RegistryFile, Site } from '../contracts/registry.ts';
import { WatchfireError } from '../contracts/errors.ts';

export type CsvKind = 'devices' | 'sites' | 'people';
export const CSV_KINDS: readonly CsvKind[] = ['devices', 'sites', 'people'];

type Conv = 'string' | 'number' | 'bool' | 'auto';
interface Column {
  /** Where the value goes in the entity; `contacts.#` is filled in per row. */
  path: readonly string[];
  conv: Conv;
}

const COLUMNS: Record<CsvKind, Record<string, Column>> = {
  devices: {
    id: { path: ['id'], conv: 'string' },
    type: { path: ['type'], conv: 'string' },
    siteid: { path: ['siteId'], conv: 'string' },
    location: { path: ['location'], conv: 'string' },
    intervalsec: { path: ['intervalSec'], conv: 'number' },
    enabled: { path: ['enabled'], conv: 'bool' },
  },
  sites: {
    id: { path: ['id'], conv: 'string' },
    kind: { path: ['kind'], conv: 'string' },
    centerid: { path: ['centerId'], conv: 'string' },
    gridid: { path: ['gridId'], conv: 'string' },
    name: { path: ['name'], conv: 'string' },
    address: { path: ['address'], conv: 'string' },
    compound: { path: ['compound'], conv: 'string' },
    lat: { path: ['lat'], conv: 'number' },
    lon: { path: ['lon'], conv: 'number' },
    residentname: { path: ['resident', 'name'], conv: 'string' },
    residentphone: { path: ['resident', 'phone'], conv: 'string' },
    residentage: { path: ['resident', 'age'], conv: 'number' },
    residentlivesalone: { path: ['resident', 'livesAlone'], conv: 'bool' },
    residentnotes: { path: ['resident', 'notes'], conv: 'string' },
  },
  people: {
    id: { path: ['id'], conv: 'string' },
    name: { path: ['name'], conv: 'string' },
    role: { path: ['role'], conv: 'string' },
    centerid: { path: ['centerId'], conv: 'string' },
    email: { path: ['email'], conv: 'string' },
    phone: { path: ['phone'], conv: 'string' },
    webhook: { path: ['webhook'], conv: 'string' },
    locale: { path: ['locale'], conv: 'string' },
  },
};

const REQUIRED: Record<CsvKind, readonly string[]> = {
  devices: ['id', 'type', 'siteId'],
  sites: ['id', 'kind', 'centerId', 'name'],
  people: ['id', 'name', 'role'],
};

const SCHEMA: Record<CsvKind, z.ZodType> = { devices: Device, sites: Site, people: Person };

const CONTACT_FIELDS: Record<string, { field: string; conv: Conv }> = {
  name: { field: 'name', conv: 'string' },
  relation: { field: 'relation', conv: 'string' },
  phone: { field: 'phone', conv: 'string' },
  email: { field: 'email', conv: 'string' },
  webhook: { field: 'webhook', conv: 'string' },
  locale: { field: 'locale', conv: 'string' },
};

/** Spreadsheet column letter: 0 → A, 26 → AA. */
export function columnLetter(index: number): string {
  let s = '';
  for (let n = index + 1; n > 0; n = Math.floor((n - 1) / 26)) s = String.fromCharCode(65 + ((n - 1) % 26)) + s;
  return s;
}

const TRUE = new Set(['true', 'yes', 'y', '1', '是']);
const FALSE = new Set(['false', 'no', 'n', '0', '否']);

/** Converts what it can; anything else stays a string so zod names the expected type. */
function convert(raw: string, conv: Conv): unknown {
  const lower = raw.toLowerCase();
  if (conv === 'bool' || conv === 'auto') {
    if (TRUE.has(lower) && (conv === 'bool' || lower === 'true')) return true;
    if (FALSE.has(lower) && (conv === 'bool' || lower === 'false')) return false;
  }
  if ((conv === 'number' || conv === 'auto') && /^-?\d+(\.\d+)?$/.test(raw)) return Number(raw);
  return raw;
}

type Placement =
  | { kind: 'plain'; col: Column }
  | { kind: 'meta'; key: string }
  | { kind: 'contact'; n: number; field: string; conv: Conv };

function placementOf(kind: CsvKind, header: string): Placement | undefined {
  const h = header.trim();
  const col = COLUMNS[kind][h.toLowerCase()];
  if (col) return { kind: 'plain', col };
  if (kind === 'devices') {
    const m = /^meta\.(.+)$/i.exec(h);
    if (m) return { kind: 'meta', key: m[1]! };
  }
  if (kind === 'sites') {
    const m = /^contact(\d+)([a-z]+)$/i.exec(h);
    const f = m ? CONTACT_FIELDS[m[2]!.toLowerCase()] : undefined;
    if (m && f && Number(m[1]) >= 1) return { kind: 'contact', n: Number(m[1]), field: f.field, conv: f.conv };
  }
  return undefined;
}

function setPath(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    if (typeof node[key] !== 'object' || node[key] === null) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]!] = value;
}

/**
 * Parses one CSV of `kind` into a RegistryFile holding only that kind (the rest empty), ready for
 * RegistryWriter.importFile. Throws WF_REGISTRY_INVALID listing every problem by row and column.
 */
export function parseRegistryCsv(kind: CsvKind, text: string, opts: { source?: string } = {}): RegistryFile {
  const where = opts.source ? ` ${opts.source}` : '';
  let rows: string[][];
  try {
    rows = parse(text, { bom: true, relax_column_count: true, skip_empty_lines: false, trim: true }) as string[][];
  } catch (err) {
    throw new WatchfireError('WF_REGISTRY_INVALID', `Invalid ${kind} CSV${where}: not readable as CSV`, [(err as Error).message]);
  }
  const header = rows[0];
  if (!header || header.every((c) => c === '')) {
    throw new WatchfireError('WF_REGISTRY_INVALID', `Invalid ${kind} CSV${where}`, ['row 1: expected a header row naming the columns']);
  }
  const problems: string[] = [];
  const cell = (row: number, col: number) => `row ${row}, column ${header[col] ?? '?'} (${columnLetter(col)})`;

  const placements = header.map((h, i) => {
    const p = placementOf(kind, h);
    if (!p && h !== '') problems.push(`row 1, column ${columnLetter(i)}: unknown column "${h}"`);
    return p;
  });
  const seen = new Map<string, number>();
  header.forEach((h, i) => {
    const key = h.trim().toLowerCase();
    if (key === '') return;
    const j = seen.get(key);
    if (j !== undefined) problems.push(`row 1, column ${columnLetter(i)}: column "${h}" repeats column ${columnLetter(j)}`);
    else seen.set(key, i);
  });
  for (const req of REQUIRED[kind]) {
    if (!seen.has(req.toLowerCase())) problems.push(`row 1: missing required column "${req}"`);
  }
  if (problems.length) throw new WatchfireError('WF_REGISTRY_INVALID', `Invalid ${kind} CSV${where}`, problems);

  const entities: unknown[] = [];
  const firstRowOfId = new Map<string, number>();
  const idCol = seen.get('id')!;
  rows.slice(1).forEach((cells, r) => {
    const rowNo = r + 2;
    if (cells.every((c) => c === '')) return; // blank spreadsheet line
    if (cells.length > header.length && cells.slice(header.length).some((c) => c !== '')) {
      problems.push(`row ${rowNo}: ${cells.length} cells but the header names ${header.length} columns`);
    }
    const entity: Record<string, unknown> = {};
    /** entity path (`resident.name`, `contacts.0.phone`) → column index, to report zod issues. */
    const colOfPath = new Map<string, number>();
    const contacts = new Map<number, Array<{ field: string; value: unknown; col: number }>>();
    placements.forEach((p, c) => {
      const raw = cells[c] ?? '';
      if (!p || raw === '') return;
      if (p.kind === 'plain') {
        setPath(entity, p.col.path, convert(raw, p.col.conv));
        colOfPath.set(p.col.path.join('.'), c);
      } else if (p.kind === 'meta') {
        setPath(entity, ['meta', p.key], convert(raw, 'auto'));
        colOfPath.set(`meta.${p.key}`, c);
      } else {
        const list = contacts.get(p.n) ?? [];
        list.push({ field: p.field, value: convert(raw, p.conv), col: c });
        contacts.set(p.n, list);
      }
    });
    if (contacts.size) {
      // contact2 filled with contact1 empty is still the first contact of the site.
      const list: Record<string, unknown>[] = [];
      for (const n of [...contacts.keys()].sort((a, b) => a - b)) {
        const contact: Record<string, unknown> = {};
        for (const f of contacts.get(n)!) {
          contact[f.field] = f.value;
          colOfPath.set(`contacts.${list.length}.${f.field}`, f.col);
        }
        if (!('name' in contact)) colOfPath.set(`contacts.${list.length}.name`, header.findIndex((h) => h.trim().toLowerCase() === `contact${n}name`));
        list.push(contact);
      }
      entity.contacts = list;
    }
    const result = SCHEMA[kind].safeParse(entity);
    const id = cells[idCol] ?? '';
    const first = firstRowOfId.get(id);
    const duplicate = id !== '' && first !== undefined ? `${cell(rowNo, idCol)}: duplicate "${id}" (first at row ${first})` : undefined;
    if (id !== '' && first === undefined) firstRowOfId.set(id, rowNo);
    if (!result.success) {
      for (const issue of result.error.issues) {
        const path = issue.path.map(String);
        let col: number | undefined;
        for (let k = path.length; k > 0 && col === undefined; k--) col = colOfPath.get(path.slice(0, k).join('.'));
        if (col === undefined && path.length) {
          // A required field without its column's value: name the column it belongs in.
          const name = path.length === 1 ? path[0]! : path[0] === 'resident' ? `resident${path[1]!.charAt(0).toUpperCase()}${path[1]!.slice(1)}` : path.join('.');
          const idx = header.findIndex((h) => h.trim().toLowerCase() === name.toLowerCase());
          if (idx >= 0) col = idx;
        }
        problems.push(`${col !== undefined && col >= 0 ? cell(rowNo, col) : `row ${rowNo}${path.length ? `, field ${path.join('.')}` : ''}`}: ${issue.message}`);
      }
    }
    if (duplicate) problems.push(duplicate);
    if (!result.success) return;
    entities.push(result.data);
  });
  if (problems.length) {
    throw new WatchfireError('WF_REGISTRY_INVALID', `Invalid ${kind} CSV${where} (${problems.length} problem${problems.length === 1 ? '' : 's'})`, problems);
  }
  return RegistryFile.parse({ [kind]: entities });
}
