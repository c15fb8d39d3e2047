// A dying battery, in time-lapse: a battery (NB-IoT) detector's daily reports show the cell
// sinking over a week until it chirps low_battery; the grid worker replaces it and it reports 100 %.
import type { SmokeDetectorModel } from '../models/index.ts';
import { DETECTOR_LOW_BATTERY_PCT } from '../models/smoke-detector.ts';
import { devicesOfSite, isMains, pickHome, type Scenario } from './types.ts';

export const dyingBattery: Scenario = {
  name: 'dying-battery',
  title: { en: 'A dying battery', zh: '电池电量耗尽' },
  description: {
    en: 'Time-lapse of a week: every few seconds is one day of a battery detector, whose daily report shows its cell falling from 30 % to 12 %; at 20 % it sends low_battery. Then the grid worker fits a new battery and the detector reports 100 %.',
    zh: '一周的延时演示：每隔几秒代表电池供电探测器的一天，其日报电量由30%降至12%，降到20%时上报低电量。随后网格员更换电池，探测器上报100%。',
  },
  expects: {
    incidents: [{
      key: 'device', category: 'maintenance', level: 'yellow', condition: 'low_battery', count: 1, resolvesItself: true,
      text: { en: 'One yellow maintenance incident for the detector; resolved automatically when the new battery reports.', zh: '该探测器一起黄色维护事件；更换电池上报后自动解除。' },
    }],
    text: { en: 'A broken safeguard: yellow, never red.', zh: '安全设施失效：黄色，不升红色。' },
  },
  select(r, rng, exclude) {
    // Prefer a battery unit; a mains unit's backup cell dies the same way.
    const siteId = pickHome(r, rng, exclude, (ds) => ds.some((d) => !isMains(d))) ?? pickHome(r, rng, exclude, (ds) => ds.length > 0);
    if (!siteId) return undefined;
    const devs = devicesOfSite(r, siteId).filter((d) => d.type === 'smoke_detector');
    const d = devs.find((x) => !isMains(x)) ?? devs[0]!;
    return { siteId, deviceIds: [d.id] };
  },
  async run(ctx) {
    const dev = ctx.device(ctx.targets.deviceIds[0]!);
    const m = dev.model as SmokeDetectorModel;
    m.drainBattery(30, 1);
    dev.advance(1);
    const DAY = 86_400;
    for (let day = 0; day < 7 && m.state.battery > 12; day++) {
      m.drainBattery(Math.max(12, m.state.battery - 3), DAY);
      dev.advance(DAY);
      dev.reportNow();
      ctx.log('daily report', { battery: Math.round(m.state.battery) });
      await ctx.sleep(30);
    }
    if (m.state.battery > DETECTOR_LOW_BATTERY_PCT) throw new Error('battery did not fall below the low-battery point');
    await ctx.sleep(60);
    ctx.log('the grid worker replaces the battery');
    m.replaceBattery();
    dev.poke();
  },
};
