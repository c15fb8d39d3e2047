// The pipeline's middle without any server (issue 15 point 7): the real rule engine scores, a
// recording store and finding handler stand where InfluxDB and alerts would, fake timers drive
// the offline sweep.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import pino from 'pino';
import { Registry } from 'prom-client';
import { createEventBus, type EventBus } from '../contracts/bus.ts';
import type { Finding } from '../contracts/findings.ts';
import type { ScoredReading } from '../contracts/reading.ts';
import type { Scorer } from '../contracts/pipeline.ts';
import { createPipeline, SWEEP_MS, type Pipeline } from '../pipeline/index.ts';
import { createRuleEngine, DEFAULT_RULE_SET } from '../rules/index.ts';
import { device, directory, event, telemetry } from '../rules/test-support.ts';

const T0 = Date.UTC(2026, 10, 23, 8, 0, 0);
const SEC = 1000;
const det = device('det-1', 'smoke_detector');
const panel = device('panel-1', 'fire_panel');

let bus: EventBus;
let written: ScoredReading[];
let handled: Array<{ f: Finding; receivedAt: number | undefined }>;
let onBus: Finding[];
let scoredOnBus: ScoredReading[];
let metrics: Registry;
let pipeline: Pipeline;

function build(scorer: Scorer = createRuleEngine({ ruleSet: DEFAULT_RULE_SET, devices: directory([det, panel]) })): Pipeline {
  return createPipeline({
    scorer,
    store: { write: (s) => void written.push(s) },
    findings: { handleFinding: (f, receivedAt) => void handled.push({ f, receivedAt }) },
    bus,
    metrics,
    logger: pino({ level: 'silent' }),
    clock: { now: () => Date.now() },
  });
}

beforeEach(() => {
  vi.useFakeTimers({ now: T0 });
  bus = createEventBus();
  written = [];
  handled = [];
  onBus = [];
  scoredOnBus = [];
  metrics = new Registry();
  bus.on('finding', 'test', (f) => onBus.push(f));
  bus.on('reading.scored', 'test', (s) => scoredOnBus.push(s));
  pipeline = build();
});
afterEach(async () => {
  await pipeline.stop();
  vi.useRealTimers();
});

describe('a reading through the middle', () => {
  it('an alarm is scored red, buffered for storage, raised with its receive time and put on the bus', () => {
    pipeline.onReading(event(det, T0, { type: 'alarm' }, { receivedAt: T0 + 7 }));
    expect(written).toHaveLength(1);
    expect(written[0]).toMatchObject({ level: 'red', reading: { deviceId: 'det-1', kind: 'event' } });
    expect(written[0]!.score).toBeGreaterThanOrEqual(80);
    expect(handled).toHaveLength(1);
    expect(handled[0]).toMatchObject({ f: { deviceId: 'det-1', level: 'red', category: 'fire' }, receivedAt: T0 + 7 });
    expect(onBus).toEqual([handled[0]!.f]);
    expect(scoredOnBus).toEqual(written);
  });

  it('a quiet reading is stored and raises nothing; the live state keeps the last values merged', () => {
    pipeline.onReading(telemetry(det, T0, { smoke: 0.01, battery: 90 }));
    pipeline.onReading(telemetry(det, T0 + 60 * SEC, { smoke: 0.02 }));
    expect(written.map((s) => s.level)).toEqual(['green', 'green']);
    expect(handled).toEqual([]);
    expect(pipeline.deviceState('det-1')).toEqual({ online: true, lastSeen: T0 + 60 * SEC, level: 'green', last: { smoke: 0.02, battery: 90 } });
    expect(pipeline.deviceState('panel-1')).toBeUndefined();
  });

  it('hands a finding to a handler whose promise is still pending and goes on to the next reading', () => {
    // alerts.handleFinding resolves once the incident is recorded (issue 21: maybe on PostgreSQL);
    // the alarm path must not wait for that, so readings behind it are scored at once.
    const pending: Array<() => void> = [];
    const slow = createPipeline({
      scorer: createRuleEngine({ ruleSet: DEFAULT_RULE_SET, devices: directory([det, panel]) }),
      store: { write: (s) => void written.push(s) },
      findings: { handleFinding: (f, receivedAt) => new Promise<void>((resolve) => { handled.push({ f, receivedAt }); pending.push(resolve); }) },
      bus, metrics: new Registry(), logger: pino({ level: 'silent' }), clock: { now: () => Date.now() },
    });
    slow.onReading(event(det, T0, { type: 'alarm' }, { receivedAt: T0 + 1 }));
    slow.onReading(event(panel, T0 + 1, { type: 'fire', zone: '1' }, { receivedAt: T0 + 2 }));
    expect(written).toHaveLength(2);
    expect(handled.map((h) => h.f.deviceId)).toEqual(['det-1', 'panel-1']);
    expect(pending).toHaveLength(2);
    for (const resolve of pending) resolve();
  });

  it('the rule latency histogram is fed from the first reading', async () => {
    pipeline.onReading(telemetry(det, T0, { smoke: 0 }));
    expect(await metrics.getSingleMetricAsString('watchfire_rules_latency_seconds')).toMatch(/^watchfire_rules_latency_seconds_count 1$/m);
  });
});

describe('presence and the offline sweep (after start, not before, not after stop)', () => {
  it('a panel\'s will marks it offline at once and raises it; coming back clears it', async () => {
    bus.emit('device.presence', { deviceId: 'panel-1', online: false, at: T0, reason: 'will' });
    expect(handled).toEqual([]); // not started: nobody listens
    await pipeline.start();
    bus.emit('device.presence', { deviceId: 'panel-1', online: false, at: T0, reason: 'will' });
    expect(pipeline.deviceState('panel-1')?.online).toBe(false);
    expect(handled.map((h) => h.f)).toMatchObject([{ deviceId: 'panel-1', condition: 'offline', level: 'yellow' }]);
    bus.emit('device.presence', { deviceId: 'panel-1', online: true, at: T0 + 10 * SEC, reason: 'connect' });
    expect(pipeline.deviceState('panel-1')?.online).toBe(true);
    expect(handled.map((h) => h.f.clears)).toEqual([false, true]);
    await pipeline.stop();
    bus.emit('device.presence', { deviceId: 'panel-1', online: false, at: T0 + 20 * SEC, reason: 'will' });
    expect(handled).toHaveLength(2);
  });

  it('the sweep runs every SWEEP_MS on the clock and raises a silent panel once', async () => {
    pipeline.onReading(telemetry(panel, T0, { mainPower: 'ok' }));
    await pipeline.start();
    // Panel: 60 s × 2 + 60 s grace = 180 s (DESIGN.md); the first sweep after that reports it.
    vi.advanceTimersByTime(180 * SEC);
    expect(handled).toEqual([]);
    vi.advanceTimersByTime(SWEEP_MS);
    expect(handled.map((h) => h.f)).toMatchObject([{ ruleId: 'any.offline', deviceId: 'panel-1' }]);
    expect(onBus).toHaveLength(1);
    vi.advanceTimersByTime(10 * SWEEP_MS);
    expect(handled).toHaveLength(1);
    await pipeline.stop();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a sweep that throws does not stop the next one', async () => {
    await pipeline.stop();
    let calls = 0;
    const flaky: Scorer = {
      evaluate: () => ({ score: 0, level: 'green', findings: [] }),
      presence: () => [],
      sweep: () => {
        calls++;
        if (calls === 1) throw new Error('bug in a rule');
        return [];
      },
    };
    metrics = new Registry();
    pipeline = build(flaky);
    await pipeline.start();
    vi.advanceTimersByTime(3 * SWEEP_MS);
    expect(calls).toBe(3);
  });
});
