// Issue 21, "Beyond one machine": the live state of a device (online, last seen, last values,
// level) exists only on the node owning its site's partition; the console of every node shows it
// through a mirror fed by the owner (app/live-mirror.ts). This is what travels: one entry per
// device whose state changed, tagged with the partition and lease term it was produced under and
// the owner's clock, so that an entry of an owner that has lost the partition (an older term) never
// overrides its successor's.
import { z } from 'zod';
import type { DeviceLiveState } from './pipeline.ts';

export const LiveStateEntry = z.object({
  /** The device. */
  d: z.string().min(1),
  /** Its site's partition, and the lease term the producing node held it under. */
  p: z.number().int().nonnegative(),
  t: z.number().int().nonnegative(),
  /** The producing node, for operators. */
  n: z.string(),
  /** When it was produced, on the producer's clock (ms): orders entries of one term. */
  at: z.number(),
  s: z.object({
    online: z.boolean(),
    lastSeen: z.number().optional(),
    last: z.record(z.string(), z.union([z.number(), z.string()])).optional(),
    level: z.string().optional(),
  }),
});
export type LiveStateEntry = z.infer<typeof LiveStateEntry>;

/** The state itself is the pipeline's, as it is. */
export type { DeviceLiveState };

/** One publish: the producing node and its entries (JSON, each entry as stored in the partition's hash). */
export const LiveStateBatch = z.object({ n: z.string(), e: z.array(z.unknown()) });

/**
 * Whether `next` is newer than `cur` for one device: a later term of the same partition wins
 * whatever the clocks say (terms are never reused); within a term, the later production time. A
 * device moved to a site of another partition: the later production time.
 */
export function newerLiveState(cur: LiveStateEntry | undefined, next: LiveStateEntry): boolean {
  if (!cur) return true;
  if (cur.p === next.p && cur.t !== next.t) return next.t > cur.t;
  return next.at >= cur.at;
}

/** The entry's wire form: one JSON object, the same bytes in the hash and in the batch. */
export function encodeLiveState(e: LiveStateEntry): string {
  return JSON.stringify(e);
}

/** A batch's wire form from entries already encoded (encodeLiveState): no second stringify. */
export function encodeLiveBatch(node: string, encoded: readonly string[]): string {
  return `{"n":${JSON.stringify(node)},"e":[${encoded.join(',')}]}`;
}

/** An entry read back; undefined for one this version cannot read (skipped, never applied half). */
export function decodeLiveState(v: unknown): LiveStateEntry | undefined {
  const r = LiveStateEntry.safeParse(typeof v === 'string' ? safeJson(v) : v);
  return r.success ? r.data : undefined;
}

/** A batch read back: its node and its readable entries. */
export function decodeLiveBatch(message: string): { node: string; entries: LiveStateEntry[] } | undefined {
  const r = LiveStateBatch.safeParse(safeJson(message));
  if (!r.success) return undefined;
  const entries: LiveStateEntry[] = [];
  for (const v of r.data.e) {
    const e = decodeLiveState(v);
    if (e) entries.push(e);
  }
  return { node: r.data.n, entries };
}

function safeJson(s: string): unknown {
  try {
    return JSON.parse(s) as unknown;
  } catch {
    return undefined;
  }
}
