// Reads the configuration once at start: YAML file, then environment overrides, validated with
// every problem reported by path, then deep-frozen (STYLE.md principle 2).
import { readFileSync, existsSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { Config, ENV_OVERRIDES } from '../contracts/config.ts';
import { checkChannelConfig } from '../alerts/channels/registry.ts';
import { WatchfireError, formatIssues } from '../contracts/errors.ts';

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as Record<string, unknown>)) deepFreeze(v);
  }
  return value;
}

function setPath(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (next === undefined || next === null || typeof next !== 'object') node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]!] = value;
}

export interface LoadConfigOptions {
  /** YAML file; missing file with an explicit path is an error, the default path may be absent. */
  file?: string | undefined;
  env?: NodeJS.ProcessEnv;
  /** Values that win over file and environment (tests, CLI flags). */
  overrides?: Record<string, unknown>;
}

export function loadConfig(opts: LoadConfigOptions = {}): Readonly<Config> {
  const env = opts.env ?? process.env;
  const problems: string[] = [];
  let raw: Record<string, unknown> = {};
  const file = opts.file ?? env.WF_CONFIG;
  if (file) {
    if (!existsSync(file)) {
      throw new WatchfireError('WF_CONFIG_INVALID', `Configuration file ${file} does not exist`);
    }
    try {
      const parsed: unknown = parseYaml(readFileSync(file, 'utf8'));
      if (parsed !== null && parsed !== undefined) {
        if (typeof parsed !== 'object' || Array.isArray(parsed)) problems.push('(root): expected a mapping');
        else raw = parsed as Record<string, unknown>;
      }
    } catch (err) {
      problems.push(`(file): ${(err as Error).message}`);
    }
  }
  for (const [name, spec] of Object.entries(ENV_OVERRIDES)) {
    const v = env[name];
    if (v === undefined || v === '') continue;
    if (spec.type === 'number') {
      const n = Number(v);
      if (!Number.isFinite(n)) problems.push(`${name}: expected a number, got ${JSON.stringify(v)}`);
      else setPath(raw, spec.path, n);
    } else if (spec.type === 'boolean') {
      const b = /^(true|1|yes|on)$/i.test(v) ? true : /^(false|0|no|off)$/i.test(v) ? false : undefined;
      if (b === undefined) problems.push(`${name}: expected true or false, got ${JSON.stringify(v)}`);
      else setPath(raw, spec.path, b);
    } else setPath(raw, spec.path, v);
  }
  for (const [k, v] of Object.entries(opts.overrides ?? {})) setPath(raw, k.split('.'), v);
  const result = Config.safeParse(raw);
  if (!result.success) problems.push(...formatIssues(result.error.issues));
  // Issue 19: each notification channel's section is checked by its own schema in the channel table.
  else problems.push(...checkChannelConfig(result.data.alerts));
  if (problems.length || !result.success) {
    throw new WatchfireError('WF_CONFIG_INVALID', `Invalid configuration${file ? ` in ${file}` : ''}`, problems);
  }
  return deepFreeze(result.data);
}
