// A home loses power: the home's router dies with it, so every detector of the home (each still
// watching on its backup cell) drops off the network at the same moment. Power comes back later.
import { DEFAULT_INTERVAL_SEC } from '../../contracts/registry.ts';
import { devicesOfSite, isMains, pickHome, type Scenario } from './types.ts';
import { defaultHoldMs } from './silent-device.ts';

export const powerLoss: Scenario = {
  name: 'power-loss',
  title: { en: 'A home loses power', zh: '住户停电' },
  description: {
    en: "The home's power fails and its Wi-Fi router with it: all its detectors lose their connection at once (wills published). When they have missed their reports they are offline; when power returns they reconnect.",
    zh: '住户断电，家中路由器随之断电：所有探测器同时断开连接（发布遗嘱消息）。错过上报周期后判定离线；恢复供电后重新连接。',
  },
  expects: {
    incidents: [{
      key: 'device', category: 'maintenance', level: 'yellow', condition: 'offline', count: 'per_device', resolvesItself: true,
      text: { en: 'One yellow offline incident per detector of the home; all resolved when power returns.', zh: '该住户每只探测器各一起黄色离线事件；恢复供电后全部自动解除。' },
    }],
    text: { en: 'No fire incident: a dark home is a broken safeguard, not a fire.', zh: '不产生火警：断电是安全设施失效，不是火情。' },
  },
  select(r, rng, exclude) {
    const siteId = pickHome(r, rng, exclude, (ds) => ds.length >= 2 && ds.every(isMains));
    if (!siteId) return undefined;
    return { siteId, deviceIds: devicesOfSite(r, siteId).filter((d) => d.type === 'smoke_detector').map((d) => d.id) };
  },
  async run(ctx) {
    const devs = ctx.targets.deviceIds.map((id) => ctx.device(id));
    for (const d of devs) d.reportNow();
    await ctx.sleep(1);
    ctx.log('power fails');
    for (const d of devs) d.silence();
    const interval = Math.max(...devs.map((d) => d.device.intervalSec ?? DEFAULT_INTERVAL_SEC.smoke_detector));
    await ctx.sleepWall(ctx.options.holdMs ?? defaultHoldMs(interval));
    ctx.log('power restored');
    await Promise.all(devs.map((d) => d.revive()));
    for (const d of devs) d.reportNow();
  },
};
