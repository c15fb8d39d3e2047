// Devices' re-send memory (seq-tracker.ts) as bytes, for a partition snapshot in cluster mode
// (worker/rule-worker.ts): the new owner of a partition recognises re-sends of readings handled
// before the snapshot however old, not only those still in the log. The same SeqSnapshot a restart
// keeps on one node (seq-store.ts): the device's runs and its newest 64 exact (seq, ts) pairs.
// Bytes per device (SEQ_MEMORY_VERSION 1): 24 + its id + 8 per number of its runs (4 and 2 per
// skipped range) + 16 per remembered (seq, ts) pair. The pairs are the tracker's window: 8 for a
// device sending one reading at a time (194 B with an id of 10 characters), up to 64 for one that
// uploads batches (≈ 1,100 B).
//
// SEQ_MEMORY_VERSION changes with SeqSnapshot's shape: another version is refused (decode throws)
// and the worker replays the log instead.
import { ByteReader, ByteWriter } from '../contracts/bytes.ts';
import { SeqTracker, type SeqSnapshot } from './seq-tracker.ts';

export const SEQ_MEMORY_VERSION = 1;

function saveRun(w: ByteWriter, run: readonly number[] | undefined): void {
  w.u16(run ? run.length : 0);
  if (run) for (const v of run) w.f64(v);
}
function loadRun(r: ByteReader): number[] | undefined {
  const n = r.u16();
  if (n === 0) return undefined;
  if (n < 4 || n % 2 !== 0) throw new RangeError(`a seq run of ${n} numbers`);
  return Array.from({ length: n }, () => r.f64());
}

export function encodeSeqMemory(entries: ReadonlyArray<readonly [string, SeqSnapshot]>): Uint8Array {
  const w = new ByteWriter(16 + 1200 * entries.length);
  w.u16(SEQ_MEMORY_VERSION);
  w.u32(entries.length);
  for (const [id, s] of entries) {
    w.str(id);
    w.f64(s.g);
    w.f64(s.d);
    saveRun(w, s.c);
    saveRun(w, s.p);
    w.u16(s.w.length >> 1);
    for (const v of s.w) w.f64(v);
  }
  return w.finish();
}

/** Throws on another version, or on bytes that do not parse to the end. */
export function decodeSeqMemory(bytes: Uint8Array): Array<[string, SeqSnapshot]> {
  const r = new ByteReader(bytes);
  const version = r.u16();
  if (version !== SEQ_MEMORY_VERSION) throw new RangeError(`re-send memory version ${version}; this node reads version ${SEQ_MEMORY_VERSION}`);
  const out: Array<[string, SeqSnapshot]> = [];
  for (let i = r.u32(); i > 0; i--) {
    const id = r.str();
    const g = r.f64();
    const d = r.f64();
    const c = loadRun(r);
    const p = loadRun(r);
    const w = Array.from({ length: 2 * r.u16() }, () => r.f64());
    out.push([id, { ...(c ? { c } : {}), ...(p ? { p } : {}), w, g, d }]);
  }
  r.end();
  return out;
}

/** The memory of those of `ids` that `trackerOf` knows. */
export function saveSeqMemory(ids: Iterable<string>, trackerOf: (id: string) => SeqTracker | undefined): Uint8Array {
  const entries: Array<[string, SeqSnapshot]> = [];
  for (const id of ids) {
    const t = trackerOf(id);
    if (t) entries.push([id, t.snapshot()]);
  }
  return encodeSeqMemory(entries);
}

/** New trackers from saveSeqMemory's bytes, all decoded before any is returned. */
export function loadSeqMemory(bytes: Uint8Array): Array<[string, SeqTracker]> {
  return decodeSeqMemory(bytes).map(([id, s]) => [id, SeqTracker.from(s)]);
}
