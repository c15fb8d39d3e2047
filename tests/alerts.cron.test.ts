// The scheduler with asynchronous reports (issue 21: their database may be a PostgreSQL shared by
// several nodes): a failing report is logged and keeps no other from being made, a report whose
// existence cannot be asked is made (its insert makes it once all the same), and stop() returns
// only once the reports under way are written.
import { describe, expect, it } from 'vitest';
import pino from 'pino';
import { createSchedules } from '../alerts/cron.ts';
import type { Reports } from '../alerts/reports.ts';
import type { Rosters } from '../alerts/roster.ts';
import type { RegistryReader } from '../contracts/ports.ts';

const TZ = 'Asia/Shanghai';
// 2026-12-01 09:00 in Shanghai: the daily (08:00) and monthly (08:05) reports are due.
const NOW = Date.parse('2026-12-01T09:00:00+08:00');
const registry = { centers: () => [{ id: 'fc-1', name: 'x', timezone: TZ }], roster: () => undefined } as unknown as RegistryReader;
const rosters = { timezoneOf: () => TZ } as unknown as Rosters;

function logged() {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  return { lines, logger };
}

describe('scheduled reports', () => {
  it('a report that fails is logged with its task, and the other due report is made all the same', async () => {
    const { lines, logger } = logged();
    const made: string[] = [];
    const reports = {
      exists: async () => false,
      daily: async () => {
        throw new Error('database away');
      },
      monthlyRatings: async (c: string, month: string) => {
        made.push(`monthly ${c} ${month}`);
      },
    } as unknown as Reports;
    const s = createSchedules({ registry, rosters, reports, clock: { now: () => NOW }, logger });
    await s.start();
    await s.stop();
    expect(made).toEqual(['monthly fc-1 2026-11']);
    expect(lines.filter((l) => l.msg === 'scheduled task failed').map((l) => [l.task, (l.err as { message: string }).message])).toEqual([['daily:fc-1', 'database away']]);
  });

  it('makes a due report whose existence cannot be asked, with a warning', async () => {
    const { lines, logger } = logged();
    const made: string[] = [];
    const reports = {
      exists: async (kind: string) => {
        if (kind === 'daily') throw new Error('database away');
        return true;
      },
      daily: async (c: string, day: string) => {
        made.push(`daily ${c} ${day}`);
      },
      monthlyRatings: async () => {
        made.push('monthly');
      },
    } as unknown as Reports;
    const s = createSchedules({ registry, rosters, reports, clock: { now: () => NOW }, logger });
    await s.start();
    await s.stop();
    expect(made).toEqual(['daily fc-1 2026-11-30']);
    expect(lines.filter((l) => l.level === 40).map((l) => l.task)).toEqual(['daily:fc-1']);
  });

  it('stop() returns once the reports under way are written', async () => {
    const release: Array<() => void> = [];
    const written: string[] = [];
    const slow = (what: string) => () => new Promise<void>((resolve) => release.push(() => {
      written.push(what);
      resolve();
    }));
    const reports = { exists: async () => false, daily: slow('daily'), monthlyRatings: slow('monthly') } as unknown as Reports;
    const s = createSchedules({ registry, rosters, reports, clock: { now: () => NOW }, logger: pino({ level: 'silent' }) });
    await s.start();
    expect(release).toHaveLength(2);
    let stopped = false;
    const stopping = s.stop().then(() => {
      stopped = true;
    });
    // Every microtask of a stop() that waited for nothing has run by the next turn of the event loop.
    await new Promise((resolve) => setImmediate(resolve));
    expect(stopped).toBe(false);
    for (const r of release) r();
    await stopping;
    expect(written.sort()).toEqual(['daily', 'monthly']);
  });
});
