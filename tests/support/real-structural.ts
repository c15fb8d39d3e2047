// Real measured structural series (tests/fixtures/real/openlab-pe21.csv, see the README there for
// source, licence and what was changed) as settlement-sensor readings, and what the rules made of
// them against what the structure physically did. Used by tests/rules.real-structural.test.ts
// (over MQTT) and to print the figures of rules/README.md (`npx tsx tests/support/real-structural.ts`).
//
// The openLAB research bridge (TU Dresden) was pushed down by two hydraulic jacks under precast
// girder PE 2.1 in seven steps (5 … 60 mm under the jacks) on 2025-05-06. Each step is replayed as
// its own points, like each fire test as its own detector:
//   lwa3  settlement point at x = 19.68 m (laser distance sensor, clean signal),
//   lwa4  settlement point under the jacks, x = 24.30 m (the laser was obstructed at times:
//         readings of 20–750 mm, up to 4 in a row, while the girder stood at 5–60 mm, and one
//         -1000000 error code),
//   tilt  chord rotation between the support (x = 15.00 m, LWA_2) and x = 19.68 m (LWA_3):
//         (LWA_3 − LWA_2) / 4.68 m in mm/m = ‰, tilt as GB 50007 Table 5.3.4 defines it
//         (differential settlement over the distance); derived from two measured lasers, not a
//         tiltmeter,
//   iwa   crack meter: inductive transducer over 160 mm of web next to the tendon opening; no crack
//         opened there that day (a structure that did not move at that point).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DEFAULT_RULE_SET } from '../../rules/index.ts';
import { device } from '../../rules/test-support.ts';
import { engineFindings } from './real-data.ts';
import type { DeviceInfo } from '../../contracts/registry.ts';
import type { Finding } from '../../contracts/findings.ts';

export type Point = 'lwa3' | 'lwa4' | 'tilt' | 'iwa';

export interface StructuralRun {
  /** Device id, e.g. `olab-3-lwa4`. */
  readonly id: string;
  readonly step: number;
  /** The step's target displacement under the jacks (mm), as the source README lists it. */
  readonly uMaxMm: number;
  readonly point: Point;
  /** The field the point reports and the levels it is judged by (the default rule set's). */
  readonly field: 'settlement' | 'tiltX' | 'crack';
  readonly warn: number;
  readonly alarm: number;
  /** Seconds from the start of the step's recording and the values the point reports. */
  readonly samples: ReadonlyArray<{ t: number; values: Record<string, number> }>;
}

const U_MAX_MM = [5, 10, 20, 30, 40, 50, 60];
/** Distance between LWA_2 (support axis 20, x = 15.00 m) and LWA_3 (x = 19.68 m). */
const TILT_BASE_M = 4.68;
const S = DEFAULT_RULE_SET.settlement_sensor;

export function openlabRuns(): StructuralRun[] {
  const file = fileURLToPath(new URL('../fixtures/real/openlab-pe21.csv', import.meta.url));
  const lines = readFileSync(file, 'utf8').trim().split('\n');
  const header = lines[0]!.split(',');
  const col = (cells: string[], name: string) => Number(cells[header.indexOf(name)]);
  const bySteps = new Map<number, string[][]>();
  for (const line of lines.slice(1)) {
    const cells = line.split(',');
    const step = col(cells, 'step');
    let list = bySteps.get(step);
    if (!list) bySteps.set(step, (list = []));
    list.push(cells);
  }
  const runs: StructuralRun[] = [];
  for (const [step, rows] of bySteps) {
    const mk = (point: Point, field: StructuralRun['field'], levels: { alarm: number; warnRatio: number }, value: (c: string[]) => number): StructuralRun => ({
      id: `olab-${step}-${point}`, step, uMaxMm: U_MAX_MM[step - 1]!, point, field,
      warn: levels.alarm * levels.warnRatio, alarm: levels.alarm,
      samples: rows.map((c) => ({ t: col(c, 't_s'), values: { [field]: value(c) } })),
    });
    runs.push(
      mk('lwa3', 'settlement', S.settlement, (c) => col(c, 'lwa3_mm')),
      mk('lwa4', 'settlement', S.settlement, (c) => col(c, 'lwa4_mm')),
      mk('tilt', 'tiltX', S.tilt, (c) => Math.round(((col(c, 'lwa3_mm') - col(c, 'lwa2_mm')) / TILT_BASE_M) * 1e5) / 1e5),
      mk('iwa', 'crack', S.crack, (c) => col(c, 'iwa_mm')),
    );
  }
  return runs;
}

const LABEL: Record<Point, string> = {
  lwa3: 'PE 2.1 x = 19.68 m (LWA_3)',
  lwa4: 'PE 2.1 x = 24.30 m under the jacks (LWA_4)',
  tilt: 'PE 2.1 chord x = 15.00–19.68 m',
  iwa: 'PE 2.1 web at the tendon opening (IWA)',
};

/** The point a run is replayed as: a settlement sensor reporting every 10 s like the extract, zero at the step's tare. */
export function structuralDevice(run: StructuralRun): DeviceInfo {
  return device(run.id, 'settlement_sensor', {
    siteId: 'olab-bridge', intervalSec: 10, location: `${LABEL[run.point]}, step ${run.step} (u = ${run.uMaxMm} mm)`,
    meta: { settlementBaseline: 0 },
  });
}

export interface StructuralSummary {
  readonly id: string;
  /**
   * When the point physically stood at or beyond the level: the first sample at or beyond it that
   * is within 10 % of the alarm level of the centred median of 13 samples (2 min) around it; a
   * sample further off is an outlier and the median stands for it. The obstructed laser (lwa4)
   * read 20–160 mm for at most 5 of 13 samples while the girder stood at 5–10 mm; a loading ramp is
   * monotone, so there the median is the sample itself.
   */
  readonly physicalWarnS: number | null;
  readonly physicalAlarmS: number | null;
  /** First single sample at or beyond the alarm level (what a one-sample rule would use). */
  readonly rawAlarmS: number | null;
  readonly firstRedS: number | null;
  readonly firstYellowS: number | null;
  readonly reds: number;
  readonly yellows: number;
  /** Red / yellow findings raised before the point physically reached the level (all of them if it never did). */
  readonly falseReds: number;
  readonly falseYellows: number;
  /** Yellow `sensor_fault` maintenance findings: readings beyond any physical value (the laser's error code). */
  readonly sensorFaults: number;
}

function median13(xs: readonly number[], i: number): number {
  const w = xs.slice(Math.max(0, i - 6), i + 7).sort((a, b) => a - b);
  return w[(w.length - 1) >> 1]!;
}

export function summarise(run: StructuralRun, base: number, findings: readonly Pick<Finding, 'ts' | 'level' | 'clears' | 'category' | 'condition'>[]): StructuralSummary {
  const xs = run.samples.map((s) => Math.abs(s.values[run.field]! - (run.field === 'crack' ? run.samples[0]!.values.crack! : 0)));
  const tolerance = run.alarm * 0.1;
  const physical = xs.map((x, i) => {
    const m = median13(xs, i);
    return Math.abs(x - m) <= tolerance ? x : m;
  });
  // Levels are what the structure did; a sensor fault is maintenance, counted on its own.
  const raised = findings.filter((f) => !f.clears && f.category === 'structural');
  const at = (f: { ts: number }) => (f.ts - base) / 1000;
  const firstPhys = (level: number) => {
    const i = physical.findIndex((v) => v >= level);
    return i < 0 ? null : run.samples[i]!.t;
  };
  const early = (level: 'red' | 'yellow', physicalS: number | null) =>
    raised.filter((f) => f.level === level && (physicalS === null || at(f) < physicalS)).length;
  const red = raised.find((f) => f.level === 'red');
  const yellow = raised.find((f) => f.level === 'yellow');
  const rawAt = xs.findIndex((v) => v >= run.alarm);
  const physicalWarnS = firstPhys(run.warn), physicalAlarmS = firstPhys(run.alarm);
  return {
    id: run.id,
    physicalWarnS,
    physicalAlarmS,
    rawAlarmS: rawAt < 0 ? null : run.samples[rawAt]!.t,
    firstRedS: red ? at(red) : null,
    firstYellowS: yellow ? at(yellow) : null,
    reds: raised.filter((f) => f.level === 'red').length,
    yellows: raised.filter((f) => f.level === 'yellow').length,
    falseReds: early('red', physicalAlarmS),
    falseYellows: early('yellow', physicalWarnS),
    sensorFaults: findings.filter((f) => f.condition === 'sensor_fault' && f.category === 'maintenance' && f.level === 'yellow').length,
  };
}

/** The same series straight through the rule engine (no transport): what the product must match. */
export function replayDirect(run: StructuralRun, base: number): StructuralSummary {
  return summarise(run, base, engineFindings(structuralDevice(run), base, run.samples));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const base = Date.UTC(2026, 0, 1);
  for (const run of openlabRuns()) console.log(JSON.stringify(replayDirect(run, base)));
}
