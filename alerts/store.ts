// The incident lifecycle's order (the rows themselves are storage/incidents.ts's).
import type { IncidentState } from '../contracts/incidents.ts';

export const STATE_RANK: Record<IncidentState, number> = { open: 0, acknowledged: 1, dispatched: 2, on_site: 3, resolved: 4, reviewed: 5 };

/** States at or before `s` in the lifecycle (a step ending at any of these has ended once `s` is reached). */
export function statesUpTo(s: IncidentState): IncidentState[] {
  return (Object.keys(STATE_RANK) as IncidentState[]).filter((k) => STATE_RANK[k] <= STATE_RANK[s]);
}
