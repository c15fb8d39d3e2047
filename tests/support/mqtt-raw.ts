// A raw MQTT peer over a real socket, for what mqtt.js will not send (a NUL in a topic, QoS 2 where
// the gateway refuses it, bytes that are no MQTT at all): packets are generated and parsed by
// mqtt-packet, the gateway's own codec.
import net, { type Socket } from 'node:net';
import { createRequire } from 'node:module';

export interface RawPacket { cmd: string; returnCode?: number; granted?: number[]; messageId?: number; topic?: string; payload?: Buffer; [k: string]: unknown }
interface Parser { parse(b: Buffer): number; on(ev: 'packet', fn: (p: RawPacket) => void): void; on(ev: 'error', fn: (e: Error) => void): void }

export const mqttPacket = createRequire(import.meta.url)('mqtt-packet') as {
  parser(opt?: { protocolVersion: number }): Parser;
  generate(p: Record<string, unknown>): Buffer;
};

export interface RawPeer {
  socket: Socket;
  packets: RawPacket[];
  send(p: Record<string, unknown>): void;
  /** Resolves with the next packet of that command (already received ones count). */
  next(cmd: string): Promise<RawPacket>;
  /** Resolves when the socket has closed. */
  closed: Promise<void>;
}

export function rawPeer(port: number, opts: { localAddress?: string } = {}): Promise<RawPeer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) });
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    const packets: RawPacket[] = [];
    const waiters: Array<{ cmd: string; from: number; resolve: (p: RawPacket) => void; reject: (e: Error) => void }> = [];
    let seen = 0;
    parser.on('packet', (p) => {
      packets.push(p);
      for (const w of [...waiters]) {
        if (w.cmd === p.cmd) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(p);
        }
      }
    });
    parser.on('error', () => socket.destroy());
    socket.on('data', (b) => parser.parse(b));
    socket.on('error', () => {});
    const closed = new Promise<void>((r) => socket.once('close', () => {
      for (const w of waiters.splice(0)) w.reject(new Error(`closed before ${w.cmd}`));
      r();
    }));
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve({
        socket, packets, closed,
        send: (p) => { if (!socket.destroyed) socket.write(mqttPacket.generate(p)); },
        next(cmd) {
          const have = packets.slice(seen).find((p) => p.cmd === cmd);
          if (have) {
            seen = packets.indexOf(have) + 1;
            return Promise.resolve(have);
          }
          if (socket.destroyed) return Promise.reject(new Error(`closed before ${cmd}`));
          return new Promise((res, rej) => waiters.push({ cmd, from: seen, resolve: (p) => { seen = packets.indexOf(p) + 1; res(p); }, reject: rej }));
        },
      });
    });
    socket.once('error', reject);
  });
}

/** A CONNECT packet for a device. */
export function connectPacket(username: string, password: string | undefined, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: `${username}-raw`, keepalive: 60, username, ...(password !== undefined ? { password: Buffer.from(password) } : {}), ...extra };
}

/** The CONNACK reason code an mqtt.js CONNECT was refused with (5: not authorised); throws when it was accepted. */
export async function connackRefusal(p: Promise<unknown>): Promise<number | undefined> {
  try {
    await p;
  } catch (err) {
    return (err as { code?: unknown }).code as number | undefined;
  }
  throw new Error('expected the CONNECT to be refused');
}
