// Who refers to an entity: removing it would leave them dangling (WF_REGISTRY_IN_USE lists them).
import type { Roster } from '../contracts/registry.ts';
import type { RegistryKind } from '../contracts/storage.ts';
import type { Memory } from './memory.ts';

export function referrersOf(mem: Memory, kind: RegistryKind, id: string): string[] {
  const { grids, sites, people, rosters, bySite } = mem;
  const out: string[] = [];
  const rosterRefs = (pred: (r: Roster) => boolean) => {
    for (const r of rosters.values()) if (pred(r)) out.push(`roster of center "${r.centerId}"`);
  };
  switch (kind) {
    case 'center':
      for (const g of grids.values()) if (g.centerId === id) out.push(`grid "${g.id}"`);
      for (const s of sites.values()) if (s.centerId === id) out.push(`site "${s.id}"`);
      for (const p of people.values()) if (p.centerId === id) out.push(`person "${p.id}"`);
      rosterRefs((r) => r.centerId === id);
      break;
    case 'grid':
      for (const s of sites.values()) if (s.gridId === id) out.push(`site "${s.id}"`);
      break;
    case 'site':
      for (const d of bySite.get(id) ?? []) out.push(`device "${d.id}"`);
      break;
    case 'person':
      for (const g of grids.values()) if (g.workerId === id) out.push(`grid "${g.id}"`);
      rosterRefs((r) => r.liaison === id || r.manager === id || r.shifts.some((s) => s.supervisor === id || s.operators.includes(id)));
      break;
    case 'device':
    case 'roster':
      break;
  }
  return out;
}
