// The whole of Watchfire for integration tests: a real influxd, a real SMTP server and Watchfire
// itself on free loopback ports with a temporary data directory; devices provisioned, their
// secrets returned, and real MQTT clients connected on request.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient, type IClientOptions } from 'mqtt';
import pino from 'pino';
import type { RegistryFile } from '../../contracts/registry.ts';
import { RegistryFile as RegistryFileSchema } from '../../contracts/registry.ts';
import { topics } from '../../contracts/protocol.ts';
import { loadConfig } from '../../app/config.ts';
import { createWatchfire, type Watchfire, type WatchfireDeps } from '../../app/watchfire.ts';
import { startTestInfluxd, type TestInfluxd } from './influxd.ts';
import { startTestSmtp, type TestSmtp } from './smtp.ts';
import { waitFor } from './wait.ts';

export interface TestSystemOptions {
  registry: RegistryFile | Parameters<typeof RegistryFileSchema.parse>[0];
  /** Dotted config overrides, e.g. { 'gateway.rate.perSecond': 5 }. */
  config?: Record<string, unknown>;
  /** Share one influxd between several systems of a suite. */
  influx?: TestInfluxd;
  smtp?: boolean;
  alerts?: WatchfireDeps['alerts'];
  clock?: WatchfireDeps['clock'];
  /** Reuse a data directory (restart tests). */
  dataDir?: string;
}

export interface TestSystem {
  wf: Watchfire;
  influx: TestInfluxd;
  smtp: TestSmtp | undefined;
  dataDir: string;
  mqttUrl: string;
  httpUrl: string;
  secrets: Record<string, string>;
  /** Connects as a device with its registry credentials (retained online status, offline will). */
  connectDevice(id: string, opts?: IClientOptions): Promise<MqttClient>;
  /** InfluxQL COUNT over a measurement with an optional WHERE clause. */
  count(measurement: 'telemetry' | 'event', where?: string, field?: string): Promise<number>;
  waitFor: typeof waitFor;
  /** Stop Watchfire (keeps influxd if shared, and the data dir if keepData). */
  stop(opts?: { keepData?: boolean }): Promise<void>;
}

export async function startTestSystem(opts: TestSystemOptions): Promise<TestSystem> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'wf-sys-'));
  const influx = opts.influx ?? (await startTestInfluxd());
  const smtp = opts.smtp === false ? undefined : await startTestSmtp();
  const config = loadConfig({
    env: {},
    overrides: {
      dataDir,
      'log.level': 'silent',
      'gateway.host': '127.0.0.1',
      'gateway.port': 0,
      'http.host': '127.0.0.1',
      'http.port': 0,
      'influx.url': influx.url,
      'influx.database': influx.database,
      'influx.flushIntervalMs': 100,
      ...(smtp ? { 'alerts.smtp': { host: '127.0.0.1', port: smtp.port, ignoreTLS: true } } : {}),
      ...opts.config,
    },
  });
  const wf = createWatchfire({
    config,
    logger: pino({ level: process.env.WF_TEST_LOG ?? 'silent' }),
    ...(opts.alerts ? { alerts: opts.alerts } : {}),
    ...(opts.clock ? { clock: opts.clock } : {}),
  });
  await wf.start();
  const registry = RegistryFileSchema.parse(opts.registry);
  await wf.registry.importFile(registry);
  const secrets: Record<string, string> = {};
  for (const d of registry.devices) secrets[d.id] = (await wf.registry.provision(d.id)).secret;
  const addr = wf.addresses();
  const mqttUrl = `mqtt://127.0.0.1:${addr.mqtt}`;
  const clients: MqttClient[] = [];

  return {
    wf,
    influx,
    smtp,
    dataDir,
    mqttUrl,
    httpUrl: `http://127.0.0.1:${addr.http}`,
    secrets,
    async connectDevice(id, o = {}) {
      const client = await mqtt.connectAsync(mqttUrl, {
        clientId: `${id}-${Math.random().toString(36).slice(2, 8)}`,
        username: id,
        password: secrets[id] ?? '',
        reconnectPeriod: 0,
        connectTimeout: 5_000,
        will: { topic: topics.status(id), payload: Buffer.from('{"online":false}'), qos: 1, retain: true },
        ...o,
      });
      clients.push(client);
      await client.publishAsync(topics.status(id), '{"online":true}', { qos: 1, retain: true });
      return client;
    },
    async count(measurement, where, field = 'score') {
      const rows = await influx.query(`SELECT COUNT("${field}") AS n FROM "${measurement}"${where ? ` WHERE ${where}` : ''}`);
      const n = rows[0]?.n;
      return typeof n === 'number' ? n : 0;
    },
    waitFor,
    async stop(o = {}) {
      await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
      await wf.stop();
      await smtp?.stop();
      if (!opts.influx) await influx.stop();
      if (!o.keepData && !opts.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * The config of one node of a partitioned cluster (issue 21 point 4) on a test Redis: short
 * leases, so a failover test waits for one to run out in well under a second.
 */
export function partitionedNode(o: { redisUrl: string; nodeId: string; partitions: number; leaseMs?: number }): Record<string, unknown> {
  return {
    'cluster.enabled': true,
    'cluster.redisUrl': o.redisUrl,
    'cluster.nodeId': o.nodeId,
    'cluster.partitions': o.partitions,
    'cluster.log.leaseMs': o.leaseMs ?? 600,
  };
}

/** Waits until the in-process nodes own an even share of the partitions each (a fresh cluster settled). */
export function partitionsShared(nodes: readonly TestSystem[], partitions: number): Promise<true> {
  const share = partitions / nodes.length;
  return waitFor(() => nodes.every((n) => [...n.wf.ruleWorker!.owned().values()].filter(Boolean).length === share) || undefined,
    { what: `the partitions shared ${nodes.map(() => share).join(' and ')}`, timeoutMs: 15_000 });
}

