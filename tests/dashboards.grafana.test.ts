// The Grafana provisioning folder: the datasource and the dashboards agree, and every query in the
// dashboards runs against a real InfluxDB holding readings in the writer's schema.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { startTestInfluxd, type TestInfluxd } from './support/influxd.ts';

const DIR = join(import.meta.dirname, '..', 'dashboards', 'grafana', 'provisioning');
interface Target { query: string; datasource: { uid: string } }
interface Dashboard { uid: string; title: string; panels: Array<{ title: string; datasource: { uid: string }; targets: Target[] }>; templating: { list: Array<{ name: string; query: string }> } }
const dashboards = readdirSync(join(DIR, 'dashboards', 'watchfire')).map((f) => JSON.parse(readFileSync(join(DIR, 'dashboards', 'watchfire', f), 'utf8')) as Dashboard);

/** What Grafana does to a query before it sends it: macros and "All" variables. */
function expand(q: string): string {
  return q.replace(/\$timeFilter/g, 'time > now() - 24h').replace(/\$__interval/g, '10m').replace(/\$(center|grid|site|device)\b/g, '.*');
}

describe('grafana provisioning', () => {
  let influx: TestInfluxd;
  beforeAll(async () => {
    influx = await startTestInfluxd();
    const now = Date.now();
    // Points in the writer's schema (ingest/store/line.ts): telemetry and event, tags device/type/site/center/grid.
    const lines = [
      `telemetry,center=c1,device=sd-1,grid=g1,site=s1,type=smoke_detector smoke=0.02,temp=21.5,co=3,battery=88,score=0i,level="green",seq=1i ${now - 3600_000}000000`,
      `telemetry,center=c1,device=sd-1,grid=g1,site=s1,type=smoke_detector smoke=0.21,temp=30,battery=88,score=90i,level="red",seq=2i ${now - 60_000}000000`,
      `telemetry,center=c1,device=ss-1,site=b1,type=settlement_sensor settlement=3.5,tiltX=0.4,tiltY=0.2,crack=0.1,battery=70,score=0i,level="green",seq=1i ${now - 1800_000}000000`,
      `telemetry,center=c1,device=fp-1,site=b1,type=fire_panel pointsInAlarm=1,pointsInFault=0,score=90i,level="red",seq=1i ${now - 900_000}000000`,
      `event,center=c1,device=sd-1,event=alarm,grid=g1,site=s1,type=smoke_detector score=90i,level="red",seq=3i ${now - 50_000}000000`,
    ];
    const res = await fetch(`${influx.url}/write?db=${influx.database}&precision=ns`, { method: 'POST', body: lines.join('\n') });
    expect(res.status).toBe(204);
  });
  afterAll(async () => {
    await influx?.stop();
  });

  it('points every dashboard at the provisioned datasource', () => {
    const ds = parseYaml(readFileSync(join(DIR, 'datasources', 'watchfire.yaml'), 'utf8')) as { datasources: Array<{ uid: string; type: string; jsonData: { dbName: string } }> };
    expect(ds.datasources[0]).toMatchObject({ uid: 'watchfire-influx', type: 'influxdb', jsonData: { dbName: 'watchfire' } });
    const provider = parseYaml(readFileSync(join(DIR, 'dashboards', 'watchfire.yaml'), 'utf8')) as { providers: Array<{ options: { path: string } }> };
    expect(provider.providers[0]!.options.path).toBe('/etc/grafana/provisioning/dashboards/watchfire');
    expect(dashboards.map((d) => d.uid).sort()).toEqual(['watchfire-levels', 'watchfire-readings']);
    for (const d of dashboards) for (const p of d.panels) {
      expect(p.datasource.uid, `${d.title} / ${p.title}`).toBe('watchfire-influx');
      for (const t of p.targets) expect(t.datasource.uid).toBe('watchfire-influx');
    }
  });

  it('runs every panel and variable query against InfluxDB without an error, and finds the readings', async () => {
    let ran = 0;
    for (const d of dashboards) {
      for (const v of d.templating.list) {
        const rows = await influx.query(expand(v.query));
        expect(rows.length, `${d.title} variable ${v.name}`).toBeGreaterThan(0);
        ran++;
      }
      for (const p of d.panels) for (const t of p.targets) {
        await expect(influx.query(expand(t.query)), `${d.title} / ${p.title}`).resolves.toBeDefined();
        ran++;
      }
    }
    expect(ran).toBeGreaterThan(15);
    const smoke = dashboards.find((d) => d.uid === 'watchfire-readings')!.panels.find((p) => p.title.startsWith('Smoke'))!;
    const rows = await influx.query(expand(smoke.targets[0]!.query));
    expect(rows.map((r) => r.mean).filter((v) => v !== null)).toEqual([0.02, 0.21]);
    const table = dashboards.find((d) => d.uid === 'watchfire-levels')!.panels.find((p) => p.title.startsWith('Latest'))!;
    expect(await influx.query(expand(table.targets[0]!.query))).toEqual([expect.objectContaining({ level: 'red', event: 'alarm', device: 'sd-1' })]);
  });
});
