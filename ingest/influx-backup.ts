// Online backup and restore of InfluxDB 1.x readings with its own tools (issue 18 point 4):
// `influxd backup -portable` asks the running server's RPC service for a snapshot of every shard
// (it flushes the in-memory cache first, so acknowledged writes are in it) while writes go on;
// `influxd restore -portable` loads one into a running server that does not have the database.
// The portable format is also what InfluxDB 1.5+ and `influx restore` of 2.x read.
import { execFile } from 'node:child_process';
import { connect } from 'node:net';
import { promisify } from 'node:util';
import { findOnPath } from './influxd.ts';

export interface InfluxBackupTarget {
  /** host:port of the server's RPC service (influxd's top-level bind-address). */
  rpc: string;
  database: string;
  /** influxd binary (default `influxd` from PATH). */
  binary?: string;
}

const run = promisify(execFile);

async function influxd(binary = 'influxd'): Promise<string> {
  const path = await findOnPath(binary);
  if (!path) throw new Error(`\`${binary}\` is not on PATH (apt-get install influxdb): it is needed to back up and restore readings`);
  return path;
}

/**
 * influxd 1.6's backup retries an unreachable server forever ("Waiting 2s and retrying"): try the
 * RPC port first, so a wrong address or a stopped server fails in seconds, with its reason.
 */
function reachable(rpc: string, timeoutMs = 3000): Promise<void> {
  const i = rpc.lastIndexOf(':');
  return new Promise((resolve, reject) => {
    const sock = connect({ host: rpc.slice(0, i), port: Number(rpc.slice(i + 1)), timeout: timeoutMs });
    sock.once('connect', () => { sock.destroy(); resolve(); });
    sock.once('timeout', () => { sock.destroy(); reject(new Error(`influxd RPC ${rpc}: no answer in ${timeoutMs} ms`)); });
    sock.once('error', (err) => reject(new Error(`influxd RPC ${rpc}: ${err.message} (is InfluxDB running? backup.influxRpc)`)));
  });
}

/** A bound on one backup or restore run, so a hung server does not hang the command (1 h). */
const RUN_TIMEOUT_MS = 60 * 60_000;

/** Writes a portable backup of the database into `dir` (created; must be empty or absent). */
export async function influxBackup(t: InfluxBackupTarget, dir: string): Promise<{ files: number }> {
  await reachable(t.rpc);
  const { stdout, stderr } = await run(await influxd(t.binary), ['backup', '-portable', '-database', t.database, '-host', t.rpc, dir], { maxBuffer: 16 * 1024 * 1024, timeout: RUN_TIMEOUT_MS });
  const out = `${stdout}\n${stderr}`;
  // influxd 1.6 exits 0 on some failures (an unreachable host among them); it logs "backup failed".
  if (/backup failed|error/i.test(out) && !/backup complete/i.test(out)) throw new Error(`influxd backup: ${out.trim().split('\n').slice(-3).join(' | ')}`);
  return { files: (out.match(/backup complete:/gi) ?? []).length };
}

/** Restores a portable backup into a running server where the database does not exist yet. */
export async function influxRestore(t: InfluxBackupTarget, dir: string, from?: string): Promise<void> {
  const args = ['restore', '-portable', '-host', t.rpc, '-db', from ?? t.database];
  if (from && from !== t.database) args.push('-newdb', t.database);
  await reachable(t.rpc);
  const { stdout, stderr } = await run(await influxd(t.binary), [...args, dir], { maxBuffer: 16 * 1024 * 1024, timeout: RUN_TIMEOUT_MS });
  const out = `${stdout}\n${stderr}`;
  if (/error|failed/i.test(out)) throw new Error(`influxd restore: ${out.trim().split('\n').slice(-3).join(' | ')}`);
}
