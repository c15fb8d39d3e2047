// GB/T 26875.3-2011 (城市消防远程监控系统 第3部分：报警传输网络通信协议): the frame a user information
// transmission device (用户信息传输装置) and a monitoring center exchange over TCP. Pure functions,
// shared by the listener (adapters/gbt26875) and the simulated transmission unit (simulator/).
// Layout, byte order and object sizes follow the standard as read by an independent public
// implementation, github.com/shootingfans/codec_gb26875_3_2011 (codec/codec.go), whose frames
// the tests decode (tests/adapters.gbt26875.codec.test.ts). Documented in contracts/GBT26875.md.
import iconv from 'iconv-lite';

/** '@@' and '##': start and end markers (§ 6.1). */
export const START_BYTE = 0x40;
export const END_BYTE = 0x23;
/** '@@' 2 + serial 2 + version 2 + time tag 6 + source 6 + destination 6 + ADU length 2 + command 1. */
export const HEADER_BYTES = 27;
/** Checksum 1 + '##' 2. */
export const TRAILER_BYTES = 3;
/** The standard bounds the application data unit at 1024 bytes. */
export const MAX_ADU_BYTES = 1024;
/** Protocol version 1.1 on the wire as 01 01 (major, minor). */
export const PROTOCOL_VERSION = 0x0101;
/** A component description is 31 bytes of GB18030 text, NUL-padded. */
export const DESCRIPTION_BYTES = 31;

export const COMMAND = { control: 1, send: 2, confirm: 3, request: 4, reply: 5, deny: 6 } as const;
export type CommandName = keyof typeof COMMAND;
const COMMAND_NAMES = Object.fromEntries(Object.entries(COMMAND).map(([k, v]) => [v, k])) as Record<number, CommandName>;
export const commandName = (c: number): CommandName | undefined => COMMAND_NAMES[c];

/** Type flags of the application data unit (§ 8.2, table 4). */
export const ADU_TYPE = {
  systemState: 1, componentState: 2, componentAnalog: 3, systemOperation: 4, systemSoftware: 5, systemConfig: 6,
  componentConfig: 7, systemTime: 8,
  unitState: 21, unitOperation: 24, unitSoftware: 25, unitConfig: 26, unitTime: 28,
  /** Control, center → unit: set the unit's clock. */
  syncUnitTime: 90,
} as const;

/** Bits of a building fire facility system's state (type 1, 2 bytes little-endian). */
export const SYSTEM_BITS = { normal: 0, fire: 1, fault: 2, disabled: 3, supervisory: 4, started: 5, feedback: 6, delay: 7, mainPowerFault: 8, backupPowerFault: 9, busFault: 10, manual: 11, configChanged: 12, reset: 13 } as const;
/** Bits of a component's state (type 2, 2 bytes little-endian). */
export const COMPONENT_BITS = { normal: 0, fire: 1, fault: 2, disabled: 3, supervisory: 4, started: 5, feedback: 6, delay: 7, powerFault: 8 } as const;
/** Bits of an operation record (types 4 and 24, 1 byte). Bit 5 is "confirm" for a system, "inspection reply" (查岗应答) for the unit. */
export const OPERATION_BITS = { reset: 0, silence: 1, manualAlarm: 2, alarmClear: 3, selfTest: 4, confirm: 5, test: 6 } as const;
/** Bits of the transmission unit's own state (type 21, 1 byte). */
export const UNIT_BITS = { normal: 0, fire: 1, fault: 2, mainPowerFault: 3, backupPowerFault: 4, centerLinkFault: 5, facilityLinkFault: 6 } as const;

/** Component type 23: manual fire alarm button (手动火灾报警按钮), table 6. */
export const COMPONENT_TYPE_MANUAL_CALL = 23;
/** System type 1: fire alarm system (火灾报警系统), table 5. */
export const SYSTEM_TYPE_FIRE_ALARM = 1;

export const bit = (flags: number, n: number): boolean => ((flags >>> n) & 1) === 1;

export interface GbtHeader {
  readonly serial: number;
  readonly version: number;
  /** The header's time tag, ms epoch (the unit's local time read at the configured UTC offset). */
  readonly at: number;
  /** 6-byte addresses as 12 hex digits of the little-endian number (wire 06 05 04 03 02 01 → 010203040506). */
  readonly source: string;
  readonly destination: string;
  readonly command: number;
}

export interface GbtFrame extends GbtHeader {
  readonly adu: Buffer;
  /** The whole frame as received, for dead letters and duplicate detection. */
  readonly raw: Buffer;
}

export type Scan =
  | { readonly kind: 'frame'; readonly frame: GbtFrame; readonly bytes: number }
  | { readonly kind: 'bad'; readonly reason: string; readonly bytes: number; readonly header: GbtHeader | undefined; readonly raw: Buffer }
  | { readonly kind: 'need' };

// ---- addresses and time tags -------------------------------------------------------------------
export const ADDRESS_RE = /^[0-9a-f]{12}$/;

export function addressHex(b: Buffer, at: number): string {
  let s = '';
  for (let i = 5; i >= 0; i--) s += b[at + i]!.toString(16).padStart(2, '0');
  return s;
}
export function addressBytes(hex: string): Buffer {
  const h = hex.toLowerCase();
  if (!ADDRESS_RE.test(h)) throw new Error(`expected 12 hex digits, got ${JSON.stringify(hex)}`);
  const out = Buffer.alloc(6);
  for (let i = 0; i < 6; i++) out[i] = parseInt(h.slice(10 - 2 * i, 12 - 2 * i), 16);
  return out;
}

/** Time tag (§ 8.1.2): second, minute, hour, day, month, year − 2000, in the unit's local time. */
export function readTime(b: Buffer, at: number, utcOffsetMin: number): number | undefined {
  const [s, mi, h, d, mo, y] = [b[at]!, b[at + 1]!, b[at + 2]!, b[at + 3]!, b[at + 4]!, b[at + 5]!];
  if (s > 59 || mi > 59 || h > 23 || d < 1 || d > 31 || mo < 1 || mo > 12 || y > 99) return undefined;
  return Date.UTC(2000 + y, mo - 1, d, h, mi, s) - utcOffsetMin * 60_000;
}
export function writeTime(ms: number, utcOffsetMin: number): Buffer {
  const t = new Date(ms + utcOffsetMin * 60_000);
  return Buffer.from([t.getUTCSeconds(), t.getUTCMinutes(), t.getUTCHours(), t.getUTCDate(), t.getUTCMonth() + 1, t.getUTCFullYear() - 2000]);
}

export function checksum(b: Buffer, from: number, to: number): number {
  let sum = 0;
  for (let i = from; i < to; i++) sum += b[i]!;
  return sum & 0xff;
}

// ---- framing ---------------------------------------------------------------------------------
function headerOf(b: Buffer, o: number, utcOffsetMin: number): GbtHeader {
  return {
    serial: b.readUInt16LE(o + 2),
    version: b.readUInt16BE(o + 4),
    at: readTime(b, o + 6, utcOffsetMin) ?? Number.NaN,
    source: addressHex(b, o + 12),
    destination: addressHex(b, o + 18),
    command: b[o + 26]!,
  };
}

/**
 * Looks for one frame at `offset` of a TCP stream's bytes. `bytes` says how far to advance: past a
 * whole frame, past junk before the next '@@', or past a start marker whose frame cannot be read.
 */
export function scanFrame(b: Buffer, offset: number, utcOffsetMin: number): Scan {
  const left = b.length - offset;
  if (left < 2) return { kind: 'need' };
  if (b[offset] !== START_BYTE || b[offset + 1] !== START_BYTE) {
    let next = offset + 1;
    while (next < b.length - 1 && !(b[next] === START_BYTE && b[next + 1] === START_BYTE)) next++;
    if (next >= b.length - 1 && b[b.length - 1] === START_BYTE) next = b.length - 1;
    else if (next >= b.length - 1) next = b.length;
    return { kind: 'bad', reason: `no start marker '@@': ${next - offset} byte(s) skipped`, bytes: next - offset, header: undefined, raw: b.subarray(offset, next) };
  }
  if (left < HEADER_BYTES) return { kind: 'need' };
  const aduLength = b.readUInt16LE(offset + 24);
  const header = headerOf(b, offset, utcOffsetMin);
  if (aduLength > MAX_ADU_BYTES) {
    return { kind: 'bad', reason: `application data unit of ${aduLength} bytes: at most ${MAX_ADU_BYTES}`, bytes: 2, header, raw: b.subarray(offset, offset + HEADER_BYTES) };
  }
  const total = HEADER_BYTES + aduLength + TRAILER_BYTES;
  if (left < total) return { kind: 'need' };
  const raw = b.subarray(offset, offset + total);
  if (b[offset + total - 2] !== END_BYTE || b[offset + total - 1] !== END_BYTE) {
    return { kind: 'bad', reason: `no end marker '##' after ${aduLength} bytes of data`, bytes: 2, header, raw };
  }
  const sum = checksum(b, offset + 2, offset + HEADER_BYTES + aduLength);
  const got = b[offset + HEADER_BYTES + aduLength]!;
  if (sum !== got) return { kind: 'bad', reason: `checksum 0x${got.toString(16).padStart(2, '0')}, expected 0x${sum.toString(16).padStart(2, '0')}`, bytes: total, header, raw };
  if (Number.isNaN(header.at)) return { kind: 'bad', reason: 'header time tag is no valid date', bytes: total, header, raw };
  return { kind: 'frame', frame: { ...header, adu: Buffer.from(b.subarray(offset + HEADER_BYTES, offset + HEADER_BYTES + aduLength)), raw: Buffer.from(raw) }, bytes: total };
}

export interface EncodeInput {
  serial: number;
  version?: number;
  at: number;
  source: string;
  destination: string;
  command: number;
  adu?: Buffer;
}

export function encodeFrame(f: EncodeInput, utcOffsetMin: number): Buffer {
  const adu = f.adu ?? Buffer.alloc(0);
  if (adu.length > MAX_ADU_BYTES) throw new Error(`ADU of ${adu.length} bytes: at most ${MAX_ADU_BYTES}`);
  const out = Buffer.alloc(HEADER_BYTES + adu.length + TRAILER_BYTES);
  out[0] = START_BYTE;
  out[1] = START_BYTE;
  out.writeUInt16LE(f.serial & 0xffff, 2);
  out.writeUInt16BE(f.version ?? PROTOCOL_VERSION, 4);
  writeTime(f.at, utcOffsetMin).copy(out, 6);
  addressBytes(f.source).copy(out, 12);
  addressBytes(f.destination).copy(out, 18);
  out.writeUInt16LE(adu.length, 24);
  out[26] = f.command;
  adu.copy(out, HEADER_BYTES);
  out[HEADER_BYTES + adu.length] = checksum(out, 2, HEADER_BYTES + adu.length);
  out[out.length - 2] = END_BYTE;
  out[out.length - 1] = END_BYTE;
  return out;
}

// ---- application data unit -------------------------------------------------------------------
export type GbtObject =
  | { kind: 'systemState'; systemType: number; systemAddr: number; state: number; at: number | undefined }
  | { kind: 'componentState'; systemType: number; systemAddr: number; componentType: number; componentAddr: number; state: number; description: string; at: number | undefined }
  | { kind: 'componentAnalog'; systemType: number; systemAddr: number; componentType: number; componentAddr: number; analogType: number; value: number; at: number | undefined }
  | { kind: 'systemOperation'; systemType: number; systemAddr: number; flags: number; operator: number; at: number | undefined }
  | { kind: 'systemSoftware'; systemType: number; systemAddr: number; version: string }
  | { kind: 'systemConfig'; systemType: number; systemAddr: number; text: string }
  | { kind: 'componentConfig'; systemType: number; systemAddr: number; componentType: number; componentAddr: number; description: string }
  | { kind: 'systemTime'; systemType: number; systemAddr: number; at: number | undefined }
  | { kind: 'unitState'; state: number; at: number | undefined }
  | { kind: 'unitOperation'; flags: number; operator: number; at: number | undefined }
  | { kind: 'unitSoftware'; version: string }
  | { kind: 'unitConfig'; text: string }
  | { kind: 'unitTime'; at: number | undefined };

export type Adu = { readonly type: number; readonly objects: readonly GbtObject[] };

/** Fixed object sizes per type flag; 6 and 26 carry their own length byte. */
const SIZE: Record<number, number> = { 1: 10, 2: 46, 3: 16, 4: 10, 5: 4, 7: 38, 8: 8, 21: 7, 24: 8, 25: 2, 28: 6 };

export function decodeText(b: Buffer): string {
  let end = b.indexOf(0);
  if (end < 0) end = b.length;
  return iconv.decode(b.subarray(0, end), 'gb18030').trim();
}
export function encodeText(text: string, bytes: number): Buffer {
  const out = Buffer.alloc(bytes);
  const enc = iconv.encode(text, 'gb18030');
  // Never cut a two-byte character in half: GB18030 lead bytes are ≥ 0x81.
  let n = Math.min(enc.length, bytes);
  let i = 0;
  while (i < n) {
    const step = enc[i]! >= 0x81 ? (enc[i + 1] !== undefined && enc[i + 1]! >= 0x30 && enc[i + 1]! <= 0x39 ? 4 : 2) : 1;
    if (i + step > n) break;
    i += step;
  }
  n = i;
  enc.copy(out, 0, 0, n);
  return out;
}

function one(type: number, b: Buffer, o: number, len: number, off: number): GbtObject {
  const sys = () => ({ systemType: b[o]!, systemAddr: b[o + 1]! });
  switch (type) {
    case 1: return { kind: 'systemState', ...sys(), state: b.readUInt16LE(o + 2), at: readTime(b, o + 4, off) };
    case 2: return { kind: 'componentState', ...sys(), componentType: b[o + 2]!, componentAddr: b.readUInt32LE(o + 3), state: b.readUInt16LE(o + 7), description: decodeText(b.subarray(o + 9, o + 40)), at: readTime(b, o + 40, off) };
    case 3: return { kind: 'componentAnalog', ...sys(), componentType: b[o + 2]!, componentAddr: b.readUInt32LE(o + 3), analogType: b[o + 7]!, value: b.readInt16LE(o + 8), at: readTime(b, o + 10, off) };
    case 4: return { kind: 'systemOperation', ...sys(), flags: b[o + 2]!, operator: b[o + 3]!, at: readTime(b, o + 4, off) };
    case 5: return { kind: 'systemSoftware', ...sys(), version: `${b[o + 2]}.${b[o + 3]}` };
    case 6: return { kind: 'systemConfig', ...sys(), text: decodeText(b.subarray(o + 3, o + len)) };
    case 7: return { kind: 'componentConfig', ...sys(), componentType: b[o + 2]!, componentAddr: b.readUInt32LE(o + 3), description: decodeText(b.subarray(o + 7, o + 38)) };
    case 8: return { kind: 'systemTime', ...sys(), at: readTime(b, o + 2, off) };
    case 21: return { kind: 'unitState', state: b[o]!, at: readTime(b, o + 1, off) };
    case 24: return { kind: 'unitOperation', flags: b[o]!, operator: b[o + 1]!, at: readTime(b, o + 2, off) };
    case 25: return { kind: 'unitSoftware', version: `${b[o]}.${b[o + 1]}` };
    case 26: return { kind: 'unitConfig', text: decodeText(b.subarray(o + 1, o + len)) };
    default: return { kind: 'unitTime', at: readTime(b, o, off) };
  }
}

/**
 * Decodes an ADU sent by a unit (send data or reply): type flag, object count, objects. Strict:
 * a byte too many or too few is an error, not a guess — a panel state read from the wrong offset
 * is worse than a denied frame the unit will send again.
 */
export function decodeAdu(adu: Buffer, utcOffsetMin: number): { ok: true; adu: Adu } | { ok: false; reason: string } {
  if (adu.length === 0) return { ok: true, adu: { type: 0, objects: [] } };
  if (adu.length < 2) return { ok: false, reason: `application data unit of ${adu.length} byte: a type flag and an object count are 2` };
  const type = adu[0]!;
  const count = adu[1]!;
  const variable = type === 6 || type === 26;
  const size = SIZE[type];
  if (size === undefined && !variable) return { ok: false, reason: `type flag ${type} is not one a unit sends (1–8, 21, 24–26, 28)` };
  if (count === 0) return { ok: false, reason: `type flag ${type} with 0 objects` };
  const objects: GbtObject[] = [];
  let o = 2;
  for (let i = 0; i < count; i++) {
    let len: number;
    if (variable) {
      const lenAt = type === 6 ? o + 2 : o;
      if (lenAt >= adu.length) return { ok: false, reason: `type flag ${type}: object ${i + 1} of ${count} is cut off at byte ${adu.length}` };
      len = (type === 6 ? 3 : 1) + adu[lenAt]!;
    } else len = size!;
    if (o + len > adu.length) return { ok: false, reason: `type flag ${type} with ${count} object(s) of ${len} bytes: ${adu.length - 2} bytes of objects` };
    objects.push(one(type, adu, o, len, utcOffsetMin));
    o += len;
  }
  if (o !== adu.length) return { ok: false, reason: `type flag ${type} with ${count} object(s): ${adu.length - o} byte(s) left over` };
  return { ok: true, adu: { type, objects } };
}

// ---- ADU builders (the simulated unit; the center's control frames) ----------------------------
export function aduOf(type: number, objects: readonly Buffer[]): Buffer {
  return Buffer.concat([Buffer.from([type, objects.length]), ...objects]);
}
export function systemStateObject(o: { systemType: number; systemAddr: number; state: number; at: number }, off: number): Buffer {
  const b = Buffer.alloc(4);
  b[0] = o.systemType;
  b[1] = o.systemAddr;
  b.writeUInt16LE(o.state, 2);
  return Buffer.concat([b, writeTime(o.at, off)]);
}
export function componentStateObject(o: { systemType: number; systemAddr: number; componentType: number; componentAddr: number; state: number; description: string; at: number }, off: number): Buffer {
  const b = Buffer.alloc(9);
  b[0] = o.systemType;
  b[1] = o.systemAddr;
  b[2] = o.componentType;
  b.writeUInt32LE(o.componentAddr >>> 0, 3);
  b.writeUInt16LE(o.state, 7);
  return Buffer.concat([b, encodeText(o.description, DESCRIPTION_BYTES), writeTime(o.at, off)]);
}
export function systemOperationObject(o: { systemType: number; systemAddr: number; flags: number; operator: number; at: number }, off: number): Buffer {
  return Buffer.concat([Buffer.from([o.systemType, o.systemAddr, o.flags, o.operator]), writeTime(o.at, off)]);
}
export function unitStateObject(o: { state: number; at: number }, off: number): Buffer {
  return Buffer.concat([Buffer.from([o.state]), writeTime(o.at, off)]);
}
export function unitOperationObject(o: { flags: number; operator: number; at: number }, off: number): Buffer {
  return Buffer.concat([Buffer.from([o.flags, o.operator]), writeTime(o.at, off)]);
}
/** Control (command 1), type 90: the center sets the unit's clock. */
export function syncTimeAdu(at: number, off: number): Buffer {
  return aduOf(ADU_TYPE.syncUnitTime, [writeTime(at, off)]);
}

/** Component address (4 bytes LE) as loop and point: high 16 bits the loop, low 16 bits the point (our convention, GBT26875.md). */
export const loopOf = (componentAddr: number): number => componentAddr >>> 16;
export const pointOf = (componentAddr: number): number => componentAddr & 0xffff;
export const componentAddress = (loop: number, point: number): number => ((loop & 0xffff) * 0x10000 + (point & 0xffff)) >>> 0;
