// The disk spool: batches of line protocol that could not reach InfluxDB, in segment files under
// one directory, appended asynchronously and read back oldest first (DESIGN.md "Storage").
// Segment files are named by a growing counter, so directory order is write order, and a spool
// left by a previous run is found and replayed by the next one.
import { mkdir, open, readdir, readFile, stat, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';

/** Small enough to read back whole, large enough that a long outage makes few files. */
const SEGMENT_BYTES = 8 * 1024 * 1024;
const SEGMENT_RE = /^(\d{12})\.lp$/;

interface Segment {
  readonly n: number;
  readonly path: string;
  lines: number;
  bytes: number;
}

export interface SpoolSegment {
  readonly path: string;
  readonly lines: readonly string[];
  /** Lines already confirmed written (replay resumes here if interrupted within this run). */
  done: number;
}

export interface Spool {
  /** Creates the directory and finds segments left by an earlier run. */
  open(): Promise<void>;
  /**
   * Queues lines for appending. Refused (false, nothing queued) when the cap would be passed.
   * Accounting (lines, bytes) includes queued appends at once; the promise says when it is on disk.
   */
  append(lines: readonly string[]): { accepted: boolean; written: Promise<void> };
  /** Seals the segment being appended to and returns the oldest segment, or undefined when empty. */
  oldest(): Promise<SpoolSegment | undefined>;
  remove(seg: SpoolSegment): Promise<void>;
  /** Resolves when every queued append is on disk. */
  idle(): Promise<void>;
  close(): Promise<void>;
  readonly lines: number;
  readonly bytes: number;
  readonly maxBytes: number;
}

export function createSpool(deps: { dir: string; maxBytes: number }): Spool {
  const segments: Segment[] = [];
  let current: { seg: Segment; fh: FileHandle } | undefined;
  let nextN = 1;
  let lines = 0;
  let bytes = 0;
  // Every file operation runs in this chain, so appends keep their order and sealing waits for them.
  let tail: Promise<unknown> = Promise.resolve();
  const chain = <T>(op: () => Promise<T>): Promise<T> => {
    const p = tail.then(op);
    tail = p.catch(() => undefined);
    return p;
  };

  async function seal(): Promise<void> {
    if (!current) return;
    const { fh } = current;
    current = undefined;
    await fh.datasync().catch(() => undefined);
    await fh.close();
  }

  async function writeText(text: string, n: number, size: number): Promise<void> {
    if (current && current.seg.bytes + size > SEGMENT_BYTES) await seal();
    if (!current) {
      const seg: Segment = { n: nextN, path: join(deps.dir, `${String(nextN).padStart(12, '0')}.lp`), lines: 0, bytes: 0 };
      nextN++;
      const fh = await open(seg.path, 'a');
      segments.push(seg);
      current = { seg, fh };
    }
    await current.fh.write(text);
    current.seg.lines += n;
    current.seg.bytes += size;
  }

  return {
    async open() {
      await mkdir(deps.dir, { recursive: true });
      for (const name of (await readdir(deps.dir)).sort()) {
        const m = SEGMENT_RE.exec(name);
        if (!m) continue;
        const path = join(deps.dir, name);
        const size = (await stat(path)).size;
        if (size === 0) {
          await unlink(path);
          continue;
        }
        const text = await readFile(path, 'utf8');
        let n = 0;
        for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) n++;
        segments.push({ n: Number(m[1]), path, lines: n, bytes: size });
        lines += n;
        bytes += size;
        nextN = Math.max(nextN, Number(m[1]) + 1);
      }
    },
    append(batch) {
      if (!batch.length) return { accepted: true, written: Promise.resolve() };
      const text = `${batch.join('\n')}\n`;
      const size = Buffer.byteLength(text);
      if (bytes + size > deps.maxBytes) return { accepted: false, written: Promise.resolve() };
      lines += batch.length;
      bytes += size;
      const written = chain(() => writeText(text, batch.length, size)).catch((err: unknown) => {
        lines -= batch.length;
        bytes -= size;
        throw err;
      });
      return { accepted: true, written };
    },
    oldest() {
      return chain(async () => {
        if (current && segments[0] === current.seg) await seal();
        const seg = segments[0];
        if (!seg) return undefined;
        const text = await readFile(seg.path, 'utf8');
        // A torn last line (the process died mid-append) was never whole: it is left out.
        const end = text.lastIndexOf('\n');
        const body = end === -1 ? '' : text.slice(0, end);
        return { path: seg.path, lines: body ? body.split('\n') : [], done: 0 };
      });
    },
    remove(s) {
      return chain(async () => {
        const i = segments.findIndex((x) => x.path === s.path);
        if (i === -1) return;
        const [seg] = segments.splice(i, 1);
        await unlink(s.path).catch(() => undefined);
        lines -= seg!.lines;
        bytes -= seg!.bytes;
      });
    },
    idle() {
      return chain(async () => undefined);
    },
    close() {
      return chain(seal);
    },
    get lines() {
      return lines;
    },
    get bytes() {
      return bytes;
    },
    maxBytes: deps.maxBytes,
  };
}
