// Hot-path cost of ingest.accept(): parse, validate, dedupe, build the reading. No I/O.
// Run: npx tsx ingest/ingest.bench.ts [frames]
import pino from 'pino';
import { Registry } from 'prom-client';
import { createEventBus } from '../contracts/bus.ts';
import type { DeadLetterStore, DeviceDirectory, Frame } from '../contracts/ports.ts';
import type { DeviceInfo } from '../contracts/registry.ts';
import { createIngest } from './ingest.ts';

const N = Number(process.argv[2] ?? 300_000);
const devices = new Map<string, DeviceInfo>();
for (let d = 0; d < 1000; d++) {
  devices.set(`sd-${d}`, { id: `sd-${d}`, type: 'smoke_detector', siteId: `s${d}`, centerId: 'c1', gridId: 'g1', location: '', intervalSec: 300, enabled: true, rules: undefined, meta: undefined });
}
const directory: DeviceDirectory = { get: (id) => devices.get(id), verifySecret: () => 'ok', all: () => devices.values() };
const deadLetters: DeadLetterStore = { add() {}, list: () => [], count: () => 0 };
let delivered = 0;
const ingest = createIngest({ directory, deadLetters, sink: () => { delivered++; }, bus: createEventBus(), metrics: new Registry(), logger: pino({ level: 'silent' }) });

const now = Date.now();
const frames: Frame[] = [];
for (let i = 0; i < N; i++) {
  const d = i % 1000;
  frames.push({
    deviceId: `sd-${d}`, topic: `v1/devices/sd-${d}/telemetry`, qos: 0, retain: false, receivedAt: now,
    payload: Buffer.from(JSON.stringify({ ts: now - 1000, seq: Math.floor(i / 1000), smoke: 0.01, temp: 22.5, battery: 88, rssi: -71 })),
  });
}
const t0 = process.hrtime.bigint();
for (let i = 0; i < N; i++) {
  ingest.accept(frames[i]!);
}
const secs = Number(process.hrtime.bigint() - t0) / 1e9;
console.log(JSON.stringify({ frames: N, delivered, seconds: secs, framesPerSecond: Math.round(N / secs), usPerFrame: +(secs * 1e6 / N).toFixed(2) }));
