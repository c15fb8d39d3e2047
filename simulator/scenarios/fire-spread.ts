// A real fire: smoke in one room, then heat there, then the smoke reaches the next room and a
// second detector alarms. Confirmed red at the right home; the fire brigade puts it out.
import type { SmokeDetectorModel } from '../models/index.ts';
import { devicesOfSite, isMains, pickHome, room, type Scenario } from './types.ts';

export const fireSpread: Scenario = {
  name: 'fire-spread',
  title: { en: 'A real fire spreading room to room', zh: '真实火情（蔓延至相邻房间）' },
  description: {
    en: 'A fire starts in one room (an electric heater by the bed, a pan left on the stove): dense smoke there, then the heat rises past 57 °C, and within two minutes the smoke reaches the next room and its detector alarms too. After eight minutes the fire is out and the rooms are ventilated.',
    zh: '火灾起于一个房间（床边电暖器或灶上无人看管的锅）：先是浓烟，随后温度升过57 °C；两分钟内烟雾蔓延至相邻房间，第二只探测器也报警。八分钟后火被扑灭，房间通风。',
  },
  expects: {
    incidents: [{
      key: 'site', category: 'fire', level: 'red', confirmed: true, count: 1,
      text: { en: 'One confirmed red fire incident at the home (two detectors within 120 s, and heat).', zh: '该住户一起已确认的红色火警事件（120秒内两只探测器报警，并有高温）。' },
    }],
    text: { en: 'Confirmed red at the right site; no incident anywhere else.', zh: '在正确的地点产生已确认红色事件，其他地点无事件。' },
  },
  select(r, rng, exclude) {
    const siteId = pickHome(r, rng, exclude, (ds) => ds.length >= 2 && ds.every(isMains));
    if (!siteId) return undefined;
    // Start where fires start: the kitchen if there is one, else the first room.
    const devs = devicesOfSite(r, siteId).filter((d) => d.type === 'smoke_detector');
    devs.sort((a, b) => Number(room(b) === 'kitchen') - Number(room(a) === 'kitchen'));
    return { siteId, deviceIds: devs.slice(0, 2).map((d) => d.id) };
  },
  async run(ctx) {
    const [a, b] = ctx.targets.deviceIds.map((id) => ctx.device(id));
    const first = a!.model as SmokeDetectorModel;
    const second = b!.model as SmokeDetectorModel;
    ctx.log('fire starts', { room: a!.device.location });
    first.setSmoke({ target: 1.2, tauSec: 90 });
    a!.poke();
    await ctx.until(() => first.state.alarm, 300);
    await ctx.sleep(30);
    // A room fire heats the ceiling by some tens of °C per minute before flashover (NIST room tests).
    ctx.log('heat rises in the first room');
    first.setHeat({ target: 95, tauSec: 240 });
    a!.poke();
    await ctx.sleep(40);
    ctx.log('smoke reaches the next room', { room: b!.device.location });
    second.setSmoke({ target: 0.7, tauSec: 120 });
    second.setHeat({ target: 40, tauSec: 600 });
    b!.poke();
    await ctx.until(() => second.state.alarm, 300);
    await ctx.sleep(300);
    ctx.log('the fire brigade puts the fire out and ventilates');
    first.ventilate(120);
    second.ventilate(120);
    a!.poke();
    b!.poke();
    await ctx.until(() => !first.state.alarm && !second.state.alarm, 3600);
  },
};
