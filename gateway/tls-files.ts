// The MQTTS certificate from the config: PEM text, or paths to files that are watched and reloaded
// without a restart when they change (issue 16 point 4: certificates are renewed every few months,
// ACME every 60–90 days, and a restart would drop every device connection).
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import tls from 'node:tls';
import type { Config } from '../contracts/config.ts';
import { WatchfireError } from '../contracts/errors.ts';

type TlsConfig = NonNullable<Config['gateway']['tls']>;
export interface TlsOptions { cert: string; key: string; ca?: string }

/** Writes of a renewal land as several events (cert, then key): one reload after they settle. */
const SETTLE_MS = 200;

const isPem = (value: string): boolean => value.includes('-----BEGIN');

export function tlsFiles(config: TlsConfig) {
  const entries = (['cert', 'key', 'ca'] as const).flatMap((what) => {
    const v = config[what];
    return v === undefined ? [] : [{ what, value: v }];
  });
  return {
    /** The files to watch (PEM given inline is not a file). */
    paths: entries.filter((e) => !isPem(e.value)).map((e) => resolve(e.value)),
    /** Reads all of them; throws WF_CONFIG_INVALID naming the one that cannot be read. */
    read(): TlsOptions {
      const out: Partial<TlsOptions> = {};
      for (const { what, value } of entries) {
        if (isPem(value)) out[what] = value;
        else {
          try {
            out[what] = readFileSync(value, 'utf8');
          } catch (err) {
            throw new WatchfireError('WF_CONFIG_INVALID', `gateway.tls.${what}: cannot read ${value}: ${(err as Error).message}`);
          }
        }
      }
      return out as TlsOptions;
    },
  };
}

/**
 * Watches the directories of the certificate files (a renewal often replaces a file by rename or
 * swaps a symlink, which a watch on the file itself would miss) and calls back with the new
 * options once they read and form a valid context, or with the error (a key that does not match
 * its certificate yet, half-way through a renewal): the running context stays until a valid pair.
 */
export function watchTlsFiles(files: ReturnType<typeof tlsFiles>, onChange: (err: Error | undefined, options?: TlsOptions) => void): () => void {
  const byDir = new Map<string, Set<string>>();
  for (const p of files.paths) {
    const names = byDir.get(dirname(p)) ?? new Set<string>();
    names.add(basename(p));
    byDir.set(dirname(p), names);
  }
  let timer: NodeJS.Timeout | undefined;
  const reload = (): void => {
    timer = undefined;
    let options: TlsOptions;
    try {
      options = files.read();
      tls.createSecureContext(options);
    } catch (err) {
      onChange(err as Error);
      return;
    }
    onChange(undefined, options);
  };
  const watchers: FSWatcher[] = [];
  for (const [dir, names] of byDir) {
    try {
      const w = watch(dir, { persistent: false }, (_event, name) => {
        if (name !== null && !names.has(name.toString())) return;
        if (timer) clearTimeout(timer);
        timer = setTimeout(reload, SETTLE_MS);
      });
      w.on('error', (err) => onChange(err));
      watchers.push(w);
    } catch (err) {
      onChange(err as Error);
    }
  }
  return () => {
    if (timer) clearTimeout(timer);
    for (const w of watchers) w.close();
  };
}
