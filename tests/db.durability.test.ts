// Issue 15 point 2: the incident store's durability, stated and tested. SQLite runs in WAL mode
// with synchronous=NORMAL (app/db.ts): a commit survives a process crash as soon as it returns
// (tests/crash.test.ts kills Watchfire with SIGKILL and finds every acknowledged alarm's
// incident); for a power loss the WAL is fdatasync'ed as a participant of the journal's group
// commit before the PUBACK, whenever the connection committed anything since the last sync.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { openDatabase, walParticipant, type Db } from '../app/db.ts';
import { createJournal } from '../journal/index.ts';

let tmp: string;
let db: Db;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'wf-db-'));
  db = openDatabase(join(tmp, 'watchfire.db'));
  db.exec('CREATE TABLE IF NOT EXISTS t (v INTEGER)');
});
afterAll(async () => {
  db?.close();
  await rm(tmp, { recursive: true, force: true });
});

describe('incident store durability', () => {
  it('is WAL with synchronous=NORMAL: commits reach the OS at once, the disk with the group commit', () => {
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    // 1 = NORMAL (https://sqlite.org/pragma.html#pragma_synchronous).
    expect(db.pragma('synchronous', { simple: true })).toBe(1);
  });

  it('is synced before the PUBACK of a group in which it committed, and not when it did not', async () => {
    const wal = walParticipant(db, join(tmp, 'watchfire.db'));
    const synced: string[] = [];
    const participant = { dirty: () => wal.dirty(), sync: async () => { await wal.sync(); synced.push('wal'); } };
    const journal = createJournal({ dir: join(tmp, 'journal'), fsync: true, maxBytes: 1 << 30, warnRatio: 0.8, logger: pino({ level: 'silent' }), participants: [participant] });
    await journal.start();
    const ack = (): Promise<void> => new Promise((r) => journal.durable(() => { synced.push('ack'); r(); }));
    expect(wal.dirty()).toBe(false);
    // An alarm: its incident is committed on the alarm path, its reading appended to the journal.
    db.prepare('INSERT INTO t (v) VALUES (1)').run();
    expect(wal.dirty()).toBe(true);
    journal.append('event,device=sd-1 score=90 1');
    await ack();
    expect(synced).toEqual(['wal', 'ack']);
    expect(wal.dirty()).toBe(false);
    // Telemetry alone: nothing committed to SQLite, nothing to sync there.
    journal.append('telemetry,device=sd-1 score=0 2');
    await ack();
    expect(synced).toEqual(['wal', 'ack', 'ack']);
    await journal.stop();
    await wal.close();
  });
});
