#!/usr/bin/env node
// Command-line entry point: `start` runs Watchfire, `demo` runs it with the demo county, the
// simulator and a mail catcher; the other commands provision devices, users and simulated traffic.
import { Command } from 'commander';
import { join, resolve } from 'node:path';
import pino from 'pino';
import { loadConfig } from './config.ts';
import { openDatabase } from './db.ts';
import { createWatchfire } from './watchfire.ts';
import { WatchfireError } from '../contracts/errors.ts';
import { generateSecret, hashSecret } from '../contracts/secrets.ts';
import { createRegistry } from '../registry/index.ts';
import { registerRegistryCommands } from './commands/registry.ts';
import { registerUserCommands } from './commands/users.ts';
import { registerSimulatorCommands } from './commands/simulator.ts';
import { registerBackupCommands } from './commands/backup.ts';
import { registerStoreCommands } from './commands/store.ts';
import { registerBatchProvision } from './commands/provision-batch.ts';
import { registerPrivacyCommands } from './commands/privacy.ts';
import type * as DemoModule from './demo.ts';

const program = new Command();
program
  .name('watchfire')
  .description('Watchfire: MQTT ingestion, scoring and alerting for homes and buildings')
  .option('-c, --config <file>', 'configuration YAML (default: $WF_CONFIG, or built-in defaults)');

function config() {
  const opts = program.opts<{ config?: string }>();
  return loadConfig({ file: opts.config });
}

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

program
  .command('start')
  .description('run the gateway, pipeline, alerts and HTTP API')
  .action(async () => {
    const cfg = config();
    const wf = createWatchfire({ config: cfg });
    await wf.start();
    const signal = await waitForSignal();
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
  .action(async (o: { homes: string; seed: string; speed: string; scenarioEvery: string }) => {
    const { runDemo } = await loadDemo();
    const demo = await runDemo({
      configFile: program.opts<{ config?: string }>().config,
      homes: Number(o.homes),
      seed: Number(o.seed),
      speed: Number(o.speed),
      scenarioEveryMs: Number(o.scenarioEvery) * 1000,
    });
    await waitForSignal();
    await demo.stop();
  });

program
  .command('observer-secret <username>')
  .description('issue a password for a maintainer observer account (records live traffic) and print its config entry')
  .action((username: string) => {
    const secret = generateSecret();
    console.log(`Password for observer ${username} (shown once): ${secret}\n\nAdd to the configuration:\ngateway:\n  observers:\n    - username: ${username}\n      secretHash: "${hashSecret(secret)}"`);
  });

program
  .command('metrics-token')
  .description('issue the bearer token /metrics asks for (issue 16) and print its config entry')
  .action(() => {
    const token = generateSecret();
    console.log(`Bearer token for /metrics (shown once): ${token}\n\nAdd to the configuration:\nhttp:\n  metricsTokenHash: "${hashSecret(token)}"\n\nand to Prometheus' scrape job:\n  authorization:\n    credentials: ${token}`);
  });

program
  .command('config')
  .description('validate the configuration and print it')
  .action(() => {
    console.log(JSON.stringify(config(), null, 2));
  });

async function openRegistry() {
  const cfg = config();
  const db = openDatabase(join(resolve(cfg.dataDir), 'watchfire.db'));
  const registry = createRegistry({ db, logger: pino({ level: 'warn' }) });
  await registry.start();
  return {
    registry,
    db,
    close: async () => {
      await registry.stop();
      db.close();
    },
  };
}

registerRegistryCommands(program, openRegistry);
registerUserCommands(program, async () => {
  const cfg = config();
  const db = openDatabase(join(resolve(cfg.dataDir), 'watchfire.db'));
  return { db, close: async () => { db.close(); } };
});
registerSimulatorCommands(program);
registerBackupCommands(program, config);
registerStoreCommands(program, config);
registerBatchProvision(program, openRegistry);
registerPrivacyCommands(program, config);

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof WatchfireError) {
    console.error(`${err.code}: ${err.message}`);
  } else {
    console.error(err);
  }
  process.exit(1);
});
