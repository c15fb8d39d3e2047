// Slow settlement creep, in time-lapse: excavation for a new building next door undermines an old
// block; one monitoring point sinks a few millimetres a day until it passes the warning value
// (70 % of the alarm value) and then the alarm value (20 mm, DESIGN.md / GB 50007 practice).
import type { SettlementSensorModel } from '../models/index.ts';
import type { Scenario } from './types.ts';

/** Simulated hours per report in the time-lapse, and the creep rate (a foundation pit next door). */
const HOURS_PER_REPORT = 12;
const CREEP_MM_PER_DAY = 3;
/** Where it pauses: past the warning value (14 mm), well below the alarm value. */
const WARN_STOP_MM = 16;
/** Where it stops: past the default alarm value of 20 mm. */
const STOP_MM = 23;
/**
 * Reports while the point stands still, one per 10 s of wall time. The rules judge a level on the
 * readings of a trailing window of measurement time (a strict majority of them, one per 10 s over
 * 120 s: rules/README.md), so a time-lapse ramp of a few seconds counts as one or two readings; the
 * point has to stand at a level for a while before it shows, as a real point does for days.
 */
const HOLD_EVERY_MS = 10_000;
const WARN_HOLD_REPORTS = 1;
const ALARM_HOLD_REPORTS = 4;

export const settlementCreep: Scenario = {
  name: 'settlement-creep',
  title: { en: 'Slow settlement creep', zh: '房屋缓慢沉降' },
  description: {
    en: 'Time-lapse of two weeks: a foundation pit dug next door makes one point of an old building sink about 3 mm a day; every report is twelve hours of its life. It passes the warning value (14 mm) and stands there for a while, then passes the alarm value (20 mm) and stays; tilt grows with it. About a minute: a level counts once the point has stood at it.',
    zh: '两周的延时演示：邻近基坑开挖使老旧楼房一个监测点每天下沉约3毫米，每次上报代表12小时。沉降先超过预警值（14毫米）并停留片刻，再超过报警值（20毫米）并保持，倾斜随之增大。约需一分钟：监测点在某一数值停留后才据此判定。',
  },
  expects: {
    incidents: [{
      key: 'site', category: 'structural', level: 'red', levels: ['yellow', 'red'], count: 1,
      text: { en: 'One structural incident at the building: yellow when the warning value is crossed, raised to red at the alarm value.', zh: '该楼一起结构安全事件：超过预警值时为黄色，达到报警值时升为红色。' },
    }],
    text: { en: 'Crosses yellow, then red; the incident is raised, not duplicated.', zh: '先黄后红；同一事件升级，不重复。' },
  },
  select(r, rng, exclude) {
    const points = r.devices.filter((d) => d.type === 'settlement_sensor' && d.enabled !== false && d.meta?.crackMeter !== true && !exclude?.has(d.siteId));
    if (!points.length) return undefined;
    const p = rng.pick(points);
    return { siteId: p.siteId, deviceIds: [p.id] };
  },
  async run(ctx) {
    const dev = ctx.device(ctx.targets.deviceIds[0]!);
    const m = dev.model as SettlementSensorModel;
    const creepTo = async (mm: number) => {
      m.setCreepRate(CREEP_MM_PER_DAY);
      for (let i = 0; i < 200 && m.state.settlement < mm; i++) {
        dev.advance(HOURS_PER_REPORT * 3600);
        dev.reportNow();
        await ctx.sleep(20);
      }
      // The digging pauses: the point stands where it is and keeps reporting.
      m.setCreepRate(0.002);
      for (let i = 0; i < (mm === STOP_MM ? ALARM_HOLD_REPORTS : WARN_HOLD_REPORTS); i++) {
        await ctx.sleepWall(HOLD_EVERY_MS);
        dev.reportNow();
      }
    };
    await creepTo(WARN_STOP_MM);
    ctx.log('creep paused', { settlement: Math.round(m.state.settlement * 10) / 10 });
    // The pit is dug deeper, then shored up: the building settles no further, but what it has settled stays.
    await creepTo(STOP_MM);
    ctx.log('creep reached', { settlement: Math.round(m.state.settlement * 10) / 10 });
  },
};
