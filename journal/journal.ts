// The write-ahead journal behind every PUBACK (contracts/journal.ts has the promise; issue 15).
//
// Writer side: append() only pushes onto the open group; a commit a tick later writes the whole
// group with one synchronous-to-disk write (O_DSYNC: write + fdatasync in one call; a plain write
// when fsync is off), lets the other durability
// participants (the SQLite WAL) sync beside it, then runs the group's durable() callbacks in
// order. While one group is on the disk the next gathers: the flush rate follows the disk, and
// the cost of one fdatasync is shared by every message that arrived during the previous one.
//
// Reader side: the InfluxDB writer reads durable records in order; the active segment's records
// not yet handed to it are also kept in memory (at most one segment, and a sealed segment's
// small unread tail), older segments are read back from disk. What read() hands out leaves the
// journal's memory at once: the reader holds it until InfluxDB confirms it, and it is never
// handed out again in this run (an unconfirmed batch stays on disk and is shipped after the next
// start). Keeping handed-out records until the segment sealed held ~750 B of heap per reading, up
// to ~33 MiB per 8 MiB segment, all of it already in InfluxDB (bench/lib/journal-heap-probe.ts).
// A segment is deleted once every record of it is confirmed.
import type { FileHandle } from 'node:fs/promises';
import { readFile, unlink } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { Counter, Histogram } from 'prom-client';
import type { DurabilityParticipant, Journal, JournalBatch, JournalStats } from '../contracts/journal.ts';
import { createSegmentFile, findSegments, parseSegment, readSegment, writeAll } from './segments.ts';

export interface JournalDeps {
  dir: string;
  /** fdatasync every group (the default): acknowledged data survives a power loss. */
  fsync: boolean;
  /** Cap of the unshipped tail on disk; above it full() says so. */
  maxBytes: number;
  /** Warn once when the tail passes this fraction of maxBytes. */
  warnRatio: number;
  logger: Logger;
  metrics?: Registry;
  /** Others whose commits a PUBACK covers (the incident store); synced in the same group. */
  participants?: readonly DurabilityParticipant[];
  /** A legacy spool directory whose segments become unshipped journal. */
  adoptSpool?: string;
  /** Segment size; small enough to read back whole, large enough that an outage makes few files. */
  segmentBytes?: number;
  /** Delay before a failed group write is tried again. */
  retryMs?: number;
}

interface Segment {
  readonly n: number;
  readonly path: string;
  lines: number;
  bytes: number;
  handed: number;
  confirmed: number;
  /** Records [0, prefix) are all confirmed; `after` holds confirmed ranges past a gap (shippers confirm out of order). */
  prefix: number;
  after: Array<[from: number, to: number]>;
  /** Durable records not yet handed out, while this is the active segment or being read back. */
  mem: string[] | undefined;
  /** Index within the segment of mem[0]: what is before it was handed out and dropped. */
  memBase: number;
  loading: Promise<string[]> | undefined;
  sealed: boolean;
  /** Its records in memory were read back from disk (an earlier run's, or sealed during an outage). */
  readBack: boolean;
}

type Done = (err?: Error) => void;

/** A shipped() waiter: every record before line `line` of segment `n` (and of every earlier segment). */
interface ShippedWaiter {
  readonly n: number;
  readonly line: number;
  readonly done: () => void;
}

const DEFAULT_SEGMENT_BYTES = 8 * 1024 * 1024;
/** A sealed segment keeps its records not yet handed out in memory if they are at most this share of it. */
const KEEP_SEALED_TAIL = 1 / 8;

export function createJournal(deps: JournalDeps): Journal {
  const log = deps.logger;
  const segmentBytes = deps.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
  const participants = deps.participants ?? [];
  const segments: Segment[] = [];
  /** Unlinks of shipped segments still in flight. */
  const deleting = new Set<Promise<void>>();
  let active: { seg: Segment; fh: FileHandle } | undefined;
  let nextN = 1;

  // The open group and the one being committed.
  let buf: string[] = [];
  let bufBytes = 0;
  let openWaiters: Done[] = [];
  let committing: Done[] | undefined;
  let committingLines = 0;
  let scheduled: NodeJS.Immediate | undefined;
  let retryTimer: NodeJS.Timeout | undefined;
  let failing = false;
  let started = false;
  let stopped = false;
  let idle: Array<() => void> = [];

  let appended = 0;
  let commits = 0;
  let unshippedLines = 0;
  let unshippedBytes = 0;
  let unread = 0;
  let readWaiters: Array<() => void> = [];
  /** shipped() callbacks, in registration order (so by position). */
  let shippedWaiters: ShippedWaiter[] = [];
  let warned = false;
  let fullLogged = false;

  const m = deps.metrics;
  const commitCounter = m && new Counter({ name: 'watchfire_journal_commits_total', help: 'Group commits (one durable write each: O_DSYNC, or a plain write with fsync off)', registers: [m] });
  const recordCounter = m && new Counter({ name: 'watchfire_journal_records_total', help: 'Records made durable in the journal', registers: [m] });
  const commitTime = m && new Histogram({
    name: 'watchfire_journal_commit_seconds',
    help: 'Time from a group commit starting to its PUBACKs being released (write + fdatasync)',
    buckets: [1e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 0.1, 0.5],
    registers: [m],
  });
  const groupSize = m && new Histogram({ name: 'watchfire_journal_group_records', help: 'Records per group commit', buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000], registers: [m] });

  const wakeReaders = (): void => {
    const w = readWaiters;
    readWaiters = [];
    for (const fn of w) fn();
  };

  function release(waiters: Done[], err?: Error): void {
    for (const w of waiters) {
      try {
        w(err);
      } catch (e) {
        log.error({ err: e }, 'a journal durable() callback threw');
      }
    }
  }

  function schedule(): void {
    if (scheduled || committing || retryTimer || !started) return;
    scheduled = setImmediate(() => void commit());
  }

  async function seal(): Promise<void> {
    if (!active) return;
    const { seg, fh } = active;
    active = undefined;
    seg.sealed = true;
    // Read back from disk when needed: an outage must not keep every segment in memory. The few
    // records a shipper that keeps up has not taken yet stay: reading 8 MiB back and splitting it
    // on the event loop for them cost a stall at every rotation (every ~8 s at 5,000 readings/s).
    if (seg.mem && seg.mem.length > seg.lines * KEEP_SEALED_TAIL) seg.mem = undefined;
    await fh.close();
    maybeDelete(seg);
  }

  async function writeGroup(lines: string[], size: number): Promise<void> {
    if (active && active.seg.bytes > 0 && active.seg.bytes + size > segmentBytes) await seal();
    if (!active) {
      const n = nextN++;
      const { path, fh } = await createSegmentFile(deps.dir, n, deps.fsync);
      const seg: Segment = { n, path, lines: 0, bytes: 0, handed: 0, confirmed: 0, prefix: 0, after: [], mem: [], memBase: 0, loading: undefined, sealed: false, readBack: false };
      segments.push(seg);
      active = { seg, fh };
    }
    const { seg, fh } = active;
    const text = lines.join('\n');
    try {
      // With fsync on the segment is O_DSYNC (segments.ts): the write returns once it is durable.
      await writeAll(fh, Buffer.from(`${text}\n`));
    } catch (err) {
      // What reached the file may end in a torn record: the next group starts a fresh segment,
      // and this one's whole records are read back like any other (parseSegment).
      active = undefined;
      await fh.close().catch(() => undefined);
      const text = await readFile(seg.path, 'utf8').catch(() => '');
      const whole = parseSegment(text);
      seg.sealed = true;
      seg.mem = undefined;
      const added = whole.length - seg.lines;
      const bytes = Buffer.byteLength(text);
      unshippedBytes += bytes - seg.bytes;
      seg.lines = whole.length;
      seg.bytes = bytes;
      unshippedLines += added;
      unread += added;
      maybeDelete(seg);
      throw err;
    }
    // Kept as pieces of the group's one flat string rather than the appended strings: a formatted
    // line is a rope of its parts (~750 B of heap for ~180 B of text), and while InfluxDB is away
    // the unshipped records of a whole segment wait here (measured: 228 B per ~183 B record instead of 748 B).
    for (const l of text.split('\n')) seg.mem!.push(l);
    seg.lines += lines.length;
    seg.bytes += size;
    unshippedLines += lines.length;
    unshippedBytes += size;
    unread += lines.length;
  }

  async function commit(): Promise<void> {
    scheduled = undefined;
    const lines = buf;
    const size = bufBytes;
    const waiters = openWaiters;
    buf = [];
    bufBytes = 0;
    openWaiters = [];
    const syncing = deps.fsync ? participants.filter((p) => p.dirty()) : [];
    if (!lines.length && !syncing.length) {
      release(waiters);
      return afterCommit();
    }
    committing = waiters;
    committingLines = lines.length;
    const t0 = process.hrtime.bigint();
    try {
      const others = syncing.map((p) => p.sync());
      try {
        if (lines.length) await writeGroup(lines, size);
      } finally {
        await Promise.all(others);
      }
    } catch (err) {
      // Nothing of this group may be acknowledged yet: it goes back in front of the open group
      // and is tried again; its records already on disk are read back once, and InfluxDB keeps
      // one point per record however often it is written (line.ts).
      committing = undefined;
      committingLines = 0;
      buf = lines.concat(buf);
      bufBytes += size;
      openWaiters = waiters.concat(openWaiters);
      if (!failing) log.error({ code: 'WF_JOURNAL_WRITE', err, dir: deps.dir }, 'journal write failed: PUBACKs are held until the disk takes writes again');
      failing = true;
      retryTimer = setTimeout(() => {
        retryTimer = undefined;
        schedule();
      }, deps.retryMs ?? 1000);
      return;
    }
    if (failing) log.warn({ code: 'WF_JOURNAL_WRITE', dir: deps.dir }, 'journal writes work again');
    failing = false;
    committing = undefined;
    committingLines = 0;
    commits++;
    appended += lines.length;
    commitCounter?.inc();
    recordCounter?.inc(lines.length);
    groupSize?.observe(lines.length);
    commitTime?.observe(Number(process.hrtime.bigint() - t0) / 1e9);
    if (lines.length) wakeReaders();
    checkLevel();
    release(waiters);
    afterCommit();
  }

  function afterCommit(): void {
    if (buf.length || openWaiters.length) {
      schedule();
      return;
    }
    const w = idle;
    idle = [];
    for (const fn of w) fn();
  }

  function checkLevel(): void {
    const ratio = unshippedBytes / deps.maxBytes;
    if (ratio >= deps.warnRatio && !warned) {
      warned = true;
      log.warn({ code: 'WF_STORE_SPOOL_WARN', bytes: unshippedBytes, cap: deps.maxBytes, ratio }, `the journal's unshipped tail passed ${Math.round(deps.warnRatio * 100)} % of its cap: telemetry will be held at the cap`);
    } else if (ratio < deps.warnRatio * 0.9) warned = false;
    if (ratio >= 1 && !fullLogged) {
      fullLogged = true;
      log.error({ code: 'WF_STORE_SPOOL_FULL', bytes: unshippedBytes, cap: deps.maxBytes }, 'the journal\'s unshipped tail is FULL (InfluxDB away too long): devices\' telemetry is held unacknowledged; alarms still pass');
    } else if (ratio < 1) fullLogged = false;
  }

  function maybeDelete(seg: Segment): void {
    if (!seg.sealed || seg.confirmed < seg.lines) return;
    const i = segments.indexOf(seg);
    if (i === -1) return;
    segments.splice(i, 1);
    unshippedBytes -= seg.bytes;
    // Deletion is off the caller's path; stop() waits for the ones in flight (nothing left running).
    const done: Promise<void> = unlink(seg.path)
      .catch((err: unknown) => log.warn({ err, path: seg.path }, 'could not delete a shipped journal segment'))
      .finally(() => deleting.delete(done));
    deleting.add(done);
    checkLevel();
  }

  /** Whether every record before line `line` of segment `n` is confirmed: earlier segments are gone (deleted once wholly confirmed) or wholly confirmed. */
  function confirmedTo(n: number, line: number): boolean {
    for (const s of segments) {
      if (s.n > n) break;
      if (s.prefix < (s.n === n ? line : s.lines)) return false;
    }
    return true;
  }

  function releaseShipped(): void {
    let k = 0;
    while (k < shippedWaiters.length && confirmedTo(shippedWaiters[k]!.n, shippedWaiters[k]!.line)) k++;
    if (k === 0) return;
    const ready = shippedWaiters.slice(0, k);
    shippedWaiters = shippedWaiters.slice(k);
    for (const w of ready) {
      try {
        w.done();
      } catch (err) {
        log.error({ err }, 'a journal shipped() callback threw');
      }
    }
  }

  /** Makes sure seg.mem holds the segment's records from seg.memBase on (reading a sealed one back). */
  async function load(seg: Segment): Promise<void> {
    if (seg.mem) return;
    seg.loading ??= readSegment(seg.path).finally(() => {
      seg.loading = undefined;
    });
    const lines = await seg.loading;
    if (!seg.mem) {
      seg.mem = lines;
      seg.memBase = 0;
      seg.readBack = true;
    }
  }

  /** Hands out records [from, to) and drops them, and anything before them, from memory. */
  function take(seg: Segment, from: number, to: number): string[] {
    const mem = seg.mem!;
    const out = mem.slice(from - seg.memBase, to - seg.memBase);
    const rest = mem.length - (to - seg.memBase);
    // A sealed segment read back whole is let go once all of it is handed out.
    seg.mem = rest > 0 ? mem.slice(to - seg.memBase) : seg.sealed ? undefined : [];
    seg.memBase = to;
    return out;
  }

  return {
    async start() {
      for (const f of await findSegments(deps.dir, deps.adoptSpool)) {
        segments.push({ ...f, handed: 0, confirmed: 0, prefix: 0, after: [], mem: undefined, memBase: 0, loading: undefined, sealed: true, readBack: false });
        unshippedLines += f.lines;
        unshippedBytes += f.bytes;
        unread += f.lines;
        nextN = Math.max(nextN, f.n + 1);
      }
      if (segments.length) log.info({ lines: unshippedLines, bytes: unshippedBytes, dir: deps.dir }, 'journal: records from an earlier run not yet in InfluxDB; shipping them');
      started = true;
      stopped = false;
      if (buf.length) schedule();
    },
    async stop() {
      if (!started) return;
      await Promise.all(deleting);
      // The open group is committed (its PUBACKs, if anyone still waits, released) first.
      while (buf.length || openWaiters.length || committing || scheduled || retryTimer) {
        if (retryTimer && failing) {
          clearTimeout(retryTimer);
          retryTimer = undefined;
          release(openWaiters, new Error('journal stopped while the disk refused writes'));
          openWaiters = [];
          buf = [];
          bufBytes = 0;
          break;
        }
        await new Promise<void>((r) => {
          idle.push(r);
          schedule();
        });
      }
      started = false;
      stopped = true;
      shippedWaiters = [];
      wakeReaders();
      await seal();
      // Sealing the active segment may delete it (every record confirmed): that unlink too.
      await Promise.all(deleting);
    },
    append(line) {
      buf.push(line);
      // UTF-16 length is a close enough size for the cap; the exact bytes are counted on write.
      bufBytes += line.length + 1;
      schedule();
    },
    durable(done) {
      if (buf.length || openWaiters.length) {
        openWaiters.push(done);
        schedule();
        return;
      }
      // Nothing of ours pending: wait only for what is on its way to the disk, or for a
      // participant's commits (a dead letter, an incident) since its last sync.
      const dirty = deps.fsync && participants.some((p) => p.dirty());
      if (committing && !dirty) committing.push(done);
      else if (committing || dirty) {
        openWaiters.push(done);
        schedule();
      } else done();
    },
    pending: () => buf.length + committingLines,
    full: () => unshippedBytes + bufBytes >= deps.maxBytes,
    async read(max) {
      for (;;) {
        if (stopped) return undefined;
        const seg = segments.find((s) => s.handed < s.lines);
        if (seg) {
          await load(seg);
          // Another reader may have taken some while this one waited for the disk, or the
          // segment may have been sealed (its memory let go) meanwhile.
          const from = seg.handed;
          if (from >= seg.lines || !seg.mem) continue;
          const to = Math.min(seg.lines, from + max);
          const fromDisk = seg.readBack;
          seg.handed = to;
          unread -= to - from;
          return { lines: take(seg, from, to), segment: seg.n, from, count: to - from, fromDisk } satisfies JournalBatch;
        }
        await new Promise<void>((r) => readWaiters.push(r));
      }
    },
    confirm(batch) {
      const seg = segments.find((s) => s.n === batch.segment);
      if (!seg) return;
      seg.confirmed += batch.count;
      unshippedLines -= batch.count;
      const to = batch.from + batch.count;
      if (batch.from <= seg.prefix) {
        seg.prefix = Math.max(seg.prefix, to);
        // Ranges confirmed earlier past a gap that this batch closed.
        seg.after.sort((x, y) => x[0] - y[0]);
        while (seg.after.length > 0 && seg.after[0]![0] <= seg.prefix) seg.prefix = Math.max(seg.prefix, seg.after.shift()![1]);
      } else seg.after.push([batch.from, to]);
      maybeDelete(seg);
      if (shippedWaiters.length > 0) releaseShipped();
    },
    shipped(done) {
      // The end of what is written now: the active segment's last line, or (none active) before the next segment.
      const w: ShippedWaiter = active ? { n: active.seg.n, line: active.seg.lines, done } : { n: nextN, line: 0, done };
      if (shippedWaiters.length === 0 && confirmedTo(w.n, w.line)) done();
      else shippedWaiters.push(w);
    },
    unread: () => unread,
    stats(): JournalStats {
      let heldLines = 0;
      for (const s of segments) heldLines += s.mem?.length ?? 0;
      return { appended, commits, unshippedLines, unshippedBytes, segments: segments.length, heldLines, fsync: deps.fsync };
    },
  };
}
