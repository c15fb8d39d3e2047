// Each scenario, run against the whole of Watchfire (real gateway, rules, alerts, InfluxDB, SMTP),
// produces the incidents and levels it documents; a recorded run replays to the same stored readings.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Incident, IncidentEvent } from '../contracts/incidents.ts';
import type { RegistryFile } from '../contracts/registry.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';
import { startTestInfluxd, type TestInfluxd } from './support/influxd.ts';
import { generateCounty } from '../simulator/county.ts';
import { createRng } from '../simulator/prng.ts';
import { findScenario, runScenario, type Scenario, type Targets } from '../simulator/scenarios/index.ts';
import { createFleet } from '../simulator/fleet.ts';
import { createJsonlWriter, readJsonl, recordLive } from '../simulator/record.ts';
import type { TrafficRecord } from '../simulator/device-client.ts';
import { hashSecret } from '../contracts/secrets.ts';
import { replay } from '../simulator/replay.ts';

/** Fast enough for CI, slow enough that every step of a script is a separate reading. */
const SPEED = 120;
/** Devices of the offline scenarios report every 2 s and are offline after 2 × 2 + 1 s. */
const SHORT = { intervalSec: 2, rules: { offline: { graceSec: 1 } } };
const OFFLINE_AFTER_MS = (2 * 2 + 1) * 1000;
/** The composition root sweeps for silent devices every 5 s. */
const SWEEP_MS = 5_000;

const scenario = (name: string): Scenario => {
  const s = findScenario(name);
  if (!s) throw new Error(`no scenario ${name}`);
  return s;
};

describe('scenarios against a real gateway', () => {
  let influx: TestInfluxd;
  let sys: TestSystem;
  let registry: RegistryFile;
  const targets = new Map<string, Targets>();
  const events: IncidentEvent[] = [];

  beforeAll(async () => {
    const county = generateCounty({ seed: 11, homes: 24, centers: 1, panels: 1, settlementBuildings: 1, nbIotShare: 0 });
    registry = county.registry;
    // Choose every scenario's site up front, each a different one.
    const used = new Set<string>();
    const rng = createRng(11);
    for (const name of ['kitchen-smoke', 'fire-spread', 'panel-storm', 'silent-device', 'power-loss', 'settlement-creep', 'malformed', 'dying-battery', 'tamper']) {
      const t = scenario(name).select(registry, rng, used);
      if (!t) throw new Error(`no site for ${name}`);
      used.add(t.siteId);
      targets.set(name, t);
    }
    const short = new Set([...targets.get('silent-device')!.deviceIds, ...targets.get('power-loss')!.deviceIds]);
    registry = { ...registry, devices: registry.devices.map((d) => (short.has(d.id) ? { ...d, ...SHORT } : d)) };
    influx = await startTestInfluxd();
    sys = await startTestSystem({ registry, influx });
    sys.wf.bus.on('incident', 'test.scenarios', (e) => events.push(e));
  });
  afterAll(async () => {
    await sys?.stop();
    await influx?.stop();
  });

  const run = (name: string, speed = SPEED, options = {}) =>
    runScenario({ scenario: scenario(name), url: sys.mqttUrl, registry, credentials: sys.secrets, speed, seed: 11, targets: targets.get(name)!, options });
  const incidentsOf = (siteId: string): Promise<Incident[]> => sys.wf.alerts.service.list({ siteId, limit: 1000 });

  it('fire-spread: one confirmed red fire incident at the right home, nowhere else', async () => {
    const t = targets.get('fire-spread')!;
    const before = (await sys.wf.alerts.service.list({ level: ['red'], limit: 1000 })).map((i) => i.id);
    await run('fire-spread', SPEED);
    const fire = await sys.waitFor(async () => (await incidentsOf(t.siteId)).find((i) => i.category === 'fire' && i.confirmed), { what: 'a confirmed fire incident' });
    expect(fire).toMatchObject({ level: 'red', siteId: t.siteId, category: 'fire', confirmed: true });
    expect((await incidentsOf(t.siteId)).filter((i) => i.category === 'fire')).toHaveLength(1);
    const newRed = (await sys.wf.alerts.service.list({ level: ['red'], limit: 1000 })).filter((i) => !before.includes(i.id));
    expect(newRed.map((i) => i.siteId)).toEqual([t.siteId]);
  });

  it('kitchen-smoke: one red incident through pre-alarm, alarm, hush and clear, closed with feedback', async () => {
    const t = targets.get('kitchen-smoke')!;
    await run('kitchen-smoke');
    const list = await sys.waitFor(async () => {
      const l = (await incidentsOf(t.siteId)).filter((i) => i.category === 'fire');
      return l.length && l[0]!.level === 'red' ? l : undefined;
    }, { what: 'the kitchen smoke incident' });
    expect(list).toHaveLength(1);
    const inc = list[0]!;
    expect(inc.confirmed).toBe(false);
    // The alarm clearing does not close a red incident: a person does, with what happened.
    expect(inc.state).toBe('open');
    expect(inc.findingCount).toBeGreaterThanOrEqual(2);
    const svc = sys.wf.alerts.service;
    await svc.acknowledge(inc.id, 'op-1-1');
    const resolved = await svc.resolve(inc.id, 'op-1-1', { disposition: 'nuisance', feedback: '老人炒菜油烟，已电话确认，开窗通风后恢复' });
    expect(resolved).toMatchObject({ state: 'resolved', disposition: 'nuisance' });
    expect((await svc.timeline(inc.id)).map((a) => a.toState)).toEqual(expect.arrayContaining(['acknowledged', 'resolved']));
    expect((await incidentsOf(t.siteId)).filter((i) => i.category === 'fire')).toHaveLength(1);
  });

  it('panel-storm: hundreds of fire events, one incident per zone', async () => {
    const t = targets.get('panel-storm')!;
    const panel = registry.devices.find((d) => d.id === t.deviceIds[0])!;
    const zonesHit = 3;
    await run('panel-storm', SPEED, { zones: zonesHit });
    const fireEvents = await sys.waitFor(async () => {
      const n = await sys.count('event', `"device" = '${panel.id}' AND "event" = 'fire'`);
      return n >= 40 ? n : undefined;
    }, { what: 'the storm in InfluxDB' });
    expect(fireEvents).toBeGreaterThanOrEqual(40);
    const fires = (await sys.wf.alerts.service.list({ siteId: t.siteId, limit: 1000 })).filter((i) => i.deviceId === panel.id && i.category === 'fire');
    const zoned = fires.filter((i) => i.zone !== null);
    expect(new Set(zoned.map((i) => i.zone)).size).toBe(zonesHit);
    expect(zoned).toHaveLength(zonesHit);
    for (const i of zoned) expect(i).toMatchObject({ level: 'red', confirmed: true });
    // The heartbeats' pointsInAlarm counts add no panel-wide incident beside the zones'.
    expect(fires).toHaveLength(zonesHit);
  });

  // About a minute: the point stands at each level for a while (simulator/scenarios/settlement-creep.ts).
  it('settlement-creep: the building\'s incident goes yellow, then red', { timeout: 120_000 }, async () => {
    const t = targets.get('settlement-creep')!;
    await run('settlement-creep');
    const inc = await sys.waitFor(async () => (await incidentsOf(t.siteId)).find((i) => i.category === 'structural' && i.level === 'red'), { what: 'a red structural incident' });
    const levels = events.filter((e) => e.incident.id === inc.id && (e.kind === 'opened' || e.kind === 'raised')).map((e) => e.incident.level);
    expect(levels[0]).toBe('yellow');
    expect(levels.at(-1)).toBe('red');
    expect((await incidentsOf(t.siteId)).filter((i) => i.category === 'structural')).toHaveLength(1);
  });

  it('dying-battery and tamper: yellow maintenance incidents that resolve themselves', async () => {
    const battery = targets.get('dying-battery')!;
    const tampered = targets.get('tamper')!;
    await Promise.all([run('dying-battery'), run('tamper', 2 * SPEED)]);
    for (const [t, condition] of [[battery, 'low_battery'], [tampered, 'tamper']] as const) {
      const inc = await sys.waitFor(async () => (await incidentsOf(t.siteId)).find((i) => i.category === 'maintenance' && i.deviceId === t.deviceIds[0]), { what: `a ${condition} incident` });
      expect(inc.level).toBe('yellow');
      expect(inc.condition).toContain(condition === 'low_battery' ? 'battery' : 'tamper');
      expect((await incidentsOf(t.siteId)).some((i) => i.level === 'red')).toBe(false);
      await sys.waitFor(async () => (await sys.wf.alerts.service.get(inc.id))?.state === 'resolved', { what: `the ${condition} incident to resolve itself` });
    }
  });

  it('malformed: no incident, every kind of garbage dead-lettered, the good readings of the mixed batch stored', async () => {
    const t = targets.get('malformed')!;
    const id = t.deviceIds[0]!;
    await run('malformed');
    const expected = scenario('malformed').expects.deadLetters!;
    await sys.waitFor(async () => (await Promise.all(expected.map((code) => sys.wf.deadLetters.count({ deviceId: id, code })))).every((n) => n > 0), { what: 'dead letters of every kind' });
    expect(await incidentsOf(t.siteId)).toHaveLength(0);
    await sys.waitFor(async () => (await sys.count('telemetry', `"device" = '${id}' AND "smoke" >= 0.011 AND "smoke" <= 0.012`, 'smoke')) === 2, { what: 'the two good readings of the mixed batch' });
  });

  // Both offline scenarios run side by side at 1× (the gateway times silence on its own clock).
  // Their devices were never connected before, so they are already offline when the test starts:
  // the scenarios' first reports clear that, and what is checked is the offline raised after it.
  it('silent-device and power-loss: offline once reports are missed, not before; resolved when back', async () => {
    const silent = targets.get('silent-device')!;
    const home = targets.get('power-loss')!;
    const id = silent.deviceIds[0]!;
    const start = Date.now();
    const hold = { holdMs: OFFLINE_AFTER_MS + SWEEP_MS + 4_000 };
    const runs = Promise.all([run('silent-device', 1, hold), run('power-loss', 1, hold)]);
    const offlineSince = async (siteId: string) => (await incidentsOf(siteId)).filter((i) => i.condition === 'offline' && i.openedAt >= start);

    const inc = await sys.waitFor(async () => (await offlineSince(silent.siteId)).find((i) => i.deviceId === id), { what: 'an offline incident', timeoutMs: 30_000 });
    const lastSeen = sys.wf.deviceState(id)?.lastSeen;
    expect(lastSeen).toBeGreaterThanOrEqual(start);
    expect(inc.level).toBe('yellow');
    // On time: not before interval × 2 + grace after its last reading, and within a sweep of it.
    expect(inc.openedAt - lastSeen!).toBeGreaterThanOrEqual(OFFLINE_AFTER_MS);
    expect(inc.openedAt - lastSeen!).toBeLessThanOrEqual(OFFLINE_AFTER_MS + SWEEP_MS + 2_000);

    // The dark home: one offline incident per detector, and no fire.
    const dark = await sys.waitFor(async () => {
      const l = await offlineSince(home.siteId);
      return l.length === home.deviceIds.length ? l : undefined;
    }, { what: 'one offline incident per detector of the home', timeoutMs: 30_000 });
    expect(new Set(dark.map((i) => i.deviceId))).toEqual(new Set(home.deviceIds));
    for (const i of dark) expect(i.level).toBe('yellow');
    expect((await incidentsOf(home.siteId)).some((i) => i.category === 'fire')).toBe(false);

    await runs;
    await sys.waitFor(async () => (await Promise.all([inc, ...dark].map((i) => sys.wf.alerts.service.get(i.id)))).every((i) => i?.state === 'resolved'), { what: 'the offline incidents to resolve themselves' });
  });
});

describe('record and replay against a real gateway', () => {
  let influx: TestInfluxd;
  let dir: string;
  const systems: TestSystem[] = [];

  beforeAll(async () => {
    influx = await startTestInfluxd();
    dir = mkdtempSync(join(tmpdir(), 'wf-sim-replay-'));
  });
  afterAll(async () => {
    for (const s of systems) await s.stop();
    await influx?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a run recorded live by an observer account replays into a fresh system as the same stored readings', async () => {
    const county = generateCounty({ seed: 5, homes: 4, centers: 1, panels: 1, settlementBuildings: 1, nbIotShare: 0 });
    const registry = county.registry;
    const observer = { username: 'recorder', password: 'a long observer password' };
    const a = await startTestSystem({ registry, influx, config: { 'influx.database': 'rec_a', 'gateway.observers': [{ username: observer.username, secretHash: hashSecret(observer.password) }] } });
    systems.push(a);
    const liveFile = join(dir, 'live.jsonl');
    const ownFile = join(dir, 'own.jsonl');
    const live = await recordLive({ url: a.mqttUrl, username: observer.username, password: observer.password, out: liveFile });
    const own = createJsonlWriter(ownFile);
    // Ten minutes of a small county at 60×, with a kitchen fire: recorded by the gateway's observer
    // and, for comparison, by the simulator's own tap.
    const fleet = createFleet({ url: a.mqttUrl, registry, credentials: a.secrets, speed: 60, seed: 5, tap: (r) => own.write(r) });
    await fleet.start();
    await runScenario({ scenario: scenario('kitchen-smoke'), fleet, registry, speed: 60, seed: 5 });
    await fleet.stop();
    await own.close();
    const sent = await readJsonl(ownFile);
    await a.waitFor(() => live.count >= sent.length, { what: 'the observer to see every message' });
    await live.stop();
    const records = await readJsonl(liveFile);
    const key = (r: TrafficRecord) => `${r.topic} ${r.payload}`;
    expect(records.map(key).sort()).toEqual(sent.map(key).sort());

    const b = await startTestSystem({ registry, influx, config: { 'influx.database': 'rec_b' } });
    systems.push(b);
    const summary = await replay({ records, url: b.mqttUrl, credentials: b.secrets, speed: 'max' });
    expect(summary).toMatchObject({ published: records.length, skipped: 0, errors: 0 });

    const rows = (s: TestSystem) => s.wf.query.query('SELECT * FROM "telemetry", "event" GROUP BY "device"');
    const row = (r: Record<string, unknown>) => JSON.stringify(Object.entries(r).filter(([k]) => k !== '_measurement').sort(([x], [y]) => x.localeCompare(y)));
    await a.wf.store.flush();
    const expected = (await rows(a)).map(row).sort();
    expect(expected.length).toBeGreaterThan(registry.devices.length);
    const got = await a.waitFor(async () => {
      await b.wf.store.flush();
      const r = (await rows(b)).map(row).sort();
      return r.length >= expected.length ? r : undefined;
    }, { what: 'the replayed readings in InfluxDB' });
    expect(got).toEqual(expected);
  });
});
