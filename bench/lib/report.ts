// Results: bench/results/<scenario>.json (everything measured, with the environment) and
// bench/results/summary.md (a short table per scenario, rebuilt from every JSON present).
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpus, loadavg, totalmem } from 'node:os';

export const RESULTS = fileURLToPath(new URL('../results', import.meta.url));

export interface ScenarioResult {
  scenario: string;
  /** What the issue asks for, and whether this run met it. */
  targets: Array<{ what: string; target: string; measured: string; met: boolean | null }>;
  /** Markdown lines for the summary (a table, a note on what limited the figures). */
  summary: string[];
  data: unknown;
}

export function environment() {
  return {
    at: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? '',
    memGiB: Math.round(totalmem() / 2 ** 30),
    loadavgAtStart: loadavg().map((x) => Math.round(x * 100) / 100),
    command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
  };
}

export function writeResult(r: ScenarioResult, env: ReturnType<typeof environment>): string {
  mkdirSync(RESULTS, { recursive: true });
  const file = join(RESULTS, `${r.scenario}.json`);
  writeFileSync(file, `${JSON.stringify({ ...r, environment: { ...env, loadavgAtEnd: loadavg().map((x) => Math.round(x * 100) / 100) } }, null, 2)}\n`);
  writeSummary();
  return file;
}

const ORDER = ['firmware', 'throughput', 'alarm', 'storm', 'reconnect', 'connections', 'journal', 'cluster-log', 'rules', 'alerts', 'ingress'];

export function writeSummary(): void {
  const files = readdirSync(RESULTS).filter((f) => f.endsWith('.json'));
  files.sort((a, b) => (ORDER.indexOf(a.replace('.json', '')) + 99) % 99 - (ORDER.indexOf(b.replace('.json', '')) + 99) % 99);
  const out = ['# Watchfire benchmark summary', '', 'Rebuilt from bench/results/*.json after every scenario. Figures are medians of the steps/repeats noted; ratios are to the baselines measured in the same run on the same machine.', ''];
  for (const f of files) {
    const r = JSON.parse(readFileSync(join(RESULTS, f), 'utf8')) as Partial<ScenarioResult> & { environment?: ReturnType<typeof environment> & { loadavgAtEnd?: number[] } };
    out.push(`## ${r.scenario ?? f.replace('.json', '')}`, '');
    if (!Array.isArray(r.targets)) {
      // Written by another bench script (bench/rules.ts, bench/alerts.ts): its scalar figures as they are.
      const flat = Object.entries(r as Record<string, unknown>).filter(([, v]) => typeof v !== 'object' || v === null);
      const nested = Object.entries(r as Record<string, unknown>).filter(([k, v]) => typeof v === 'object' && v !== null && ['latencyUs', 'met', 'targets', 'bytesPerDeviceState'].includes(k));
      out.push(`_Written by bench/${f.replace('.json', '.ts')}; full figures in bench/results/${f}._`, '');
      out.push(...flat.map(([k, v]) => `- ${k}: ${String(v)}`), ...nested.map(([k, v]) => `- ${k}: \`${JSON.stringify(v)}\``), '');
      continue;
    }
    if (r.environment) out.push(`_${r.environment.at}, ${r.environment.cpus} cores, load average ${r.environment.loadavgAtStart?.join('/')} → ${r.environment.loadavgAtEnd?.join('/')}, \`${r.environment.command}\`_`, '');
    if (r.targets?.length) {
      out.push('| figure | target | measured | met |', '|---|---|---|---|');
      for (const t of r.targets) out.push(`| ${t.what} | ${t.target} | ${t.measured} | ${t.met === null ? '–' : t.met ? 'yes' : '**no**'} |`);
      out.push('');
    }
    if (r.summary?.length) out.push(...r.summary, '');
  }
  writeFileSync(join(RESULTS, 'summary.md'), `${out.join('\n')}\n`);
}
