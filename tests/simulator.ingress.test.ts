// Issue 20 point 4: the simulated transmission units and NB-IoT platforms against the running
// product, as the demo runs them: the ingress scenarios raise the incidents they promise.
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSystem, type TestSystem } from './support/system.ts';
import { smallCounty } from './support/registries.ts';
import { startIngressFleet, withIngressDevices, type IngressFleet } from '../simulator/ingress-fleet.ts';
import { RegistryFile } from '../contracts/registry.ts';
import { generateCounty } from '../simulator/county.ts';

let sys: TestSystem;
let fleet: IngressFleet;
const registry = withIngressDevices(RegistryFile.parse(smallCounty()));

beforeAll(async () => {
  sys = await startTestSystem({
    registry,
    smtp: false,
    config: {
      'ingress.gbt26875': { enabled: true, host: '127.0.0.1', port: 0 },
      'ingress.nbiot': { onenet: { token: 'onenet-token' }, ctwing: { token: 'ctwing-token-0123456789' } },
    },
  });
  fleet = await startIngressFleet({
    registry,
    gbt: { host: '127.0.0.1', port: sys.wf.addresses().gbt26875! },
    nbiot: { baseUrl: sys.httpUrl, onenetToken: 'onenet-token', ctwingToken: 'ctwing-token-0123456789' },
    // 600 simulated seconds per wall second: the scenarios' minutes pass in a fraction of a second.
    speed: 600,
    logger: pino({ level: 'silent' }),
  });
});
afterAll(async () => {
  await fleet?.stop();
  await sys?.stop();
});

describe('the ingress fleet', () => {
  it('adds panels behind GB/T units and NB-IoT detectors on both platforms to the registry', () => {
    expect(fleet.units()).toEqual(['gbt-1']);
    expect(fleet.detectors()).toEqual(['nb-1', 'nb-2']);
    const platforms = registry.devices.filter((d) => d.id.startsWith('nb-')).map((d) => d.meta?.nbPlatform);
    expect(platforms).toEqual(['ctwing', 'onenet']);
  });

  it("on `npm run demo`'s county (300 homes, seed 42): two panels behind units, two detectors on each platform", () => {
    const demo = withIngressDevices(generateCounty({ seed: 42, homes: 300 }).registry);
    const added = demo.devices.filter((d) => /^(gbt|nb)-\d+$/.test(d.id));
    expect(added.filter((d) => d.meta?.gbtAddress).map((d) => d.id)).toEqual(['gbt-1', 'gbt-2']);
    expect(added.filter((d) => d.meta?.nbPlatform === 'ctwing')).toHaveLength(2);
    expect(added.filter((d) => d.meta?.nbPlatform === 'onenet')).toHaveLength(2);
    expect(RegistryFile.safeParse(demo).success).toBe(true);
  });

  it('gbt-panel-fire: a red fire incident for the building, the point cleared by the reset', async () => {
    expect(await fleet.runScenario('gbt-panel-fire', 'gbt-1')).toBe('gbt-1');
    const siteId = registry.devices.find((d) => d.id === 'gbt-1')!.siteId;
    const inc = await sys.waitFor(async () => (await sys.wf.alerts.service.list({ siteId })).find((i) => i.category === 'fire' && i.level === 'red'), { what: 'the panel fire incident' });
    expect(inc.deviceId).toBe('gbt-1');
    await sys.waitFor(async () => (await sys.count('event', `"device"='gbt-1' AND "event"='fire_clear'`)) === 1, { what: 'the point cleared after the reset' });
  });

  it('nbiot-home-alarm on a CTWing and a OneNET detector: a red fire incident for each home', async () => {
    for (const id of ['nb-1', 'nb-2']) {
      expect(await fleet.runScenario('nbiot-home-alarm', id)).toBe(id);
      const siteId = registry.devices.find((d) => d.id === id)!.siteId;
      await sys.waitFor(async () => (await sys.wf.alerts.service.list({ siteId })).find((i) => i.category === 'fire' && i.level === 'red'), { what: `the ${id} fire incident` });
      await sys.waitFor(async () => (await sys.count('event', `"device"='${id}' AND "event"='alarm_clear'`)) === 1, { what: `${id} alarm cleared` });
    }
  });
});
