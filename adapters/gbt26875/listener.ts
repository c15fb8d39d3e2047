// The GB/T 26875.3 listener: user information transmission units (用户信息传输装置) connect over TCP,
// send their panel's states in the standard's frames, and are answered per the standard: confirm
// (command 3) for data handed to ingest, deny (command 6) for a frame that cannot be read. Every
// refusal is coded, counted and dead-lettered; one unit's bad bytes never touch another's socket.
import net from 'node:net';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { Counter, Gauge } from 'prom-client';
import type { Clock, DeviceDirectory, RegistryChanges } from '../../contracts/ports.ts';
import { systemClock } from '../../contracts/ports.ts';
import type { ErrorCode } from '../../contracts/errors.ts';
import { adapterFrame, type IngressPort } from '../../contracts/ingress.ts';
import { familyAccepts } from '../../contracts/families.ts';
import { MAX_BATCH } from '../../contracts/protocol.ts';
import type { GbtFrame, GbtHeader } from '../../contracts/gbt26875.ts';
import { ADDRESS_RE, bit, COMMAND, commandName, SYSTEM_BITS, decodeAdu, encodeFrame, MAX_ADU_BYTES, scanFrame, syncTimeAdu } from '../../contracts/gbt26875.ts';
import { mapObjects, newUnitMemory, type Body, type UnitMemory } from './mapping.ts';
import { allowListOf } from '../allow-list.ts';
import { createTimeSlots, type TimeSlots } from './times.ts';

export interface GbtListenerConfig {
  readonly host: string;
  readonly port: number;
  /** The center's own 6-byte address (12 hex digits) written as source of what it sends. */
  readonly centerAddress: string;
  /** The units' clocks are local time; China has one zone and no daylight saving (UTC+8). */
  readonly utcOffsetMinutes: number;
  /** A unit silent this long (no frame, no heartbeat) is disconnected and reported offline. */
  readonly idleTimeoutSec: number;
  /** Source IPs or CIDRs every unit may connect from, besides its own `meta.gbtAllow`; empty with no per-unit list: any. */
  readonly allowFrom: readonly string[];
  readonly maxConnections: number;
}

export interface GbtListenerDeps {
  config: GbtListenerConfig;
  directory: DeviceDirectory;
  changes?: RegistryChanges;
  ingress: IngressPort;
  logger: Logger;
  metrics: Registry;
  clock?: Clock;
}

/** Bytes a connection may hold unframed: a few maximal frames. More is no unit talking the standard. */
const MAX_PENDING = 4 * (27 + MAX_ADU_BYTES + 3);
/** Retransmissions (same serial and checksum) recognised per unit: the standard resends on no confirm. */
const RECENT = 64;

interface Unit {
  readonly deviceId: string;
  readonly address: string;
  readonly memory: UnitMemory;
  readonly recent: number[];
  /** The milliseconds of each tagged second already handed to ingest (times.ts). */
  readonly times: TimeSlots;
}

export function createGbtListener(deps: GbtListenerDeps) {
  const { config, ingress, logger } = deps;
  const clock = deps.clock ?? systemClock;
  const off = config.utcOffsetMinutes;
  const m = deps.metrics;
  const frames = new Counter({ name: 'watchfire_gbt26875_frames_total', help: 'GB/T 26875.3 frames from transmission units, by outcome', labelNames: ['outcome'], registers: [m] });
  const connected = new Gauge({ name: 'watchfire_gbt26875_units_connected', help: 'Transmission units connected and authenticated', registers: [m] });
  const globalAllow = allowListOf(config.allowFrom);

  let server: net.Server | undefined;
  const sockets = new Set<net.Socket>();
  const byUnit = new Map<string, net.Socket>();
  const memories = new Map<string, Unit>();
  let index: Map<string, string> | undefined;
  let serial = 0;
  let unsubscribe: (() => void) | undefined;

  /** Address → device id, from the registry's `meta.gbtAddress`; rebuilt when devices change. */
  function lookup(address: string): string | undefined {
    if (!index) {
      index = new Map();
      for (const d of deps.directory.all()) {
        const a = d.meta?.gbtAddress;
        if (typeof a === 'string' && ADDRESS_RE.test(a.toLowerCase())) index.set(a.toLowerCase(), d.id);
      }
    }
    return index.get(address);
  }

  function send(socket: net.Socket, to: string, command: number, serialNo: number, adu?: Buffer): void {
    if (socket.destroyed || !ADDRESS_RE.test(to)) return;
    socket.write(encodeFrame({ serial: serialNo, at: clock.now(), source: config.centerAddress, destination: to, command, ...(adu ? { adu } : {}) }, off));
  }

  function refuse(socket: net.Socket, origin: string, deviceId: string | undefined, code: ErrorCode, reason: string, raw: Buffer, header: GbtHeader | undefined, close: boolean): void {
    frames.labels(code === 'WF_GBT_FRAME' ? 'bad' : 'refused').inc();
    ingress.reject({ source: 'gbt26875', at: clock.now(), deviceId, origin, code, reason, payload: raw.toString('hex') });
    // Deny (§ 7: command 6) whatever carried a readable header, so the unit knows not to wait.
    if (header) send(socket, header.source, COMMAND.deny, header.serial);
    if (close) socket.end();
  }

  function allowed(ip: string, deviceId: string): boolean {
    const own = deps.directory.get(deviceId)?.meta?.gbtAllow;
    const list = typeof own === 'string' && own.trim() ? allowListOf(own.split(',').map((s) => s.trim()).filter(Boolean)) : undefined;
    if (!list && !globalAllow) return true;
    const type = net.isIPv6(ip) ? 'ipv6' : 'ipv4';
    return (list?.check(ip, type) ?? false) || (globalAllow?.check(ip, type) ?? false);
  }

  function authenticate(socket: net.Socket, ip: string, origin: string, f: GbtFrame): Unit | undefined {
    const deviceId = lookup(f.source);
    const device = deviceId ? deps.directory.get(deviceId) : undefined;
    if (!deviceId || !device) {
      refuse(socket, origin, undefined, 'WF_GBT_UNKNOWN_UNIT', `unit address ${f.source} is no device's meta.gbtAddress in the registry`, f.raw, f, true);
      return undefined;
    }
    if (!device.enabled || !familyAccepts(device.type, 'gbt26875')) {
      const why = device.enabled ? `a ${device.type} cannot arrive by GB/T 26875.3` : 'the device is disabled';
      refuse(socket, origin, deviceId, 'WF_GBT_UNKNOWN_UNIT', `unit address ${f.source}: ${why}`, f.raw, f, true);
      return undefined;
    }
    if (!allowed(ip, deviceId)) {
      refuse(socket, origin, deviceId, 'WF_GBT_NOT_ALLOWED', `unit ${f.source} (${deviceId}) may not connect from ${ip}`, f.raw, f, true);
      return undefined;
    }
    let unit = memories.get(deviceId);
    if (!unit) memories.set(deviceId, (unit = { deviceId, address: f.source, memory: newUnitMemory(), recent: [], times: createTimeSlots() }));
    // A unit that reconnects (its old socket half-open) replaces the old connection.
    const old = byUnit.get(deviceId);
    if (old && old !== socket) old.destroy();
    byUnit.set(deviceId, socket);
    connected.set(byUnit.size);
    ingress.presence(deviceId, true, clock.now(), 'gbt26875');
    // Time synchronisation (type 90, control) once per connection: the unit's time tags are what
    // ingest timestamps readings with, so its clock is set from ours before anything else.
    send(socket, f.source, COMMAND.control, (serial = (serial + 1) & 0xffff), syncTimeAdu(clock.now(), off));
    logger.info({ deviceId, address: f.source, ip }, 'transmission unit connected');
    return unit;
  }

  /** Main and backup power of the unit's systems as last reported (type 1), if ever. */
  function powerOf(unit: Unit): { mainPower: 'ok' | 'fail'; backupPower: 'ok' | 'fail' } | undefined {
    if (unit.memory.systems.size === 0) return undefined;
    let main = false;
    let backup = false;
    for (const s of unit.memory.systems.values()) {
      main ||= bit(s, SYSTEM_BITS.mainPowerFault);
      backup ||= bit(s, SYSTEM_BITS.backupPowerFault);
    }
    return { mainPower: main ? 'fail' : 'ok', backupPower: backup ? 'fail' : 'ok' };
  }

  /** A heartbeat: the panel is heard from (its offline timer restarts) without a value to store. */
  function alive(unit: Unit, at: number): void {
    ingress.heard(unit.deviceId, at, 'gbt26875');
  }

  /** Time tags have whole seconds: each reading of a unit gets a millisecond of its own (times.ts). */
  function distinct(unit: Unit, bodies: Body[]): void {
    for (const b of bodies) if (typeof b.ts === 'number') b.ts = unit.times.take(b.ts);
  }

  function hand(unit: Unit, kind: 'telemetry' | 'events', bodies: Body[], receivedAt: number): void {
    if (bodies.length === 0) return;
    distinct(unit, bodies);
    if (kind === 'telemetry') {
      for (const b of bodies) {
        // Ingest takes telemetry only with a field the panel family knows (WF_INGEST_EMPTY):
        // operation records, analog values and versions ride along with the last power state the
        // unit reported; before any, they only show the unit is alive.
        const body = 'mainPower' in b ? b : powerOf(unit) ? { ...powerOf(unit), ...b } : undefined;
        if (body) ingress.accept(adapterFrame(unit.deviceId, 'telemetry', body, 'gbt26875', receivedAt));
        else alive(unit, receivedAt);
      }
      return;
    }
    // Events of one frame go together, as a panel's batch would (PROTOCOL.md: ≤ 500 per message).
    for (let i = 0; i < bodies.length; i += MAX_BATCH) ingress.accept(adapterFrame(unit.deviceId, 'events', bodies.slice(i, i + MAX_BATCH), 'gbt26875', receivedAt));
  }

  /**
   * The confirm is a promise (PREAMBLE: an acknowledgement means durably kept): it goes out once
   * the journal holds what the frame carried. If the journal cannot, no confirm: the unit resends.
   */
  function confirmDurable(socket: net.Socket, unit: Unit, f: GbtFrame): void {
    ingress.durable((err) => {
      if (err) {
        frames.labels('not_durable').inc();
        logger.error({ code: 'WF_JOURNAL_WRITE', deviceId: unit.deviceId, serial: f.serial, err: err.message }, 'GB/T frame not durable: not confirmed');
        return;
      }
      send(socket, f.source, COMMAND.confirm, f.serial);
    });
  }

  function onFrame(socket: net.Socket, ip: string, origin: string, state: { unit: Unit | undefined }, f: GbtFrame): void {
    if (!state.unit) {
      state.unit = authenticate(socket, ip, origin, f);
      if (!state.unit) return;
    } else if (f.source !== state.unit.address) {
      refuse(socket, origin, state.unit.deviceId, 'WF_GBT_FRAME', `source address ${f.source} on the connection of unit ${state.unit.address}`, f.raw, f, true);
      return;
    }
    const unit = state.unit;
    const receivedAt = clock.now();
    switch (f.command) {
      case COMMAND.send:
      case COMMAND.reply: {
        const tag = f.serial * 256 + f.raw[f.raw.length - 3]!;
        if (unit.recent.includes(tag)) {
          // A resend of a frame we confirmed (our confirm was lost): confirm again, ingest once.
          frames.labels('duplicate').inc();
          if (f.command === COMMAND.send) confirmDurable(socket, unit, f);
          return;
        }
        const decoded = decodeAdu(f.adu, off);
        if (!decoded.ok) {
          refuse(socket, origin, unit.deviceId, 'WF_GBT_FRAME', decoded.reason, f.raw, f, false);
          return;
        }
        unit.recent.push(tag);
        if (unit.recent.length > RECENT) unit.recent.shift();
        if (decoded.adu.objects.length === 0) {
          // A heartbeat (send data without a data unit): keeps the panel's offline timer fed.
          alive(unit, receivedAt);
        } else {
          const mapped = mapObjects(decoded.adu.objects, unit.memory);
          hand(unit, 'events', mapped.events, receivedAt);
          hand(unit, 'telemetry', mapped.telemetry, receivedAt);
        }
        frames.labels('accepted').inc();
        if (f.command === COMMAND.send) confirmDurable(socket, unit, f);
        return;
      }
      case COMMAND.confirm:
        frames.labels('confirm').inc();
        return;
      case COMMAND.deny:
        frames.labels('denied_by_unit').inc();
        logger.warn({ deviceId: unit.deviceId, serial: f.serial }, 'transmission unit denied a frame of ours');
        return;
      default:
        refuse(socket, origin, unit.deviceId, 'WF_GBT_FRAME', `command ${f.command}${commandName(f.command) ? ` (${commandName(f.command)})` : ''} is not one a unit sends to the center`, f.raw, f, false);
    }
  }

  function onConnection(socket: net.Socket): void {
    if (sockets.size >= config.maxConnections) {
      socket.destroy();
      return;
    }
    sockets.add(socket);
    const ip = (socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    const origin = `tcp ${ip}:${socket.remotePort}`;
    const state: { unit: Unit | undefined } = { unit: undefined };
    let pending: Buffer = Buffer.alloc(0);
    let junk = 0;
    socket.setNoDelay(true);
    socket.setTimeout(config.idleTimeoutSec * 1000, () => socket.destroy());
    socket.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      let at = 0;
      try {
        while (!socket.destroyed) {
          const s = scanFrame(pending, at, off);
          if (s.kind === 'need') break;
          at += s.bytes;
          if (s.kind === 'bad') {
            refuse(socket, origin, state.unit?.deviceId, 'WF_GBT_FRAME', s.reason, s.raw, s.header, false);
            // Bytes that never become a frame are no unit talking the standard: after a few
            // frames' worth the connection ends (one dead letter per chunk is evidence enough).
            if ((junk += s.bytes) > MAX_PENDING) socket.destroy();
          } else {
            junk = 0;
            onFrame(socket, ip, origin, state, s.frame);
          }
        }
      } catch (err) {
        // A bug of ours on one unit's bytes: that connection ends, loudly; the others go on.
        logger.error({ err, origin }, 'GB/T 26875.3 frame handling failed');
        socket.destroy();
        return;
      }
      pending = at >= pending.length ? Buffer.alloc(0) : Buffer.from(pending.subarray(at));
      if (pending.length > MAX_PENDING) {
        refuse(socket, origin, state.unit?.deviceId, 'WF_GBT_FRAME', `${pending.length} bytes without a complete frame`, pending.subarray(0, 64), undefined, false);
        socket.destroy();
      }
    });
    socket.on('error', (err) => logger.debug({ err, origin }, 'transmission unit socket error'));
    socket.on('close', () => {
      sockets.delete(socket);
      const unit = state.unit;
      if (unit && byUnit.get(unit.deviceId) === socket) {
        byUnit.delete(unit.deviceId);
        connected.set(byUnit.size);
        ingress.presence(unit.deviceId, false, clock.now(), 'gbt26875');
      }
    });
  }

  return {
    async start(): Promise<void> {
      unsubscribe = deps.changes?.onChange((changes) => {
        if (changes.some((c) => c.kind === 'device')) index = undefined;
      });
      const srv = net.createServer(onConnection);
      server = srv;
      await new Promise<void>((resolve, reject) => {
        const fail = (err: Error) => reject(Object.assign(new Error(`WF_GBT_LISTEN: cannot listen on ${config.host}:${config.port}: ${err.message}`), { code: 'WF_GBT_LISTEN' }));
        srv.once('error', fail);
        srv.listen(config.port, config.host, () => {
          srv.off('error', fail);
          resolve();
        });
      });
    },
    async stop(): Promise<void> {
      unsubscribe?.();
      const srv = server;
      server = undefined;
      for (const s of sockets) s.destroy();
      if (srv) await new Promise<void>((resolve) => srv.close(() => resolve()));
    },
    address(): { port: number } {
      const a = server?.address();
      if (!a || typeof a === 'string') throw new Error('GB/T 26875.3 listener is not listening');
      return { port: a.port };
    },
    /** Device ids of the units connected now. */
    connectedUnits: (): string[] => [...byUnit.keys()],
  };
}

export type GbtListener = ReturnType<typeof createGbtListener>;
