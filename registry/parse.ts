// Reading a registry file: YAML → zod shape → unknown fields, duplicates and references, with
// every problem listed by path in one WatchfireError('WF_REGISTRY_INVALID').
import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { RegistryFile } from '../contracts/registry.ts';
import { WatchfireError, formatIssues } from '../contracts/errors.ts';
import type { RegistryReader } from '../contracts/ports.ts';
import type { DeviceType } from '../contracts/protocol.ts';
import { findDuplicates, findReferenceProblems, findUnknownFields, labelFile, overlay } from './check.ts';

export interface ParseOptions {
  /** What is registered already: references may point into it (a partial import). */
  registered?: RegistryFile;
  /** Where the text came from, for the error message. */
  source?: string;
  /**
   * The rule engine's own check of a device's rule override (app/ passes rules/' checkDeviceRules),
   * so `registry check` / `import` refuse what the engine would not apply. Returns `rules.…: reason`.
   */
  checkRules?: (type: DeviceType, override: unknown) => string[];
}

/** Validates an already parsed object (YAML, JSON or CSV rows turned into entities). */
export function validateRegistry(raw: unknown, opts: ParseOptions = {}): RegistryFile {
  const problems: string[] = [];
  if (raw !== null && raw !== undefined && (typeof raw !== 'object' || Array.isArray(raw))) {
    throw new WatchfireError('WF_REGISTRY_INVALID', `Invalid registry${opts.source ? ` ${opts.source}` : ''}`, ['(root): expected a mapping with centers, grids, sites, devices, people, rosters']);
  }
  problems.push(...findUnknownFields(raw));
  const parsed = RegistryFile.safeParse(raw ?? {});
  if (!parsed.success) problems.push(...formatIssues(parsed.error.issues));
  else {
    // References are only meaningful once every entity has its shape.
    problems.push(...findDuplicates(parsed.data));
    if (opts.checkRules) {
      parsed.data.devices.forEach((d, i) => {
        if (d.rules !== undefined) for (const e of opts.checkRules!(d.type, d.rules)) problems.push(`devices.${i}.${e}`);
      });
    }
    problems.push(...findReferenceProblems(opts.registered ? overlay(opts.registered, parsed.data) : labelFile(parsed.data)));
  }
  if (problems.length || !parsed.success) {
    throw new WatchfireError('WF_REGISTRY_INVALID', `Invalid registry${opts.source ? ` ${opts.source}` : ''} (${problems.length} problem${problems.length === 1 ? '' : 's'})`, problems);
  }
  return parsed.data;
}

export function parseRegistryYaml(text: string, opts: ParseOptions = {}): RegistryFile {
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length) {
    const problems = doc.errors.map((e) => `(yaml) line ${e.linePos?.[0]?.line ?? '?'}: ${e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`);
    throw new WatchfireError('WF_REGISTRY_INVALID', `Invalid registry${opts.source ? ` ${opts.source}` : ''}: not valid YAML`, problems);
  }
  return validateRegistry(doc.toJS(), opts);
}

export function loadRegistryFile(path: string, opts: Omit<ParseOptions, 'source'> = {}): RegistryFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new WatchfireError('WF_REGISTRY_INVALID', `Cannot read registry file ${path}: ${(err as Error).message}`);
  }
  return parseRegistryYaml(text, { ...opts, source: path });
}

/**
 * What a reader holds, as a RegistryFile (without secrets): the context `registry check` and
 * `registry import` validate a partial file against.
 */
export function snapshotOf(reader: RegistryReader): RegistryFile {
  const centers = [...reader.centers()];
  return {
    centers,
    grids: [...reader.grids()],
    sites: [...reader.sites()],
    people: [...reader.people()],
    rosters: centers.flatMap((c) => reader.roster(c.id) ?? []),
    devices: [...reader.all()].map((d) => ({
      id: d.id, type: d.type, siteId: d.siteId, location: d.location, intervalSec: d.intervalSec, enabled: d.enabled,
      ...(d.rules ? { rules: { ...d.rules } } : {}),
      ...(d.meta ? { meta: { ...d.meta } } : {}),
    })),
  };
}
