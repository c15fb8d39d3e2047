// Frames Watchfire sends (the listener's confirm, deny and time sync; the simulated unit's data),
// built deterministically so run.sh can have the independent codec decode them and
// tests/adapters.gbt26875.interop.test.ts can check the fixture is of the current code.
import { ADU_TYPE, aduOf, COMMAND, COMPONENT_BITS, componentAddress, componentStateObject, encodeFrame, OPERATION_BITS, SYSTEM_BITS, syncTimeAdu, systemOperationObject, systemStateObject, unitStateObject } from '../../../contracts/gbt26875.ts';

export const CENTER = '0000000000c1';
export const UNIT = '010203040506';
/** 2026-12-07 13:14:15 in Beijing (UTC+8). */
export const AT = Date.UTC(2026, 11, 7, 5, 14, 15);
const OFF = 480;

export function ourFrames(): Array<{ name: string; hex: string }> {
  const f = (name: string, serial: number, command: number, source: string, destination: string, adu?: Buffer) =>
    ({ name, hex: encodeFrame({ serial, at: AT, source, destination, command, ...(adu ? { adu } : {}) }, OFF).toString('hex') });
  return [
    f('confirm', 7, COMMAND.confirm, CENTER, UNIT),
    f('deny', 8, COMMAND.deny, CENTER, UNIT),
    f('syncTime', 9, COMMAND.control, CENTER, UNIT, syncTimeAdu(AT, OFF)),
    f('heartbeat', 10, COMMAND.send, UNIT, CENTER),
    f('componentFire', 11, COMMAND.send, UNIT, CENTER, aduOf(ADU_TYPE.componentState, [componentStateObject({
      systemType: 1, systemAddr: 1, componentType: 42, componentAddr: componentAddress(2, 17),
      state: (1 << COMPONENT_BITS.normal) | (1 << COMPONENT_BITS.fire), description: '3F 走廊 感烟', at: AT,
    }, OFF)])),
    f('systemMainPowerFault', 12, COMMAND.send, UNIT, CENTER, aduOf(ADU_TYPE.systemState, [systemStateObject({ systemType: 1, systemAddr: 1, state: (1 << SYSTEM_BITS.normal) | (1 << SYSTEM_BITS.mainPowerFault), at: AT }, OFF)])),
    f('operationReset', 13, COMMAND.send, UNIT, CENTER, aduOf(ADU_TYPE.systemOperation, [systemOperationObject({ systemType: 1, systemAddr: 1, flags: 1 << OPERATION_BITS.reset, operator: 3, at: AT }, OFF)])),
    f('unitBackupPowerFault', 14, COMMAND.send, UNIT, CENTER, aduOf(ADU_TYPE.unitState, [unitStateObject({ state: 0b10001, at: AT }, OFF)])),
  ];
}

if (process.argv[2] === 'print') for (const x of ourFrames()) console.log(x.hex);
