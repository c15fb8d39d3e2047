// An erasure must not be undone by a registry file loaded again: Watchfire imports
// `registryFile` at every start, and an installer's CSV may still list the resident. Each
// erasure keeps the HMACs of the strings it erased (never the strings); when a site that was
// erased carries any of them again, its resident and contacts are erased from the registry again
// and WF_PRIVACY_REIMPORTED is logged, so the file gets fixed.
import type { Database } from 'better-sqlite3';
import type { Logger } from 'pino';
import type { RegistryReader, RegistryWriter } from '../contracts/ports.ts';
import { hmac, pseudonymOf, termsOf } from './terms.ts';
import { erasedSite } from './erase.ts';
import { clearWal, withSecureDeleteAsync } from './sql.ts';

export function createGuard(deps: { db: Database; key: () => string; registry: RegistryReader & Pick<RegistryWriter, 'importFile'>; logger: Logger }) {
  const { db, registry, logger } = deps;

  function marks(): Map<string, Set<string>> {
    const out = new Map<string, Set<string>>();
    for (const r of db.prepare('SELECT site_id, erased FROM privacy_erasures').all() as Array<{ site_id: string; erased: string }>) {
      const set = out.get(r.site_id) ?? new Set<string>();
      for (const m of JSON.parse(r.erased) as string[]) set.add(m);
      out.set(r.site_id, set);
    }
    return out;
  }

  /** Erases again what came back, for the sites given (default: every erased site); returns their ids. */
  async function check(siteIds?: readonly string[]): Promise<string[]> {
    const all = marks();
    if (!all.size) return [];
    const key = deps.key();
    const back: string[] = [];
    for (const [siteId, set] of all) {
      if (siteIds && !siteIds.includes(siteId)) continue;
      const site = registry.site(siteId);
      if (!site || !termsOf(site, '').some((t) => set.has(hmac(key, `erased:${t.literal}`)))) continue;
      await withSecureDeleteAsync(db, () => registry.importFile({ centers: [], grids: [], sites: [erasedSite(site, pseudonymOf(key, siteId))], devices: [], people: [], rosters: [] }));
      back.push(siteId);
    }
    if (back.length) clearWal(db);
    if (back.length) logger.error({ code: 'WF_PRIVACY_REIMPORTED', sites: back }, 'a registry import brought back personal data that was erased: erased again; remove it from the registry file');
    return back;
  }

  let unsubscribe: (() => void) | undefined;
  return {
    check,
    async start(): Promise<void> {
      await check();
      const changes = registry as Partial<{ onChange(l: (c: ReadonlyArray<{ kind: string; id: string; op: string }>) => void): () => void }>;
      if (typeof changes.onChange === 'function') {
        unsubscribe = changes.onChange((cs) => {
          const sites = cs.filter((c) => c.kind === 'site' && c.op === 'upsert').map((c) => c.id);
          if (sites.length) {
            check(sites).catch((err: unknown) => logger.error({ err, code: 'WF_PRIVACY_REIMPORTED', sites }, 'erasing again what a registry import brought back failed; it is tried again at the next start'));
          }
        });
      }
    },
    stop(): void {
      unsubscribe?.();
      unsubscribe = undefined;
    },
  };
}
