// Per-device memory of recent (seq, ts) pairs: drops exact re-sends and counts gaps in `seq`
// (PROTOCOL.md "Every reading and event may carry": same device, same seq, same ts = re-send).
//
// Memory stays bounded per device: a ring that starts tiny (most detectors send one reading at a
// time) and grows only when a device uploads batches, up to RING_MAX, which holds a whole re-sent
// batch of MAX_BATCH (500) with room to spare. The common case — seq above every seq seen — is
// decided in O(1) without scanning the ring.
import { MAX_BATCH } from '../contracts/protocol.ts';

const RING_MIN = 8;
/** Next power of two above 2 × MAX_BATCH: a re-sent batch of 500 is recognised whole. */
const RING_MAX = 2 ** Math.ceil(Math.log2(2 * MAX_BATCH));
const NO_TS = -1;

export class SeqTracker {
  private seqs: Float64Array = new Float64Array(RING_MIN);
  private tss: Float64Array = new Float64Array(RING_MIN);
  private size = 0;
  private next = 0;
  private maxSeq = -1;
  /** Highest seq accepted so far, for gap counting (-1: none yet). */
  private lastSeq = -1;
  gaps = 0;
  duplicates = 0;

  /** Called once per message with the number of elements it carries, before any `seen`. */
  reserve(elements: number): void {
    const want = Math.min(RING_MAX, Math.max(RING_MIN, 2 ** Math.ceil(Math.log2(elements + RING_MIN))));
    if (want <= this.seqs.length) return;
    // Re-lay the ring oldest-first into the bigger arrays.
    const seqs = new Float64Array(want);
    const tss = new Float64Array(want);
    const cap = this.seqs.length;
    const start = this.size < cap ? 0 : this.next;
    for (let i = 0; i < this.size; i++) {
      seqs[i] = this.seqs[(start + i) % cap]!;
      tss[i] = this.tss[(start + i) % cap]!;
    }
    this.seqs = seqs;
    this.tss = tss;
    this.next = this.size % want;
  }

  /**
   * Records (seq, ts) and says whether it is new. ts is the device's own timestamp (ms) or
   * undefined; without one a re-send cannot be told from a device that restarted its counter,
   * and dropping a real alarm is worse than storing a reading twice, so it is never a duplicate.
   * Returns the number of seq values skipped before this one (0 when none).
   */
  seen(seq: number, ts: number | undefined): { duplicate: boolean; gap: number } {
    const t = ts ?? NO_TS;
    if (seq <= this.maxSeq && ts !== undefined) {
      for (let i = 0; i < this.size; i++) {
        if (this.seqs[i] === seq && this.tss[i] === t) {
          this.duplicates++;
          return DUPLICATE;
        }
      }
    }
    this.seqs[this.next] = seq;
    this.tss[this.next] = t;
    this.next = (this.next + 1) % this.seqs.length;
    if (this.size < this.seqs.length) this.size++;
    if (seq > this.maxSeq) this.maxSeq = seq;
    let gap = 0;
    if (this.lastSeq < 0) this.lastSeq = seq;
    else if (seq > this.lastSeq) {
      gap = seq - this.lastSeq - 1;
      this.gaps += gap;
      this.lastSeq = seq;
    } else if (this.lastSeq - seq > RING_MAX) {
      // Far behind everything recent: the device restarted its counter (reboot, firmware update).
      this.lastSeq = seq;
      this.maxSeq = seq;
    }
    return gap === 0 ? FRESH : { duplicate: false, gap };
  }
}

const DUPLICATE = Object.freeze({ duplicate: true, gap: 0 });
const FRESH = Object.freeze({ duplicate: false, gap: 0 });
