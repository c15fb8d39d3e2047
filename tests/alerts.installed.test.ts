// Reports never cover a period before the installation (issue 18 point 7): a fresh install on
// the 1st mailed the monthly ratings of the month before, when it did not exist.
import { afterAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import pino from 'pino';
import { finding, manualClock, startAlerts, tempDir } from './alerts.fixture.ts';
import { createSchedules } from '../alerts/cron.ts';
import type { Reports } from '../alerts/reports.ts';
import type { Rosters } from '../alerts/roster.ts';
import type { RegistryReader } from '../contracts/ports.ts';

const TZ = 'Asia/Shanghai';
// 2026-12-01 09:00 in Shanghai: after the daily (08:00) and monthly (08:05) runs are due.
const NOW = Date.parse('2026-12-01T09:00:00+08:00');

async function catchUp(installedAt: number | undefined): Promise<string[]> {
  const made: string[] = [];
  const reports = {
    exists: async () => false,
    daily: (c: string, day: string) => { made.push(`daily ${c} ${day}`); },
    monthlyRatings: (c: string, month: string) => { made.push(`monthly ${c} ${month}`); },
    handover: () => undefined,
  } as unknown as Reports;
  const registry = { centers: () => [{ id: 'fc-1', name: 'x', timezone: TZ }], roster: () => undefined } as unknown as RegistryReader;
  const rosters = { timezoneOf: () => TZ } as unknown as Rosters;
  const s = createSchedules({ registry, rosters, reports, clock: { now: () => NOW }, logger: pino({ level: 'silent' }), installedAt });
  await s.start();
  await s.stop();
  return made;
}

describe('reports and the installation date', () => {
  it('makes the due daily and monthly reports of periods the installation lived through', async () => {
    expect(await catchUp(Date.parse('2026-11-20T10:00:00+08:00'))).toEqual(['daily fc-1 2026-11-30', 'monthly fc-1 2026-11']);
    expect(await catchUp(undefined)).toEqual(['daily fc-1 2026-11-30', 'monthly fc-1 2026-11']);
  });

  it('makes none for a day or month that ended before the installation began', async () => {
    // Installed this morning at 02:00: November and 30 November were over before it existed.
    expect(await catchUp(Date.parse('2026-12-01T02:00:00+08:00'))).toEqual([]);
    // Installed on the evening of 30 November: the day counts, the month (which it saw) too.
    expect(await catchUp(Date.parse('2026-11-30T20:00:00+08:00'))).toEqual(['daily fc-1 2026-11-30', 'monthly fc-1 2026-11']);
  });
});

describe('a report of a period the installation began in', () => {
  const tmp = tempDir();
  afterAll(() => tmp.remove());

  it('covers it from the installation on and says so: daily, monthly and the first handover', async () => {
    // Installed on 30 November at 20:00 in Shanghai; an alarm an hour later.
    const installedAt = Date.parse('2026-11-30T20:00:00+08:00');
    const clock = manualClock(installedAt + 3_600_000);
    const h = await startAlerts({ file: join(tmp.dir, 'wf.db'), clock, alerts: { installedAt } });
    try {
      await h.alerts.handleFinding(finding({ ts: clock.now() }));
      const daily = await h.alerts.reports.daily('fc1', '2026-11-30');
      expect(daily.body.from).toBe(installedAt);
      expect(daily.body.to).toBe(Date.parse('2026-12-01T00:00:00+08:00'));
      expect(daily.body.data).toMatchObject({ opened: 1 });
      expect(daily.body.lines.en[1]).toBe('(since the installation at 2026-11-30 20:00)');
      expect(daily.body.lines.zh[1]).toContain('自系统安装');
      const monthly = await h.alerts.reports.monthlyRatings('fc1', '2026-11');
      expect(monthly.body.from).toBe(installedAt);
      expect(monthly.body.lines.en[1]).toBe('(since the installation at 2026-11-30 20:00)');
      // The first handover looked back 24 hours, to 19:00 on the 29th; now from the installation.
      const handover = await h.alerts.reports.handover('fc1', installedAt + 2 * 3_600_000);
      expect(handover.body.from).toBe(installedAt);
      // A day wholly after the installation is reported as before, with no such line.
      const next = await h.alerts.reports.daily('fc1', '2026-12-01');
      expect(next.body.from).toBe(Date.parse('2026-12-01T00:00:00+08:00'));
      expect(next.body.lines.en.join('\n')).not.toContain('installation');
    } finally {
      await h.close();
    }
  });
});
