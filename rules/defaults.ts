// The default rule set (DESIGN.md "Rules"). rules/default-rules.yaml documents where each number
// comes from; a test keeps the two identical.
import type { RuleSet } from './schema.ts';

const offline = (atDisconnect: boolean) => ({
  // Offline after min(interval × intervals + grace, interval + maxLate): two missed reports for
  // chatty devices, at most one interval plus an hour for daily NB-IoT style devices.
  intervals: 2,
  graceSec: 60,
  maxLateSec: 3600,
  atDisconnect,
  score: 50,
});
const common = (atDisconnect: boolean) => ({
  offline: offline(atDisconnect),
  clock: { score: 40 },
  seqGap: { score: 10 },
  fault: { score: 45 },
});

export const DEFAULT_RULE_SET: RuleSet = {
  version: 1,
  smoke_detector: {
    ...common(false),
    confirmWindowSec: 120,
    confirmedScore: 100,
    alarm: { score: 90 },
    smoke: { preAlarm: 0.08, alarm: 0.15, preAlarmScore: 60, alarmScore: 85 },
    heat: { fixedC: 57, rateCPerMin: 8.3, rateWindowSec: 120, rateMinSpanSec: 20, score: 85 },
    co: { warnPpm: 50, warnForSec: 600, alarmPpm: 150, warnScore: 60, alarmScore: 85 },
    hush: { score: 80 },
    battery: { lowPct: 20, clearPct: 25, score: 45 },
    tamper: { score: 45 },
    test: { score: 5 },
  },
  fire_panel: {
    ...common(true),
    confirmWindowSec: 120,
    confirmedScore: 100,
    fire: { score: 90 },
    manualCall: { score: 90 },
    pointsInAlarm: { score: 85 },
    supervisory: { score: 45 },
    disabled: { score: 40 },
    power: { oneFailedScore: 50, bothFailedScore: 85 },
  },
  settlement_sensor: {
    ...common(false),
    settlement: { alarm: 20, warnRatio: 0.7, alarmScore: 85, warnScore: 55 },
    tilt: { alarm: 4, warnRatio: 0.7, alarmScore: 85, warnScore: 55 },
    crack: { alarm: 2, warnRatio: 0.7, alarmScore: 85, warnScore: 55 },
    rate: {
      slowMmPerDay: 0.13,
      slowWindowHours: 168,
      fastMmPerDay: 2,
      fastWindowHours: 48,
      bucketMinutes: 60,
      minCoverage: 0.5,
      minPoints: 12,
      slowScore: 55,
      fastScore: 85,
    },
    battery: { lowPct: 20, clearPct: 25, score: 45 },
  },
};
