// A process that takes readings as fast as it can and says which ones it acknowledged, the way
// the gateway does: a reading is "acked" only after the journal's group commit, which syncs the
// re-send memory's log beside it (SeqStore.participant). tests/ingest.seq.crash.test.ts kills it
// with SIGKILL at a random moment. Usage: node --import tsx tests/support/seq-child.ts DIR FIRST_SEQ
import { join } from 'node:path';
import pino from 'pino';
import { Registry } from 'prom-client';
import { openDatabase } from '../../app/db.ts';
import { createEventBus } from '../../contracts/bus.ts';
import type { DeviceInfo } from '../../contracts/registry.ts';
import { createIngest } from '../../ingest/ingest.ts';
import { createSeqStore } from '../../ingest/seq-store.ts';

const [dir, first] = process.argv.slice(2);
const T0 = Date.UTC(2026, 11, 7, 0, 0, 0);
const sd1: DeviceInfo = { id: 'sd-1', type: 'smoke_detector', siteId: 's1', centerId: 'c1', gridId: undefined, location: '', intervalSec: 300, enabled: true, rules: undefined, meta: undefined };
const db = openDatabase(join(dir!, 'watchfire.db'));
// A short checkpoint period, so that kills also land during checkpoints.
const seqs = createSeqStore({ db, dir: join(dir!, 'seq'), logger: pino({ level: 'silent' }), checkpointMs: 50 });
await seqs.start();
const ingest = createIngest({
  directory: { get: (id) => (id === 'sd-1' ? sd1 : undefined), verifySecret: () => 'ok', all: () => [sd1] },
  deadLetters: { add: () => undefined, list: async () => [], count: async () => 0 },
  sink: () => undefined, bus: createEventBus(), metrics: new Registry(), logger: pino({ level: 'silent' }), seqs,
});
let seq = Number(first);
for (;;) {
  const group: number[] = [];
  for (let i = 0; i < 50; i++, seq++) {
    const payload = Buffer.from(JSON.stringify({ seq, ts: T0 + seq, smoke: 0.01 }));
    const out = ingest.accept({ deviceId: 'sd-1', topic: 'v1/devices/sd-1/telemetry', payload, qos: 1, retain: false, receivedAt: Date.now() });
    if (out.accepted === 1) group.push(seq);
  }
  // As the gateway does: the journal has the group (here: at once), its lines are logged, then PUBACKs.
  await new Promise<void>((resolve, reject) => seqs.release(seqs.mark(), (err) => (err ? reject(err) : resolve())));
  await seqs.participant.sync();
  process.stdout.write(`acked ${group.join(' ')}\n`);
}
