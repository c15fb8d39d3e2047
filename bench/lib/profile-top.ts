// Where a Watchfire process spends its CPU: self time of a V8 .cpuprofile (BENCH_CPU_PROF=<dir>
// npm run bench -- throughput …) by repository folder / package and by function.
//   npx tsx bench/lib/profile-top.ts <file.cpuprofile> [top=25] [--from=S] [--to=S]
// --from/--to: only the samples between S seconds after the profile started (the process start)
// and --to seconds (the first seconds after a start against the steady state).
import { readFileSync } from 'node:fs';

interface Node { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number; children?: number[] }
interface Profile { nodes: Node[]; startTime: number; endTime: number; samples: number[]; timeDeltas: number[] }

const file = process.argv[2];
if (!file) {
  console.error('usage: npx tsx bench/lib/profile-top.ts <file.cpuprofile> [top]');
  process.exit(2);
}
const top = Number(process.argv.slice(3).find((a) => !a.startsWith('--')) ?? 25);
const opt = (n: string): number | undefined => {
  const v = process.argv.find((a) => a.startsWith(`--${n}=`))?.split('=')[1];
  return v === undefined ? undefined : Number(v) * 1e6;
};
const from = opt('from') ?? 0;
const to = opt('to') ?? Infinity;
const prof = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const self = new Map<number, number>();
let at = 0;
for (let i = 0; i < prof.samples.length; i++) {
  at += prof.timeDeltas[i] ?? 0;
  if (at < from || at > to) continue;
  self.set(prof.samples[i]!, (self.get(prof.samples[i]!) ?? 0) + (prof.timeDeltas[i] ?? 0));
}
const total = [...self.values()].reduce((a, b) => a + b, 0);

function area(url: string, fn: string): string {
  if (!url) return fn.startsWith('(') ? fn : '(native)';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1]!;
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0]}`;
  const m = /\/work\/main\/([^/]+)\//.exec(url);
  return m ? `${m[1]}/` : url;
}
const areas = new Map<string, number>();
const fns = new Map<string, number>();
for (const [id, us] of self) {
  const n = byId.get(id)!;
  const a = area(n.callFrame.url, n.callFrame.functionName);
  areas.set(a, (areas.get(a) ?? 0) + us);
  const key = `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.replace(/^.*\/work\/main\//, '').replace(/^file:\/\//, '')}:${n.callFrame.lineNumber + 1}`;
  fns.set(key, (fns.get(key) ?? 0) + us);
}
const pct = (us: number) => `${((us / total) * 100).toFixed(1).padStart(5)} %`;
console.log(`${(total / 1e6).toFixed(1)} s of samples\n\nby area:`);
for (const [a, us] of [...areas].sort((x, y) => y[1] - x[1]).slice(0, top)) console.log(`${pct(us)}  ${a}`);
console.log('\nby function (self time):');
for (const [f, us] of [...fns].sort((x, y) => y[1] - x[1]).slice(0, top)) console.log(`${pct(us)}  ${f}`);
