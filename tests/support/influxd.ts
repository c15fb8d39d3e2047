// A real InfluxDB (Debian's influxd 1.6.7) for suites that store or read readings: a temp data
// dir, a free loopback port, and stop/start on the same dir and port to make an outage.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalInfluxd } from '../../ingest/influxd.ts';
import type { LocalInfluxd } from '../../ingest/influxd.ts';
import { createInfluxQuery } from '../../ingest/store/query.ts';
import type { ScoredReading } from '../../contracts/reading.ts';

export interface TestInfluxd {
  readonly url: string;
  readonly port: number;
  readonly database: string;
  readonly dataDir: string;
  /** InfluxQL against the test database; rows as objects (time in ms unless epoch says otherwise). */
  query(q: string, epoch?: 'ns' | 'ms'): Promise<Array<Record<string, unknown>>>;
  /** `SELECT count(field) FROM measurement [WHERE …]` as a number (0 when nothing matches). */
  count(measurement: string, field: string, where?: string): Promise<number>;
  /** Take it down (the outage begins); start() brings it back on the same port and data. */
  down(): Promise<void>;
  up(): Promise<void>;
  restart(): Promise<void>;
  /** Stops it and deletes its data dir (not one it was given). */
  stop(): Promise<void>;
}

/** `dataDir`: an existing one (a restored backup's), kept when stopped. */
export async function startTestInfluxd(opts: { database?: string; dataDir?: string } = {}): Promise<TestInfluxd> {
  const database = opts.database ?? 'watchfire';
  const dataDir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), 'wf-influxd-')));
  let current: LocalInfluxd | undefined = await startLocalInfluxd({ dataDir, database });
  const port = current.port;
  const url = current.url;
  const queries = {
    ms: createInfluxQuery({ url, database, epoch: 'ms' }),
    ns: createInfluxQuery({ url, database, epoch: 'ns' }),
  };
  const down = async (): Promise<void> => {
    const c = current;
    current = undefined;
    await c?.stop();
  };
  const up = async (): Promise<void> => {
    if (!current) current = await startLocalInfluxd({ dataDir, database, port });
  };
  return {
    url,
    port,
    database,
    dataDir,
    query: (q, epoch = 'ms') => queries[epoch].query(q),
    async count(measurement, field, where) {
      const rows = await queries.ms.query(`SELECT count("${field}") FROM "${measurement}"${where ? ` WHERE ${where}` : ''}`);
      return Number(rows[0]?.count ?? 0);
    },
    down,
    up,
    async restart() {
      await down();
      await up();
    },
    async stop() {
      await down();
      if (!opts.dataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

// ---- scored readings made up for storage tests: distinct devices, seq and times ------------

export const SAMPLE_TS = Date.UTC(2026, 10, 23, 8, 0, 0);

/** The i-th telemetry reading of a fleet of `devices` smoke detectors (every 7th has no grid). */
export function sampleTelemetry(i: number, devices = 10, tsBase = SAMPLE_TS): ScoredReading {
  const d = i % devices;
  const seq = Math.floor(i / devices);
  return {
    reading: {
      kind: 'telemetry', deviceId: `sd-${d}`, deviceType: 'smoke_detector', siteId: `site-${d}`, centerId: 'c1',
      gridId: d % 7 === 6 ? undefined : `g${d % 3}`,
      // Several readings of one device share a millisecond: only seq keeps them apart in InfluxDB.
      ts: tsBase + Math.floor(seq / 4), receivedAt: tsBase + seq, seq, flags: i % 97 === 5 ? ['clock_bad'] : [],
      values: { smoke: (i % 50) / 1000, temp: 20 + (i % 10), battery: 90, humidity: 41.5 },
    },
    score: i % 50 === 49 ? 45 : 0,
    level: i % 50 === 49 ? 'yellow' : 'green',
  };
}

export function samplePanelEvent(i: number, tsBase = SAMPLE_TS): ScoredReading {
  return {
    reading: {
      kind: 'event', deviceId: 'fp-1', deviceType: 'fire_panel', siteId: 'site-fp', centerId: 'c1', gridId: undefined,
      ts: tsBase + 1000, receivedAt: tsBase + 1000, seq: 5000 + i, flags: [],
      event: { type: 'fire', loop: 1, point: i, zone: '3', label: '3F corridor' },
      values: { loop: 1, point: i, zone: '3', label: '3F corridor' },
    },
    score: 90,
    level: 'red',
  };
}
