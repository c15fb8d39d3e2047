// A cluster node as its own operating-system process (app/main.ts start) for the kill tests: its
// data directory holds the registry and device secrets written first by an in-process Watchfire,
// then the process starts in cluster mode with the partitioned log on one Redis.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { freePort } from '../../ingest/influxd.ts';
import type { TestInfluxd } from './influxd.ts';
import { startWatchfireProcess, writeConfig, type WatchfireProcess } from './process.ts';
import type { TestRedis } from './redis.ts';
import type { RegistryInput } from './registries.ts';
import { startTestSystem } from './system.ts';

export interface ClusterNode {
  readonly name: string;
  readonly dataDir: string;
  readonly mqttUrl: string;
  /** Its HTTP API (/metrics answers loopback without a token). */
  readonly httpUrl: string;
  readonly secrets: Record<string, string>;
  readonly proc: WatchfireProcess;
}

export interface ClusterNodeOptions {
  name: string;
  registry: RegistryInput;
  /** Writes the registry's data dir; the node stores its readings there too, unless influxUrl says otherwise. */
  influx: TestInfluxd;
  /** Where the node ships readings (default: `influx`; a closed port: a node that cannot ship). */
  influxUrl?: string;
  redis: TestRedis;
  partitions: number;
  leaseMs: number;
}

export async function startClusterNode(o: ClusterNodeOptions): Promise<ClusterNode> {
  const dataDir = mkdtempSync(join(tmpdir(), `wf-cluster-${o.name}-`));
  const setup = await startTestSystem({ registry: o.registry, influx: o.influx, smtp: false, dataDir });
  const secrets = setup.secrets;
  await setup.stop({ keepData: true });
  const [mqttPort, httpPort] = [await freePort(), await freePort()];
  const config = writeConfig(dataDir, {
    dataDir,
    log: { level: 'info' },
    gateway: { host: '127.0.0.1', port: mqttPort },
    http: { host: '127.0.0.1', port: httpPort },
    influx: { url: o.influxUrl ?? o.influx.url, database: o.influx.database, flushIntervalMs: 100 },
    cluster: { enabled: true, redisUrl: o.redis.url, nodeId: o.name, heartbeatMs: 1_000, partitions: o.partitions, log: { leaseMs: o.leaseMs } },
  });
  const proc = startWatchfireProcess(config);
  await proc.ready;
  return { name: o.name, dataDir, mqttUrl: `mqtt://127.0.0.1:${mqttPort}`, httpUrl: `http://127.0.0.1:${httpPort}`, secrets, proc };
}

/** Ends the clients, stops the nodes (SIGTERM; the dead ones are gone already) and removes their data. */
export async function stopClusterNodes(nodes: readonly ClusterNode[], clients: readonly MqttClient[]): Promise<void> {
  for (const c of clients) c.end(true);
  for (const n of nodes) await n.proc.kill('SIGTERM');
  for (const n of nodes) rmSync(n.dataDir, { recursive: true, force: true });
}
