// Hot-path cost of ingest.accept(): parse, validate, dedupe, build the reading. No I/O.
// Run: npx tsx ingest/ingest.bench.ts [frames] [--seq]
// --seq: with the re-send memory that survives restarts (seq-store.ts: a log line per reading,
// written once per event-loop turn), as Watchfire runs it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pino from 'pino';
import { Registry } from 'prom-client';
import { createEventBus } from '../contracts/bus.ts';
import type { DeadLetterStore, DeviceDirectory, Frame } from '../contracts/ports.ts';
import type { DeviceInfo } from '../contracts/registry.ts';
import { createIngest } from './ingest.ts';
import { createSeqStore } from './seq-store.ts';

const N = Number(process.argv[2] ?? 300_000);
const withSeq = process.argv.includes('--seq');
const dir = mkdtempSync(join(tmpdir(), 'wf-ingest-bench-'));
const db = new Database(join(dir, 'watchfire.db'));
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
// The table of app/migrations (migration 5), made here: a module does not import app/.
db.exec('CREATE TABLE ingest_seq (device_id TEXT PRIMARY KEY, state TEXT NOT NULL, updated_at INTEGER NOT NULL)');
const seqs = withSeq ? createSeqStore({ db, dir: join(dir, 'seq'), logger: pino({ level: 'silent' }) }) : undefined;
await seqs?.start();
const devices = new Map<string, DeviceInfo>();
for (let d = 0; d < 1000; d++) {
  devices.set(`sd-${d}`, { id: `sd-${d}`, type: 'smoke_detector', siteId: `s${d}`, centerId: 'c1', gridId: 'g1', location: '', intervalSec: 300, enabled: true, rules: undefined, meta: undefined });
}
const directory: DeviceDirectory = { get: (id) => devices.get(id), verifySecret: () => 'ok', all: () => devices.values() };
const deadLetters: DeadLetterStore = { add() {}, list: async () => [], count: async () => 0 };
let delivered = 0;
const ingest = createIngest({ directory, deadLetters, sink: () => { delivered++; }, bus: createEventBus(), metrics: new Registry(), logger: pino({ level: 'silent' }), ...(seqs ? { seqs } : {}) });

const now = Date.now();
const frames: Frame[] = [];
for (let i = 0; i < N; i++) {
  const d = i % 1000;
  frames.push({
    deviceId: `sd-${d}`, topic: `v1/devices/sd-${d}/telemetry`, qos: 0, retain: false, receivedAt: now,
    payload: Buffer.from(JSON.stringify({ ts: now - 1000, seq: Math.floor(i / 1000), smoke: 0.01, temp: 22.5, battery: 88, rssi: -71 })),
  });
}
const t0 = process.hrtime.bigint();
// 100 frames per event-loop turn, as the gateway hands them: the log is written once per turn.
for (let i = 0; i < N; i++) {
  ingest.accept(frames[i]!);
  if (withSeq && i % 100 === 99) await new Promise<void>((r) => setImmediate(r));
}
await seqs?.stop();
const secs = Number(process.hrtime.bigint() - t0) / 1e9;
db.close();
rmSync(dir, { recursive: true, force: true });
console.log(JSON.stringify({ frames: N, delivered, seq: withSeq, seconds: secs, framesPerSecond: Math.round(N / secs), usPerFrame: +(secs * 1e6 / N).toFixed(2) }));
