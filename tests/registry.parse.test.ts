// Registry files and CSV sheets: every problem is reported, by path or by row and column.
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { loadRegistryFile, parseRegistryCsv, parseRegistryYaml } from '../registry/index.ts';
import { WatchfireError } from '../contracts/errors.ts';
import type { DeviceType } from '../contracts/protocol.ts';
import { checkDeviceRules, DEFAULT_RULE_SET } from '../rules/index.ts';

const EXAMPLE = fileURLToPath(new URL('../config/registry.example.yaml', import.meta.url));

function problemsOf(fn: () => unknown): readonly string[] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(WatchfireError);
    expect((err as WatchfireError).code).toBe('WF_REGISTRY_INVALID');
    return (err as WatchfireError).details;
  }
  throw new Error('expected WF_REGISTRY_INVALID, nothing was thrown');
}

const GOOD = `
centers: [{ id: c1, name: 中心 }]
grids: [{ id: g1, centerId: c1, name: 一网格, workerId: w1 }]
sites:
  - { id: h1, kind: home, centerId: c1, gridId: g1, name: 家, resident: { name: 李奶奶 } }
devices:
  - { id: d1, type: smoke_detector, siteId: h1 }
people:
  - { id: w1, name: 王, role: grid_worker }
  - { id: o1, name: 刘, role: operator }
rosters:
  - { centerId: c1, shifts: [{ id: day, name: 白班, start: '0 8 * * *', durationMinutes: 720, operators: [o1] }] }
`;

describe('registry YAML', () => {
  it('accepts a consistent file and applies defaults', () => {
    const f = parseRegistryYaml(GOOD);
    expect(f.devices[0]).toMatchObject({ id: 'd1', enabled: true, location: '' });
    expect(f.rosters[0]!.timezone).toBe('Asia/Shanghai');
    expect(f.sites[0]!.resident!.livesAlone).toBe(true);
  });

  it('lists every problem of a file with several errors, each by its path', () => {
    const text = `
centers:
  - { id: c1, name: 中心, timezone: Mars/Olympus }
grids:
  - { id: g1, centerId: c9, name: 网格, workerId: o1 }
sites:
  - { id: h1, kind: home, centerId: c1, gridId: g1, name: 家 }
  - { id: h1, kind: home, centerId: c1, name: 又一家 }
  - { id: h2, kind: home, centerId: c1, gridId: g7, name: 三家 }
devices:
  - { id: d1, type: smoke_detector, siteId: h1 }
  - { id: d2, type: smoke_detector, siteId: h1 }
  - { id: d3, type: smoke_detector, siteId: h1, intervalsec: 60 }
  - { id: d4, type: smoke_detector, siteId: h-99 }
people:
  - { id: o1, name: 刘, role: operator }
  - { id: l1, name: 联络, role: operator }
rosters:
  - centerId: c1
    liaison: l1
    shifts: [{ id: day, name: 白班, start: '0 25 * * *', durationMinutes: 720, operators: [o1, ghost] }]
  - { centerId: c2, shifts: [{ id: day, name: 白班, start: '0 8 * * *', durationMinutes: 720, operators: [o1] }] }
`;
    const problems = problemsOf(() => parseRegistryYaml(text));
    const expected = [
      'devices.2.intervalsec: unknown field',
      'sites.1.id: duplicate "h1" (first at sites.0)',
      'centers.0.timezone: unknown time zone "Mars/Olympus"',
      'grids.0.centerId: no center "c9"',
      'grids.0.workerId: person "o1" is a operator, expected grid_worker',
      'sites.0.gridId: grid "g1" belongs to center "c9", not "c1"',
      'sites.2.gridId: no grid "g7"',
      'devices.3.siteId: no site "h-99"',
      'rosters.0.liaison: person "l1" is a operator, expected liaison',
      'rosters.0.shifts.0.start: invalid cron pattern "0 25 * * *"',
      'rosters.0.shifts.0.operators.1: no person "ghost"',
      'rosters.1.centerId: no center "c2"',
    ];
    for (const e of expected) expect(problems.some((p) => p.startsWith(e)), `missing "${e}" in:\n${problems.join('\n')}`).toBe(true);
    expect(problems).toHaveLength(expected.length);
  });

  it('reports shape errors by path, all of them, before references', () => {
    const problems = problemsOf(() => parseRegistryYaml(`
devices:
  - { id: 'bad id!', type: toaster, siteId: h1, intervalSec: -5 }
people:
  - { id: p1, name: '', role: chef, email: not-an-email }
`));
    for (const path of ['devices.0.id', 'devices.0.type', 'devices.0.intervalSec', 'people.0.name', 'people.0.role', 'people.0.email']) {
      expect(problems.some((p) => p.startsWith(`${path}:`)), `missing ${path} in:\n${problems.join('\n')}`).toBe(true);
    }
  });

  it('reports YAML syntax errors with their line', () => {
    const problems = problemsOf(() => parseRegistryYaml('centers:\n  - id: c1\n    id: c2\n'));
    expect(problems[0]).toMatch(/^\(yaml\) line 3: Map keys must be unique/);
  });

  it('checks references against what is registered for a partial file', () => {
    const registered = parseRegistryYaml(GOOD);
    const partial = 'devices:\n  - { id: d2, type: fire_panel, siteId: h1 }\n  - { id: d3, type: fire_panel, siteId: nowhere }\n';
    expect(problemsOf(() => parseRegistryYaml(partial, { registered }))).toEqual(['devices.1.siteId: no site "nowhere"']);
    // A change in the file that breaks a registered entity is reported under that entity's name.
    const problems = problemsOf(() => parseRegistryYaml('people:\n  - { id: w1, name: 王, role: operator }\n', { registered }));
    expect(problems).toEqual(['grids.0.workerId: person "w1" is a operator, expected grid_worker'.replace('grids.0', 'registered grid "g1"')]);
  });

  it('loads the example registry cleanly', () => {
    const f = loadRegistryFile(EXAMPLE);
    expect(f.centers).toHaveLength(1);
    expect(f.grids).toHaveLength(2);
    expect(f.grids.every((g) => f.people.find((p) => p.id === g.workerId)?.role === 'grid_worker')).toBe(true);
    const homes = f.sites.filter((s) => s.kind === 'home');
    expect(homes).toHaveLength(3);
    for (const h of homes) {
      expect(h.resident?.livesAlone).toBe(true);
      expect(h.contacts.length).toBeGreaterThan(0);
      const detectors = f.devices.filter((d) => d.siteId === h.id && d.type === 'smoke_detector');
      expect(detectors.length).toBeGreaterThanOrEqual(1);
      expect(detectors.length).toBeLessThanOrEqual(3);
    }
    expect(f.devices.filter((d) => d.type === 'fire_panel')).toHaveLength(1);
    expect(f.devices.filter((d) => d.type === 'settlement_sensor').map((d) => d.siteId)).toEqual(['b-hx-7', 'b-hx-7']);
    expect(f.rosters[0]!.shifts.map((s) => [s.start, s.durationMinutes])).toEqual([['0 8 * * *', 720], ['0 20 * * *', 720]]);
    expect(f.rosters[0]!.timezone).toBe('Asia/Shanghai');
    for (const role of ['operator', 'supervisor', 'liaison', 'manager'] as const) expect(f.people.some((p) => p.role === role)).toBe(true);
  });

  it('names a missing file', () => {
    expect(() => loadRegistryFile('/nonexistent/registry.yaml')).toThrow(/Cannot read registry file \/nonexistent/);
  });
});

describe('registry CSV', () => {
  it('imports sites with residents and numbered emergency contacts', () => {
    const csv = [
      'id,kind,centerId,gridId,name,address,residentName,residentPhone,residentAge,contact1Name,contact1Phone,contact1Relation,contact2Name,contact2Phone,contact2Relation',
      'h1,home,c1,g1,李家,幸福里1栋,李桂兰,138,82,王建国,139,儿子,,,',
      '',
      'h2,home,c1,,张家,幸福里2栋,张秀英,,79,,,,刘敏,137,女儿',
    ].join('\n');
    const f = parseRegistryCsv('sites', csv);
    expect(f.devices).toEqual([]);
    expect(f.sites).toHaveLength(2);
    expect(f.sites[0]).toMatchObject({ id: 'h1', gridId: 'g1', resident: { name: '李桂兰', phone: '138', age: 82, livesAlone: true }, contacts: [{ name: '王建国', phone: '139', relation: '儿子' }] });
    expect(f.sites[1]!.gridId).toBeUndefined();
    expect(f.sites[1]!.contacts).toEqual([{ name: '刘敏', phone: '137', relation: '女儿', locale: 'zh-CN' }]);
  });

  it('imports devices with types, booleans, intervals and meta columns', () => {
    const f = parseRegistryCsv('devices', '\ufeffid,type,siteId,location,intervalSec,enabled,meta.settlementBaseline\nd1,smoke_detector,h1,厨房,,是,\nd2,settlement_sensor,b1,东北角,3600,no,1.5\n');
    expect(f.devices).toEqual([
      { id: 'd1', type: 'smoke_detector', siteId: 'h1', location: '厨房', enabled: true },
      { id: 'd2', type: 'settlement_sensor', siteId: 'b1', location: '东北角', intervalSec: 3600, enabled: false, meta: { settlementBaseline: 1.5 } },
    ]);
  });

  it('reports every problem by row and column', () => {
    const csv = [
      'id,type,siteId,location,intervalSec,enabled',
      'd1,smoke_detector,h1,厨房,300,yes',
      'd2,toaster,h1,卧室,abc,maybe',
      'd1,fire_panel,,大堂,60,yes',
      'd4,smoke_detector,h1,门厅,-5,',
    ].join('\n');
    const problems = problemsOf(() => parseRegistryCsv('devices', csv));
    const expected = [
      'row 3, column type (B):',
      'row 3, column intervalSec (E):',
      'row 3, column enabled (F):',
      'row 4, column siteId (C):',
      'row 4, column id (A): duplicate "d1" (first at row 2)',
      'row 5, column intervalSec (E):',
    ];
    for (const e of expected) expect(problems.some((p) => p.startsWith(e)), `missing "${e}" in:\n${problems.join('\n')}`).toBe(true);
    expect(problems).toHaveLength(expected.length);
  });

  it('reports duplicate ids and contact problems with their row and column', () => {
    const csv = [
      'id,kind,centerId,name,contact1Name,contact1Phone,contact2Name,contact2Email',
      'h1,home,c1,李家,王建国,139,刘敏,not-mail',
      'h1,home,c1,李家,,139,,',
    ].join('\n');
    const problems = problemsOf(() => parseRegistryCsv('sites', csv));
    expect(problems).toHaveLength(3);
    expect(problems[0]).toMatch(/^row 2, column contact2Email \(H\): /);
    expect(problems[1]).toMatch(/^row 3, column contact1Name \(E\): /);
    expect(problems[2]).toBe('row 3, column id (A): duplicate "h1" (first at row 2)');
  });

  it('reports header problems: unknown, repeated and missing columns', () => {
    const problems = problemsOf(() => parseRegistryCsv('people', 'id,name,rank,name\np1,刘,3,刘\n'));
    expect(problems).toEqual([
      'row 1, column C: unknown column "rank"',
      'row 1, column D: column "name" repeats column B',
      'row 1: missing required column "role"',
    ]);
  });
});

describe('registry check of what the rules read (issue 14)', () => {
  const checkRules = (type: DeviceType, override: unknown) => checkDeviceRules(DEFAULT_RULE_SET, type, override);

  it('refuses a device rule override the engine would not apply, with its path', () => {
    const bad = GOOD.replace('{ id: d1, type: smoke_detector, siteId: h1 }', "{ id: d1, type: smoke_detector, siteId: h1, rules: { smoke: { alarm: 'never' }, persist: { count: 9, of: 4 } } }");
    expect(parseRegistryYaml(bad).devices[0]!.rules).toBeDefined(); // without the check it passed
    const problems = problemsOf(() => parseRegistryYaml(bad, { checkRules }));
    expect(problems).toEqual(expect.arrayContaining([expect.stringMatching(/^devices\.0\.rules\.smoke\.alarm: /)]));
    const good = GOOD.replace('{ id: d1, type: smoke_detector, siteId: h1 }', '{ id: d1, type: smoke_detector, siteId: h1, rules: { smoke: { alarm: 0.2 } } }');
    expect(parseRegistryYaml(good, { checkRules }).devices[0]!.rules).toEqual({ smoke: { alarm: 0.2 } });
  });

  it('refuses a baseline under a name the rules do not read', () => {
    const misnamed = GOOD.replace('{ id: d1, type: smoke_detector, siteId: h1 }', '{ id: d1, type: settlement_sensor, siteId: h1, meta: { baselineMm: 3 } }');
    expect(problemsOf(() => parseRegistryYaml(misnamed))).toEqual([expect.stringMatching(/^devices\.0\.meta\.baselineMm: not a baseline the rules read \(expected one of settlementBaseline/)]);
  });
});
