// Bulk provisioning (issue 18 point 7): an installers' devices CSV is imported and every new
// device gets a secret, handed back once as a CSV and a printable page of QR labels; the secrets
// work on the gateway's check, already provisioned devices are skipped, nothing is overwritten.
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import pino from 'pino';
import QRCode from 'qrcode';
import { parse } from 'csv-parse/sync';
import { openDatabase } from '../app/db.ts';
import { registerRegistryCommands } from '../app/commands/registry.ts';
import { registerBatchProvision, qrPayload } from '../app/commands/provision-batch.ts';
import { createRegistry, loadRegistryFile } from '../registry/index.ts';
import { sqliteRegistryStorage } from './support/registries.ts';

const EXAMPLE = fileURLToPath(new URL('../config/registry.example.yaml', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'wf-batch-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const dbFile = join(dir, 'watchfire.db');

async function open() {
  const db = openDatabase(dbFile);
  const registry = createRegistry({ storage: sqliteRegistryStorage(db), logger: pino({ level: 'silent' }) });
  await registry.start();
  return { registry, db, close: async () => { await registry.stop(); db.close(); } };
}

async function wf(...args: string[]): Promise<string> {
  let printed = '';
  const program = new Command().exitOverride().configureOutput({ writeOut: (s) => { printed += s; }, writeErr: () => undefined });
  registerRegistryCommands(program, open);
  registerBatchProvision(program, open);
  await program.parseAsync(['node', 'wf', ...args]);
  return printed;
}

describe('wf device provision-csv', () => {
  it('issues each new device a secret once, as a CSV and QR labels that match the gateway\'s check', async () => {
    const h = await open();
    await h.registry.importFile(loadRegistryFile(EXAMPLE));
    const before = (await h.registry.provision('sd-xf3301-kitchen')).secret; // provisioned earlier: kept
    await h.close();
    const csv = join(dir, 'install.csv');
    writeFileSync(csv, 'id,type,siteId,location\nsd-new-1,smoke_detector,h-xf-3-301,卧室\nsd-new-2,smoke_detector,h-xf-3-301,"客厅, 北墙"\nsd-xf3301-kitchen,smoke_detector,h-xf-3-301,厨房吊顶\n');
    const out = join(dir, 'sheet');
    const summary = JSON.parse(await wf('device', 'provision-csv', csv, '--out', out, '--json')) as { provisioned: string[]; skipped: string[]; csv: string; labels: string };
    expect(summary.provisioned).toEqual(['sd-new-1', 'sd-new-2']);
    expect(summary.skipped).toEqual(['sd-xf3301-kitchen']);
    expect(statSync(summary.csv).mode & 0o777).toBe(0o600);

    const rows = parse(readFileSync(summary.csv, 'utf8'), { columns: true }) as Array<Record<string, string>>;
    expect(rows.map((r) => [r.device, r.location])).toEqual([['sd-new-1', '卧室'], ['sd-new-2', '客厅, 北墙']]);
    const page = readFileSync(summary.labels, 'utf8');
    const h2 = await open();
    try {
      for (const r of rows) {
        expect(r.secret!.length).toBeGreaterThanOrEqual(22);
        expect(h2.registry.verifySecret(r.device!, r.secret!)).toBe('ok');
        expect(r.qr).toBe(`WF1;${r.device};${r.secret}`);
        // The label's QR code is the library's rendering of exactly that payload.
        const svg = await QRCode.toString(qrPayload({ id: r.device!, siteId: '', location: '', username: r.device!, secret: r.secret! }), { type: 'svg', errorCorrectionLevel: 'M', margin: 1 });
        expect(page).toContain(svg);
      }
      expect(h2.registry.verifySecret('sd-xf3301-kitchen', before)).toBe('ok'); // skipped: its secret still works
    } finally {
      await h2.close();
    }

    // One device from the command line, as JSON for the installers' tools.
    const one = JSON.parse(await wf('device', 'provision', 'sd-new-3', '--type', 'smoke_detector', '--site', 'h-xf-3-301', '--json')) as { id: string; secret: string; created: boolean };
    expect(one).toMatchObject({ id: 'sd-new-3', created: true });
    const h3 = await open();
    expect(h3.registry.verifySecret('sd-new-3', one.secret)).toBe('ok');
    await h3.close();

    // Run again: everything is provisioned now, no new sheet, nothing overwritten.
    const again = JSON.parse(await wf('device', 'provision-csv', csv, '--out', out, '--json')) as { provisioned: string[]; csv: string | null };
    expect(again).toMatchObject({ provisioned: [], csv: null });
    expect(readdirSync(out)).toHaveLength(2);
  });
});
