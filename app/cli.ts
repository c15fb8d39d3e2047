// The command tree of `wf`: `start` runs Watchfire, `demo` runs it with the demo county, the
// simulator and a mail catcher; the other commands provision devices, users and simulated traffic,
// back up and restore, and show what was refused. Built by a function so tests can walk it (every
// leaf command takes --json, issue 18 point 7: tests/cli.json.test.ts) and run it in process.
import { Command } from 'commander';
import { join, resolve } from 'node:path';
import pino from 'pino';
import { loadConfig } from './config.ts';
import { openDatabase } from './db.ts';
import { openSharedStores } from './stores.ts';
import { createWatchfire } from './watchfire.ts';
import { WatchfireError } from '../contracts/errors.ts';
import { generateSecret, hashSecret } from '../contracts/secrets.ts';
import { createRegistry } from '../registry/index.ts';
import { out } from './commands/output.ts';
import { registerRegistryCommands } from './commands/registry.ts';
import { registerUserCommands } from './commands/users.ts';
import { registerSimulatorCommands } from './commands/simulator.ts';
import { registerBackupCommands } from './commands/backup.ts';
import { registerStoreCommands } from './commands/store.ts';
import { registerBatchProvision } from './commands/provision-batch.ts';
import { registerPrivacyCommands } from './commands/privacy.ts';
import type * as DemoModule from './demo.ts';

/**
 * The demo and its mail catcher need development packages (smtp-server, mailparser): loaded only
 * when asked for, so that a production install (npm ci --omit=dev) starts (issue 18 point 1).
 */
async function loadDemo(): Promise<typeof DemoModule> {
  try {
    return await import('./demo.ts');
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_MODULE_NOT_FOUND') {
      throw new WatchfireError('WF_DEMO_DEV_ONLY', `The demo needs the development packages (${(err as Error).message.split('\n')[0]}): run \`npm ci\` without --omit=dev.`);
    }
    throw err;
  }
}

function waitForSignal(): Promise<string> {
  return new Promise((res) => {
    process.once('SIGINT', () => res('SIGINT'));
    process.once('SIGTERM', () => res('SIGTERM'));
  });
}

export function createProgram(): Command {
  const program = new Command();
  program
    .name('watchfire')
    .description('Watchfire: MQTT ingestion, scoring and alerting for homes and buildings')
    .option('-c, --config <file>', 'configuration YAML (default: $WF_CONFIG, or built-in defaults)');

  const config = () => loadConfig({ file: program.opts<{ config?: string }>().config });

  program
    .command('start')
    .description('run the gateway, pipeline, alerts and HTTP API')
    .option('--json', 'print one JSON line with the listening ports once started (logs are JSON lines anyway)')
    .action(async (o: { json?: boolean }, cmd: Command) => {
      // Listening for the signal before starting: a stop asked for during a slow start (influxd,
      // migrations) is honoured once started, instead of killing the process half way.
      const stopped = waitForSignal();
      const wf = createWatchfire({ config: config() });
      await wf.start();
      if (o.json) out(cmd, JSON.stringify({ started: true, ...wf.addresses() }));
      const signal = await stopped;
      wf.logger.info({ signal }, 'stopping');
      await wf.stop();
    });

  program
    .command('demo')
    .description('run Watchfire with a generated demo county, simulated traffic and a mail catcher')
    .option('--homes <n>', 'homes in the demo county', '300')
    .option('--seed <n>', 'seed of the demo county', '42')
    .option('--speed <n>', 'simulated time runs this many times faster', '10')
    .option('--scenario-every <sec>', 'seconds between scenarios', '90')
    .option('--json', 'print the addresses and demo accounts as JSON instead of the banner')
    .action(async (o: { homes: string; seed: string; speed: string; scenarioEvery: string; json?: boolean }, cmd: Command) => {
      const { runDemo } = await loadDemo();
      const stopped = waitForSignal();
      const demo = await runDemo({
        configFile: program.opts<{ config?: string }>().config,
        homes: Number(o.homes),
        seed: Number(o.seed),
        speed: Number(o.speed),
        scenarioEveryMs: Number(o.scenarioEvery) * 1000,
        print: (text) => out(cmd, text),
        json: !!o.json,
      });
      await stopped;
      await demo.stop();
    });

  program
    .command('observer-secret <username>')
    .description('issue a password for a maintainer observer account (records live traffic) and print its config entry')
    .option('--json', 'print {"username","password","secretHash"} as JSON')
    .action((username: string, o: { json?: boolean }, cmd: Command) => {
      const secret = generateSecret();
      const secretHash = hashSecret(secret);
      if (o.json) return out(cmd, JSON.stringify({ username, password: secret, secretHash, config: { gateway: { observers: [{ username, secretHash }] } } }));
      out(cmd, `Password for observer ${username} (shown once): ${secret}\n\nAdd to the configuration:\ngateway:\n  observers:\n    - username: ${username}\n      secretHash: "${secretHash}"`);
    });

  program
    .command('metrics-token')
    .description('issue the bearer token /metrics asks for (issue 16) and print its config entry')
    .option('--json', 'print {"token","metricsTokenHash"} as JSON')
    .action((o: { json?: boolean }, cmd: Command) => {
      const token = generateSecret();
      const metricsTokenHash = hashSecret(token);
      if (o.json) return out(cmd, JSON.stringify({ token, metricsTokenHash, config: { http: { metricsTokenHash } } }));
      out(cmd, `Bearer token for /metrics (shown once): ${token}\n\nAdd to the configuration:\nhttp:\n  metricsTokenHash: "${metricsTokenHash}"\n\nand to Prometheus' scrape job:\n  authorization:\n    credentials: ${token}`);
    });

  program
    .command('config')
    .description('validate the configuration and print it (as JSON, with or without --json)')
    .option('--json', 'print JSON (the only format of this command; accepted so every command takes it)')
    .action((_o: unknown, cmd: Command) => {
      out(cmd, JSON.stringify(config(), null, 2));
    });

  // The registry lives where the running nodes keep it: the SQLite file, or storage.postgresUrl's
  // PostgreSQL, where a write here is announced to every running node (issue 21).
  const openRegistry = async () => {
    const cfg = config();
    const db = openDatabase(join(resolve(cfg.dataDir), 'watchfire.db'));
    let stores: Awaited<ReturnType<typeof openSharedStores>> | undefined;
    try {
      stores = await openSharedStores({ config: cfg, db, logger: pino({ level: 'warn' }) });
      const registry = createRegistry({ storage: stores.registry, logger: pino({ level: 'warn' }) });
      await registry.start();
      const opened = stores;
      return {
        registry,
        close: async () => {
          await registry.stop();
          await opened.close();
          db.close();
        },
      };
    } catch (err) {
      await stores?.close();
      db.close();
      throw err;
    }
  };

  registerRegistryCommands(program, openRegistry);
  // Users live where the running nodes keep them: the SQLite file, or storage.postgresUrl's PostgreSQL.
  registerUserCommands(program, async () => {
    const cfg = config();
    const db = openDatabase(join(resolve(cfg.dataDir), 'watchfire.db'));
    try {
      const stores = await openSharedStores({ config: cfg, db, logger: pino({ level: 'warn' }) });
      return { users: stores.users, close: async () => { await stores.close(); db.close(); } };
    } catch (err) {
      db.close();
      throw err;
    }
  }, (line) => out(program, line));
  registerSimulatorCommands(program);
  registerBackupCommands(program, config);
  registerStoreCommands(program, config);
  registerBatchProvision(program, openRegistry);
  registerPrivacyCommands(program, config);
  return program;
}
