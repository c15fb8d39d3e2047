// `npm run bench` — the end-to-end benchmarks (issue 7, issue 2 point 9), each against the full
// system and, in the same run, against the baselines; results in bench/results/<scenario>.json and
// bench/results/summary.md.
//   npm run bench                       quick set (≈ 10 min): throughput at 5,000 devices, alarm,
//                                       storm, reconnect and connections at 5,000, rules, alerts
//   npm run bench -- <scenario> …       only these: firmware throughput alarm storm reconnect connections rules alerts ingress
//   npm run bench -- --full             everything at full size (10,000 devices, 19,000 reconnects)
//   --targets=watchfire,nodered,mosquitto   which stacks throughput runs (default all three); alarm runs the Node-RED stack only if named
//   --repeats=N                         alarm runs (Watchfire then Node-RED) back to back; medians (3 with --full)
//   journal                             the journal's group commit alone, fsync on and off (issue 15)
//   npm run bench -- cluster-log        issue 21: the partitioned log on a real redis-server, fsync always and off; on request only
//   npm run bench -- cluster [--devices=38000] [--partitions=16] [--postgres]  issue 21: two processes sharing Redis (and PostgreSQL) beside one node; on request only
//   npm run bench -- soak [--soak-min=30] [--devices=2000] [--rate=1000] [--hostile-ops=40]
//                                       issue 16: mixed hostile and honest traffic; on request only
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { environment, writeResult, writeSummary, type ScenarioResult } from './lib/report.ts';
import { throughput } from './scenarios/throughput.ts';
import { alarm } from './scenarios/alarm.ts';
import { storm } from './scenarios/storm.ts';
import { reconnect, connections } from './scenarios/reconnect.ts';
import { ingress } from './scenarios/ingress.ts';
import { journal } from './scenarios/journal.ts';
import { soak } from './scenarios/soak.ts';
import { firmware } from './scenarios/firmware.ts';
import { clusterLog } from './scenarios/cluster-log.ts';
import { cluster } from './scenarios/cluster.ts';
import type { TargetName } from './lib/targets.ts';

const ALL = ['firmware', 'throughput', 'alarm', 'storm', 'reconnect', 'connections', 'journal', 'rules', 'alerts', 'ingress'] as const;
/** Run only when named (not in CI, not in the default set): `npm run bench -- soak`. */
const ON_REQUEST = ['soak', 'cluster-log', 'cluster'] as const;
type Scenario = (typeof ALL)[number] | (typeof ON_REQUEST)[number];

const argv = process.argv.slice(2);
const full = argv.includes('--full');
const flag = (name: string): string | undefined => argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
const picked = argv.filter((a) => !a.startsWith('--')) as Scenario[];
for (const p of picked) {
  if (![...ALL, ...ON_REQUEST].includes(p)) {
    console.error(`unknown scenario ${p}; one of: ${[...ALL, ...ON_REQUEST].join(', ')}`);
    process.exit(2);
  }
}
const scenarios: Scenario[] = picked.length ? picked : [...ALL];
const targets = (flag('targets')?.split(',') ?? ['watchfire', 'watchfire-nofsync', 'nodered', 'mosquitto']) as TargetName[];
const log = (s: string): void => {
  console.log(`[${new Date().toISOString().slice(11, 19)}] ${s}`);
};
const env = environment();
const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The micro-benchmarks other helpers own (bench/rules.ts, bench/alerts.ts) write their own JSON. */
function runScript(file: string): ScenarioResult | undefined {
  if (!existsSync(`${ROOT}bench/${file}`)) {
    log(`${file}: not present, skipped`);
    return undefined;
  }
  log(`${file}: running`);
  const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', `bench/${file}`], { cwd: ROOT, stdio: 'inherit', timeout: 10 * 60_000 });
  log(`${file}: exit ${r.status ?? r.signal}`);
  // Its JSON is new: the summary's section for it too (writeResult rebuilds only after scenarios).
  writeSummary();
  return undefined;
}

const started = performance.now();
let failed = false;
for (const s of scenarios) {
  log(`== ${s}${full ? ' (full)' : ''}`);
  let result: ScenarioResult | undefined;
  try {
    switch (s) {
      case 'throughput':
        result = await throughput({
          devices: Number(flag('devices') ?? (full ? 10_000 : 5_000)),
          steps: (flag('steps')?.split(',').map(Number)) ?? (full ? [2500, 5000, 10000, 15000, 17500, 20000, 22500, 25000, 27500, 30000, 32500, 35000, 37500, 40000] : [2500, 5000, 10000, 15000, 17500, 20000, 25000, 30000]),
          stepSec: Number(flag('step-sec') ?? (full ? 30 : 10)),
          targets,
          latencyAt: 5000,
        }, log);
        break;
      case 'firmware':
        // Issue 15 point 6: MQTT.js clients (one PUBLISH per reading), 2,000 and 10,000 devices,
        // the first minute after a start and after kill -9 as steps of their own.
        result = await firmware({
          sizes: flag('sizes')?.split(',').map(Number) ?? (full ? [2_000, 10_000] : [2_000]),
          steps: flag('steps')?.split(',').map(Number) ?? [2500, 5000, 7500, 10000, 12500, 15000, 17500, 20000, 25000, 30000],
          stepSec: Number(flag('step-sec') ?? (full ? 20 : 10)),
          firstRate: 5000,
          firstSec: Number(flag('first-sec') ?? 60),
          targets,
        }, log);
        break;
      case 'alarm':
        result = await alarm({ devices: Number(flag('devices') ?? (full ? 10_000 : 5_000)), alarms: 200, full, repeats: Number(flag('repeats') ?? (full ? 3 : 1)), baseline: targets.includes('nodered') }, log);
        break;
      case 'storm':
        result = await storm({ devices: Number(flag('devices') ?? (full ? 10_000 : 5_000)), events: Number(flag('events') ?? 1000), seconds: 5, rounds: Number(flag('rounds') ?? 5), full }, log);
        break;
      case 'reconnect':
        result = await reconnect({ devices: Number(flag('reconnect-devices') ?? (full ? 19_000 : 5_000)) }, log);
        break;
      case 'connections':
        result = await connections({ sizes: flag('sizes')?.split(',').map(Number) ?? (full ? [5_000, 19_000] : [5_000]) }, log);
        break;
      case 'journal':
        result = await journal({ rates: [1000, 5000, 20000], seconds: full ? 10 : 3 }, log);
        break;
      case 'ingress':
        // Issue 20: GB/T 26875.3 and NB-IoT push beside MQTT (the throughput scenario's result).
        result = await ingress({
          steps: flag('ingress-steps')?.split(',').map(Number) ?? (full ? [500, 1000, 2000, 3000, 4000, 6000, 8000] : [500, 1000, 2000, 4000]),
          stepSec: Number(flag('ingress-step-sec') ?? (full ? 15 : 8)),
          units: 50,
          detectors: 1200,
          alarms: 20,
          mqttDevices: 1000,
        }, log);
        break;
      case 'rules':
        runScript('rules.ts');
        break;
      case 'alerts':
        runScript('alerts.ts');
        break;
      case 'cluster':
        // Issue 21 point 7: two processes sharing Redis, beside one node, and alarm → console across nodes.
        result = await cluster({
          devices: Number(flag('devices') ?? 38_000),
          steps: flag('steps')?.split(',').map(Number) ?? [2000, 5000, 10000, 15000],
          stepSec: Number(flag('step-sec') ?? 10),
          alarms: Number(flag('alarms') ?? 50),
          partitions: Number(flag('partitions') ?? 0),
          postgres: argv.includes('--postgres'),
        }, log);
        break;
      case 'cluster-log':
        result = await clusterLog({ rates: [1000, 5000, 20000], seconds: full ? 10 : 3 }, log);
        break;
      case 'soak':
        result = await soak({
          minutes: Number(flag('soak-min') ?? 30),
          devices: Number(flag('devices') ?? 2_000),
          rate: Number(flag('rate') ?? 1_000),
          hostileOpsPerSec: Number(flag('hostile-ops') ?? 40),
        }, log);
        break;
    }
  } catch (err) {
    failed = true;
    log(`${s} failed: ${(err as Error).stack ?? String(err)}`);
  }
  if (result) log(`wrote ${writeResult(result, env)}`);
}
log(`done in ${Math.round((performance.now() - started) / 1000)} s; summary in bench/results/summary.md`);
process.exit(failed ? 1 : 0);
