// The journal's files: one directory of segment files named by a growing counter (directory order
// is write order), each a run of newline-terminated records. The same layout as the disk spool
// of earlier versions, so a spool left by one is adopted as unshipped journal.
import { mkdir, open, readdir, readFile, rename, rmdir, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { constants } from 'node:fs';
import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';

const SEGMENT_RE = /^(\d{12})\.lp$/;

export const segmentName = (n: number): string => `${String(n).padStart(12, '0')}.lp`;

/**
 * The whole records of a segment's text. A last record without its newline was torn by a crash
 * in the middle of a write: it was never acknowledged (its group's flush had not returned) and is
 * left out. With fsync off a power loss can leave zeros in place of data the kernel had not
 * written yet: such records are no line protocol and are left out as well.
 */
export function parseSegment(text: string): string[] {
  const end = text.lastIndexOf('\n');
  if (end <= 0) return [];
  const lines = text.slice(0, end).split('\n');
  return text.includes('\0') ? lines.filter((l) => l.length > 0 && !l.includes('\0')) : lines;
}

/** Whole records of a segment counted on its bytes (no decoding): what parseSegment(text).length gives. */
export function countRecords(buf: Buffer): number {
  const end = buf.lastIndexOf(10);
  if (end <= 0) return 0;
  if (buf.indexOf(0) !== -1) return parseSegment(buf.toString('utf8')).length;
  let n = 0;
  for (let i = buf.indexOf(10); i !== -1 && i <= end; i = buf.indexOf(10, i + 1)) n++;
  return n;
}

/**
 * Bytes of a segment read per turn of the event loop when it is read back. 512 KiB still made a
 * 58 ms task right after a restart (code not yet optimised: decode 21 ms, split 26 ms; CPU profile
 * of the first minute after kill -9, bench/lib/long-tasks.ts); 64 KiB keeps each under ~8 ms.
 */
const READ_CHUNK = 64 * 1024;

/**
 * A segment's whole records (as parseSegment), read and split a chunk per turn of the event loop:
 * read back whole, an 8 MiB segment held the loop ~60 ms (decode and split), every PUBACK and
 * alarm with it, each time the InfluxDB writer shipped an unshipped tail after a restart.
 */
export async function readSegment(path: string): Promise<string[]> {
  const fh = await open(path, 'r');
  try {
    const decoder = new StringDecoder('utf8');
    const buf = Buffer.allocUnsafe(READ_CHUNK);
    const out: string[] = [];
    let rest = '';
    let zero = false;
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, READ_CHUNK, null);
      if (bytesRead === 0) break;
      if (!zero && buf.subarray(0, bytesRead).indexOf(0) !== -1) zero = true;
      const text = rest + decoder.write(buf.subarray(0, bytesRead));
      const end = text.lastIndexOf('\n');
      if (end === -1) {
        rest = text;
        continue;
      }
      for (const l of text.slice(0, end).split('\n')) out.push(l);
      rest = text.slice(end + 1);
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    // What follows the last newline is a torn record; with zeros (fsync off, power lost) only
    // records free of them are line protocol.
    return zero ? out.filter((l) => l.length > 0 && !l.includes('\0')) : out;
  } finally {
    await fh.close();
  }
}

export interface FoundSegment {
  readonly n: number;
  readonly path: string;
  readonly lines: number;
  readonly bytes: number;
}

/** Segments left by an earlier run, oldest first (empty ones deleted); `adopt` is a legacy spool dir moved in first. */
export async function findSegments(dir: string, adopt?: string): Promise<FoundSegment[]> {
  await mkdir(dir, { recursive: true });
  if (adopt) await adoptSpool(dir, adopt);
  const found: FoundSegment[] = [];
  for (const name of (await readdir(dir)).sort()) {
    const m = SEGMENT_RE.exec(name);
    if (!m) continue;
    const path = join(dir, name);
    const buf = await readFile(path);
    const lines = countRecords(buf);
    if (lines === 0) {
      await unlink(path);
      continue;
    }
    found.push({ n: Number(m[1]), path, lines, bytes: buf.length });
  }
  return found;
}

/** Moves a legacy spool's segments in ahead of the journal's own, keeping their order. */
async function adoptSpool(dir: string, spool: string): Promise<void> {
  let names: string[];
  try {
    names = (await readdir(spool)).filter((n) => SEGMENT_RE.test(n)).sort();
  } catch {
    return;
  }
  if (!names.length) return;
  const own = (await readdir(dir)).filter((n) => SEGMENT_RE.test(n)).sort();
  // Renumber both runs so the spool's come first: n = 1.. for the spool, then the journal's.
  let n = 1;
  const moves: Array<[string, string]> = [];
  for (const name of names) moves.push([join(spool, name), join(dir, `adopt-${segmentName(n++)}`)]);
  for (const name of own) moves.push([join(dir, name), join(dir, `adopt-${segmentName(n++)}`)]);
  for (const [from, to] of moves) await rename(from, to);
  for (const [, to] of moves) await rename(to, to.replace('adopt-', ''));
  await rmdir(spool).catch(() => undefined);
}

/** Writes a whole buffer at the end of the file (a short write is continued, not lost). */
export async function writeAll(fh: FileHandle, buf: Buffer): Promise<void> {
  let off = 0;
  while (off < buf.length) {
    const { bytesWritten } = await fh.write(buf, off, buf.length - off);
    off += bytesWritten;
  }
}

/**
 * Creates a segment file. With fsync on it is opened O_DSYNC: each write(2) returns once its data
 * (and the file size) is on stable storage, as write + fdatasync would, in one call on the thread
 * pool instead of two; the group commit's cost per group is one round trip. The directory is
 * synced too: a new file's name is durable only once its directory is (fsync(2)), and the first
 * group in it is acknowledged soon.
 */
export async function createSegmentFile(dir: string, n: number, fsync: boolean): Promise<{ path: string; fh: FileHandle }> {
  const path = join(dir, segmentName(n));
  const fh = await open(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | (fsync ? constants.O_DSYNC : 0), 0o644);
  if (fsync) {
    const d = await open(dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  }
  return { path, fh };
}
