// `watchfire sim …`: the device simulator. Generate a demo county, run simulated devices and
// scenarios against a gateway, record and replay traffic, and generate load for benchmarks.
import type { Command } from 'commander';
import pino from 'pino';
import { generateCounty } from '../../simulator/county.ts';
import { readCredentials, readRegistry, writeCounty } from '../../simulator/county-io.ts';
import { createFleet } from '../../simulator/fleet.ts';
import { SCENARIOS, findScenario, runScenario } from '../../simulator/scenarios/index.ts';
import { createJsonlWriter, readJsonl, recordLive } from '../../simulator/record.ts';
import { replay, type ReplaySpeed } from '../../simulator/replay.ts';
import { formatSummary, runLoad } from '../../simulator/load/index.ts';
import { out } from './output.ts';

function num(name: string, v: string, min = 0): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) throw new Error(`--${name}: expected a number ≥ ${min}, got ${JSON.stringify(v)}`);
  return n;
}
function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}
/**
 * With --json, stdout carries the command's JSON alone (issue 18 point 7: a tool reads it), so the
 * simulator's log lines go to stderr; without it they stay on stdout beside the text.
 */
const logger = (json?: boolean | string) => {
  const options = { level: process.env.WF_LOG_LEVEL ?? 'info', name: 'simulator' };
  return json === undefined || json === false ? pino(options) : pino(options, pino.destination({ dest: 2, sync: true }));
};

export function registerSimulatorCommands(program: Command): void {
  const sim = program.command('sim').description('device simulator: demo county, scenarios, record/replay, load');

  sim
    .command('county')
    .description('generate a demo county: registry YAML and device credentials (same seed, same county)')
    .requiredOption('--out <dir>', 'directory for registry.yaml and credentials.json')
    .option('--seed <n>', 'seed', '42')
    .option('--homes <n>', 'homes of elderly residents', '1000')
    .option('--centers <n>', 'fire centers (default: one per 1,500 homes)')
    .option('--panels <n>', 'fire panels (default: 3 per center)')
    .option('--buildings <n>', 'buildings with settlement points (default: 1 per center)')
    .option('--json', 'print the county\'s name, counts and file paths as JSON')
    .action(function (this: Command, o: { out: string; seed: string; homes: string; centers?: string; panels?: string; buildings?: string; json?: boolean }) {
      const county = generateCounty({
        seed: Number.isFinite(Number(o.seed)) ? Number(o.seed) : o.seed,
        homes: num('homes', o.homes),
        ...(o.centers ? { centers: num('centers', o.centers, 1) } : {}),
        ...(o.panels ? { panels: num('panels', o.panels) } : {}),
        ...(o.buildings ? { settlementBuildings: num('buildings', o.buildings) } : {}),
      });
      const files = writeCounty(county, o.out);
      const r = county.registry;
      if (o.json) {
        const counts = { centers: r.centers.length, grids: r.grids.length, sites: r.sites.length, devices: r.devices.length, people: r.people.length };
        return out(this, JSON.stringify({ name: county.name, ...counts, registryFile: files.registryFile, credentialsFile: files.credentialsFile }));
      }
      out(this, `${county.name}: ${r.centers.length} centers, ${r.grids.length} grids, ${r.sites.length} sites, ${r.devices.length} devices, ${r.people.length} people`);
      out(this, `registry     ${files.registryFile}\ncredentials  ${files.credentialsFile} (keep it private: device secrets)`);
    });

  sim
    .command('scenarios')
    .description('list the scenarios with what they do and what they should produce')
    .option('--lang <lang>', 'en or zh', 'en')
    .option('--json', 'print the scenarios as a JSON array (both languages)')
    .action(function (this: Command, o: { lang: string; json?: boolean }) {
      if (o.json) return out(this, JSON.stringify(SCENARIOS.map((s) => ({ name: s.name, title: s.title, description: s.description, expects: s.expects }))));
      const l = o.lang.startsWith('zh') ? 'zh' : 'en';
      for (const s of SCENARIOS) {
        out(this, `${s.name} — ${s.title[l]}\n  ${s.description[l]}`);
        for (const e of s.expects.incidents) out(this, `  expects: ${e.text[l]}`);
        if (s.expects.deadLetters) out(this, `  dead letters: ${s.expects.deadLetters.join(', ')}`);
        out(this, '');
      }
    });

  sim
    .command('run')
    .description('connect the registry\'s devices (or a scenario\'s) to a gateway and simulate them')
    .requiredOption('--registry <file>', 'registry YAML/JSON')
    .requiredOption('--credentials <file>', 'credentials JSON (device id → secret)')
    .option('--url <url>', 'gateway MQTT URL', 'mqtt://127.0.0.1:1883')
    .option('--speed <n>', 'simulated seconds per wall second', '1')
    .option('--scenario <name>', 'run this scenario')
    .option('--background', 'simulate every device too (normal traffic), until Ctrl-C')
    .option('--seed <n>', 'seed for noise and target choice', '1')
    .option('--record <file>', 'record the simulator\'s own outgoing traffic to JSONL')
    .option('--json', 'print what ran as JSON when it ends (the scenario\'s run, or the fleet\'s counters)')
    .action(async function (this: Command, o: { registry: string; credentials: string; url: string; speed: string; scenario?: string; background?: boolean; seed: string; record?: string; json?: boolean }) {
      const log = logger(o.json);
      const registry = readRegistry(o.registry);
      const credentials = readCredentials(o.credentials);
      const speed = num('speed', o.speed, 0.001);
      const scenario = o.scenario ? findScenario(o.scenario) : undefined;
      if (o.scenario && !scenario) throw new Error(`unknown scenario ${o.scenario}; see \`sim scenarios\``);
      const writer = o.record ? createJsonlWriter(o.record) : undefined;
      const tap = writer ? (r: Parameters<typeof writer.write>[0]) => writer.write(r) : undefined;
      try {
        if (o.background || !scenario) {
          const fleet = createFleet({ url: o.url, registry, credentials, speed, seed: o.seed, logger: log, ...(tap ? { tap } : {}) });
          await fleet.start();
          log.info(fleet.stats(), 'devices running; Ctrl-C stops');
          const stopped = untilSignal();
          if (scenario) {
            const abort = new AbortController();
            void stopped.then(() => abort.abort());
            await runScenario({ scenario, fleet, registry, speed, seed: o.seed, logger: log, signal: abort.signal }).catch((err: unknown) => {
              if ((err as Error).name !== 'AbortError') throw err;
            });
          }
          await stopped;
          await fleet.stop();
          if (o.json) out(this, JSON.stringify({ scenario: scenario?.name ?? null, fleet: fleet.stats() }));
        } else {
          // Alone: just the scenario's site, connected for the run and disconnected after it.
          const run = await runScenario({ scenario, url: o.url, registry, credentials, speed, seed: o.seed, logger: log, ...(tap ? { tap } : {}) });
          log.info({ ...run, ms: run.endedAt - run.startedAt }, 'scenario finished');
          if (o.json) out(this, JSON.stringify({ scenario: scenario.name, run }));
        }
      } finally {
        await writer?.close();
      }
    });

  sim
    .command('record')
    .description('record a live gateway\'s device traffic to JSONL, as an observer/maintainer account, until Ctrl-C')
    .requiredOption('--url <url>', 'gateway MQTT URL')
    .requiredOption('--user <name>', 'observer account')
    .requiredOption('--password <password>', 'its password')
    .requiredOption('--out <file>', 'JSONL file')
    .option('--filter <topic>', 'topic filter', 'v1/devices/+/+')
    .option('--json', 'print {"messages","out"} as JSON when stopped')
    .action(async function (this: Command, o: { url: string; user: string; password: string; out: string; filter: string; json?: boolean }) {
      // Listening before connecting: a Ctrl-C as soon as "recording" shows still ends with the count.
      const stopped = untilSignal();
      const rec = await recordLive({ url: o.url, username: o.user, password: o.password, out: o.out, filter: o.filter, logger: logger(o.json) });
      await stopped;
      const n = await rec.stop();
      if (o.json) return out(this, JSON.stringify({ messages: n, out: o.out }));
      out(this, `${n} messages recorded to ${o.out}`);
    });

  sim
    .command('replay')
    .description('replay a JSONL recording as its devices, keeping its timing shape')
    .argument('<file>', 'JSONL recording')
    .requiredOption('--credentials <file>', 'credentials JSON of the recorded devices')
    .option('--url <url>', 'gateway MQTT URL', 'mqtt://127.0.0.1:1883')
    .option('--speed <n|max>', '1 (as recorded), N times faster, or max', '1')
    .option('--retime', 'shift every ts so the recording happens now')
    .option('--json', 'print the replay\'s counters as JSON')
    .action(async function (this: Command, file: string, o: { credentials: string; url: string; speed: string; retime?: boolean; json?: boolean }) {
      const speed: ReplaySpeed = o.speed === 'max' ? 'max' : num('speed', o.speed, 0.001);
      const records = await readJsonl(file);
      const abort = new AbortController();
      const onSignal = () => abort.abort();
      process.once('SIGINT', onSignal);
      const s = await replay({ records, url: o.url, credentials: readCredentials(o.credentials), speed, retime: !!o.retime, logger: logger(o.json), signal: abort.signal });
      process.off('SIGINT', onSignal);
      if (o.json) return out(this, JSON.stringify(s));
      out(this, `replayed ${s.published} messages of ${s.devices} devices in ${(s.wallMs / 1000).toFixed(1)} s (acked ${s.acked}, errors ${s.errors}, skipped ${s.skipped} without credentials)`);
    });

  sim
    .command('load')
    .description('load generator for benchmarks: N devices at a rate for a duration, over worker processes')
    .requiredOption('--devices <n>', 'devices (connections)')
    .requiredOption('--rate <r>', 'messages per second per device')
    .requiredOption('--duration <s>', 'seconds of publishing')
    .option('--url <url>', 'gateway MQTT URL', 'mqtt://127.0.0.1:1883')
    .option('--workers <w>', 'worker processes (default: CPUs − 1)')
    .option('--credentials <file>', 'credentials JSON; without it, ids load-00001… and no password (a bare broker)')
    .option('--connect-rate <n>', 'CONNECTs per second', '500')
    .option('--qos <q>', '0 or 1', '1')
    .option('--source-addresses <n>', 'spread connections over 127.0.0.2 … 127.0.0.(1+n) (many connections to a loopback gateway)')
    .option('--json [file]', 'print the summary as JSON; with a file, write it there too and print the text')
    .action(async function (this: Command, o: { devices: string; rate: string; duration: string; url: string; workers?: string; credentials?: string; connectRate: string; qos: string; sourceAddresses?: string; json?: string | boolean }) {
      const s = await runLoad({
        url: o.url,
        devices: num('devices', o.devices, 1),
        rate: num('rate', o.rate, 0.0001),
        durationSec: num('duration', o.duration, 0.1),
        ...(o.workers ? { workers: num('workers', o.workers, 1) } : {}),
        ...(o.credentials ? { credentials: readCredentials(o.credentials) } : {}),
        connectPerSec: num('connect-rate', o.connectRate, 1),
        qos: o.qos === '0' ? 0 : 1,
        ...(o.sourceAddresses ? { sourceAddresses: num('source-addresses', o.sourceAddresses, 1) } : {}),
        progress: process.stderr.isTTY,
        ...(typeof o.json === 'string' ? { jsonFile: o.json } : {}),
      });
      out(this, o.json === true ? JSON.stringify(s) : formatSummary(s));
    });
}
