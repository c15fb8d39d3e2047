// Slow settlement creep, in time-lapse: excavation for a new building next door undermines an old
// block; one monitoring point sinks a few millimetres a day until it passes the warning value
// (70 % of the alarm value) and then the alarm value (20 mm, DESIGN.md / GB 50007 practice).
import type { SettlementSensorModel } from '../models/index.ts';
import type { Scenario } from './types.ts';

/** Simulated hours per report in the time-lapse, and the creep rate (a foundation pit next door). */
const HOURS_PER_REPORT = 12;
const CREEP_MM_PER_DAY = 3;
/** Where it stops: past the default alarm value of 20 mm. */
const STOP_MM = 23;

export const settlementCreep: Scenario = {
  name: 'settlement-creep',
  title: { en: 'Slow settlement creep', zh: '房屋缓慢沉降' },
  description: {
    en: 'Time-lapse of two weeks: a foundation pit dug next door makes one point of an old building sink about 3 mm a day; every report is twelve hours of its life. It passes the warning value (14 mm) and then the alarm value (20 mm); tilt grows with it.',
    zh: '两周的延时演示：邻近基坑开挖使老旧楼房一个监测点每天下沉约3毫米，每次上报代表12小时。沉降先超过预警值（14毫米），再超过报警值（20毫米），倾斜随之增大。',
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
    m.setCreepRate(CREEP_MM_PER_DAY);
    for (let i = 0; i < 200 && m.state.settlement < STOP_MM; i++) {
      dev.advance(HOURS_PER_REPORT * 3600);
      dev.reportNow();
      await ctx.sleep(20);
    }
    ctx.log('creep reached', { settlement: Math.round(m.state.settlement * 10) / 10 });
    // The pit is shored up: the building settles no further, but what it has settled stays.
    m.setCreepRate(0.002);
  },
};
