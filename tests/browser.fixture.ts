// The control-room suites' world (issue 17): one fire center with a fire panel of five zones in a
// building, three homes of residents who live alone, a grid worker, an operator and a supervisor
// on duty with email addresses; findings raised as the rule engine would.
import type { Finding } from '../contracts/findings.ts';
import type { RegistryInput } from './support/registries.ts';

export function controlRoom(): RegistryInput {
  return {
    centers: [{ id: 'c1', name: '城东联合消防中心', timezone: 'Asia/Shanghai' }],
    grids: [{ id: 'g1', centerId: 'c1', name: '梅园一网格', workerId: 'w1' }],
    sites: [
      { id: 'b1', kind: 'building', centerId: 'c1', gridId: 'g1', name: '梅园商厦', address: '梅园路1号' },
      { id: 's1', kind: 'home', centerId: 'c1', gridId: 'g1', name: '梅园新村 3-2-401', address: '梅园新村3栋2单元401', resident: { name: '王秀英', age: 84, livesAlone: true, phone: '13800000001' } },
      { id: 's2', kind: 'home', centerId: 'c1', gridId: 'g1', name: '梅园新村 5-1-102', address: '梅园新村5栋1单元102', resident: { name: '李建国', age: 79, livesAlone: true } },
      { id: 's3', kind: 'home', centerId: 'c1', gridId: 'g1', name: '梅园新村 7-3-302', address: '梅园新村7栋3单元302', resident: { name: '赵淑兰', age: 88, livesAlone: true } },
    ],
    devices: [
      { id: 'fp-1', type: 'fire_panel', siteId: 'b1', location: '消控室' },
      { id: 'sd-1', type: 'smoke_detector', siteId: 's1', location: '厨房' },
      { id: 'sd-2', type: 'smoke_detector', siteId: 's2', location: '客厅' },
      { id: 'sd-3', type: 'smoke_detector', siteId: 's3', location: '卧室' },
    ],
    people: [
      { id: 'op1', name: '陈值班', role: 'operator', centerId: 'c1', email: 'op1@example.test' },
      { id: 'sup1', name: '赵值班长', role: 'supervisor', centerId: 'c1', email: 'sup1@example.test', locale: 'en' },
      { id: 'w1', name: '张网格', role: 'grid_worker', centerId: 'c1', email: 'w1@example.test', phone: '13700000003' },
    ],
    rosters: [{ centerId: 'c1', timezone: 'Asia/Shanghai', shifts: [{ id: 'day', name: '全天班', start: '0 0 * * *', durationMinutes: 1440, operators: ['op1'], supervisor: 'sup1' }] }],
  };
}

/** The control room with its sites a few hundred metres apart (the map's suites); 赵淑兰's home has no coordinates. */
export function withCoordinates(): RegistryInput {
  const reg = controlRoom();
  const at: Record<string, [number, number]> = { b1: [30.6012, 119.8031], s1: [30.5981, 119.7995], s2: [30.6043, 119.7972] };
  return { ...reg, sites: (reg.sites ?? []).map((s) => (at[s.id] ? { ...s, lat: at[s.id]![0], lon: at[s.id]![1] } : s)) };
}

const SITE_OF: Record<string, { siteId: string; deviceType: Finding['deviceType'] }> = {
  'fp-1': { siteId: 'b1', deviceType: 'fire_panel' },
  'sd-1': { siteId: 's1', deviceType: 'smoke_detector' },
  'sd-2': { siteId: 's2', deviceType: 'smoke_detector' },
  'sd-3': { siteId: 's3', deviceType: 'smoke_detector' },
};

/** A red fire finding: a smoke detector's alarm, or a panel zone's fire alarm (火警). */
export function fireFinding(deviceId: string, over: Partial<Finding> = {}): Finding {
  const d = SITE_OF[deviceId]!;
  const panel = d.deviceType === 'fire_panel';
  return {
    ruleId: panel ? 'panel.fire' : 'smoke.alarm', level: 'red', score: 90, category: 'fire', condition: panel ? 'fire' : 'alarm',
    message: panel ? { en: 'Fire alarm', zh: '火警' } : { en: 'Smoke alarm', zh: '烟感火警' },
    deviceId, deviceType: d.deviceType, siteId: d.siteId, centerId: 'c1', gridId: 'g1',
    zone: undefined, ts: Date.now(), confirmed: false, clears: false, ...over,
  };
}
