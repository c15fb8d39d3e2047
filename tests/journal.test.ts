// The journal behind every PUBACK (journal/, contracts/journal.ts; issue 15): group commit,
// order, what survives a crash, a torn tail, trimming once shipped, the SQLite participant, and a
// disk that refuses writes. Real files in a temp directory; no influxd needed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { constants } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { Registry } from 'prom-client';
import type { DurabilityParticipant, Journal } from '../contracts/journal.ts';
import { createJournal, type JournalDeps } from '../journal/index.ts';
import { countRecords, parseSegment, readSegment } from '../journal/segments.ts';

let tmp: string;
let n = 0;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'wf-journal-'));
});
afterAll(() => rm(tmp, { recursive: true, force: true }));

const silent = pino({ level: 'silent' });
const freshDir = (): string => join(tmp, `j${n++}`);
function journalAt(dir: string, over: Partial<JournalDeps> = {}): Journal {
  return createJournal({ dir, fsync: true, maxBytes: 1024 ** 3, warnRatio: 0.8, logger: silent, metrics: new Registry(), ...over });
}
const durable = (j: Journal): Promise<void> => new Promise((r, f) => j.durable((err) => (err ? f(err) : r())));
const lp = (i: number): string => `telemetry,device=sd-${i % 10} seq=${i}i ${1_700_000_000_000_000_000 + i}`;
const segFiles = async (dir: string): Promise<string[]> => (await readdir(dir)).filter((f) => f.endsWith('.lp')).sort();

async function readAll(j: Journal, max = 1000): Promise<string[]> {
  const out: string[] = [];
  while (j.unread() > 0) {
    const b = await j.read(max);
    if (!b) break;
    out.push(...b.lines);
    j.confirm(b);
  }
  return out;
}

describe('journal', () => {
  it('group-commits: 2,000 messages appended in one tick share one flush, and their callbacks run in order', async () => {
    const dir = freshDir();
    const j = journalAt(dir);
    await j.start();
    const acked: number[] = [];
    // As the gateway does: each message appends its readings, then asks for its PUBACK.
    for (let i = 0; i < 2000; i++) {
      j.append(lp(i));
      j.durable((err) => {
        expect(err).toBeUndefined();
        acked.push(i);
      });
    }
    expect(acked).toEqual([]);
    expect(j.pending()).toBe(2000);
    await durable(j);
    expect(acked).toEqual(Array.from({ length: 2000 }, (_, i) => i));
    expect(j.stats()).toMatchObject({ appended: 2000, commits: 1, unshippedLines: 2000, fsync: true });
    expect(j.pending()).toBe(0);
    // On disk before any callback ran: the segment holds every record, in order.
    const [file] = await segFiles(dir);
    const text = await readFile(join(dir, file!), 'utf8');
    expect(text.split('\n').slice(0, -1)).toEqual(Array.from({ length: 2000 }, (_, i) => lp(i)));
    await j.stop();
  });

  it('keeps appends that arrive during a flush for the next group, and acks nothing out of order', async () => {
    const j = journalAt(freshDir());
    await j.start();
    const acked: number[] = [];
    j.append(lp(0));
    j.durable(() => acked.push(0));
    // The first group is on its way to the disk once the tick ends.
    await new Promise((r) => setImmediate(r));
    // A message with no readings (a duplicate) waits for what is ahead of it.
    j.durable(() => acked.push(1));
    j.append(lp(2));
    j.durable(() => acked.push(2));
    await durable(j);
    expect(acked).toEqual([0, 1, 2]);
    expect(j.stats().commits).toBe(2);
    // Nothing pending: called at once.
    let now = false;
    j.durable(() => (now = true));
    expect(now).toBe(true);
    await j.stop();
  });

  it('gives a restarted process every durable record of a killed one, without a torn last record', async () => {
    const dir = freshDir();
    const a = journalAt(dir);
    await a.start();
    for (let i = 0; i < 500; i++) a.append(lp(i));
    await durable(a);
    // kill -9: no stop(). A write cut short leaves a torn record at the end of the file.
    const [file] = await segFiles(dir);
    await writeFile(join(dir, file!), 'telemetry,device=sd-1 seq=9', { flag: 'a' });
    const b = journalAt(dir);
    await b.start();
    expect(b.stats().unshippedLines).toBe(500);
    // New records go to a new segment, behind the old ones.
    b.append(lp(500));
    await durable(b);
    expect(await readAll(b, 128)).toEqual(Array.from({ length: 501 }, (_, i) => lp(i)));
    expect(b.stats().unshippedLines).toBe(0);
    // The earlier run's segment was wholly confirmed: deleted. The active one stays.
    expect(await segFiles(dir)).toHaveLength(1);
    await b.stop();
  });

  it('deletes a segment only when every record of it is confirmed, and reads sealed ones back from disk', async () => {
    const dir = freshDir();
    const j = journalAt(dir, { segmentBytes: 4096 });
    await j.start();
    for (let g = 0; g < 10; g++) {
      for (let i = 0; i < 50; i++) j.append(lp(g * 50 + i));
      await durable(j);
    }
    const segs = j.stats().segments;
    expect(segs).toBeGreaterThan(3);
    expect(await segFiles(dir)).toHaveLength(segs);
    const first = await j.read(10);
    expect(first).toMatchObject({ fromDisk: true, from: 0 });
    const rest = await readAll(j, 40);
    // The first batch is not confirmed yet: its segment stays, every other sealed one is gone.
    expect(j.stats().segments).toBe(2);
    j.confirm(first!);
    expect(j.stats().segments).toBe(1);
    expect([...first!.lines, ...rest]).toEqual(Array.from({ length: 500 }, (_, i) => lp(i)));
    // Files are unlinked off the caller's path; stop() waits for them. Every record is confirmed
    // by then, so stop() seals the active segment and nothing is left on disk.
    await j.stop();
    expect(await segFiles(dir)).toHaveLength(0);
  });

  it('keeps in memory only records not yet handed out: shipped ones of the active segment are let go at once', async () => {
    // The memory growth of issue 15's soak: the active segment (8 MiB, ~45,000 readings) kept
    // every record until it sealed, ~750 B of heap each, though InfluxDB had them all.
    const dir = freshDir();
    const j = journalAt(dir, { fsync: false });
    await j.start();
    const shipped: string[] = [];
    for (let g = 0; g < 40; g++) {
      for (let i = 0; i < 500; i++) j.append(lp(g * 500 + i));
      await durable(j);
      // Durable, not yet handed out: what the reader will need, and nothing else.
      expect(j.stats().heldLines).toBe(j.unread());
      expect(j.unread()).toBe(500);
      const half = (await j.read(250))!;
      expect(j.stats().heldLines).toBe(250);
      shipped.push(...half.lines);
      j.confirm(half);
      shipped.push(...(await readAll(j, 100)));
      expect(j.stats()).toMatchObject({ heldLines: 0, unshippedLines: 0, segments: 1 });
    }
    // 20,000 records in the active segment (never sealed), none of them held, all handed out in order.
    expect(j.stats().appended).toBe(20_000);
    expect(shipped).toEqual(Array.from({ length: 20_000 }, (_, i) => lp(i)));
    await j.stop();
  });

  it('keeps the few records a shipper has not taken yet when their segment seals: no read back from disk at a rotation', async () => {
    // At 5,000 readings/s a segment seals every ~8 s with a shipper a batch behind. Reading the
    // 8 MiB back and splitting it on the event loop for those few records stalled every PUBACK,
    // and the batch was reported as stored late (issue 15's 5,000/s tail).
    const dir = freshDir();
    const j = journalAt(dir, { segmentBytes: 4096, fsync: false });
    await j.start();
    const batches: Array<{ lines: readonly string[]; fromDisk: boolean; segment: number }> = [];
    for (let g = 0; g < 30; g++) {
      for (let i = 0; i < 10; i++) j.append(lp(g * 10 + i));
      await durable(j);
      // The shipper is two records behind.
      while (j.unread() > 2) {
        const b = (await j.read(j.unread() - 2))!;
        batches.push(b);
        j.confirm(b);
      }
    }
    const tail = (await j.read(100))!;
    batches.push(tail);
    j.confirm(tail);
    expect(new Set(batches.map((b) => b.segment)).size).toBeGreaterThan(3);
    expect(batches.filter((b) => b.fromDisk)).toEqual([]);
    expect(batches.flatMap((b) => b.lines)).toEqual(Array.from({ length: 300 }, (_, i) => lp(i)));
    expect(j.stats()).toMatchObject({ heldLines: 0, unshippedLines: 0, segments: 1 });
    await j.stop();
  });

  it('lets go of a sealed segment read back from disk as it is handed out', async () => {
    const dir = freshDir();
    const j = journalAt(dir, { segmentBytes: 4096, fsync: false });
    await j.start();
    for (let i = 0; i < 300; i++) j.append(lp(i));
    await durable(j);
    for (let i = 300; i < 310; i++) j.append(lp(i));
    await durable(j);
    // The first segment is sealed, out of memory until read; the active one holds its 10 records.
    expect(j.stats()).toMatchObject({ segments: 2, heldLines: 10 });
    const a = (await j.read(100))!;
    expect(a).toMatchObject({ fromDisk: true, from: 0 });
    expect(j.stats().heldLines).toBe(200 + 10);
    const rest = await readAll(j, 100);
    j.confirm(a);
    expect(j.stats()).toMatchObject({ heldLines: 0, unshippedLines: 0, segments: 1 });
    expect([...a.lines, ...rest]).toEqual(Array.from({ length: 310 }, (_, i) => lp(i)));
    await j.stop();
  });

  it('syncs a dirty participant (the SQLite WAL) in the same group, before the callbacks', async () => {
    const events: string[] = [];
    let dirty = false;
    const wal: DurabilityParticipant = {
      dirty: () => dirty,
      async sync() {
        events.push('sync');
        dirty = false;
      },
    };
    const j = journalAt(freshDir(), { participants: [wal] });
    await j.start();
    j.append(lp(1));
    dirty = true;
    j.durable(() => events.push('ack'));
    await durable(j);
    expect(events).toEqual(['sync', 'ack']);
    // Only the participant changed (a dead letter, an incident): still synced before the ack.
    dirty = true;
    j.durable(() => events.push('ack2'));
    expect(events).toEqual(['sync', 'ack']);
    await durable(j);
    expect(events).toEqual(['sync', 'ack', 'sync', 'ack2']);
    // fsync off: nobody is synced.
    const off = journalAt(freshDir(), { participants: [wal], fsync: false });
    await off.start();
    dirty = true;
    off.append(lp(1));
    await durable(off);
    expect(events).toHaveLength(4);
    await off.stop();
    await j.stop();
  });

  it('holds the acknowledgements while the disk refuses writes, and loses nothing when it takes them again', async () => {
    const dir = freshDir();
    const errors: string[] = [];
    let failed!: () => void;
    const failedOnce = new Promise<void>((r) => (failed = r));
    const logger = pino({ level: 'error' }, new Writable({ write(chunk, _e, cb) { errors.push(JSON.parse(String(chunk)).code); failed(); cb(); } }));
    const j = journalAt(dir, { logger, retryMs: 20 });
    await j.start();
    // The directory is gone: no segment can be created.
    await rm(dir, { recursive: true });
    let acked = false;
    for (let i = 0; i < 10; i++) j.append(lp(i));
    j.durable((err) => {
      expect(err).toBeUndefined();
      acked = true;
    });
    await failedOnce;
    expect(errors).toEqual(['WF_JOURNAL_WRITE']);
    expect(acked).toBe(false);
    expect(j.pending()).toBe(10);
    await mkdir(dir);
    await durable(j);
    expect(acked).toBe(true);
    expect(await readAll(j)).toEqual(Array.from({ length: 10 }, (_, i) => lp(i)));
    await j.stop();
  });

  it('adopts the disk spool of an earlier version as unshipped records, ahead of its own', async () => {
    const dir = freshDir();
    const spool = `${dir}-spool`;
    await mkdir(spool, { recursive: true });
    await writeFile(join(spool, '000000000001.lp'), `${lp(0)}\n${lp(1)}\n`);
    await writeFile(join(spool, '000000000002.lp'), `${lp(2)}\n`);
    const j = journalAt(dir, { adoptSpool: spool });
    await j.start();
    j.append(lp(3));
    await durable(j);
    expect(await readAll(j)).toEqual([lp(0), lp(1), lp(2), lp(3)]);
    await expect(readdir(spool)).rejects.toThrow();
    await j.stop();
  });

  it('calls shipped() back once everything durable at the call is confirmed, however the shippers confirm out of order, across segments', async () => {
    // Segments of about 20 records: the waits span sealed segments and the active one.
    const j = journalAt(freshDir(), { segmentBytes: 20 * lp(0).length });
    await j.start();
    const told: string[] = [];
    const mark = (name: string): void => j.shipped(() => told.push(name));
    for (let i = 0; i < 30; i++) j.append(lp(i));
    await durable(j);
    mark('first 30');
    // Appended, not yet durable: not waited for by the next mark (call it after durable()).
    j.append(lp(30));
    mark('first 30 again');
    await durable(j);
    for (let i = 31; i < 50; i++) j.append(lp(i));
    await durable(j);
    mark('all 50');
    expect(told).toEqual([]);
    // Two shippers take batches of 10 and confirm the later ones first.
    const batches = [];
    for (;;) {
      const b = j.unread() > 0 ? await j.read(10) : undefined;
      if (!b) break;
      batches.push(b);
    }
    expect(batches.reduce((n, b) => n + b.lines.length, 0)).toBe(50);
    const [b0, ...rest] = batches;
    for (const b of rest.filter((x) => x.lines.includes(lp(30)) || x.lines.includes(lp(49)))) j.confirm(b);
    expect(told).toEqual([]);
    for (const b of rest.filter((x) => !x.lines.includes(lp(30)) && !x.lines.includes(lp(49)) && !x.lines.includes(lp(29)))) j.confirm(b);
    // The batch holding record 0 is not confirmed: nothing is shipped in order yet.
    expect(told).toEqual([]);
    j.confirm(b0!);
    const with29 = rest.find((x) => x.lines.includes(lp(29)));
    if (with29) {
      expect(told).toEqual([]);
      j.confirm(with29);
    }
    expect(told).toEqual(['first 30', 'first 30 again', 'all 50']);
    // Nothing unconfirmed: at once.
    mark('nothing left');
    expect(told.at(-1)).toBe('nothing left');
    await j.stop();
  });

  it('says when its unshipped tail reaches the cap, once, and counts every group in its metrics', async () => {
    const codes: string[] = [];
    const logger = pino({ level: 'warn' }, new Writable({ write(chunk, _e, cb) { codes.push(JSON.parse(String(chunk)).code); cb(); } }));
    const metrics = new Registry();
    const j = journalAt(freshDir(), { logger, metrics, maxBytes: 8 * 1024, warnRatio: 0.5 });
    await j.start();
    for (let g = 0; g < 4; g++) {
      for (let i = 0; i < 60; i++) j.append(lp(g * 60 + i));
      await durable(j);
    }
    expect(j.full()).toBe(true);
    expect(codes).toEqual(['WF_STORE_SPOOL_WARN', 'WF_STORE_SPOOL_FULL']);
    await readAll(j);
    const text = await metrics.metrics();
    expect(text).toContain('watchfire_journal_commits_total 4');
    expect(text).toContain('watchfire_journal_records_total 240');
    expect(text).toMatch(/watchfire_journal_group_records_count 4/);
    await j.stop();
  });
});

describe('what a write promises on this disk', () => {
  /** The open flags (octal, /proc/self/fdinfo) of this process's descriptor of `path`. */
  async function openFlags(path: string): Promise<number> {
    for (const fd of await readdir('/proc/self/fd')) {
      const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
      if (target === path) return parseInt(/^flags:\s+(\d+)/m.exec(await readFile(`/proc/self/fdinfo/${fd}`, 'utf8'))![1]!, 8);
    }
    throw new Error(`${path} is not open`);
  }

  it('writes a segment O_DSYNC with fsync on (each group durable when its write returns), plainly with it off', async () => {
    for (const fsync of [true, false]) {
      const dir = freshDir();
      const j = journalAt(dir, { fsync });
      await j.start();
      j.append(lp(1));
      await durable(j);
      const [seg] = await segFiles(dir);
      const flags = await openFlags(join(dir, seg!));
      expect((flags & constants.O_DSYNC) === constants.O_DSYNC, `fsync ${fsync}`).toBe(fsync);
      expect(flags & constants.O_APPEND).toBe(constants.O_APPEND);
      await j.stop();
    }
  });
});

describe('reading a segment back (journal/segments.ts)', () => {
  // Read a chunk per turn: records and multi-byte characters that straddle a chunk boundary, a
  // torn last record and zeros (fsync off, power lost) come out as parseSegment makes them of the
  // whole text; countRecords agrees without decoding.
  const cases: Record<string, string> = {
    empty: '',
    'torn only': 'telemetry,device=sd-1 seq=1i',
    'one whole, one torn': 'a,device=sd-1 v=1i 1\nb,device=sd-2 v=',
    'zeros after the records': `a,device=sd-1 v=1i 1\n${'\0'.repeat(5000)}`,
    'zeros inside a record': `a,device=sd-1 v=1i 1\nb,de\0\0\0 v=2i 2\nc,device=sd-3 v=3i 3\n`,
    // 2 MiB of records with 烟感 (3 bytes each in UTF-8) everywhere: chunk boundaries (64 KiB)
    // fall inside characters and inside records.
    'multi-byte across chunks': Array.from({ length: 30_000 }, (_, i) => `telemetry,device=烟感-${i} seq=${i}i,room="卧室${i % 97}" ${i}`).join('\n') + '\nlast,torn=',
  };
  for (const [name, text] of Object.entries(cases)) {
    it(name, async () => {
      const dir = freshDir();
      await mkdir(dir, { recursive: true });
      const path = join(dir, '000000000001.lp');
      await writeFile(path, text);
      const whole = parseSegment(text);
      expect(await readSegment(path)).toEqual(whole);
      expect(countRecords(Buffer.from(text))).toBe(whole.length);
    });
  }
});
