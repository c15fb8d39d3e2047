// Partition lanes for the rule worker's tests (worker/rule-worker.ts): they write down what the
// worker gave them, as `replay r3`, `restore r3` or `handle r3` (the frame's payload).
import type { PartitionLane, PartitionLanes } from '../../contracts/cluster.ts';

/** Lanes that push what they were given onto `seen`; `more` adds to (or replaces) each lane's members. */
export function recordingLanes(seen: string[], more: (partition: number) => Partial<PartitionLane> = () => ({})): PartitionLanes {
  return (p) => ({
    replay: (f) => void seen.push(`replay ${f.payload.toString()}`),
    restore: (f) => void seen.push(`restore ${f.payload.toString()}`),
    handle: (f) => void seen.push(`handle ${f.payload.toString()}`),
    close: () => undefined,
    ...more(p),
  });
}
