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
    persist: { count: 3, of: 4, forSec: 20 },
    smoke: { preAlarm: 0.08, alarm: 0.15, preAlarmScore: 60, alarmScore: 85, baseline: { maxRisePerHour: 0.002, offsetWarn: 0.05, score: 45 } },
    heat: { fixedC: 57, rateCPerMin: 8.3, rateWindowSec: 120, rateMinSpanSec: 20, score: 85 },
    co: {
      curve: [[50, 60], [100, 10], [300, 3]],
      floorPpm: 30,
      warnDose: 0.5,
      gapIntervals: 1.5,
      recoveryHalfLifeMin: 240,
      baseline: { maxRisePerHour: 1, offsetWarn: 30, score: 45 },
      warnScore: 60,
      alarmScore: 85,
    },
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
    settlement: { alarm: 20, warnRatio: 0.7, alarmScore: 85, warnScore: 55, windowSec: 120 },
    tilt: {
      alarm: 4, warnRatio: 0.7, alarmScore: 85, warnScore: 55, filter: 'median', windowSec: 60,
      rate: { perDay: 0.05, windowDays: 30, bucketHours: 24, minPoints: 4, minSpanDays: 14, score: 55 },
    },
    crack: { alarm: 2, warnRatio: 0.7, alarmScore: 85, warnScore: 55, windowSec: 120 },
    rate: {
      fast: { perDay: 2, windowDays: 15, bucketHours: 6, minPoints: 3, minSpanDays: 1, score: 85 },
      slow: { perDay: 0.13, windowDays: 30, bucketHours: 24, minPoints: 4, minSpanDays: 14, score: 55 },
    },
    crackRate: {
      fast: { perDay: 0.5, windowDays: 15, bucketHours: 6, minPoints: 3, minSpanDays: 1, score: 85 },
      slow: { perDay: 0.05, windowDays: 30, bucketHours: 24, minPoints: 4, minSpanDays: 14, score: 55 },
    },
    battery: { lowPct: 20, clearPct: 25, score: 45 },
  },
};
