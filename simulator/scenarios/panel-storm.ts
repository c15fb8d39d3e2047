// An alarm storm: water from a burst pipe runs down a cable shaft and hundreds of points on a few
// zones report fire within a minute. The panel is in manual linkage mode (手动状态, common in
// practice), so no pump or fan starts. The console must show one incident per zone, not hundreds.
import type { FirePanelModel, PanelPoint } from '../models/index.ts';
import type { Scenario } from './types.ts';

/** Points of a zone that go off: most of them, the way a wet loop cable takes out a whole riser. */
const SHARE = 0.8;

export const panelStorm: Scenario = {
  name: 'panel-storm',
  title: { en: 'Fire panel alarm storm', zh: '火灾报警控制器报警风暴' },
  description: {
    en: 'A burst pipe floods a cable shaft: within a minute most detectors of three zones of one panel report fire, sent by the transmission unit in batches. Five minutes later the panel is reset.',
    zh: '水管爆裂导致电缆井进水：一分钟内同一控制器三个防火分区的大部分探测器报火警，由传输装置批量上传。五分钟后控制器复位。',
  },
  expects: {
    incidents: [{
      key: 'panel_zone', category: 'fire', level: 'red', confirmed: true, count: 'per_zone',
      text: { en: 'One red incident per affected zone (confirmed: many points within 120 s), however many points alarm.', zh: '每个受影响的防火分区一起红色事件（120秒内多点报警即确认），无论报警点有多少。' },
    }],
    text: { en: 'Hundreds of events, as many incidents as zones.', zh: '数百条报警，事件数等于分区数。' },
  },
  select(r, rng, exclude) {
    const panels = r.devices.filter((d) => d.type === 'fire_panel' && d.enabled !== false && !exclude?.has(d.siteId));
    if (!panels.length) return undefined;
    const p = rng.pick(panels);
    return { siteId: p.siteId, deviceIds: [p.id] };
  },
  async run(ctx) {
    const dev = ctx.device(ctx.targets.deviceIds[0]!);
    const panel = dev.model as FirePanelModel;
    panel.setLinkage('manual');
    const zones = panel.zones.slice(0, Math.min(ctx.options.zones ?? 3, panel.zones.length));
    const hit: PanelPoint[] = [];
    for (const z of zones) for (const p of panel.pointsOfZone(z)) if (ctx.rng.chance(SHARE)) hit.push(p);
    // Shuffle: water reaches the zones' detectors in no particular order.
    for (let i = hit.length - 1; i > 0; i--) {
      const j = ctx.rng.int(0, i);
      [hit[i], hit[j]] = [hit[j]!, hit[i]!];
    }
    ctx.log('storm begins', { zones, points: hit.length });
    const perSecond = Math.ceil(hit.length / 60);
    for (let i = 0; i < hit.length; i += perSecond) {
      for (const p of hit.slice(i, i + perSecond)) panel.fire(p);
      dev.poke();
      await ctx.sleep(1);
    }
    await ctx.sleep(5 * 60);
    ctx.log('panel reset by the site');
    panel.reset();
    panel.setLinkage('auto');
    dev.poke();
  },
};
