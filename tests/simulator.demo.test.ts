// The demo's traffic against the whole system: within moments of starting, live homes report,
// a fire becomes a confirmed red incident, and the on-duty operators get an email about it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { startTestSystem, type TestSystem } from './support/system.ts';
import { generateCounty } from '../simulator/county.ts';
import { startDemo, type Demo } from '../simulator/demo.ts';

describe('demo traffic', () => {
  let sys: TestSystem;
  let demo: Demo | undefined;
  const county = generateCounty({ seed: 42, homes: 40, centers: 1 });

  beforeAll(async () => {
    sys = await startTestSystem({ registry: county.registry });
  });
  afterAll(async () => {
    await demo?.stop();
    await sys?.stop();
  });

  it('shows live homes, a confirmed fire and its email within the first scenario', async () => {
    demo = await startDemo({ mqttUrl: sys.mqttUrl, credentials: sys.secrets, registry: county.registry, speed: 120, scenarioEveryMs: 60_000, firstScenarioMs: 0, logger: pino({ level: 'silent' }) });
    expect(demo.fleet.stats()).toMatchObject({ devices: county.registry.devices.length, connected: county.registry.devices.length });

    // Live homes: every device reports when it joins (daily NB-IoT units and settlement points too).
    const all = county.registry.devices;
    await sys.waitFor(() => all.every((d) => sys.wf.deviceState(d.id)?.lastSeen !== undefined), { what: 'every device to report' });

    // The rotation opens with a fire spreading through a home.
    const fire = await sys.waitFor(async () => (await sys.wf.alerts.service.list({ level: ['red'] })).find((i) => i.category === 'fire' && i.confirmed), { what: 'a confirmed fire', timeoutMs: 30_000 });
    const site = county.registry.sites.find((s) => s.id === fire.siteId)!;
    expect(site.kind).toBe('home');
    await sys.smtp!.waitForMails((m) => m.some((x) => x.subject.includes(site.name)), 'an email about the fire');
    await sys.waitFor(() => demo!.runs.find((r) => r.name === 'fire-spread'), { what: 'the fire scenario to finish', timeoutMs: 30_000 });
    await demo.stop();
    demo = undefined;
  });
});
