// One InfluxDB 1.6.7 per target in a run (each stack gets a fresh one, so counts never mix), its
// pid for CPU/RSS sampling, and "how many points are stored" by InfluxQL COUNT.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalInfluxd } from '../../ingest/influxd.ts';

export interface BenchInfluxd {
  readonly url: string;
  readonly pid: number;
  readonly database: string;
  /** COUNT(field) over a measurement (0 when nothing is there yet). */
  count(measurement: string, field: string): Promise<number>;
  query(q: string): Promise<Array<Record<string, unknown>>>;
  stop(): Promise<void>;
}

async function pidOf(configFile: string): Promise<number> {
  for (const d of await readdir('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const cmd = await readFile(`/proc/${d}/cmdline`, 'utf8');
      if (cmd.includes('influxd') && cmd.includes(configFile)) return Number(d);
    } catch {
      // gone
    }
  }
  return 0;
}

export async function startBenchInfluxd(database: string): Promise<BenchInfluxd> {
  // BENCH_INFLUXD_DIR=/dev/shm: influxd's files away from the journal's disk (what its fdatasync
  // costs beside influxd's own writes, issue 15).
  const dataDir = await mkdtemp(join(process.env.BENCH_INFLUXD_DIR ?? tmpdir(), 'wf-bench-influx-'));
  // Every stack's influxd runs as Watchfire's launcher runs it in production: nice 5 (ingest/influxd.ts).
  const influxd = await startLocalInfluxd({ dataDir, database });
  const pid = await pidOf(join(dataDir, 'influxd.conf'));
  const query = async (q: string): Promise<Array<Record<string, unknown>>> => {
    const res = await fetch(`${influxd.url}/query?${new URLSearchParams({ db: database, q, epoch: 'ms' })}`, { signal: AbortSignal.timeout(120_000) });
    if (!res.ok) throw new Error(`InfluxQL ${q} answered ${res.status}: ${await res.text()}`);
    const body = (await res.json()) as { results?: Array<{ series?: Array<{ columns: string[]; values: unknown[][] }>; error?: string }> };
    const r = body.results?.[0];
    if (r?.error) throw new Error(`InfluxQL ${q}: ${r.error}`);
    const out: Array<Record<string, unknown>> = [];
    for (const s of r?.series ?? []) for (const v of s.values) out.push(Object.fromEntries(s.columns.map((c, i) => [c, v[i]])));
    return out;
  };
  return {
    url: influxd.url,
    pid,
    database,
    query,
    async count(measurement, field) {
      const rows = await query(`SELECT COUNT("${field}") AS n FROM "${measurement}"`);
      return Number(rows[0]?.n ?? 0);
    },
    async stop() {
      await influxd.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
