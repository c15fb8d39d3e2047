// Maintainers' commands (issue 18 points 6 and 7): `wf rejects` lists dead letters without an
// HTTP login, `wf store refused` lists what InfluxDB refused; both print JSON on --json.
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import pino from 'pino';
import { loadConfig } from '../app/config.ts';
import { openDatabase } from '../app/db.ts';
import { registerStoreCommands } from '../app/commands/store.ts';
import { createDeadLetterStore } from '../ingest/dead-letters.ts';
import { createRefusedStore } from '../ingest/store/refused.ts';
import { createDeadLetterStorage, sqliteRunner } from '../storage/index.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'wf-cli-ops-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));
const cfg = loadConfig({ env: {}, overrides: { dataDir } });

async function wf(...args: string[]): Promise<string> {
  let printed = '';
  const program = new Command().exitOverride().configureOutput({ writeOut: (s) => { printed += s; }, writeErr: () => undefined });
  registerStoreCommands(program, () => cfg);
  await program.parseAsync(['node', 'wf', ...args]);
  return printed;
}

describe('wf rejects and wf store refused', () => {
  it('lists dead letters newest first, filtered, as text or JSON lines', async () => {
    const db = openDatabase(join(dataDir, 'watchfire.db'));
    const dl = createDeadLetterStore({ storage: createDeadLetterStorage({ sql: sqliteRunner(db) }), logger: pino({ level: 'silent' }) });
    dl.add({ at: 1_000, deviceId: 'sd-1', topic: 'v1/devices/sd-1/telemetry', code: 'WF_INGEST_NOT_JSON', reason: 'Unexpected token', index: undefined, payload: '{oops' });
    dl.add({ at: 2_000, deviceId: 'sd-2', topic: 'v1/devices/sd-2/telemetry', code: 'WF_INGEST_SCHEMA', reason: 'smoke: expected number', index: 3, payload: '[…]' });
    await dl.stop();
    db.close();
    const lines = (await wf('rejects', '--json')).trim().split('\n').map((l) => JSON.parse(l) as { deviceId: string; code: string });
    expect(lines.map((r) => [r.deviceId, r.code])).toEqual([['sd-2', 'WF_INGEST_SCHEMA'], ['sd-1', 'WF_INGEST_NOT_JSON']]);
    const text = await wf('rejects', '--code', 'WF_INGEST_SCHEMA');
    expect(text).toMatch(/^1 dead letters with WF_INGEST_SCHEMA; newest 1:/);
    expect(text).toContain('sd-2  v1/devices/sd-2/telemetry[3]  smoke: expected number');
    expect(text).not.toContain('sd-1');
  });

  it('lists refused lines with InfluxDB\'s reason', async () => {
    createRefusedStore({ dir: join(dataDir, 'refused'), logger: pino({ level: 'silent' }), now: () => 5_000 })
      .add(['telemetry,device=sd-1 score=1 1'], 'partial write: field type conflict');
    expect(JSON.parse((await wf('store', 'refused', '--json')).trim())).toEqual({ at: 5_000, reason: 'partial write: field type conflict', lines: ['telemetry,device=sd-1 score=1 1'] });
    expect(await wf('store', 'refused')).toMatch(/^1 refused lines in 1 batches\n.*field type conflict/);
  });
});
