// What the live-state mirror costs per device state change (issue 21, "Beyond one machine";
// app/live-mirror.ts): one flush of `devices` smoke detectors whose state changed (ids of 10
// characters, smoke, temperature, CO and battery as they report them), serialised as the owner does
// (one JSON entry per device, the same bytes into the partition's hash and into the batch), then
// read and applied as every other node does (parse, check against the schema, order by term).
// No Redis: the commands a flush sends are counted from the partitions it touches.
//   npx tsx bench/live-mirror.ts [devices=2000] [partitions=16]
// Prints bytes per device and per batch, the time of each step (best of 50: the first runs warm zod's compiled checks) and the commands.
import { cpus, loadavg } from 'node:os';
import { partitionOf } from '../contracts/cluster.ts';
import { PUBLISH_MAX } from '../app/live-mirror.ts';
import { decodeLiveBatch, encodeLiveBatch, encodeLiveState, newerLiveState, type LiveStateEntry } from '../contracts/live-state.ts';
import { prng } from '../rules/test-support.ts';

const N = Number(process.argv[2] ?? 2_000);
const PARTITIONS = Number(process.argv[3] ?? 16);
const rnd = prng(1);
const now = Date.now();
const states = Array.from({ length: N }, (_, i) => ({
  id: `sd-${String(i).padStart(7, '0')}`,
  site: `h-${i >> 1}`,
  s: {
    online: true, lastSeen: now - Math.floor(rnd() * 60_000), level: 'green',
    last: { smoke: Math.round(rnd() * 30) / 1000, temp: 18 + Math.round(rnd() * 60) / 10, co: Math.round(rnd() * 3), battery: 60 + Math.round(rnd() * 40) },
  },
}));

const best = { encodeMs: Infinity, decodeApplyMs: Infinity };
let bytes = { entries: 0, batch: 0 };
let touched = 0;
let published = 0;
for (let rep = 0; rep < 50; rep++) {
  const t0 = performance.now();
  const fields = new Map<number, string[]>();
  const encoded: string[] = [];
  for (const d of states) {
    const p = partitionOf(d.site, PARTITIONS);
    const json = encodeLiveState({ d: d.id, p, t: 3, n: 'node-a', at: now, s: { ...d.s, last: { ...d.s.last } } });
    let f = fields.get(p);
    if (!f) fields.set(p, (f = []));
    f.push(d.id, json);
    encoded.push(json);
  }
  // As the owner publishes them: PUBLISH_MAX entries a message.
  const batches: string[] = [];
  for (let i = 0; i < encoded.length; i += PUBLISH_MAX) batches.push(encodeLiveBatch('node-a', encoded.slice(i, i + PUBLISH_MAX)));
  const t1 = performance.now();
  const mirror = new Map<string, LiveStateEntry>();
  for (const b of batches) for (const e of decodeLiveBatch(b)!.entries) if (newerLiveState(mirror.get(e.d), e)) mirror.set(e.d, e);
  const t2 = performance.now();
  if (mirror.size !== N) throw new Error(`applied ${mirror.size} of ${N}`);
  best.encodeMs = Math.min(best.encodeMs, t1 - t0);
  best.decodeApplyMs = Math.min(best.decodeApplyMs, t2 - t1);
  bytes = { entries: encoded.reduce((n, s) => n + Buffer.byteLength(s), 0), batch: batches.reduce((n, s) => n + Buffer.byteLength(s), 0) };
  touched = fields.size;
  published = batches.length;
}
const round = (v: number): number => Math.round(v * 100) / 100;
console.log(JSON.stringify({
  devices: N, partitions: PARTITIONS, cpu: cpus()[0]?.model, load: loadavg().map((v) => round(v)),
  bytesPerDevice: round(bytes.entries / N),
  bytesPublished: bytes.batch,
  // Each entry goes twice to Redis (HSET value, PUBLISH) and once to each other node (the batch).
  bytesToRedisPerDevice: round((bytes.entries + bytes.batch) / N),
  ms: { encode: round(best.encodeMs), decodeAndApply: round(best.decodeApplyMs) },
  usPerDevice: { encode: round((best.encodeMs * 1000) / N), decodeAndApply: round((best.decodeApplyMs * 1000) / N) },
  redisCommandsPerFlush: { hset: touched, pexpire: touched, publish: published, roundTrips: 1 },
}, null, 1));
