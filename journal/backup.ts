// The journal's unshipped tail in backups (issue 18 point 4): what InfluxDB has not confirmed
// lives only in the segment files, so a backup taken during an InfluxDB outage must carry them,
// and a restore puts them back where the next start ships them from.
//
// Consistency without stopping the writer: the segments are copied after the SQL store and
// BEFORE the readings (app/backup.ts). A reading journaled before the copy is then either in a
// segment still on disk when copied, or its segment was deleted first, which happens only once
// InfluxDB confirmed every line of it, so it is in the readings backup taken after. A segment
// deleted between the listing and the read is the second case. Only whole records are copied (a
// group being written may end in a torn record, which was not acknowledged yet); lines that were
// shipped already are shipped again after a restore, and InfluxDB stores an exact re-write once.
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseSegment } from './segments.ts';

const SEGMENT_RE = /^\d{12}\.lp$/;

export interface SegmentCopy {
  segments: number;
  lines: number;
  bytes: number;
}

async function names(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((n) => SEGMENT_RE.test(n)).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/** Copies the whole records of every segment in `from` (a live journal directory) into `to`. */
export async function copyJournalSegments(from: string, to: string): Promise<SegmentCopy> {
  await mkdir(to, { recursive: true });
  const copy: SegmentCopy = { segments: 0, lines: 0, bytes: 0 };
  for (const name of await names(from)) {
    let text: string;
    try {
      text = await readFile(join(from, name), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // shipped and deleted meanwhile
      throw err;
    }
    const lines = parseSegment(text);
    if (!lines.length) continue;
    const body = `${lines.join('\n')}\n`;
    await writeFile(join(to, name), body);
    copy.segments++;
    copy.lines += lines.length;
    copy.bytes += Buffer.byteLength(body);
  }
  return copy;
}

/** Puts backed-up segments into a journal directory that has none (a fresh data directory). */
export async function restoreJournalSegments(from: string, to: string): Promise<SegmentCopy> {
  if ((await names(to)).length) throw new Error(`${to} already holds journal segments: restore into a fresh data directory`);
  await mkdir(to, { recursive: true });
  const copy: SegmentCopy = { segments: 0, lines: 0, bytes: 0 };
  for (const name of await names(from)) {
    const text = await readFile(join(from, name), 'utf8');
    // Under another name until whole: the journal only takes files named like segments.
    await writeFile(join(to, `${name}.restoring`), text);
    await rename(join(to, `${name}.restoring`), join(to, name));
    copy.segments++;
    copy.lines += parseSegment(text).length;
    copy.bytes += Buffer.byteLength(text);
  }
  return copy;
}
