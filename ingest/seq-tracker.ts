// Per-device memory of what was accepted, to recognise re-sends however old they are (issue 15
// point 3; the rule is SEQ_RULE in contracts/protocol.ts, PROTOCOL.md "Every reading and event may
// carry"). Two parts:
//
// - Runs. A device's `seq` rises by one per message until it restarts its counter (reboot,
//   firmware update). The current run — its first and highest seq with their ts, and the seq
//   numbers it skipped — says for any (seq, ts) with a trusted ts whether it was accepted: inside
//   the run's seq and ts range and not skipped means accepted, so it is a re-send, however long
//   ago the original came. The run before the current one is kept too, so that a re-send from
//   before a reboot is still recognised after it.
// - A window of recent exact (seq, ts) pairs, for what runs cannot judge: a reading whose ts is
//   not trusted (clock_bad). A reading without ts is never a duplicate: it cannot be told from a
//   new one, and dropping a real alarm is worse than storing a reading twice.
//
// Memory stays bounded per device: the window starts tiny (most detectors send one reading at a
// time) and grows only for devices that upload batches, up to RING_MAX, which holds a whole
// re-sent batch of MAX_BATCH (500) with room to spare; a run keeps at most MAX_MISSING skipped
// ranges. The common case — the next seq of the current run — is decided in O(1).
import { MAX_BATCH } from '../contracts/protocol.ts';

const RING_MIN = 8;
/** Next power of two above 2 × MAX_BATCH: a re-sent batch of 500 is recognised whole. */
const RING_MAX = 2 ** Math.ceil(Math.log2(2 * MAX_BATCH));
/** Skipped seq ranges remembered per run; beyond it the oldest are forgotten (their late arrivals then count as re-sends). */
const MAX_MISSING = 64;
/** Window pairs kept in a snapshot (what survives a restart besides the runs). */
const SNAPSHOT_PAIRS = 64;
const NO_TS = -1;

/** One counter run: [firstSeq, firstTs, highSeq, highTs, ...skipped ranges as from,to pairs]. */
type RunTuple = number[];

/** What survives a restart (JSON in SQLite, ingest/seq-store.ts). */
export interface SeqSnapshot {
  readonly c?: RunTuple;
  readonly p?: RunTuple;
  /** Recent (seq, ts) pairs, oldest first, flat; ts -1 = none. */
  readonly w: number[];
  readonly g: number;
  readonly d: number;
}

class Run {
  constructor(
    public firstSeq: number,
    public firstTs: number,
    public highSeq: number,
    public highTs: number,
    /** Skipped seq ranges, flat [from, to, from, to, …], oldest first. */
    public missing: number[] = [],
  ) {}

  static from(t: RunTuple | undefined): Run | undefined {
    return t && t.length >= 4 ? new Run(t[0]!, t[1]!, t[2]!, t[3]!, t.slice(4)) : undefined;
  }
  tuple(): RunTuple {
    return [this.firstSeq, this.firstTs, this.highSeq, this.highTs, ...this.missing];
  }
  /** Extends the run to `seq` (above highSeq); returns how many seq numbers were skipped. */
  extend(seq: number, ts: number): number {
    const gap = seq - this.highSeq - 1;
    if (gap > 0) {
      this.missing.push(this.highSeq + 1, seq - 1);
      if (this.missing.length > 2 * MAX_MISSING) this.missing.splice(0, 2);
    }
    this.highSeq = seq;
    if (ts > this.highTs) this.highTs = ts;
    return gap > 0 ? gap : 0;
  }
  /** Takes `seq` out of the skipped ranges; false when it was not skipped (it was accepted). */
  fill(seq: number): boolean {
    const m = this.missing;
    for (let i = 0; i < m.length; i += 2) {
      const from = m[i]!;
      const to = m[i + 1]!;
      if (seq < from || seq > to) continue;
      const parts: number[] = [];
      if (seq > from) parts.push(from, seq - 1);
      if (seq < to) parts.push(seq + 1, to);
      m.splice(i, 2, ...parts);
      return true;
    }
    return false;
  }
}

export class SeqTracker {
  private seqs: Float64Array = new Float64Array(RING_MIN);
  private tss: Float64Array = new Float64Array(RING_MIN);
  private size = 0;
  private next = 0;
  private cur: Run | undefined;
  private prev: Run | undefined;
  gaps = 0;
  duplicates = 0;

  static from(s: SeqSnapshot): SeqTracker {
    const t = new SeqTracker();
    t.cur = Run.from(s.c);
    t.prev = Run.from(s.p);
    t.gaps = s.g;
    t.duplicates = s.d;
    const pairs = s.w.length >> 1;
    t.reserve(pairs);
    for (let i = 0; i < pairs; i++) t.remember(s.w[2 * i]!, s.w[2 * i + 1]!);
    return t;
  }

  snapshot(): SeqSnapshot {
    const cap = this.seqs.length;
    const n = Math.min(this.size, SNAPSHOT_PAIRS);
    const w: number[] = [];
    for (let i = n; i > 0; i--) {
      const j = (this.next - i + cap) % cap;
      w.push(this.seqs[j]!, this.tss[j]!);
    }
    return { ...(this.cur ? { c: this.cur.tuple() } : {}), ...(this.prev ? { p: this.prev.tuple() } : {}), w, g: this.gaps, d: this.duplicates };
  }

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
   * Records (seq, ts) and says whether it is a re-send. `ts` is the device's own timestamp (ms) or
   * undefined; `trusted` is false when the gateway does not believe that clock (clock_bad). Returns
   * the number of seq values skipped before this one (0 when none).
   */
  seen(seq: number, ts: number | undefined, trusted: boolean): { duplicate: boolean; gap: number } {
    const cur = this.cur;
    // The common case: the next reading of the current run.
    if (trusted && ts !== undefined && cur && seq > cur.highSeq && ts >= cur.firstTs) {
      this.remember(seq, ts);
      const gap = cur.extend(seq, ts);
      this.gaps += gap;
      return gap === 0 ? FRESH : { duplicate: false, gap };
    }
    if (ts !== undefined && this.inWindow(seq, ts)) return this.duplicate();
    if (ts === undefined || !trusted) {
      // No inference from an untrusted clock: only the exact pair (above) is a re-send.
      this.remember(seq, ts ?? NO_TS);
      return FRESH;
    }
    const verdict = this.judge(seq, ts);
    if (verdict === DUP) return this.duplicate();
    this.remember(seq, ts);
    if (verdict > 0) this.gaps += verdict;
    return verdict > 0 ? { duplicate: false, gap: verdict } : FRESH;
  }

  /** DUP, or the gap this new reading opens (≥ 0). Updates the runs. */
  private judge(seq: number, ts: number): number {
    const cur = this.cur;
    if (!cur) {
      this.cur = new Run(seq, ts, seq, ts);
      return 0;
    }
    if (ts >= cur.firstTs) {
      if (seq > cur.highSeq) return cur.extend(seq, ts);
      if (ts > cur.highTs) {
        // A seq already passed, with a ts later than anything of this run: the device restarted
        // its counter (SEQ_RULE). The old run is kept to recognise its own late re-sends.
        this.prev = cur;
        this.cur = new Run(seq, ts, seq, ts);
        return 0;
      }
      if (seq < cur.firstSeq) return 0; // not explained by this run: new (an alarm is never guessed away)
      return cur.fill(seq) ? 0 : DUP;
    }
    const prev = this.prev;
    if (prev && ts >= prev.firstTs) {
      // From before the latest counter restart.
      if (seq > prev.highSeq) return prev.extend(seq, ts);
      if (seq < prev.firstSeq || ts > prev.highTs) return 0;
      return prev.fill(seq) ? 0 : DUP;
    }
    if (!prev && seq < cur.firstSeq) {
      // Earlier in the same run than anything seen (a backlog uploaded newest first): the run
      // reaches back to it, and what lies between is skipped, to be filled.
      if (seq < cur.firstSeq - 1) cur.missing.unshift(seq + 1, cur.firstSeq - 1);
      cur.firstSeq = seq;
      cur.firstTs = ts;
      return 0;
    }
    return 0;
  }

  private duplicate(): { duplicate: boolean; gap: number } {
    this.duplicates++;
    return DUPLICATE;
  }

  private inWindow(seq: number, ts: number): boolean {
    for (let i = 0; i < this.size; i++) if (this.seqs[i] === seq && this.tss[i] === ts) return true;
    return false;
  }

  private remember(seq: number, ts: number): void {
    this.seqs[this.next] = seq;
    this.tss[this.next] = ts;
    this.next = (this.next + 1) % this.seqs.length;
    if (this.size < this.seqs.length) this.size++;
  }
}

const DUP = -1;
const DUPLICATE = Object.freeze({ duplicate: true, gap: 0 });
const FRESH = Object.freeze({ duplicate: false, gap: 0 });
