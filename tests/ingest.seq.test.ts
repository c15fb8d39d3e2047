// Re-sends recognised for good (issue 15 point 3; SEQ_RULE in contracts/protocol.ts): however old,
// across a device's counter restart, and across a restart of Watchfire (checkpoint and log).
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, appendFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import pino from 'pino';
import { Registry } from 'prom-client';
import { openDatabase, type Db } from '../app/db.ts';
import { createEventBus } from '../contracts/bus.ts';
import type { DeadLetterStore, DeviceDirectory, Frame } from '../contracts/ports.ts';
import type { DeviceInfo } from '../contracts/registry.ts';
import type { Reading } from '../contracts/reading.ts';
import { createIngest } from '../ingest/ingest.ts';
import { SeqTracker } from '../ingest/seq-tracker.ts';
import { createSeqStore, type SeqStore } from '../ingest/seq-store.ts';

const NOW = Date.UTC(2026, 11, 7, 6, 0, 0);
const T0 = NOW - 3_600_000;
const sd1: DeviceInfo = { id: 'sd-1', type: 'smoke_detector', siteId: 's1', centerId: 'c1', gridId: undefined, location: '', intervalSec: 300, enabled: true, rules: undefined, meta: undefined };
const directory: DeviceDirectory = { get: (id) => (id === 'sd-1' ? sd1 : undefined), verifySecret: () => 'ok', all: () => [sd1] };
const noDeadLetters: DeadLetterStore = { add: () => undefined, list: async () => [], count: async () => 0 };
const log = pino({ level: 'silent' });

function frame(body: unknown, kind = 'telemetry', receivedAt = NOW): Frame {
  return { deviceId: 'sd-1', topic: `v1/devices/sd-1/${kind}`, payload: Buffer.from(JSON.stringify(body)), qos: 1, retain: false, receivedAt };
}

function ingestWith(seqs?: SeqStore) {
  const readings: Reading[] = [];
  const ingest = createIngest({ directory, deadLetters: noDeadLetters, sink: (r) => readings.push(r), bus: createEventBus(), metrics: new Registry(), logger: log, clock: { now: () => NOW }, ...(seqs ? { seqs } : {}) });
  return { ingest, readings };
}

describe('the rule, in ingest', () => {
  it('an exact re-send is a duplicate however old: 600 readings sent one per message, all re-sent', () => {
    const { ingest, readings } = ingestWith();
    const sent = Array.from({ length: 600 }, (_, i) => ({ seq: i, ts: T0 + i * 1000, smoke: 0.01 }));
    for (const r of sent) ingest.accept(frame(r));
    let dups = 0;
    for (const r of sent) dups += ingest.accept(frame(r)).duplicates;
    expect(dups).toBe(600);
    expect(readings).toHaveLength(600);
    expect(ingest.deviceStats('sd-1')).toMatchObject({ readings: 600, duplicates: 600, gaps: 0 });
  });

  it('a re-send with the same seq and a changed value or ts is a duplicate: the original is never overwritten', () => {
    const { ingest, readings } = ingestWith();
    for (let i = 0; i < 20; i++) ingest.accept(frame({ seq: i, ts: T0 + i * 1000, smoke: 0.01 }));
    expect(ingest.accept(frame({ seq: 3, ts: T0 + 3000, smoke: 1.5 })).duplicates).toBe(1);
    expect(ingest.accept(frame({ seq: 3, ts: T0 + 3500, smoke: 1.5 })).duplicates).toBe(1);
    expect(ingest.accept(frame({ type: 'alarm', seq: 2, ts: T0 + 2000 }, 'events')).duplicates).toBe(1);
    expect(readings.filter((r) => r.seq === 3).map((r) => r.values)).toEqual([{ smoke: 0.01 }]);
  });

  it('a device that reboots and restarts seq from 0 is recognised by its ts moving forward; re-sends from either side of the reboot are duplicates', () => {
    const { ingest, readings } = ingestWith();
    for (let i = 0; i < 100; i++) ingest.accept(frame({ seq: i, ts: T0 + i * 1000, smoke: 0.01 }));
    const boot = T0 + 200_000;
    for (let i = 0; i < 10; i++) expect(ingest.accept(frame({ seq: i, ts: boot + i * 1000, smoke: 0.02 })).accepted).toBe(1);
    expect(readings).toHaveLength(110);
    // The old alarm from before the reboot, and a post-reboot reading, re-sent.
    expect(ingest.accept(frame({ seq: 50, ts: T0 + 50_000, smoke: 0.01 })).duplicates).toBe(1);
    expect(ingest.accept(frame({ seq: 120, ts: T0 + 120_000, smoke: 0.01 })).accepted).toBe(1); // never seen: the old run went on
    expect(ingest.accept(frame({ seq: 120, ts: T0 + 120_000, smoke: 0.01 })).duplicates).toBe(1);
    expect(ingest.accept(frame({ seq: 4, ts: boot + 4000, smoke: 0.02 })).duplicates).toBe(1);
    expect(ingest.deviceStats('sd-1')!.gaps).toBe(20); // 100..119 skipped by the old run
  });

  it('a skipped seq arriving late is new and fills its gap; a backlog uploaded newest first is new', () => {
    const { ingest } = ingestWith();
    for (const seq of [10, 11, 14]) ingest.accept(frame({ seq, ts: T0 + seq * 1000, smoke: 0 }));
    expect(ingest.accept(frame([{ seq: 12, ts: T0 + 12_000, smoke: 0 }, { seq: 13, ts: T0 + 13_000, smoke: 0 }])).accepted).toBe(2);
    expect(ingest.accept(frame({ seq: 12, ts: T0 + 12_000, smoke: 0 })).duplicates).toBe(1);
    expect(ingest.accept(frame({ seq: 9, ts: T0 + 9000, smoke: 0 })).accepted).toBe(1);
    expect(ingest.accept(frame({ seq: 5, ts: T0 + 5000, smoke: 0 })).accepted).toBe(1);
    expect(ingest.accept(frame({ seq: 7, ts: T0 + 7000, smoke: 0 })).accepted).toBe(1);
    expect(ingest.accept(frame({ seq: 9, ts: T0 + 9000, smoke: 0 })).duplicates).toBe(1);
  });

  it('without a ts, or with a ts the gateway does not trust, only an exact recent pair is a duplicate', () => {
    const { ingest } = ingestWith();
    ingest.accept(frame({ seq: 1, ts: T0, smoke: 0 }));
    ingest.accept(frame({ seq: 2, ts: T0 + 1000, smoke: 0 }));
    expect(ingest.accept(frame({ seq: 1, smoke: 0 })).accepted).toBe(1);
    expect(ingest.accept(frame({ seq: 1, smoke: 0 })).accepted).toBe(1);
    const future = NOW + 3_600_000; // clock_bad
    expect(ingest.accept(frame({ seq: 1, ts: future, smoke: 0 })).accepted).toBe(1);
    expect(ingest.accept(frame({ seq: 1, ts: future, smoke: 0 })).duplicates).toBe(1);
    expect(ingest.accept(frame({ seq: 2, ts: future + 1, smoke: 0 })).accepted).toBe(1);
  });

  it('a snapshot restores the same judgement', () => {
    const t = new SeqTracker();
    for (let i = 0; i < 300; i++) t.seen(i * 2, T0 + i * 1000, true); // every other seq skipped
    const back = SeqTracker.from(JSON.parse(JSON.stringify(t.snapshot())));
    expect(back.seen(100, T0 + 50_000, true).duplicate).toBe(true);
    expect(back.seen(597, T0 + 298_500, true)).toEqual({ duplicate: false, gap: 0 }); // a remembered gap
    // The documented limit: only a run's 64 most recent skipped ranges are kept; seq 3's was not.
    expect(back.seen(3, T0 + 1500, true).duplicate).toBe(true);
    expect(back.gaps).toBe(t.gaps);
  });
});

describe('across a restart of Watchfire (ingest/seq-store.ts)', () => {
  let dir: string;
  let db: Db;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'wf-seq-'));
    db = openDatabase(join(dir, 'watchfire.db'));
  });
  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const store = () => createSeqStore({ db, dir: join(dir, 'seq'), logger: log, checkpointMs: 3_600_000 });
  const sent = Array.from({ length: 50 }, (_, i) => ({ seq: i, ts: T0 + i * 1000, smoke: 0.01 }));

  it('after a clean stop (checkpoint in SQLite), nothing accepted before is accepted again', async () => {
    const a = store();
    await a.start();
    const first = ingestWith(a);
    for (const r of sent) first.ingest.accept(frame(r));
    await a.stop();
    expect(readdirSync(join(dir, 'seq'))).toEqual([]); // the checkpoint made the logs redundant
    expect((db.prepare('SELECT COUNT(*) AS n FROM ingest_seq').get() as { n: number }).n).toBe(1);

    const b = store();
    await b.start();
    const second = ingestWith(b);
    let dups = 0;
    for (const r of sent) dups += second.ingest.accept(frame(r)).duplicates;
    expect(dups).toBe(50);
    expect(second.readings).toHaveLength(0);
    expect(second.ingest.accept(frame({ seq: 50, ts: T0 + 50_000, smoke: 0.01 })).accepted).toBe(1);
    await b.stop();
  });

  it('releases PUBACKs in order, each once its lines are in the log; a checkpoint meanwhile rotates the log and loses none', async () => {
    const a = store();
    await a.start();
    const { ingest } = ingestWith(a);
    const logged = (): string => readdirSync(join(dir, 'seq')).filter((f) => f.endsWith('.log')).map((f) => readFileSync(join(dir, 'seq', f), 'utf8')).join('');
    const order: number[] = [];
    const seen: string[] = [];
    const acked = sent.map((r, i) => {
      ingest.accept(frame(r));
      // Every fifth reading a PUBACK waits (a journal group), and once a checkpoint starts midway.
      if (i % 5 !== 4) return Promise.resolve();
      if (i === 24) void a.checkpoint();
      return new Promise<void>((resolve, reject) => a.release(a.mark(), (err) => {
        if (err) return reject(err);
        order.push(i);
        seen.push(logged());
        resolve();
      }));
    });
    await Promise.all(acked);
    expect(order).toEqual([4, 9, 14, 19, 24, 29, 34, 39, 44, 49]);
    // When reading i's PUBACK went, its line was in a log: before the checkpoint in the first,
    // after it in the new one (the rotated log's lines are in SQLite once it is deleted).
    order.forEach((i, k) => expect(seen[k]).toContain(`sd-1\t${i}\t`));
    await a.participant.sync();
    await a.checkpoint();
    await a.participant.sync();
    // Rotated logs are closed once synced: only the current one stays open (/proc/self/fd).
    const openLogs = readdirSync('/proc/self/fd').map((f) => {
      try {
        return readlinkSync(`/proc/self/fd/${f}`);
      } catch {
        return '';
      }
    }).filter((p) => p.startsWith(join(dir, 'seq')) && p.endsWith('.log'));
    expect(openLogs).toHaveLength(1);
    // The process dies: a restart knows all 50.
    const b = store();
    await b.start();
    let dups = 0;
    for (const r of sent) dups += ingestWith(b).ingest.accept(frame(r)).duplicates;
    expect(dups).toBe(50);
    await b.stop();
  });

  it('after a crash (no stop, no checkpoint), the log written in the same turn is replayed; a torn last line is skipped', async () => {
    const a = store();
    await a.start();
    const first = ingestWith(a);
    for (const r of sent) first.ingest.accept(frame(r));
    // What the journal's durable callback does; the PUBACKs go once the lines are in the log.
    await new Promise<void>((resolve, reject) => a.release(a.mark(), (err) => (err ? reject(err) : resolve())));
    expect(a.participant.dirty()).toBe(true);
    await a.participant.sync(); // and the next group commit
    expect(a.participant.dirty()).toBe(false);
    // The process dies here: no stop(). A write cut short left half a line.
    const [logFile] = readdirSync(join(dir, 'seq'));
    appendFileSync(join(dir, 'seq', logFile!), 'sd-1\t77');

    const b = store();
    await b.start();
    const second = ingestWith(b);
    let dups = 0;
    for (const r of sent) dups += second.ingest.accept(frame(r)).duplicates;
    expect(dups).toBe(50);
    expect(second.ingest.accept(frame({ seq: 77, ts: T0 + 77_000, smoke: 0.01 })).accepted).toBe(1);
    await b.stop();
    // And once more, now from the checkpoint b wrote at its stop.
    const c = store();
    await c.start();
    expect(ingestWith(c).ingest.accept(frame({ seq: 77, ts: T0 + 77_000, smoke: 0.01 })).duplicates).toBe(1);
    await c.stop();
  });
});
