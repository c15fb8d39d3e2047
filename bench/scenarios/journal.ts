// Issue 15 point 6: what the journal behind every PUBACK costs on this machine's disk, and how
// group commit shares it. No network and no influxd: the journal alone (journal/), as the gateway
// drives it — each message appends its record and asks durable() for its PUBACK. For fsync on
// (the default) and off:
//   - one message at a time: the price of one group commit (write + fdatasync) with nobody to
//     share it, i.e. the floor of a PUBACK's wait;
//   - a steady stream at each rate (messages spread over 1 ms ticks, as sockets deliver them):
//     the wait each message's PUBACK gets (append → durable callback) p50/p99/max, group
//     commits per second and records per group.
// The full system's PUBACK latency with the journal on and off is in the throughput scenario
// (targets watchfire and watchfire-nofsync).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { createJournal } from '../../journal/index.ts';
import type { Journal } from '../../contracts/journal.ts';
import type { ScenarioResult } from '../lib/report.ts';
import { percentiles } from '../lib/stats.ts';

export interface JournalOptions {
  rates: number[];
  seconds: number;
}

interface Run {
  fsync: boolean;
  rate: number | 'one at a time';
  messages: number;
  waitMs: { n: number; p50: number | null; p99: number | null; max: number | null };
  commitsPerSec: number;
  recordsPerCommit: number;
}

// A formatted telemetry line of a smoke detector (ingest/store/line.ts), ≈ 190 bytes.
const line = (i: number): string =>
  `telemetry,center=fc-1,device=sd-${i % 5000},grid=g-${i % 40},site=h-${i % 5000},type=smoke_detector battery=90,humidity=41.5,level="green",rssi=-71,score=0,seq=${i}i,smoke=0.01,temp=21 ${1_796_600_000_000_000_000 + i}`;

async function withJournal<T>(fsync: boolean, fn: (j: Journal) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'wf-bench-journal-'));
  const j = createJournal({ dir, fsync, maxBytes: 8 * 1024 ** 3, warnRatio: 0.99, logger: pino({ level: 'silent' }) });
  await j.start();
  try {
    return await fn(j);
  } finally {
    await j.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

const durable = (j: Journal): Promise<void> => new Promise((r) => j.durable(() => r()));

async function oneAtATime(fsync: boolean, n: number): Promise<Run> {
  return withJournal(fsync, async (j) => {
    const waits: number[] = [];
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      j.append(line(i));
      await durable(j);
      waits.push(performance.now() - t);
    }
    const secs = (performance.now() - t0) / 1000;
    const s = j.stats();
    return { fsync, rate: 'one at a time', messages: n, waitMs: percentiles(waits), commitsPerSec: Math.round(s.commits / secs), recordsPerCommit: round(s.appended / s.commits) };
  });
}

async function stream(fsync: boolean, rate: number, seconds: number): Promise<Run> {
  return withJournal(fsync, async (j) => {
    const waits: number[] = [];
    let sent = 0;
    let owed = 0;
    const t0 = performance.now();
    let last = t0;
    await new Promise<void>((done) => {
      const tick = setInterval(() => {
        const now = performance.now();
        owed += ((now - last) / 1000) * rate;
        last = now;
        for (; owed >= 1; owed--) {
          const t = performance.now();
          j.append(line(sent++));
          j.durable(() => waits.push(performance.now() - t));
        }
        if (now - t0 >= seconds * 1000) {
          clearInterval(tick);
          done();
        }
      }, 1);
    });
    await durable(j);
    const secs = (performance.now() - t0) / 1000;
    const s = j.stats();
    return { fsync, rate, messages: sent, waitMs: percentiles(waits), commitsPerSec: Math.round(s.commits / secs), recordsPerCommit: round(s.appended / s.commits) };
  });
}

const round = (x: number): number => Math.round(x * 10) / 10;

export async function journal(o: JournalOptions, log: (s: string) => void): Promise<ScenarioResult> {
  const runs: Run[] = [];
  for (const fsync of [true, false]) {
    const r = await oneAtATime(fsync, 300);
    runs.push(r);
    log(`journal fsync ${fsync ? 'on' : 'off'}, one at a time: wait p50 ${r.waitMs.p50} p99 ${r.waitMs.p99} max ${r.waitMs.max} ms`);
    for (const rate of o.rates) {
      const s = await stream(fsync, rate, o.seconds);
      runs.push(s);
      log(`journal fsync ${fsync ? 'on' : 'off'} @ ${rate}/s: wait p50 ${s.waitMs.p50} p99 ${s.waitMs.p99} max ${s.waitMs.max} ms, ${s.commitsPerSec} commits/s, ${s.recordsPerCommit} records per commit`);
    }
  }
  const single = runs.find((r) => r.fsync && r.rate === 'one at a time')!;
  const singleOff = runs.find((r) => !r.fsync && r.rate === 'one at a time')!;
  const fmt = (x: number | null | undefined): string => (x === null || x === undefined ? 'n/a' : String(x));
  const summary = [
    '| fsync | offered | PUBACK wait for the journal p50 / p99 / max (ms) | group commits/s | records per commit | disk time per record (µs) |',
    '|---|---|---|---|---|---|',
    ...runs.map((r) => {
      // Each commit costs about a lone commit's p50; shared by the records of its group.
      const lone = r.fsync ? single.waitMs.p50 : singleOff.waitMs.p50;
      const perRecord = lone === null ? null : Math.round((lone * 1000) / Math.max(1, r.recordsPerCommit));
      return `| ${r.fsync ? 'on' : 'off'} | ${r.rate === 'one at a time' ? 'one at a time' : `${r.rate}/s`} | ${fmt(r.waitMs.p50)} / ${fmt(r.waitMs.p99)} / ${fmt(r.waitMs.max)} | ${r.commitsPerSec} | ${r.recordsPerCommit} | ${fmt(perRecord)} |`;
    }),
    '',
    `One group commit with fsync on costs ${fmt(single.waitMs.p50)} ms (p50; p99 ${fmt(single.waitMs.p99)} ms) on this disk, ${fmt(singleOff.waitMs.p50)} ms with fsync off (the write alone). While one commit is on the disk the next group gathers, so the commit rate stays near 1 / commit time and the records per commit grow with the load: the disk time per record falls as the rate rises, and a PUBACK waits about one to two commit times whatever the rate.`,
  ];
  return {
    scenario: 'journal',
    targets: [{ what: 'PUBACK wait for the journal (fsync on) at the highest rate, p99', target: 'reported (issue 15: say what fsync costs)', measured: `${fmt(runs.filter((r) => r.fsync).at(-1)?.waitMs.p99)} ms`, met: null }],
    summary,
    data: { options: o, runs },
  };
}
