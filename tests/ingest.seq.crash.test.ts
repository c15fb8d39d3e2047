// The re-send memory under kill -9 (issue 15 point 3): a process takes readings and acknowledges
// them the way the gateway does (after the group commit that syncs the memory's log); it is killed
// with SIGKILL at random moments, several times. After each restart every acknowledged reading,
// re-sent, is a duplicate — none is accepted twice — and the next new one is accepted.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { Registry } from 'prom-client';
import { openDatabase } from '../app/db.ts';
import { createEventBus } from '../contracts/bus.ts';
import type { DeviceInfo } from '../contracts/registry.ts';
import { createIngest } from '../ingest/ingest.ts';
import { createSeqStore } from '../ingest/seq-store.ts';

const ROOT = resolve(import.meta.dirname, '..');
const T0 = Date.UTC(2026, 11, 7, 0, 0, 0);
const sd1: DeviceInfo = { id: 'sd-1', type: 'smoke_detector', siteId: 's1', centerId: 'c1', gridId: undefined, location: '', intervalSec: 300, enabled: true, rules: undefined, meta: undefined };
const dir = mkdtempSync(join(tmpdir(), 'wf-seq-crash-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the child until it has acknowledged at least `minAcks` more readings plus a random extra, then SIGKILLs it. */
function runAndKill(firstSeq: number, minAcks: number): Promise<number[]> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'tests/support/seq-child.ts', dir, String(firstSeq)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const acked: number[] = [];
  const target = minAcks + Math.floor(Math.random() * minAcks);
  return new Promise((res, rej) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (!line.startsWith('acked')) return;
      for (const s of line.slice(6).split(' ')) if (s) acked.push(Number(s));
      if (acked.length >= target && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    child.once('exit', (code, signal) => (signal === 'SIGKILL' ? res(acked) : rej(new Error(`child exited with ${code ?? signal}`))));
  });
}

describe('kill -9 of a process taking readings', () => {
  it('never re-accepts an acknowledged reading after a restart', async () => {
    let next = 0;
    const all: number[] = [];
    for (let round = 0; round < 3; round++) {
      const acked = await runAndKill(next, 1_000);
      expect(acked.length).toBeGreaterThan(0);
      all.push(...acked);
      // Restart: the memory as the killed process left it on disk.
      const db = openDatabase(join(dir, 'watchfire.db'));
      const seqs = createSeqStore({ db, dir: join(dir, 'seq'), logger: pino({ level: 'silent' }), checkpointMs: 3_600_000 });
      await seqs.start();
      const ingest = createIngest({
        directory: { get: (id) => (id === 'sd-1' ? sd1 : undefined), verifySecret: () => 'ok', all: () => [sd1] },
        deadLetters: { add: () => undefined, list: async () => [], count: async () => 0 },
        sink: () => undefined, bus: createEventBus(), metrics: new Registry(), logger: pino({ level: 'silent' }), seqs,
      });
      const resend = (seq: number) => ingest.accept({ deviceId: 'sd-1', topic: 'v1/devices/sd-1/telemetry', payload: Buffer.from(JSON.stringify({ seq, ts: T0 + seq, smoke: 0.01 })), qos: 1, retain: false, receivedAt: Date.now() });
      const reaccepted = all.filter((seq) => resend(seq).accepted > 0);
      expect(reaccepted).toEqual([]);
      // Taken by the killed process but perhaps never acknowledged: beyond what was acked, the
      // next run starts well clear, so this round's new readings are judged on their own.
      next = all.at(-1)! + 1_000;
      expect(resend(next).accepted).toBe(1);
      next++;
      await seqs.stop();
      db.close();
    }
  });
});
