// What holds the event loop: the long tasks of a V8 .cpuprofile (BENCH_CPU_PROF=<dir> npm run
// bench -- firmware …). A task is a run of samples with no idle sample between them; one of 20 ms
// holds every PUBACK and every alarm for 20 ms. Each is printed with its start (seconds after
// the profile started), its length, the callbacks it ran (the frame under the root: a timer, an
// immediate, a socket read) and where its time went (self time by function).
//   npx tsx bench/lib/long-tasks.ts <file.cpuprofile> [--min-ms=15] [--from=S] [--to=S] [--top=8]
import { readFileSync } from 'node:fs';

interface Node { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }
interface Profile { nodes: Node[]; startTime: number; endTime: number; samples: number[]; timeDeltas: number[] }

const file = process.argv[2];
if (!file) {
  console.error('usage: npx tsx bench/lib/long-tasks.ts <file.cpuprofile> [--min-ms=15] [--from=S] [--to=S] [--top=8]');
  process.exit(2);
}
const opt = (n: string, d: number): number => Number(process.argv.find((a) => a.startsWith(`--${n}=`))?.split('=')[1] ?? d);
const minUs = opt('min-ms', 15) * 1000;
const from = opt('from', 0) * 1e6;
const to = opt('to', Infinity) * 1e6;
const top = opt('top', 8);

const prof = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const root = prof.nodes.find((n) => !parent.has(n.id))!.id;

const name = (id: number): string => {
  const f = byId.get(id)!.callFrame;
  const where = f.url ? `${f.url.replace(/^.*\/work\/main\//, '').replace(/^.*node_modules\//, '~')}:${f.lineNumber + 1}` : '';
  return `${f.functionName || '(anonymous)'}${where ? ` ${where}` : ''}`;
};
/** The frame just under the root: the callback the event loop ran. */
const entry = (id: number): string => {
  let cur = id;
  while (parent.has(cur) && parent.get(cur) !== root) cur = parent.get(cur)!;
  return name(cur);
};
const idle = (id: number): boolean => byId.get(id)!.callFrame.functionName === '(idle)';

interface Task { start: number; us: number; self: Map<string, number>; entries: Map<string, number> }
const tasks: Task[] = [];
let cur: Task | undefined;
let at = 0;
for (let i = 0; i < prof.samples.length; i++) {
  const dt = prof.timeDeltas[i] ?? 0;
  at += dt;
  const id = prof.samples[i]!;
  if (idle(id) || at < from || at > to) {
    if (cur && cur.us >= minUs) tasks.push(cur);
    cur = undefined;
    continue;
  }
  cur ??= { start: at, us: 0, self: new Map(), entries: new Map() };
  cur.us += dt;
  const n = name(id);
  cur.self.set(n, (cur.self.get(n) ?? 0) + dt);
  const e = entry(id);
  cur.entries.set(e, (cur.entries.get(e) ?? 0) + dt);
}
if (cur && cur.us >= minUs) tasks.push(cur);

const ms = (us: number): string => (us / 1000).toFixed(1);
const sorted = (m: Map<string, number>, k: number): string => [...m].sort((a, b) => b[1] - a[1]).slice(0, k).map(([n, us]) => `      ${ms(us).padStart(7)} ms  ${n}`).join('\n');
console.log(`${tasks.length} tasks of ${ms(minUs)} ms or more; ${ms(tasks.reduce((a, t) => a + t.us, 0))} ms in them`);
for (const t of tasks) {
  console.log(`\n${(t.start / 1e6).toFixed(2)} s: ${ms(t.us)} ms\n    callbacks:\n${sorted(t.entries, 4)}\n    self time:\n${sorted(t.self, top)}`);
}
