// The registry module's public face (DESIGN.md "Registry"): the app wires createRegistry and
// loads files with loadRegistryFile / parseRegistryCsv.
export { createRegistry } from './registry.ts';
export type { Registry, RegistryDeps } from './registry.ts';
export type { Kind as RegistryKind } from './registry.ts';
export { loadRegistryFile, parseRegistryYaml, validateRegistry, snapshotOf } from './parse.ts';
export type { ParseOptions } from './parse.ts';
export { parseRegistryCsv, CSV_KINDS } from './csv.ts';
export type { CsvKind } from './csv.ts';
