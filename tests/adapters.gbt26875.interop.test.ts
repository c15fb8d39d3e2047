// Issue 20 point 5: Watchfire's reading of GB/T 26875.3 checked against someone else's. The
// independent codec is github.com/shootingfans/codec_gb26875_3_2011 (Go) at the commit named in
// the fixture; tests/interop/gbt26875/run.sh has it (a) build frames around application data
// units copied from its own tests (codec/codec_test.go) and (b) decode the frames Watchfire sends.
// Its output is the committed fixture read here; the codec's code is not committed.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeAdu, scanFrame, COMMAND, loopOf, pointOf } from '../contracts/gbt26875.ts';
import { mapObjects, newUnitMemory } from '../adapters/gbt26875/mapping.ts';
import { ourFrames, AT, CENTER, UNIT } from './interop/gbt26875/ours.ts';

const fixture = JSON.parse(readFileSync(new URL('./fixtures/gbt26875-interop.json', import.meta.url), 'utf8')) as {
  codec: { repo: string; commit: string };
  goFrames: Array<{ name: string; hex: string }>;
  oursDecodedByGo: Array<{ hex: string; decoded: { error?: string; length: number; header: Record<string, number>; packet: Record<string, unknown> } }>;
};
const OFF = 480;
/** 2021-07-02 09:00:04 in Beijing, the time tag 04 00 09 02 07 15 of the codec's tests (1625187604 s). */
const T_2021 = 1625187604_000;

function decodeHex(hex: string) {
  const s = scanFrame(Buffer.from(hex, 'hex'), 0, OFF);
  if (s.kind !== 'frame') throw new Error(`not a frame: ${s.kind === 'bad' ? s.reason : 'incomplete'}`);
  const adu = decodeAdu(s.frame.adu, OFF);
  if (!adu.ok) throw new Error(adu.reason);
  return { frame: s.frame, adu: adu.adu };
}
const goFrame = (name: string) => decodeHex(fixture.goFrames.find((f) => f.name === name)!.hex);

describe('a frame published with the independent codec (codec/reader_decoder_test.go)', () => {
  // 40 40 … 02 01 01 03 00 d9 00 06 00 02 00 "Ａ区１层呷哺走廊" … 30 12 13 01 08 14, checksum 68 23 23.
  const published = '40400000010118' + '0d11160a14' + '000000000000' + '060504030201' + '3000' + '02'
    + '0201010300d9000600' + '0200' + 'a3c1c7f8a3b1b2e3dfc8b2b8d7dfc0c8' + '00'.repeat(15) + '301213010814';

  it("decodes to the component state that codec's test expects, and maps to a fire at loop 6 point 217", () => {
    const { frame, adu } = decodeHex(`${published}682323`);
    expect(frame).toMatchObject({ serial: 0, version: 0x0101, command: COMMAND.send, source: '000000000000', destination: '010203040506' });
    expect(adu.objects).toEqual([{
      kind: 'componentState', systemType: 1, systemAddr: 3, componentType: 0, componentAddr: 0x0600d9, state: 0x02,
      description: 'Ａ区１层呷哺走廊', at: 1596280728_000,
    }]);
    const mapped = mapObjects(adu.objects, newUnitMemory());
    expect(mapped.events).toEqual([expect.objectContaining({ type: 'fire', loop: 6, point: 217, label: 'Ａ区１层呷哺走廊', ts: 1596280728_000 })]);
  });

  it('refuses the same bytes with the other checksum the test writes (0x63)', () => {
    const s = scanFrame(Buffer.from(`${published}632323`, 'hex'), 0, OFF);
    expect(s.kind === 'bad' && s.reason).toBe('checksum 0x63, expected 0x68');
  });
});

describe(`frames built by ${fixture.codec.repo}`, () => {
  it('component state: system 1 address 2, component type 0x79 at 0x04030201, flags 0x0204, "7楼02室会议室烟感"', () => {
    const { frame, adu } = goFrame('componentState');
    expect(frame).toMatchObject({ serial: 1, source: UNIT, destination: CENTER, at: T_2021 });
    expect(adu.objects).toEqual([{ kind: 'componentState', systemType: 1, systemAddr: 2, componentType: 0x79, componentAddr: 0x04030201, state: 0x0204, description: '7楼02室会议室烟感', at: T_2021 }]);
    // 0x0204: fault (bit 2) and bit 9 → a fault of that point, nothing else.
    const events = mapObjects(adu.objects, newUnitMemory()).events;
    expect(events.map((e) => e.type)).toEqual(['fault']);
    expect(events[0]).toMatchObject({ loop: loopOf(0x04030201), point: pointOf(0x04030201) });
  });

  it('two component states, the second of a gas extinguishing system (type 13) at 0x06050403, flags 0x0105', () => {
    const { adu } = goFrame('twoComponentStates');
    expect(adu.objects).toMatchObject([
      { systemType: 1, systemAddr: 2, componentAddr: 0x04030201, state: 0x0204, at: T_2021 },
      { systemType: 13, systemAddr: 3, componentType: 0x79, componentAddr: 0x06050403, state: 0x0105, description: '7楼02室会议室烟感', at: T_2021 + 1000 },
    ]);
    // 0x0105: normal, fault, power fault (bit 8) → one fault for that point.
    expect(mapObjects(adu.objects, newUnitMemory()).events.map((e) => e.type)).toEqual(['fault', 'fault']);
  });

  it('system state 0x0204 (fault, backup power fault) → fault at the system, backup_power_fail, backupPower "fail"', () => {
    const { adu } = goFrame('systemState');
    expect(adu.objects).toEqual([{ kind: 'systemState', systemType: 1, systemAddr: 2, state: 0x0204, at: T_2021 }]);
    const mapped = mapObjects(adu.objects, newUnitMemory());
    expect(mapped.telemetry).toEqual([expect.objectContaining({ mainPower: 'ok', backupPower: 'fail' })]);
    expect(mapped.events.map((e) => e.type)).toEqual(['fault', 'backup_power_fail']);
  });

  it('two system states', () => {
    const { adu } = goFrame('twoSystemStates');
    expect(adu.objects).toMatchObject([{ systemType: 1, systemAddr: 2, state: 0x0204 }, { systemType: 13, systemAddr: 3, state: 0x0105, at: T_2021 + 1000 }]);
  });

  it('system operation 0x84 by operator 0xfa → manual alarm (bit 2) as a manual call at the panel', () => {
    const { adu } = goFrame('systemOperation');
    expect(adu.objects).toEqual([{ kind: 'systemOperation', systemType: 1, systemAddr: 2, flags: 0x84, operator: 0xfa, at: T_2021 }]);
    expect(mapObjects(adu.objects, newUnitMemory()).events).toEqual([expect.objectContaining({ type: 'manual_call', loop: 0, point: 0 })]);
  });

  it("unit state 0x08 → the transmission unit's main power fault, a panel-level fault", () => {
    const { adu } = goFrame('unitState');
    expect(adu.objects).toEqual([{ kind: 'unitState', state: 0x08, at: T_2021 }]);
    const events = mapObjects(adu.objects, newUnitMemory()).events;
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ type: 'fault' });
    expect(events[0]!.label).toContain('主电故障');
    expect(events[0]).not.toHaveProperty('loop');
  });

  it('unit operation 0x31 by 0xfa and a heartbeat (no data unit)', () => {
    expect(goFrame('unitOperation').adu.objects).toEqual([{ kind: 'unitOperation', flags: 0x31, operator: 0xfa, at: T_2021 }]);
    expect(goFrame('heartbeat').adu).toEqual({ type: 0, objects: [] });
  });
});

describe(`frames Watchfire sends, decoded by ${fixture.codec.repo}`, () => {
  const ours = ourFrames();
  const decoded = (name: string) => {
    const i = ours.findIndex((f) => f.name === name);
    return fixture.oursDecodedByGo[i]!.decoded;
  };

  it('the fixture is of the current code (re-run tests/interop/gbt26875/run.sh after a change)', () => {
    expect(fixture.oursDecodedByGo.map((d) => d.hex)).toEqual(ours.map((f) => f.hex));
    expect(fixture.oursDecodedByGo.every((d) => d.decoded.error === undefined)).toBe(true);
  });

  it('confirm, deny and time sync: command, serial, addresses and time as sent', () => {
    const unit = parseInt(UNIT, 16);
    const center = parseInt(CENTER, 16);
    expect(decoded('confirm').header).toEqual({ serial: 7, version: 0x0101, timestamp: AT / 1000, source: center, target: unit });
    expect(decoded('confirm').packet.action).toBe(COMMAND.confirm);
    expect(decoded('deny').packet.action).toBe(COMMAND.deny);
    expect(decoded('syncTime').packet.action).toBe(COMMAND.control);
    // Type 90, one object, the time tag of AT (app_data is base64 in the codec's JSON).
    expect(Buffer.from(decoded('syncTime').packet.app_data as string, 'base64').toString('hex')).toBe('5a010f0e0d070c1a');
  });

  it("the simulated unit's component fire, power fault, reset and unit state read back as built", () => {
    expect(decoded('componentFire').packet.equipment_states).toEqual([{
      Equ: { Ctrl: { Type: 1, Addr: 1 }, Type: 42, Addr: (2 << 16) + 17 }, Flag: 0b11, Description: '3F 走廊 感烟', Timestamp: AT / 1000,
    }]);
    expect(decoded('systemMainPowerFault').packet.controller_states).toEqual([{ Ctrl: { Type: 1, Addr: 1 }, Flag: 0x0101, Timestamp: AT / 1000 }]);
    expect(decoded('operationReset').packet.controller_operations).toEqual([{ Ctrl: { Type: 1, Addr: 1 }, Flag: 1, Operator: 3, Timestamp: AT / 1000 }]);
    expect(decoded('unitBackupPowerFault').packet.transmission_states).toEqual([{ Flag: 0b10001, Timestamp: AT / 1000 }]);
    expect(decoded('heartbeat').length).toBe(30);
  });
});
