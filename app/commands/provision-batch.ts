// `wf device provision-csv FILE --out DIR` (issue 18 point 7): installers send a devices CSV (the
// sheet `wf registry import --kind devices` reads); this imports it, issues a secret to every
// device in it that never had one, and hands the secrets back once as one sheet: a CSV for the
// installers' tools and a printable page of labels with a QR code each (user name and secret,
// scanned by the installer's configuration app). Secrets are never stored (only their hashes),
// so the sheet cannot be made again: a lost sheet means provisioning those devices again.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import QRCode from 'qrcode';
import type { RegistryReader, RegistryWriter } from '../../contracts/ports.ts';
import { WatchfireError } from '../../contracts/errors.ts';
import { parseRegistryCsv, snapshotOf, validateRegistry } from '../../registry/index.ts';
import { out, root } from './output.ts';

export type OpenRegistryDb = () => Promise<{ registry: RegistryReader & RegistryWriter & { provisioned(id: string): boolean }; close(): Promise<void> }>;

export interface SheetRow { id: string; siteId: string; location: string; username: string; secret: string }

const csvCell = (v: string) => (/[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
const html = (v: string) => v.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

/** What the QR code holds: a versioned, unambiguous string the configuration app parses. */
export const qrPayload = (r: SheetRow) => `WF1;${r.username};${r.secret}`;

async function labels(rows: readonly SheetRow[], title: string): Promise<string> {
  const cells = await Promise.all(rows.map(async (r) => {
    const svg = await QRCode.toString(qrPayload(r), { type: 'svg', errorCorrectionLevel: 'M', margin: 1 });
    return `<div class="label">${svg}<div><b>${html(r.id)}</b><br>${html(r.siteId)} · ${html(r.location)}<br><code>${html(r.secret)}</code></div></div>`;
  }));
  return `<!doctype html><html lang="zh-CN"><meta charset="utf-8"><title>${html(title)}</title>
<style>@page{size:A4;margin:10mm}body{font:11px sans-serif}.label{display:inline-flex;gap:4mm;width:90mm;height:34mm;border:1px dashed #999;padding:2mm;box-sizing:border-box;page-break-inside:avoid;overflow:hidden}.label svg{width:30mm;height:30mm;flex:none}code{font-size:9px;word-break:break-all}</style>
<h1>${html(title)}</h1><p>设备密钥只显示这一次 / Secrets are shown once: keep this sheet locked away, destroy it after installation.</p>
${cells.join('\n')}</html>\n`;
}

export function registerBatchProvision(program: Command, open: OpenRegistryDb): void {
  const device = program.commands.find((c) => c.name() === 'device') ?? program.command('device');
  device
    .command('provision-csv <file>')
    .description('import an installers\' devices CSV and issue secrets to its devices that have none, written once to DIR as a CSV and printable QR labels')
    .requiredOption('--out <dir>', 'directory for the secret sheet (created; files there are never overwritten)')
    .option('--json', 'print a JSON summary (paths and device ids; the secrets are only in the sheet)')
    .action(async (file: string, o: { out: string; json?: boolean }, cmd: Command) => {
      const dir = resolve(o.out);
      const stamp = new Date().toISOString().replace(/[-:.]/g, '');
      const csvPath = join(dir, `secrets-${stamp}.csv`);
      const htmlPath = join(dir, `labels-${stamp}.html`);
      if (existsSync(csvPath) || existsSync(htmlPath)) root(cmd).error(`${csvPath} exists: not overwritten`, { exitCode: 1 });
      const { registry, close } = await open();
      const rows: SheetRow[] = [];
      let skipped: string[] = [];
      try {
        const text = readFileSync(file, 'utf8');
        const parsed = validateRegistry(parseRegistryCsv('devices', text, { source: file }), { registered: snapshotOf(registry), source: file });
        await registry.importFile(parsed);
        skipped = parsed.devices.filter((d) => registry.provisioned(d.id)).map((d) => d.id);
        for (const d of parsed.devices.filter((x) => !registry.provisioned(x.id))) {
          rows.push({ id: d.id, siteId: d.siteId, location: d.location, username: d.id, secret: (await registry.provision(d.id)).secret });
        }
        if (rows.length) {
          mkdirSync(dir, { recursive: true, mode: 0o700 });
          const header = 'device,site,location,mqtt_username,secret,qr';
          writeFileSync(csvPath, `${[header, ...rows.map((r) => [r.id, r.siteId, r.location, r.username, r.secret, qrPayload(r)].map(csvCell).join(','))].join('\n')}\n`, { mode: 0o600, flag: 'wx' });
          writeFileSync(htmlPath, await labels(rows, `Watchfire 设备密钥 ${stamp} (${rows.length})`), { mode: 0o600, flag: 'wx' });
        }
      } catch (err) {
        if (!(err instanceof WatchfireError)) throw err;
        root(cmd).error(`${err.code}: ${err.message}`, { exitCode: 1, code: err.code });
      } finally {
        await close();
      }
      const summary = { provisioned: rows.map((r) => r.id), skipped, csv: rows.length ? csvPath : null, labels: rows.length ? htmlPath : null };
      if (o.json) return out(cmd, JSON.stringify(summary));
      out(cmd, `Issued secrets to ${rows.length} devices${rows.length ? `: ${csvPath} and ${htmlPath} (print the labels; both files hold the only copy of the secrets)` : ''}.`);
      if (skipped.length) out(cmd, `Skipped ${skipped.length} already provisioned (wf device provision ID issues a new secret): ${skipped.join(', ')}`);
    });
}
