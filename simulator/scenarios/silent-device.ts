// A device that goes silent: its radio module hangs and the connection drops without a word. A
// mains detector is declared offline only after it misses its reports (interval × 2 + grace),
// not at the disconnect; it comes back after a while and the offline incident resolves itself.
import { DEFAULT_INTERVAL_SEC } from '../../contracts/registry.ts';
import { devicesOfSite, isMains, pickHome, type Scenario } from './types.ts';

/** DESIGN.md offline rule: interval × 2 + grace (60 s), checked by a sweep every few seconds. */
export const defaultHoldMs = (intervalSec: number): number => (intervalSec * 2 + 60) * 1000 + 30_000;

export const silentDevice: Scenario = {
  name: 'silent-device',
  title: { en: 'A device that goes silent', zh: '设备失联' },
  description: {
    en: "A detector's radio hangs: the connection drops without DISCONNECT (the broker publishes its will) and it sends nothing more. It is declared offline once it has missed its reports (interval × 2 + grace, wall-clock time), then it recovers and reconnects.",
    zh: '探测器通信模块死机：连接异常断开（代理发布其遗嘱消息），之后不再上报。错过上报周期（周期×2+宽限，按实际时间）后判定离线；之后恢复并重新连接。',
  },
  expects: {
    incidents: [{
      key: 'device', category: 'maintenance', level: 'yellow', condition: 'offline', count: 1, resolvesItself: true,
      text: { en: 'One yellow offline incident, raised no earlier than interval × 2 + grace after the last report; resolved when it reconnects.', zh: '一起黄色离线事件，最早在最后一次上报后“周期×2+宽限”产生；重新连接后自动解除。' },
    }],
    text: { en: 'Silence is a broken safeguard: yellow.', zh: '失联即安全设施失效：黄色。' },
  },
  select(r, rng, exclude) {
    const siteId = pickHome(r, rng, exclude, (ds) => ds.some(isMains));
    if (!siteId) return undefined;
    return { siteId, deviceIds: [devicesOfSite(r, siteId).find((d) => d.type === 'smoke_detector' && isMains(d))!.id] };
  },
  async run(ctx) {
    const dev = ctx.device(ctx.targets.deviceIds[0]!);
    dev.reportNow();
    await ctx.sleep(1);
    ctx.log('radio hangs');
    dev.silence();
    await ctx.sleepWall(ctx.options.holdMs ?? defaultHoldMs(dev.device.intervalSec ?? DEFAULT_INTERVAL_SEC.smoke_detector));
    ctx.log('back again');
    await dev.revive();
    dev.reportNow();
  },
};
