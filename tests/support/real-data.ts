// Real measured fire-test series (tests/fixtures/real/, see its README for sources and licences)
// as device readings, and what the rules made of them: first red and yellow after ignition, and
// anything raised before ignition. Used by tests/rules.real-data.test.ts (over MQTT) and to print
// the figures of rules/README.md (`npx tsx tests/support/real-data.ts`).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createRuleEngine, DEFAULT_RULE_SET } from '../../rules/index.ts';
import { device, directory, telemetry } from '../../rules/test-support.ts';
import type { DeviceInfo } from '../../contracts/registry.ts';
import type { Finding } from '../../contracts/findings.ts';
import { MAX_BATCH, topics } from '../../contracts/protocol.ts';
import type { TestSystem } from './system.ts';

export interface RealRun {
  /** Device id used for the run, e.g. `nrc-03`. */
  readonly id: string;
  readonly dataset: string;
  readonly test: string;
  /** Seconds from ignition (t = 0) and the values a detector there would report. */
  readonly samples: ReadonlyArray<{ t: number; values: Record<string, number> }>;
}

const FIXTURES = new URL('../fixtures/real/', import.meta.url);

function parse(file: string, fields: Record<string, string>, dataset: string, prefix: string): RealRun[] {
  const lines = readFileSync(fileURLToPath(new URL(file, FIXTURES)), 'utf8').trim().split('\n');
  const header = lines[0]!.split(',');
  const runs = new Map<string, Array<{ t: number; values: Record<string, number> }>>();
  for (const line of lines.slice(1)) {
    const cells = line.split(',');
    const test = cells[0]!;
    const values: Record<string, number> = {};
    for (const [col, field] of Object.entries(fields)) {
      const cell = cells[header.indexOf(col)];
      if (cell !== undefined && cell !== '') values[field] = Number(cell);
    }
    let list = runs.get(test);
    if (!list) runs.set(test, (list = []));
    list.push({ t: Number(cells[1]), values });
  }
  return [...runs].map(([test, samples]) => ({ id: `${prefix}-${test}`, dataset, test, samples }));
}

/** NIST/NRC ICFMP BE#3 (NUREG/CR-6905): obscuration from measured smoke concentration, ceiling gas temperature. */
export const nistNrc = (): RealRun[] => parse('nist-nrc-icfmp-be3.csv', { smoke_dbm: 'smoke', temp_c: 'temp' }, 'NIST/NRC ICFMP BE#3', 'nrc');
/** DelCo Trainers (ATF / UL FSRI furnished-room fires): CO at sample point A, ceiling temperature of array A1. */
export const delco = (): RealRun[] => parse('delco-trainers.csv', { co_ppm: 'co', temp_c: 'temp' }, 'DelCo Trainers', 'delco');

/** The detector a run is replayed as: its own home, reporting every 10 s like the data. */
export function runDevice(run: RealRun): DeviceInfo {
  return device(run.id, 'smoke_detector', { siteId: `site-${run.id}`, intervalSec: 10, location: `${run.dataset} test ${run.test}` });
}

export interface RunSummary {
  readonly id: string;
  /** Seconds after ignition of the first red / yellow finding (null: none). */
  readonly firstRedS: number | null;
  readonly firstRedRule: string | null;
  readonly firstYellowS: number | null;
  /** Red and yellow findings whose reading was measured before ignition (false alarms). */
  readonly redsBeforeIgnition: number;
  readonly yellowsBeforeIgnition: number;
  /** First time (s after ignition) of each kind of finding: smoke red, heat red, CO yellow, CO red, sensor offset. */
  readonly smokeRedS: number | null;
  readonly heatRedS: number | null;
  readonly coYellowS: number | null;
  readonly coRedS: number | null;
  readonly offsetS: number | null;
  /** When the raw signal first crossed the single-sample thresholds (what a per-reading rule would have used). */
  readonly smokeAtAlarmS: number | null;
  readonly heatAtFixedS: number | null;
}

export function summarise(run: RealRun, base: number, findings: readonly Pick<Finding, 'ts' | 'level' | 'ruleId' | 'clears'>[]): RunSummary {
  const at = (f: { ts: number }) => (f.ts - base) / 1000;
  const raised = findings.filter((f) => !f.clears);
  const red = raised.find((f) => f.level === 'red' && at(f) >= 0);
  const yellow = raised.find((f) => f.level === 'yellow' && at(f) >= 0);
  const r = DEFAULT_RULE_SET.smoke_detector;
  const kind = (p: (id: string) => boolean) => {
    const f = raised.find((x) => p(x.ruleId));
    return f ? at(f) : null;
  };
  const first = (p: (v: Record<string, number>) => boolean) => run.samples.find((s) => s.t >= 0 && p(s.values))?.t ?? null;
  return {
    id: run.id,
    firstRedS: red ? at(red) : null,
    firstRedRule: red?.ruleId ?? null,
    firstYellowS: yellow ? at(yellow) : null,
    redsBeforeIgnition: raised.filter((f) => f.level === 'red' && at(f) < 0).length,
    yellowsBeforeIgnition: raised.filter((f) => f.level === 'yellow' && at(f) < 0).length,
    smokeRedS: kind((id) => id.startsWith('smoke.smoke')),
    heatRedS: kind((id) => id.startsWith('smoke.heat')),
    coYellowS: kind((id) => id === 'smoke.co_warning'),
    coRedS: kind((id) => id === 'smoke.co_alarm'),
    offsetS: kind((id) => id.endsWith('offset')),
    smokeAtAlarmS: first((v) => (v.smoke ?? 0) >= r.smoke.alarm),
    heatAtFixedS: first((v) => (v.temp ?? -Infinity) >= r.heat.fixedC),
  };
}

/**
 * Every run as its device over MQTT, its series uploaded in batches with the measurement times
 * (`t` seconds after `base`) as a device uploads a backlog; returns how many readings went.
 */
export async function uploadRuns(sys: TestSystem, runs: ReadonlyArray<{ id: string; samples: RealRun['samples'] }>, base: number): Promise<number> {
  let total = 0;
  for (const run of runs) {
    const client = await sys.connectDevice(run.id);
    const readings = run.samples.map((s, i) => ({ ts: base + s.t * 1000, seq: i + 1, ...s.values }));
    for (let i = 0; i < readings.length; i += MAX_BATCH) {
      await client.publishAsync(topics.telemetry(run.id), JSON.stringify(readings.slice(i, i + MAX_BATCH)), { qos: 1 });
    }
    total += readings.length;
  }
  return total;
}

/** A recorded series straight through the rule engine (no transport), `t` seconds after `base`. */
export function engineFindings(d: DeviceInfo, base: number, samples: RealRun['samples']): Finding[] {
  const engine = createRuleEngine({ ruleSet: DEFAULT_RULE_SET, devices: directory([d]) });
  const found: Finding[] = [];
  for (const s of samples) found.push(...engine.evaluate(telemetry(d, base + s.t * 1000, s.values)).findings);
  return found;
}

/** The same series straight through the rule engine: what the product must match. */
export function replayDirect(run: RealRun, base: number): RunSummary {
  return summarise(run, base, engineFindings(runDevice(run), base, run.samples));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const base = Date.UTC(2026, 0, 1);
  for (const run of [...nistNrc(), ...delco()]) console.log(JSON.stringify(replayDirect(run, base)));
}
