// What each idle connection adds to the heap, by kind of object: the difference between two V8
// heap snapshots (bench/lib/memory-probe.ts writes them before and after N devices connect),
// divided by N. This is how the per-connection closures, the parser's BufferListStream and
// similar costs were found (README "Performance", Memory).
//   BENCH_HEAP_SNAPSHOT=/tmp/snaps BENCH_NODE_ARGS=--expose-gc npx tsx bench/lib/memory-probe.ts 2000
//   npx tsx bench/lib/heap-diff.ts /tmp/snaps/wf-<before>.heapsnapshot /tmp/snaps/wf-<after>.heapsnapshot 2000 [rows=40]
import { readFileSync } from 'node:fs';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

/** Bytes and count by (V8 node type, constructor or array kind); strings and code are one row each. */
function tally(file: string): Map<string, { bytes: number; count: number }> {
  const s = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
  const fields = s.snapshot.meta.node_fields;
  const types = s.snapshot.meta.node_types[0];
  const [ti, ni, si, width] = [fields.indexOf('type'), fields.indexOf('name'), fields.indexOf('self_size'), fields.length];
  const out = new Map<string, { bytes: number; count: number }>();
  for (let i = 0; i < s.nodes.length; i += width) {
    const type = types[s.nodes[i + ti]!]!;
    const name = type === 'string' || type === 'concatenated string' || type === 'sliced string' || type === 'code' ? '' : s.strings[s.nodes[i + ni]!]!.slice(0, 50);
    const key = `${type.includes('string') ? 'string' : type} ${name}`.trim();
    const row = out.get(key) ?? { bytes: 0, count: 0 };
    row.bytes += s.nodes[i + si]!;
    row.count++;
    out.set(key, row);
  }
  return out;
}

const [beforeFile, afterFile, nArg, rowsArg] = process.argv.slice(2);
if (!beforeFile || !afterFile || !nArg) {
  console.error('usage: heap-diff.ts <before.heapsnapshot> <after.heapsnapshot> <devices> [rows]');
  process.exit(2);
}
const n = Number(nArg);
const before = tally(beforeFile);
const after = tally(afterFile);
const rows = [...new Set([...before.keys(), ...after.keys()])].map((key) => {
  const a = before.get(key) ?? { bytes: 0, count: 0 };
  const b = after.get(key) ?? { bytes: 0, count: 0 };
  return { key, bytes: (b.bytes - a.bytes) / n, count: (b.count - a.count) / n };
}).sort((x, y) => y.bytes - x.bytes);
console.log(`heap per device: ${rows.reduce((t, r) => t + r.bytes, 0).toFixed(0)} B (self sizes; ${n} devices)`);
for (const r of rows.slice(0, Number(rowsArg ?? 40))) console.log(`${r.bytes.toFixed(1).padStart(8)} B  ${r.count.toFixed(2).padStart(6)} per device  ${r.key}`);
