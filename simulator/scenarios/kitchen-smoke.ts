// Cooking smoke: the kitchen detector goes off, the resident presses hush, a window is opened and
// the smoke clears. One red incident at the home (an alarm is red: someone living alone may not
// answer), which an operator closes as a nuisance alarm with feedback.
import type { SmokeDetectorModel } from '../models/index.ts';
import { devicesOfSite, isMains, pickHome, room, type Scenario } from './types.ts';

export const kitchenSmoke: Scenario = {
  name: 'kitchen-smoke',
  title: { en: 'Kitchen smoke that clears', zh: '厨房油烟（自行消散）' },
  description: {
    en: 'Frying fills the kitchen with smoke: the detector passes pre-alarm, alarms, the resident silences it (hush) and opens a window; the smoke clears in a few minutes and the detector reports alarm_clear.',
    zh: '炒菜油烟使厨房探测器先达到预警、再报警；老人按下消音键并开窗通风，数分钟后烟雾散去，探测器上报报警解除。',
  },
  expects: {
    incidents: [{
      key: 'site', category: 'fire', level: 'red', confirmed: false, count: 1,
      text: { en: 'One red fire incident at the home (pre-alarm, alarm and hush all update it); it stays open until an operator resolves it as a nuisance with feedback.', zh: '该住户一起红色火警事件（预警、报警、消音均合并到同一事件），需值班员以“烹饪误报”处置并填写反馈后关闭。' },
    }],
    text: { en: 'One incident, not confirmed, not closed by the alarm clearing.', zh: '一起未确认的事件，报警解除不会自动关闭。' },
  },
  select(r, rng, exclude) {
    const siteId = pickHome(r, rng, exclude, (ds) => ds.some((d) => room(d) === 'kitchen' && isMains(d)));
    if (!siteId) return undefined;
    const kitchen = devicesOfSite(r, siteId).find((d) => room(d) === 'kitchen')!;
    return { siteId, deviceIds: [kitchen.id] };
  },
  async run(ctx) {
    const dev = ctx.device(ctx.targets.deviceIds[0]!);
    const m = dev.model as SmokeDetectorModel;
    ctx.log('frying: smoke rises in the kitchen');
    // Cooking smoke peaks around 0.2 dB/m within a couple of minutes (a hot wok without a hood).
    m.setSmoke({ target: 0.22, tauSec: 60 });
    dev.poke();
    await ctx.until(() => m.state.alarm, 600);
    await ctx.sleep(20);
    ctx.log('the resident presses hush and opens the window');
    m.hush();
    m.ventilate(90);
    dev.poke();
    await ctx.until(() => !m.state.alarm, 1200);
    dev.reportNow();
    ctx.log('smoke cleared');
  },
};
