// Issue 20 point 3 against the running product: transmission units speaking GB/T 26875.3 over
// real TCP sockets to Watchfire's listener; readings stored in a real influxd, findings and
// incidents raised, every refusal denied per the standard and dead-lettered with its reason.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSystem, type TestSystem } from './support/system.ts';
import { smallCounty } from './support/registries.ts';
import { connectTransmissionUnit } from '../simulator/gbt26875-unit.ts';
import { COMMAND, COMPONENT_BITS, encodeFrame, SYSTEM_BITS, ADU_TYPE } from '../contracts/gbt26875.ts';
import type { Finding } from '../contracts/findings.ts';
import type { DevicePresence } from '../contracts/bus.ts';

const UNIT = '00000000a101';
const FENCED = '00000000a102';
let sys: TestSystem;
let port: number;

beforeAll(async () => {
  const county = smallCounty();
  county.devices = county.devices!.map((d) => (d.id === 'fp-1' ? { ...d, meta: { gbtAddress: UNIT } } : d));
  // A second panel whose unit may only connect from the building's own network.
  county.devices!.push({ id: 'fp-2', type: 'fire_panel', siteId: 'b-1', location: '2号楼消控室', meta: { gbtAddress: FENCED, gbtAllow: '10.20.0.0/16' } });
  county.devices!.push({ id: 'st-x', type: 'settlement_sensor', siteId: 'b-1', location: 'x', meta: { gbtAddress: '00000000a1ff' } });
  sys = await startTestSystem({
    registry: county,
    smtp: false,
    config: { 'ingress.gbt26875': { enabled: true, host: '127.0.0.1', port: 0, centerAddress: '0000000000c1' } },
  });
  port = sys.wf.addresses().gbt26875!;
});
afterAll(async () => {
  await sys?.stop();
});

const unit = (address = UNIT) => connectTransmissionUnit({ host: '127.0.0.1', port, address, centerAddress: '0000000000c1' });
const deadLetters = (code: string) => sys.wf.deadLetters.list({ code: code as never });

describe('a transmission unit of a registered panel', () => {
  it('is sent the time, confirmed, and its component fire becomes a stored red event and a fire finding', async () => {
    const findings: Finding[] = [];
    const presence: DevicePresence[] = [];
    sys.wf.bus.on('finding', 'test', (f) => findings.push(f));
    sys.wf.bus.on('device.presence', 'test', (p) => presence.push(p));
    const u = await unit();
    // Heartbeat first: confirmed like any data, and it authenticates the connection.
    expect(await u.heartbeat()).toMatchObject({ command: COMMAND.confirm });
    // Time synchronisation: a control frame, type 90, addressed to this unit from the center.
    const sync = await u.waitFrame((f) => f.command === COMMAND.control);
    expect(sync.adu[0]).toBe(ADU_TYPE.syncUnitTime);
    expect(sync.destination).toBe(UNIT);
    expect(sync.source).toBe('0000000000c1');
    expect(presence.some((p) => p.deviceId === 'fp-1' && p.online)).toBe(true);
    // Later heartbeats feed the offline timer as keep-alives, not as connects the consoles hear of.
    expect(await u.heartbeat()).toMatchObject({ command: COMMAND.confirm });
    expect(presence.filter((p) => p.deviceId === 'fp-1' && p.reason === 'connect')).toHaveLength(1);
    expect(presence.filter((p) => p.deviceId === 'fp-1' && p.reason === 'heartbeat').length).toBeGreaterThanOrEqual(1);

    const fire = (1 << COMPONENT_BITS.normal) | (1 << COMPONENT_BITS.fire);
    expect(await u.componentState(2, 17, fire, '3F 走廊 感烟')).toMatchObject({ command: COMMAND.confirm });
    await sys.waitFor(async () => (await sys.count('event', `"device"='fp-1' AND "event"='fire' AND "level"='red'`)) === 1, { what: 'the fire stored red' });
    await sys.waitFor(() => findings.some((f) => f.deviceId === 'fp-1' && f.category === 'fire'), { what: 'a fire finding for fp-1' });
    const rows = await sys.influx.query(`SELECT "loop", "point", "label" FROM "event" WHERE "device"='fp-1' AND "event"='fire'`);
    expect(rows[0]).toMatchObject({ loop: 2, point: 17, label: '3F 走廊 感烟' });

    // The state clears: the unit reports the point normal, which is a fire_clear.
    expect(await u.componentState(2, 17, 1 << COMPONENT_BITS.normal, '3F 走廊 感烟')).toMatchObject({ command: COMMAND.confirm });
    await sys.waitFor(async () => (await sys.count('event', `"device"='fp-1' AND "event"='fire_clear'`)) === 1, { what: 'fire_clear stored' });

    // Main power fails at the panel (system state bit 8): telemetry and a main_power_fail event.
    await u.systemState((1 << SYSTEM_BITS.normal) | (1 << SYSTEM_BITS.mainPowerFault));
    await sys.waitFor(async () => (await sys.count('event', `"device"='fp-1' AND "event"='main_power_fail'`)) === 1, { what: 'main_power_fail stored' });
    // Heartbeats and state objects map to readings ingest takes: nothing of the unit was refused.
    expect(await sys.wf.deadLetters.list({ deviceId: 'fp-1' })).toEqual([]);
    await u.close();
    await sys.waitFor(() => presence.some((p) => p.deviceId === 'fp-1' && !p.online), { what: 'offline on close' });
  });

  it('ingests a resent frame (same serial, our confirm lost) once and confirms it again', async () => {
    const u = await unit();
    await u.heartbeat();
    const fault = (1 << COMPONENT_BITS.normal) | (1 << COMPONENT_BITS.fault);
    const now = Date.now();
    const { componentStateObject, aduOf, componentAddress } = await import('../contracts/gbt26875.ts');
    const adu = aduOf(ADU_TYPE.componentState, [componentStateObject({ systemType: 1, systemAddr: 1, componentType: 42, componentAddr: componentAddress(1, 5), state: fault, description: '1F 门厅', at: now }, 480)]);
    const frame = encodeFrame({ serial: 777, at: now, source: UNIT, destination: '0000000000c1', command: COMMAND.send, adu }, 480);
    expect(await u.sendFrame(frame, 777)).toMatchObject({ command: COMMAND.confirm });
    expect(await u.sendFrame(frame, 777)).toMatchObject({ command: COMMAND.confirm });
    await sys.waitFor(async () => (await sys.count('event', `"device"='fp-1' AND "event"='fault' AND "point"=5`, 'score')) >= 1, { what: 'the fault stored' });
    // Still one after the resend has been handled (both confirms are in, so both were processed).
    expect(await sys.count('event', `"device"='fp-1' AND "event"='fault' AND "point"=5`)).toBe(1);
    await u.close();
  });

  it('keeps every reading of a second: time tags have whole seconds, the history one point per time', async () => {
    const u = await unit();
    await u.heartbeat();
    const where = `"device"='fp-1'`;
    const before = await sys.count('telemetry', where, 'mainPower');
    // Five system states sent at once share one time tag (the same second).
    await Promise.all([0, 1, 2, 3, 4].map(() => u.systemState(1 << SYSTEM_BITS.normal)));
    await sys.waitFor(async () => (await sys.count('telemetry', where, 'mainPower')) === before + 5, { what: 'five telemetry points stored' });
    await u.close();
  });
});

describe('what the listener refuses', () => {
  it('denies a frame with a bad checksum and dead-letters it with the reason, keeping the connection', async () => {
    const u = await unit();
    await u.heartbeat();
    const frame = encodeFrame({ serial: 42, at: Date.now(), source: UNIT, destination: '0000000000c1', command: COMMAND.send }, 480);
    frame[frame.length - 3] = frame[frame.length - 3]! ^ 0xff;
    u.sendRaw(frame);
    const deny = await u.waitFrame((f) => f.command === COMMAND.deny && f.serial === 42);
    expect(deny.destination).toBe(UNIT);
    await sys.waitFor(async () => (await deadLetters('WF_GBT_FRAME')).some((d) => d.reason.startsWith('checksum') && d.topic.startsWith('gbt26875:tcp 127.0.0.1')), { what: 'checksum dead letter' });
    // The unit goes on: the next good frame is confirmed.
    expect(await u.heartbeat()).toMatchObject({ command: COMMAND.confirm });
    await u.close();
  });

  it('denies objects cut short (a component state one byte too short)', async () => {
    const u = await unit();
    const adu = Buffer.concat([Buffer.from([ADU_TYPE.componentState, 1]), Buffer.alloc(45)]);
    expect(await u.sendData(adu)).toMatchObject({ command: COMMAND.deny });
    const dl = await sys.waitFor(async () => (await deadLetters('WF_GBT_FRAME')).find((d) => d.reason.includes('type flag 2 with 1 object(s) of 46 bytes')), { what: 'short object dead letter' });
    expect(dl.deviceId).toBe('fp-1');
    await u.close();
  });

  it('denies each malformed frame whose header it can read, dead-letters it with its reason, and goes on', async () => {
    const u = await unit();
    await u.heartbeat();
    const at = Date.now();
    const frame = (serial: number, command: number = COMMAND.send, adu?: Buffer) => encodeFrame({ serial, at, source: UNIT, destination: '0000000000c1', command, ...(adu ? { adu } : {}) }, 480);
    /** The checksum again after a header byte was changed (sum of serial … data unit, mod 256). */
    const reseal = (f: Buffer) => {
      let sum = 0;
      for (let i = 2; i < f.length - 3; i++) sum = (sum + f[i]!) & 0xff;
      f[f.length - 3] = sum;
      return f;
    };
    const noEnd = frame(61);
    noEnd[noEnd.length - 1] = 0x00;
    const tooLong = frame(62);
    tooLong.writeUInt16LE(2000, 24);
    const badTime = frame(63);
    badTime[10] = 13; // month 13
    const cases: Array<[number, Buffer, string]> = [
      [61, noEnd, "no end marker '##'"],
      [62, tooLong, 'application data unit of 2000 bytes: at most 1024'],
      [63, reseal(badTime), 'header time tag is no valid date'],
      [64, frame(64, COMMAND.send, Buffer.from([99, 1, 0])), 'type flag 99 is not one a unit sends'],
      [65, frame(65, COMMAND.send, Buffer.from([ADU_TYPE.systemState, 0])), 'type flag 1 with 0 objects'],
      [66, frame(66, COMMAND.send, Buffer.concat([Buffer.from([ADU_TYPE.unitState, 1]), Buffer.alloc(8)])), 'byte(s) left over'],
      [67, frame(67, COMMAND.control), 'command 1 (control) is not one a unit sends to the center'],
      [68, frame(68, COMMAND.request), 'command 4 (request) is not one a unit sends to the center'],
    ];
    for (const [serial, bytes, reason] of cases) {
      const deny = u.waitFrame((f) => f.command === COMMAND.deny && f.serial === serial);
      u.sendRaw(bytes);
      await deny;
      await sys.waitFor(async () => (await deadLetters('WF_GBT_FRAME')).some((d) => d.reason.includes(reason) && d.payload.startsWith('4040')), { what: `dead letter: ${reason}` });
    }
    expect(await u.heartbeat()).toMatchObject({ command: COMMAND.confirm });
    await u.close();
  });

  it('skips junk before a start marker and reads the frame after it', async () => {
    const u = await unit();
    const frame = encodeFrame({ serial: 9, at: Date.now(), source: UNIT, destination: '0000000000c1', command: COMMAND.send }, 480);
    const answer = u.sendFrame(Buffer.concat([Buffer.from('garbage'), frame]), 9);
    expect(await answer).toMatchObject({ command: COMMAND.confirm });
    await sys.waitFor(async () => (await deadLetters('WF_GBT_FRAME')).some((d) => d.reason.includes("no start marker '@@'")), { what: 'junk dead letter' });
    await u.close();
  });

  it('denies and disconnects a unit whose address is in no registry entry', async () => {
    const u = await unit('0000000bad00');
    expect(await u.heartbeat()).toMatchObject({ command: COMMAND.deny });
    await u.closedP;
    await sys.waitFor(async () => (await deadLetters('WF_GBT_UNKNOWN_UNIT')).some((d) => d.reason.includes('0000000bad00')), { what: 'unknown unit dead letter' });
  });

  it('refuses a unit registered to a device that is not a fire panel', async () => {
    const u = await unit('00000000a1ff');
    expect(await u.heartbeat()).toMatchObject({ command: COMMAND.deny });
    await u.closedP;
    await sys.waitFor(async () => (await deadLetters('WF_GBT_UNKNOWN_UNIT')).some((d) => d.deviceId === 'st-x' && d.reason.includes('settlement_sensor')), { what: 'family dead letter' });
  });

  it('refuses a registered unit connecting from outside its allow-list', async () => {
    const u = await unit(FENCED);
    expect(await u.heartbeat()).toMatchObject({ command: COMMAND.deny });
    await u.closedP;
    await sys.waitFor(async () => (await deadLetters('WF_GBT_NOT_ALLOWED')).some((d) => d.deviceId === 'fp-2' && d.reason.includes('127.0.0.1')), { what: 'allow-list dead letter' });
  });

  it('drops a connection that sends no frame at all, without touching the others', async () => {
    const ok = await unit();
    await ok.heartbeat();
    const junk = net.connect({ host: '127.0.0.1', port });
    await new Promise<void>((r) => junk.once('connect', () => r()));
    junk.write(Buffer.alloc(8192, 0x41));
    await new Promise<void>((r) => junk.once('close', () => r()));
    expect(await ok.heartbeat()).toMatchObject({ command: COMMAND.confirm });
    await ok.close();
  });
});
