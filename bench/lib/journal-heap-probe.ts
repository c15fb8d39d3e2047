// What the journal keeps on the heap per reading while InfluxDB keeps up (issue 15 soak: heap
// after a full GC grew ≈ 0.7 KiB per reading since the journal landed). Drives the real journal
// with real line protocol (LineFormatter) and a shipper that confirms every batch at once, as the
// InfluxDB writer does when InfluxDB answers; prints heap after a full GC before and after N.
//   node --expose-gc --import tsx bench/lib/journal-heap-probe.ts 30000
// With `held` as second argument nothing is shipped (InfluxDB away): what the active segment's
// unshipped records cost.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { createJournal } from '../../journal/journal.ts';
import { LineFormatter } from '../../ingest/store/line.ts';

const N = Number(process.argv[2] ?? 30000);
const ship = process.argv[3] !== 'held';
const gc = (globalThis as { gc?: () => void }).gc!;
const heap = (): number => { gc(); gc(); return process.memoryUsage().heapUsed / 1048576; };
const j = createJournal({ dir: mkdtempSync(join(tmpdir(), 'jp-')), fsync: false, maxBytes: 1e9, warnRatio: 0.9, logger: pino({ level: 'silent' }) });
await j.start();
const f = new LineFormatter();
let stop = false;
const worker = (async () => { while (!stop && ship) { const b = await j.read(500); if (!b) return; j.confirm(b); } })();
const h0 = heap();
for (let i = 0; i < N; i++) {
  const d = i % 500;
  const line = f.format({ reading: { kind: 'telemetry', deviceId: `sd-${String(d).padStart(5, '0')}`, deviceType: 'smoke', siteId: 'site-1', centerId: 'c-1', gridId: 'g-1', values: { smoke: Math.random() * 10, temp: 20 + Math.random(), battery: 3.1 }, seq: i, ts: Date.now(), flags: [] }, score: 12, level: 'green' } as never);
  j.append(line);
  if (i % 250 === 249) await new Promise<void>((r) => j.durable(() => r()));
}
await new Promise<void>((r) => j.durable(() => r()));
await new Promise((r) => setTimeout(r, 50));
const h1 = heap();
console.log(JSON.stringify({ N, heapBeforeMiB: +h0.toFixed(2), heapAfterMiB: +h1.toFixed(2), bytesPerReading: Math.round((h1 - h0) * 1048576 / N), stats: j.stats(), unread: j.unread() }));
stop = true; await j.stop(); await worker;
