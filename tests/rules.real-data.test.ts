// Issue 14 point 7: real measured fire-test series (tests/fixtures/real/) replayed through the
// running product as detectors over MQTT. What the product raises must equal what the rule engine
// finds on the same series, nothing may be raised before ignition, and every fire must be found.
// The per-test figures are in rules/README.md (`npx tsx tests/support/real-data.ts` prints them).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSystem, type TestSystem } from './support/system.ts';
import { smallCounty } from './support/registries.ts';
import { delco, nistNrc, replayDirect, runDevice, summarise, uploadRuns, type RealRun } from './support/real-data.ts';
import { MEASURED_RANGES } from '../contracts/protocol.ts';
import type { Finding } from '../contracts/findings.ts';

const RUNS: RealRun[] = [...nistNrc(), ...delco()];
let sys: TestSystem;
const findings = new Map<string, Finding[]>();
/** Ignition of every run, an hour ago: past timestamps the gateway trusts. */
const BASE = Math.floor((Date.now() - 3_600_000) / 1000) * 1000;

beforeAll(async () => {
  const county = smallCounty();
  county.sites = [...county.sites!, ...RUNS.map((r) => ({ id: runDevice(r).siteId, kind: 'home' as const, centerId: 'fc-1', gridId: 'g-1', name: r.id }))];
  county.devices = [...county.devices!, ...RUNS.map((r) => {
    const d = runDevice(r);
    return { id: d.id, type: d.type, siteId: d.siteId, location: d.location, intervalSec: d.intervalSec };
  })];
  sys = await startTestSystem({ registry: county, smtp: false });
  sys.wf.bus.on('finding', 'real-data', (f) => {
    let list = findings.get(f.deviceId);
    if (!list) findings.set(f.deviceId, (list = []));
    list.push(f);
  });
  // Every run as its device, its series uploaded with the measurement times.
  const total = await uploadRuns(sys, RUNS, BASE);
  await sys.waitFor(async () => (await sys.count('telemetry', `"device" =~ /^(nrc|delco)-/`)) === total, { what: `all ${total} real readings stored`, timeoutMs: 60_000 });
  expect(await sys.wf.deadLetters.list({ limit: 5 })).toEqual([]);
}, 120_000);
afterAll(async () => {
  await sys?.stop();
});

describe('real fire tests replayed over MQTT', () => {
  it.each(RUNS.map((r) => [r.id, r] as const))('%s: the product raises what the engine finds, nothing before ignition, the fire found', (_id, run) => {
    const got = summarise(run, BASE, findings.get(run.id) ?? []);
    expect(got).toEqual(replayDirect(run, BASE));
    expect(got.redsBeforeIgnition).toBe(0);
    expect(got.yellowsBeforeIgnition).toBe(0);
    expect(got.firstRedS).not.toBeNull();
    // Persistence costs at most two 10-s samples against the first single reading over the line.
    if (got.smokeAtAlarmS !== null) expect(got.smokeRedS! - got.smokeAtAlarmS).toBeLessThanOrEqual(20);
    if (run.dataset === 'DelCo Trainers') expect(got.coRedS).not.toBeNull();
  });

  it('readings with a value outside its plausible range (ceiling gas above 150 °C, a CO analyser below 0) are kept, flagged', async () => {
    const flagged = await sys.count('telemetry', `"device" =~ /^(nrc|delco)-/ AND "out_of_range" = true`);
    const ranges = MEASURED_RANGES.smoke_detector as Record<string, { min: number; max: number }>;
    const outside = (v: Record<string, number>) => Object.entries(v).some(([k, x]) => ranges[k] !== undefined && (x < ranges[k].min || x > ranges[k].max));
    const expected = RUNS.reduce((n, r) => n + r.samples.filter((s) => outside(s.values)).length, 0);
    expect(expected).toBeGreaterThan(0);
    expect(flagged).toBe(expected);
  });
});
