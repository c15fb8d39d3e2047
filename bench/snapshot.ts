// What a partition snapshot costs (issue 21 point 4; worker/snapshots.ts, app/partitions.ts's lane
// save() and load()): one partition's devices — smoke detectors in homes of two, and one
// settlement point in 20 with settlement, tilt and crack — after 100 readings each of values that
// differ, as real ones do. Saving runs on the event loop (the rule worker writes one partition per
// lease renewal at most); deflate runs in libuv's pool; loading runs once, when a partition moves.
//   npx tsx bench/snapshot.ts [devices=10000]
// Prints bytes per device (raw and deflated) and the time of each step, best of 5.
import { deflateRawSync } from 'node:zlib';
import { cpus, loadavg } from 'node:os';
import pino from 'pino';
import { Registry } from 'prom-client';
import { createEventBus } from '../contracts/bus.ts';
import { createIngest } from '../ingest/index.ts';
import { createRuleEngine, DEFAULT_RULE_SET } from '../rules/index.ts';
import { device, directory, prng } from '../rules/test-support.ts';

const N = Number(process.argv[2] ?? 10_000);
const rnd = prng(1);
const devs = Array.from({ length: N }, (_, i) =>
  i % 20 === 19
    ? device(`st-${String(i).padStart(7, '0')}`, 'settlement_sensor', { siteId: `b-${i}` })
    : device(`sd-${String(i).padStart(7, '0')}`, 'smoke_detector', { siteId: `h-${i >> 1}` }));
const dir = directory(devs);
const engine = createRuleEngine({ ruleSet: DEFAULT_RULE_SET, devices: dir });
const ingest = createIngest({
  directory: dir, deadLetters: { add() {}, list: async () => [], count: async () => 0 }, sink: (r) => void engine.evaluate(r),
  bus: createEventBus(), metrics: new Registry(), logger: pino({ level: 'silent' }),
});
const T0 = Date.now() - 100 * 3_600_000;
for (let k = 0; k < 100; k++) {
  for (const d of devs) {
    const ts = T0 + k * 3_600_000 + Math.floor(rnd() * 60_000);
    const values = d.type === 'smoke_detector'
      ? { smoke: Math.round(rnd() * 30) / 1000, temp: 18 + Math.round(rnd() * 60) / 10, co: Math.round(rnd() * 3) }
      : { settlement: 3 + k * 0.01 + rnd() * 0.3, tiltX: 0.5 + rnd() * 0.1, tiltY: 0.2 + rnd() * 0.1, crack: 0.3 + rnd() * 0.02 };
    ingest.accept({ deviceId: d.id, topic: `v1/devices/${d.id}/telemetry`, payload: Buffer.from(JSON.stringify({ seq: k + 1, ts, ...values })), qos: 1, retain: false, receivedAt: ts });
  }
}
const ids = devs.map((d) => d.id);
const best = { rulesMs: Infinity, memoryMs: Infinity, deflateMs: Infinity, loadMs: Infinity };
let sizes = { rules: 0, memory: 0, deflated: 0 };
for (let rep = 0; rep < 5; rep++) {
  const t0 = performance.now();
  const rules = engine.saveState();
  const t1 = performance.now();
  const memory = ingest.saveMemory(ids);
  const t2 = performance.now();
  const deflated = deflateRawSync(Buffer.concat([rules, memory]), { level: 1 });
  const t3 = performance.now();
  const other = createRuleEngine({ ruleSet: DEFAULT_RULE_SET, devices: dir });
  const t4 = performance.now();
  other.loadState(rules);
  ingest.loadMemory(memory);
  const t5 = performance.now();
  best.rulesMs = Math.min(best.rulesMs, t1 - t0);
  best.memoryMs = Math.min(best.memoryMs, t2 - t1);
  best.deflateMs = Math.min(best.deflateMs, t3 - t2);
  best.loadMs = Math.min(best.loadMs, t5 - t4);
  sizes = { rules: rules.length, memory: memory.length, deflated: deflated.length };
}
const round = (v: number): number => Math.round(v * 10) / 10;
console.log(JSON.stringify({
  devices: N, cpu: cpus()[0]?.model, load: loadavg().map(round),
  bytesPerDevice: { rules: round(sizes.rules / N), memory: round(sizes.memory / N), deflated: round(sizes.deflated / N) },
  ms: { saveRules: round(best.rulesMs), saveMemory: round(best.memoryMs), deflate: round(best.deflateMs), load: round(best.loadMs) },
}, null, 1));
