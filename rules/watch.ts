// Hot reload of the rule set from its file. Editors save by writing in place or by renaming a
// temporary file over it, so the directory is watched and events for the file are debounced.
import { watch, readFileSync, existsSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import type { Logger } from 'pino';
import type { ReloadResult } from './engine.ts';

export interface WatchRuleFileOptions {
  /** Wait this long after the last change before reading (a save is several events). */
  debounceMs?: number;
  /** Called after every reload attempt (tests await it; app may count it). */
  onReload?: (result: ReloadResult) => void;
}

/** Reloads `path` into the engine on every change; an invalid file is refused and the running set stays. Returns stop(). */
export function watchRuleFile(path: string, engine: { reload(input: unknown): ReloadResult }, logger: Logger, opts: WatchRuleFileOptions = {}): () => void {
  const file = resolve(path);
  const name = basename(file);
  const debounceMs = opts.debounceMs ?? 100;
  let timer: NodeJS.Timeout | undefined;

  const load = (): void => {
    timer = undefined;
    if (!existsSync(file)) return; // mid-rename; the next event brings it back
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      logger.warn({ err, file }, 'rule file unreadable; the running rule set stays');
      return;
    }
    const result = engine.reload(text);
    if (result.ok) logger.info({ file }, 'rule set reloaded');
    else logger.warn({ code: 'WF_RULES_INVALID', file, errors: result.errors }, 'rule set refused; the running one stays');
    opts.onReload?.(result);
  };

  const watcher = watch(dirname(file), (_event, changed) => {
    if (changed !== null && changed.toString() !== name) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(load, debounceMs);
  });
  watcher.on('error', (err) => logger.warn({ err, file }, 'rule file watch failed'));

  return () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    watcher.close();
  };
}
