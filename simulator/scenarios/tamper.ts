// A detector taken off its base (to stop it chirping, or to paint the ceiling): tamper, and
// tamper_clear when it is put back ten minutes later.
import type { SmokeDetectorModel } from '../models/index.ts';
import { devicesOfSite, pickHome, type Scenario } from './types.ts';

export const tamper: Scenario = {
  name: 'tamper',
  title: { en: 'A detector taken off its base', zh: '探测器被拆下底座' },
  description: {
    en: 'Someone twists a detector off its ceiling base (it chirped, or the ceiling is being painted); it reports tamper. Ten minutes later it is put back and reports tamper_clear.',
    zh: '有人把探测器从吸顶底座上拧下（因其鸣叫或粉刷天花板），探测器上报防拆报警；十分钟后装回，上报防拆恢复。',
  },
  expects: {
    incidents: [{
      key: 'device', category: 'maintenance', level: 'yellow', condition: 'tamper', count: 1, resolvesItself: true,
      text: { en: 'One yellow maintenance incident; resolved automatically by tamper_clear.', zh: '一起黄色维护事件；防拆恢复后自动解除。' },
    }],
    text: { en: 'A removed detector protects nobody: yellow.', zh: '被拆下的探测器不起保护作用：黄色。' },
  },
  select(r, rng, exclude) {
    const siteId = pickHome(r, rng, exclude, (ds) => ds.length > 0);
    if (!siteId) return undefined;
    return { siteId, deviceIds: [devicesOfSite(r, siteId).find((d) => d.type === 'smoke_detector')!.id] };
  },
  async run(ctx) {
    const dev = ctx.device(ctx.targets.deviceIds[0]!);
    const m = dev.model as SmokeDetectorModel;
    m.removeFromBase();
    dev.poke();
    await ctx.sleep(600);
    ctx.log('put back on its base');
    m.mount();
    dev.poke();
  },
};
