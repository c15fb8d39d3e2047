// A simulated user information transmission unit (用户信息传输装置): connects to the center over TCP
// and speaks GB/T 26875.3 (contracts/gbt26875.ts): sends its panel's states as "send data" frames,
// waits for the center's confirm or deny, answers control frames (time sync) with confirm, and
// can be fed a fire panel model's emissions (the same model the MQTT panel uses).
import net from 'node:net';
import type { Clock } from '../contracts/ports.ts';
import { systemClock } from '../contracts/ports.ts';
import type { GbtFrame } from '../contracts/gbt26875.ts';
import {
  ADU_TYPE, aduOf, COMMAND, COMPONENT_BITS, componentAddress, componentStateObject, COMPONENT_TYPE_MANUAL_CALL, encodeFrame, scanFrame,
  SYSTEM_BITS, SYSTEM_TYPE_FIRE_ALARM, systemOperationObject, systemStateObject, unitStateObject, OPERATION_BITS,
} from '../contracts/gbt26875.ts';
import type { Emission } from './models/types.ts';

export interface TransmissionUnitOptions {
  host: string;
  port: number;
  /** This unit's 6-byte address, 12 hex digits (the registry's meta.gbtAddress). */
  address: string;
  centerAddress?: string;
  utcOffsetMinutes?: number;
  clock?: Clock;
  /** How long to wait for the center's confirm or deny. */
  answerTimeoutMs?: number;
}

export interface Answer {
  readonly command: number;
  readonly serial: number;
}

/** Component type 42: point-type smoke detector (点型感烟火灾探测器), table 6 of the standard. */
const COMPONENT_TYPE_SMOKE = 42;
const SYSTEM_ADDR = 1;

export async function connectTransmissionUnit(opts: TransmissionUnitOptions) {
  const clock = opts.clock ?? systemClock;
  const off = opts.utcOffsetMinutes ?? 480;
  const center = opts.centerAddress ?? '000000000000';
  const timeoutMs = opts.answerTimeoutMs ?? 5_000;
  const socket = net.connect({ host: opts.host, port: opts.port });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.setNoDelay(true);
  let serial = 0;
  let pending = Buffer.alloc(0);
  const received: GbtFrame[] = [];
  const waiters = new Map<number, { resolve: (a: Answer) => void; timer: NodeJS.Timeout }>();
  const frameWaiters: Array<{ pred: (f: GbtFrame) => boolean; resolve: (f: GbtFrame) => void }> = [];
  let closed = false;
  const closedP = new Promise<void>((resolve) => socket.once('close', () => {
    closed = true;
    resolve();
  }));
  socket.on('error', () => undefined);
  socket.on('data', (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    let at = 0;
    for (;;) {
      const s = scanFrame(pending, at, off);
      if (s.kind === 'need') break;
      at += s.bytes;
      if (s.kind !== 'frame') continue;
      const f = s.frame;
      received.push(f);
      if (f.command === COMMAND.confirm || f.command === COMMAND.deny) {
        const w = waiters.get(f.serial);
        if (w) {
          clearTimeout(w.timer);
          waiters.delete(f.serial);
          w.resolve({ command: f.command, serial: f.serial });
        }
      }
      // The center sets our clock (type 90): confirm, as a unit must.
      if (f.command === COMMAND.control) socket.write(encodeFrame({ serial: f.serial, at: clock.now(), source: opts.address, destination: center, command: COMMAND.confirm }, off));
      for (let i = frameWaiters.length - 1; i >= 0; i--) {
        if (frameWaiters[i]!.pred(f)) {
          frameWaiters[i]!.resolve(f);
          frameWaiters.splice(i, 1);
        }
      }
    }
    pending = Buffer.from(pending.subarray(at));
  });

  /** Per point: the state bits the panel has now; the unit reports the whole state on each change. */
  const points = new Map<number, { state: number; type: number; label: string }>();
  let system = 1 << SYSTEM_BITS.normal;

  function sendData(adu: Buffer, serialNo?: number): Promise<Answer> {
    const s = serialNo ?? (serial = (serial + 1) & 0xffff);
    const frame = encodeFrame({ serial: s, at: clock.now(), source: opts.address, destination: center, command: COMMAND.send, adu }, off);
    return sendFrame(frame, s);
  }
  function sendFrame(frame: Buffer, s: number): Promise<Answer> {
    return new Promise<Answer>((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.delete(s);
        reject(new Error(`no confirm or deny for serial ${s} within ${timeoutMs} ms`));
      }, timeoutMs);
      waiters.set(s, { resolve, timer });
      socket.write(frame);
    });
  }

  function pointState(loop: number, point: number, set: number[], clear: number[], label: string, type: number): Buffer {
    const key = componentAddress(loop, point);
    const p = points.get(key) ?? { state: 1 << COMPONENT_BITS.normal, type, label };
    for (const b of set) p.state |= 1 << b;
    for (const b of clear) p.state &= ~(1 << b);
    points.set(key, p);
    return componentStateObject({ systemType: SYSTEM_TYPE_FIRE_ALARM, systemAddr: SYSTEM_ADDR, componentType: p.type, componentAddr: key, state: p.state, description: p.label, at: clock.now() }, off);
  }

  /** GB/T 26875.3 objects for one emission of the fire panel model; undefined when it has none. */
  function aduOfEmission(e: Emission): Buffer | Buffer[] | undefined {
    const p = e.payload;
    if (e.kind === 'telemetry') {
      system = p.mainPower === 'fail' ? system | (1 << SYSTEM_BITS.mainPowerFault) : system & ~(1 << SYSTEM_BITS.mainPowerFault);
      system = p.backupPower === 'fail' ? system | (1 << SYSTEM_BITS.backupPowerFault) : system & ~(1 << SYSTEM_BITS.backupPowerFault);
      return aduOf(ADU_TYPE.systemState, [systemStateObject({ systemType: SYSTEM_TYPE_FIRE_ALARM, systemAddr: SYSTEM_ADDR, state: system, at: clock.now() }, off)]);
    }
    const loop = typeof p.loop === 'number' ? p.loop : undefined;
    const point = typeof p.point === 'number' ? p.point : undefined;
    const label = typeof p.label === 'string' ? p.label : '';
    const B = COMPONENT_BITS;
    const at = (set: number[], clear: number[], type = COMPONENT_TYPE_SMOKE) =>
      loop === undefined || point === undefined ? undefined : aduOf(ADU_TYPE.componentState, [pointState(loop, point, set, clear, label, type)]);
    const sys = (bitNo: number, on: boolean) => {
      system = on ? system | (1 << bitNo) : system & ~(1 << bitNo);
      return aduOf(ADU_TYPE.systemState, [systemStateObject({ systemType: SYSTEM_TYPE_FIRE_ALARM, systemAddr: SYSTEM_ADDR, state: system, at: clock.now() }, off)]);
    };
    switch (p.type) {
      case 'fire': return at([B.fire], []);
      case 'manual_call': return at([B.fire], [], COMPONENT_TYPE_MANUAL_CALL);
      case 'fire_clear': return at([], [B.fire]);
      case 'fault': return loop === undefined ? sys(SYSTEM_BITS.fault, true) : at([B.fault], []);
      case 'fault_clear': return loop === undefined ? sys(SYSTEM_BITS.fault, false) : at([], [B.fault]);
      case 'disable': return at([B.disabled], []);
      case 'enable': return at([], [B.disabled]);
      case 'supervisory': return at([B.supervisory], []);
      case 'supervisory_clear': return at([], [B.supervisory]);
      case 'action': return at([B.started], []);
      case 'action_feedback': return at([B.feedback], []);
      case 'main_power_fail': return sys(SYSTEM_BITS.mainPowerFault, true);
      case 'main_power_restore': return sys(SYSTEM_BITS.mainPowerFault, false);
      case 'backup_power_fail': return sys(SYSTEM_BITS.backupPowerFault, true);
      case 'backup_power_restore': return sys(SYSTEM_BITS.backupPowerFault, false);
      case 'reset': {
        // A reset is reported as the operation, then every point that was not normal as normal
        // again (a unit reports states; the center must see each point clear).
        const cleared: Buffer[] = [];
        for (const [addr, v] of points) {
          if (v.state === 1 << COMPONENT_BITS.normal) continue;
          v.state = 1 << COMPONENT_BITS.normal;
          cleared.push(componentStateObject({ systemType: SYSTEM_TYPE_FIRE_ALARM, systemAddr: SYSTEM_ADDR, componentType: v.type, componentAddr: addr, state: v.state, description: v.label, at: clock.now() }, off));
        }
        const op = aduOf(ADU_TYPE.systemOperation, [systemOperationObject({ systemType: SYSTEM_TYPE_FIRE_ALARM, systemAddr: SYSTEM_ADDR, flags: 1 << OPERATION_BITS.reset, operator: 0, at: clock.now() }, off)]);
        // At most 22 component objects fit the standard's 1024-byte data unit.
        const out = [op];
        for (let i = 0; i < cleared.length; i += 22) out.push(aduOf(ADU_TYPE.componentState, cleared.slice(i, i + 22)));
        return out;
      }
      default: return undefined;
    }
  }

  return {
    address: opts.address,
    received,
    get closed() { return closed; },
    closedP,
    /** Sends a "send data" frame with this ADU; resolves with the center's confirm or deny. */
    sendData,
    /** Sends bytes as they are (malformed frames in tests); no answer awaited. */
    sendRaw(b: Buffer): void {
      socket.write(b);
    },
    /** Sends an already encoded frame and awaits the answer for its serial. */
    sendFrame,
    heartbeat: () => sendData(Buffer.alloc(0)),
    componentState: (loop: number, point: number, state: number, label = '', type = COMPONENT_TYPE_SMOKE) =>
      sendData(aduOf(ADU_TYPE.componentState, [componentStateObject({ systemType: SYSTEM_TYPE_FIRE_ALARM, systemAddr: SYSTEM_ADDR, componentType: type, componentAddr: componentAddress(loop, point), state, description: label, at: clock.now() }, off)])),
    systemState: (state: number) => sendData(aduOf(ADU_TYPE.systemState, [systemStateObject({ systemType: SYSTEM_TYPE_FIRE_ALARM, systemAddr: SYSTEM_ADDR, state, at: clock.now() }, off)])),
    unitState: (state: number) => sendData(aduOf(ADU_TYPE.unitState, [unitStateObject({ state, at: clock.now() }, off)])),
    /** Sends what a fire panel model emitted, as a unit would: one frame per change. */
    async emit(emissions: readonly Emission[]): Promise<Answer[]> {
      const answers: Answer[] = [];
      for (const e of emissions) {
        const adu = aduOfEmission(e) ?? Buffer.alloc(0);
        for (const one of Array.isArray(adu) ? adu : [adu]) answers.push(await sendData(one));
      }
      return answers;
    },
    waitFrame(pred: (f: GbtFrame) => boolean, ms = timeoutMs): Promise<GbtFrame> {
      const seen = received.find(pred);
      if (seen) return Promise.resolve(seen);
      return new Promise<GbtFrame>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no such frame from the center')), ms);
        frameWaiters.push({ pred, resolve: (f) => {
          clearTimeout(timer);
          resolve(f);
        } });
      });
    },
    async close(): Promise<void> {
      for (const w of waiters.values()) clearTimeout(w.timer);
      socket.end();
      await closedP;
    },
  };
}

export type TransmissionUnit = Awaited<ReturnType<typeof connectTransmissionUnit>>;
