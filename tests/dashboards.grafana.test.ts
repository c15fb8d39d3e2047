// The Grafana provisioning folder: the datasource and the dashboards agree, and every query in the
// dashboards runs against a real InfluxDB holding readings in the writer's schema; and the
// incidents dashboard reads what a running Watchfire writes when an incident is handled.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { startTestInfluxd, type TestInfluxd } from './support/influxd.ts';
import { incidentLine, openByAgeLines } from '../app/annotations.ts';
import { ensureRetention } from '../ingest/store/retention.ts';
import type { Incident } from '../contracts/incidents.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';
import { controlRoom, fireFinding } from './browser.fixture.ts';

const DIR = join(import.meta.dirname, '..', 'dashboards', 'grafana', 'provisioning');
interface Target { query: string; datasource: { uid: string } }
interface Dashboard {
  uid: string; title: string; panels: Array<{ title: string; datasource: { uid: string }; targets: Target[] }>;
  templating: { list: Array<{ name: string; type: string; query: string; options?: Array<{ value: string }> }> }; annotations?: { list: Array<{ query: string }> };
}
const dashboards = readdirSync(join(DIR, 'dashboards', 'watchfire')).map((f) => JSON.parse(readFileSync(join(DIR, 'dashboards', 'watchfire', f), 'utf8')) as Dashboard);

const opened = Date.now() - 3_600_000;
const incident: Incident = {
  id: 'i1', key: 'site:s1:fire', level: 'red', score: 90, category: 'fire', condition: 'alarm', state: 'open', centerId: 'c1', siteId: 's1', gridId: 'g1',
  deviceId: 'sd-1', zone: null, title: { en: 'Smoke alarm', zh: '烟感火警' }, confirmed: false, findingCount: 1, openedAt: opened, updatedAt: opened,
  lastFindingAt: opened, acknowledgedAt: null, dispatchedAt: null, onSiteAt: null, resolvedAt: null, reviewedAt: null, assignee: null, disposition: null,
  feedback: null, recurrenceOf: null,
};

/** What Grafana does to a query before it sends it: macros, "All" variables, the resolution (retention policy) chosen. */
function expand(q: string, rp = 'autogen'): string {
  return q.replace(/\$timeFilter/g, 'time > now() - 24h').replace(/\$__interval/g, '10m').replace(/\$(center|grid|site|device)\b/g, '.*').replace(/\$rp\b/g, rp);
}

describe('grafana provisioning', () => {
  let influx: TestInfluxd;
  beforeAll(async () => {
    influx = await startTestInfluxd();
    // The policies Watchfire sets up (issue 18 point 6): the readings dashboard reads long_term too.
    await ensureRetention({ url: influx.url, database: influx.database, raw: '180d', longTerm: 'INF', downsample: true });
    const now = Date.now();
    // Points in the writer's schema (ingest/store/line.ts): telemetry and event, tags device/type/site/center/grid.
    const lines = [
      `telemetry,center=c1,device=sd-1,grid=g1,site=s1,type=smoke_detector smoke=0.02,temp=21.5,co=3,battery=88,score=0i,level="green",seq=1i ${now - 3600_000}000000`,
      `telemetry,center=c1,device=sd-1,grid=g1,site=s1,type=smoke_detector smoke=0.21,temp=30,battery=88,score=90i,level="red",seq=2i ${now - 60_000}000000`,
      `telemetry,center=c1,device=ss-1,site=b1,type=settlement_sensor settlement=3.5,tiltX=0.4,tiltY=0.2,crack=0.1,battery=70,score=0i,level="green",seq=1i ${now - 1800_000}000000`,
      `telemetry,center=c1,device=fp-1,site=b1,type=fire_panel pointsInAlarm=1,pointsInFault=0,score=90i,level="red",seq=1i ${now - 900_000}000000`,
      `event,center=c1,device=sd-1,event=alarm,grid=g1,site=s1,type=smoke_detector score=90i,level="red",seq=3i ${now - 50_000}000000`,
      // Incidents as app/annotations.ts writes them: opened, acknowledged after 60 s, on site after 300 s.
      incidentLine({ kind: 'opened', incident, at: opened })!,
      incidentLine({ kind: 'transition', incident: { ...incident, state: 'acknowledged', acknowledgedAt: opened + 60_000 }, at: opened + 60_000 })!,
      incidentLine({ kind: 'transition', incident: { ...incident, state: 'on_site', acknowledgedAt: opened + 60_000, onSiteAt: opened + 300_000 }, at: opened + 300_000 })!,
      ...openByAgeLines([{ ...incident, state: 'on_site' }], now - 1_000),
    ];
    expect(incidentLine({ kind: 'updated', incident, at: now })).toBeUndefined();
    const res = await fetch(`${influx.url}/write?db=${influx.database}&precision=ns`, { method: 'POST', body: lines.join('\n') });
    expect(res.status).toBe(204);
    // 5-minute aggregates as the continuous query writes them (contracts/downsampling.ts).
    const aggregates = [
      `telemetry_5m,center=c1,device=sd-1,grid=g1,site=s1,type=smoke_detector min_smoke=0.01,max_smoke=0.3,mean_smoke=0.1,min_battery=87,max_battery=88,mean_battery=87.5 ${now - 7200_000}000000`,
      `telemetry_5m,center=c1,device=fp-1,site=b1,type=fire_panel max_pointsInAlarm=2,max_pointsInFault=1 ${now - 7200_000}000000`,
    ];
    const lt = await fetch(`${influx.url}/write?db=${influx.database}&rp=long_term&precision=ns`, { method: 'POST', body: aggregates.join('\n') });
    expect(lt.status).toBe(204);
  });
  afterAll(async () => {
    await influx?.stop();
  });

  it('points every dashboard at the provisioned datasource', () => {
    const ds = parseYaml(readFileSync(join(DIR, 'datasources', 'watchfire.yaml'), 'utf8')) as { datasources: Array<{ uid: string; type: string; jsonData: { dbName: string } }> };
    expect(ds.datasources[0]).toMatchObject({ uid: 'watchfire-influx', type: 'influxdb', jsonData: { dbName: 'watchfire' } });
    const provider = parseYaml(readFileSync(join(DIR, 'dashboards', 'watchfire.yaml'), 'utf8')) as { providers: Array<{ options: { path: string } }> };
    // Issue 17 point 7: not a hard-coded /etc path, but Grafana's own provisioning folder, wherever
    // that is; with it pointed at this folder the path is the folder of the dashboards.
    const path = provider.providers[0]!.options.path;
    expect(path).toBe('${GF_PATHS_PROVISIONING}/dashboards/watchfire');
    expect(readdirSync(path.replace('${GF_PATHS_PROVISIONING}', DIR)).sort()).toEqual(['incidents.json', 'levels.json', 'readings.json']);
    expect(dashboards.map((d) => d.uid).sort()).toEqual(['watchfire-incidents', 'watchfire-levels', 'watchfire-readings']);
    // The variables the datasource reads are the ones both READMEs tell people to set.
    const vars = [...readFileSync(join(DIR, 'datasources', 'watchfire.yaml'), 'utf8').split('\n').filter((l) => !l.trim().startsWith('#')).join('\n').matchAll(/\$\{(\w+)\}/g)].map((m) => m[1]!);
    expect(vars.sort()).toEqual(['WATCHFIRE_INFLUX_PASSWORD', 'WATCHFIRE_INFLUX_URL', 'WATCHFIRE_INFLUX_USER']);
    for (const f of [join(DIR, '..', '..', 'README.md'), join(DIR, '..', '..', '..', 'README.md')]) {
      const readme = readFileSync(f, 'utf8');
      for (const v of vars) expect(readme, `${f} names ${v}`).toContain(v);
      expect(readme, f).not.toMatch(/[^_]INFLUX_URL` for the datasource|\/openapi\.json/);
    }
    for (const d of dashboards) for (const p of d.panels) {
      expect(p.datasource.uid, `${d.title} / ${p.title}`).toBe('watchfire-influx');
      for (const t of p.targets) expect(t.datasource.uid).toBe('watchfire-influx');
    }
  });

  it('runs every panel and variable query against InfluxDB without an error, and finds the readings', async () => {
    let ran = 0;
    for (const d of dashboards) {
      for (const v of d.templating.list) {
        if (v.type === 'custom') {
          // The resolution: every choice is a retention policy Watchfire creates.
          const rps = (await influx.query(`SHOW RETENTION POLICIES ON "${influx.database}"`)).map((r) => r.name);
          expect(v.options!.map((o) => o.value), `${d.title} variable ${v.name}`).toEqual(['autogen', 'long_term']);
          for (const o of v.options!) expect(rps).toContain(o.value);
          continue;
        }
        const rows = await influx.query(expand(v.query));
        expect(rows.length, `${d.title} variable ${v.name}`).toBeGreaterThan(0);
        ran++;
      }
      for (const a of d.annotations?.list ?? []) {
        await expect(influx.query(expand(a.query)), `${d.title} annotation`).resolves.toBeDefined();
        ran++;
      }
      for (const p of d.panels) for (const t of p.targets) {
        await expect(influx.query(expand(t.query)), `${d.title} / ${p.title}`).resolves.toBeDefined();
        if (t.query.includes('$rp')) await expect(influx.query(expand(t.query, 'long_term')), `${d.title} / ${p.title} from long_term`).resolves.toBeDefined();
        ran++;
      }
    }
    expect(ran).toBeGreaterThan(15);
    const smoke = dashboards.find((d) => d.uid === 'watchfire-readings')!.panels.find((p) => p.title.startsWith('Smoke'))!;
    const rows = await influx.query(expand(smoke.targets[0]!.query));
    expect(rows.map((r) => r.max_smoke).filter((v) => v !== null)).toEqual([0.02, 0.21]);
    // The same panel at 5-minute resolution: the aggregates' max, not the raw readings.
    const aggregated = await influx.query(expand(smoke.targets[0]!.query, 'long_term'));
    expect(aggregated.map((r) => r.max_max_smoke).filter((v) => v !== null && v !== undefined)).toEqual([0.3]);
    const battery = dashboards.find((d) => d.uid === 'watchfire-readings')!.panels.find((p) => p.title.startsWith('Battery'))!;
    expect((await influx.query(expand(battery.targets[0]!.query, 'long_term'))).map((r) => r.min_min_battery).filter((v) => typeof v === 'number')).toEqual([87]);
    const points = dashboards.find((d) => d.uid === 'watchfire-readings')!.panels.find((p) => p.title.startsWith('Panel points'))!;
    const panelRows = await Promise.all(points.targets.map(async (t) => (await influx.query(expand(t.query, 'long_term'))).flatMap((r) => Object.entries(r).filter(([k, v]) => k !== 'time' && typeof v === 'number'))));
    expect(panelRows).toEqual([[['max_max_pointsInAlarm', 2]], [['max_max_pointsInFault', 1]]]);
    // Readings by level: one series per level (the panel grouped by device type before issue 17).
    const byLevel = dashboards.find((d) => d.uid === 'watchfire-levels')!.panels.find((p) => p.title.startsWith('Readings by level'))!;
    const totals: Record<string, number> = {};
    for (const t of byLevel.targets) {
      for (const r of await influx.query(expand(t.query))) for (const [k, v] of Object.entries(r)) if (k !== 'time' && typeof v === 'number') totals[k] = (totals[k] ?? 0) + v;
    }
    expect(byLevel.targets.map((t) => t.query.match(/"level" = '(\w+)'/)?.[1])).toEqual(['red', 'yellow', 'green']);
    expect(totals).toEqual({ red: 2, green: 2 });
    // Incidents: time to acknowledge and to site, open by age.
    const inc = dashboards.find((d) => d.uid === 'watchfire-incidents')!;
    const first = async (title: string, col: string) => (await influx.query(expand(inc.panels.find((p) => p.title.startsWith(title))!.targets[0]!.query))).map((r) => r[col]).filter((v) => v !== null && v !== undefined);
    expect(await first('Time to acknowledge', 'median')).toEqual([60]);
    expect(await first('Time to site', 'median')).toEqual([300]);
    expect((await first('Open incidents by age', 'last')).length).toBeGreaterThan(0);
    expect(await first('Incidents opened by level', 'count')).toContain(1);
    const table = dashboards.find((d) => d.uid === 'watchfire-levels')!.panels.find((p) => p.title.startsWith('Latest'))!;
    expect(await influx.query(expand(table.targets[0]!.query))).toEqual([expect.objectContaining({ level: 'red', event: 'alarm', device: 'sd-1' })]);
  });
});

// Issue 17 point 7 end to end: the lines above are app/annotations.ts's own; here the whole system
// writes them. An incident handled through the service (opened, acknowledged, dispatched, on site)
// reaches the real influxd through the store, and the incidents dashboard's panels, variables and
// annotations read it back with the times the incident itself holds.
describe('the incidents dashboard over a running Watchfire', () => {
  let sys: TestSystem;
  beforeAll(async () => {
    sys = await startTestSystem({ registry: controlRoom(), smtp: false });
  });
  afterAll(async () => {
    await sys?.stop();
  });

  it('shows an incident handled in Watchfire: time to acknowledge and to site, openings, the center and site, the red annotation', async () => {
    const svc = sys.wf.alerts.service;
    await sys.wf.alerts.handleFinding(fireFinding('sd-1'));
    const id = await sys.waitFor(async () => (await svc.list({ active: true }))[0]?.id, { what: 'the incident' });
    await svc.acknowledge(id, 'op1');
    await svc.dispatch(id, 'op1', 'w1');
    await svc.enRoute(id, 'w1');
    await svc.onSite(id, 'w1');
    const inc = (await svc.get(id))!;
    // A point for the opening and each change of state (setting out, 出发, changes none).
    const actions = async () => (await sys.influx.query(`SELECT "state", "action" FROM "incident" WHERE "id" = '${id}'`)).map((r) => r.action);
    await expect.poll(actions, { timeout: 15_000 }).toEqual(['opened', 'acknowledged', 'dispatched', 'on_site']);

    const inc17 = dashboards.find((d) => d.uid === 'watchfire-incidents')!;
    const panel = async (title: string, col: string, target = 0) =>
      (await sys.influx.query(expand(inc17.panels.find((p) => p.title.startsWith(title))!.targets[target]!.query))).map((r) => r[col]).filter((v) => v !== null && v !== undefined);
    expect(await panel('Time to acknowledge', 'median')).toEqual([(inc.acknowledgedAt! - inc.openedAt) / 1000]);
    expect(await panel('Time to site', 'median')).toEqual([(inc.onSiteAt! - inc.openedAt) / 1000]);
    expect((await panel('Incidents opened by level', 'count')).reduce((a, b) => Number(a) + Number(b), 0)).toBe(1);
    for (const v of inc17.templating.list) {
      expect((await sys.influx.query(expand(v.query))).map((r) => r.value), v.name).toEqual([v.name === 'center' ? 'c1' : 's1']);
    }
    const red = inc17.annotations!.list[0]!;
    expect((await sys.influx.query(expand(red.query))).map((r) => r.title)).toEqual(['烟感火警']);
  });
});
