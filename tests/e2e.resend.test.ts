// Issue 15 point 3 end to end, with real mqtt.js devices, influxd and SMTP: an old alarm re-sent
// after its incident was resolved — after many newer readings, after a Watchfire restart — is a
// counted duplicate that reopens nothing and notifies nobody; a re-send with a changed value does
// not overwrite the stored one; a device that reboots and restarts seq from 0 is heard again.
import { afterAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { startTestSystem, type TestSystem } from './support/system.ts';
import { startTestInfluxd, type TestInfluxd } from './support/influxd.ts';
import { smallCounty } from './support/registries.ts';
import { topics } from '../contracts/protocol.ts';

let influx: TestInfluxd | undefined;
let sys: TestSystem | undefined;
afterAll(async () => {
  await sys?.stop();
  await influx?.stop();
});

const T0 = Date.now() - 600_000;
const alarm = JSON.stringify({ type: 'alarm', seq: 1, ts: T0 });
const reading = (seq: number, smoke = 0.01) => JSON.stringify({ seq, ts: T0 + seq * 1000, smoke });

describe('re-sends recognised for good', () => {
  it('an old alarm re-sent after its incident was resolved, and again after a restart, changes nothing', async () => {
    influx = await startTestInfluxd();
    sys = await startTestSystem({ registry: smallCounty(), influx });
    let device: MqttClient = await sys.connectDevice('sd-3');
    await device.publishAsync(topics.events('sd-3'), alarm, { qos: 1 });
    const incident = await sys.waitFor(async () => (await sys!.wf.alerts.service.list({ siteId: 'h-2' })).find((i) => i.level === 'red'), { what: 'the red incident' });
    await sys.smtp!.waitForMails((m) => m.some((x) => x.to.includes('op@example.test')), 'the alarm email');
    await sys.wf.alerts.service.acknowledge(incident.id, 'p-op');
    await sys.wf.alerts.service.resolve(incident.id, 'p-op', { disposition: 'nuisance', feedback: '烹饪烟雾' });
    // Far more newer readings than the old window of 8 held.
    for (let seq = 2; seq <= 40; seq++) await device.publishAsync(topics.telemetry('sd-3'), reading(seq), { qos: 1 });

    // The re-send is judged before its PUBACK (ingest runs inside the publish hook).
    await device.publishAsync(topics.events('sd-3'), alarm, { qos: 1 });
    await device.publishAsync(topics.telemetry('sd-3'), reading(5, 1.5), { qos: 1 }); // same seq, changed value
    expect(sys.wf.ingest.deviceStats('sd-3')).toMatchObject({ readings: 40, duplicates: 2 });
    const incidents = () => sys!.wf.alerts.service.list({ siteId: 'h-2' });
    expect(await incidents()).toMatchObject([{ id: incident.id, state: 'resolved', findingCount: 1 }]);

    await sys.wf.store.flush();
    expect(await sys.count('telemetry', `"device"='sd-3'`)).toBe(39);
    expect(await influx.query(`SELECT "smoke" FROM "telemetry" WHERE "device"='sd-3' AND "seq"=5`)).toMatchObject([{ smoke: 0.01 }]);

    // Watchfire restarts on the same data directory: the memory of what was accepted survives.
    const dataDir = sys.dataDir;
    await sys.stop({ keepData: true });
    sys = await startTestSystem({ registry: smallCounty(), influx, dataDir });
    device = await sys.connectDevice('sd-3');
    await device.publishAsync(topics.events('sd-3'), alarm, { qos: 1 });
    for (let seq = 2; seq <= 40; seq++) await device.publishAsync(topics.telemetry('sd-3'), reading(seq, 0.3), { qos: 1 });
    // 40 more duplicates: the 2 from before the restart are remembered with the rest.
    expect(sys.wf.ingest.deviceStats('sd-3')).toMatchObject({ readings: 0, duplicates: 42 });
    expect(await sys.wf.alerts.service.list({ siteId: 'h-2' })).toMatchObject([{ id: incident.id, state: 'resolved', findingCount: 1 }]);

    // The device reboots and starts seq again from 0, its clock moving on: heard, stored, raised.
    const boot = Date.now() - 1000;
    await device.publishAsync(topics.events('sd-3'), JSON.stringify({ type: 'alarm', seq: 0, ts: boot }), { qos: 1 });
    await device.publishAsync(topics.telemetry('sd-3'), JSON.stringify({ seq: 1, ts: boot + 500, smoke: 0.02 }), { qos: 1 });
    expect(sys.wf.ingest.deviceStats('sd-3')).toMatchObject({ readings: 2, duplicates: 42 });
    const reopened = await sys.waitFor(async () => (await sys!.wf.alerts.service.list({ siteId: 'h-2' })).find((i) => i.state !== 'resolved'), { what: 'the new alarm\'s incident' });
    expect(reopened.level).toBe('red');
    await sys.wf.store.flush();
    expect(await sys.count('telemetry', `"device"='sd-3'`)).toBe(40);
  });
});
