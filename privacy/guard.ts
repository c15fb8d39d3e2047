// An erasure must not be undone by a registry file loaded again: Watchfire imports
// `registryFile` at every start, and an installer's CSV may still list the resident. Each
// erasure keeps the HMACs of the strings it erased (never the strings); when a site that was
// erased carries any of them again, its resident and contacts are erased from the registry again
// and WF_PRIVACY_REIMPORTED is logged, so the file gets fixed.
//
// The marks live beside the erasures, on whichever database alerts/ runs (on PostgreSQL every
// node sees every erasure). They are held in memory, loaded at start and refreshed after every
// import, so that an import is checked at once, synchronously, before anything reads the site:
// an erasure made on another node since the last refresh is caught by the refresh that follows.
import type { Database } from 'better-sqlite3';
import type { Logger } from 'pino';
import type { RegistryReader, RegistryWriter } from '../contracts/ports.ts';
import { hmac, pseudonymOf, termsOf } from './terms.ts';
import { erasedSite } from './erase.ts';
import { clearWal, sharedSql, withSecureDelete, type SqlRunner } from './sql.ts';

export function createGuard(deps: { db: Database; sql: SqlRunner; key: () => Promise<string>; registry: RegistryReader & Pick<RegistryWriter, 'importFile'>; logger: Logger }) {
  const { db, registry, logger } = deps;
  const s = sharedSql(deps.sql);
  let marks = new Map<string, Set<string>>();
  let key: string | undefined;

  async function load(): Promise<void> {
    const out = new Map<string, Set<string>>();
    for (const r of await deps.sql.all(s.erasureMarks())) {
      const set = out.get(r.site_id) ?? new Set<string>();
      for (const m of JSON.parse(r.erased) as string[]) set.add(m);
      out.set(r.site_id, set);
    }
    if (out.size) key ??= await deps.key();
    marks = out;
  }

  /** Erases again what came back, for the sites given (default: every erased site), against the marks held; returns their ids. */
  function check(siteIds?: readonly string[]): string[] {
    if (!marks.size || key === undefined) return [];
    const back: string[] = [];
    for (const [siteId, set] of marks) {
      if (siteIds && !siteIds.includes(siteId)) continue;
      const site = registry.site(siteId);
      if (!site || !termsOf(site, '').some((t) => set.has(hmac(key!, `erased:${t.literal}`)))) continue;
      const before = db.pragma('secure_delete', { simple: true }) as number;
      db.pragma('secure_delete = ON');
      try {
        registry.importFile({ centers: [], grids: [], sites: [erasedSite(site, pseudonymOf(key, siteId))], devices: [], people: [], rosters: [] });
      } finally {
        db.pragma(`secure_delete = ${before}`);
      }
      back.push(siteId);
    }
    if (back.length) clearWal(db);
    if (back.length) logger.error({ code: 'WF_PRIVACY_REIMPORTED', sites: back }, 'a registry import brought back personal data that was erased: erased again; remove it from the registry file');
    return back;
  }

  /** The marks as stored now (other nodes' erasures too), then the check. */
  async function refresh(siteIds?: readonly string[]): Promise<string[]> {
    await load();
    return check(siteIds);
  }

  let unsubscribe: (() => void) | undefined;
  return {
    check,
    refresh,
    /** An erasure made here: its marks count at once. */
    remember(siteId: string, erased: readonly string[], k: string): void {
      key ??= k;
      const set = marks.get(siteId) ?? new Set<string>();
      for (const m of erased) set.add(m);
      marks.set(siteId, set);
    },
    async start(): Promise<void> {
      await withSecureDelete(db, () => refresh());
      const changes = registry as Partial<{ onChange(l: (c: ReadonlyArray<{ kind: string; id: string; op: string }>) => void): () => void }>;
      if (typeof changes.onChange === 'function') {
        unsubscribe = changes.onChange((cs) => {
          const sites = cs.filter((c) => c.kind === 'site' && c.op === 'upsert').map((c) => c.id);
          if (!sites.length) return;
          check(sites);
          refresh(sites).catch((err: unknown) => logger.error({ err, code: 'WF_PRIVACY_GUARD' }, 'could not read the erasures to check a registry import against them'));
        });
      }
    },
    stop(): void {
      unsubscribe?.();
      unsubscribe = undefined;
    },
  };
}
