// Hostile MQTT traffic for the soak (issue 16 point 7): what a compromised device and a network
// neighbour would send, at a set rate, from loopback addresses that are not exempt from admission
// control (127.0.0.20 and up; the honest load uses 127.0.0.1–9). Real sockets; packets generated
// by mqtt-packet, the gateway's own codec, so that what arrives is exactly what was meant.
import { randomBytes } from 'node:crypto';
import net, { type Socket } from 'node:net';
import { createRequire } from 'node:module';
import { topics } from '../../contracts/protocol.ts';
import type { WorkerDevice } from './load-protocol.ts';

const mp = createRequire(import.meta.url)('mqtt-packet') as { generate(p: Record<string, unknown>): Buffer };

export const HOSTILE_OPS = ['guess', 'half_open', 'subscribe_flood', 'publish_flood', 'qos2', 'nul_topic', 'long_client_id', 'garbage'] as const;
export type HostileOp = (typeof HOSTILE_OPS)[number];

/** Sockets the generator keeps open at once (half-open ones wait for the gateway's CONNECT timeout). */
const MAX_OPEN = 400;
/** A hostile socket the gateway has not closed after this long is closed by the generator. */
const GIVE_UP_MS = 8_000;

export interface Hostile {
  /** Operations started, by kind; sockets the gateway refused or closed. */
  counts(): { ops: Record<HostileOp, number>; closedByGateway: number; open: number };
  stop(): Promise<void>;
}

export function startHostile(o: { port: number; opsPerSec: number; compromised: WorkerDevice[]; neighbours: string[]; addresses: string[] }): Hostile {
  const ops = Object.fromEntries(HOSTILE_OPS.map((k) => [k, 0])) as Record<HostileOp, number>;
  const open = new Set<Socket>();
  let closedByGateway = 0;
  let n = 0;
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)]!;

  function socket(onConnect: (s: Socket) => void): void {
    if (open.size >= MAX_OPEN) return;
    const s = net.connect({ port: o.port, host: '127.0.0.1', localAddress: pick(o.addresses) });
    open.add(s);
    const giveUp = setTimeout(() => s.destroy(), GIVE_UP_MS);
    s.on('error', () => {});
    s.on('data', () => {});
    s.on('end', () => closedByGateway++);
    s.once('close', () => {
      clearTimeout(giveUp);
      open.delete(s);
    });
    s.once('connect', () => onConnect(s));
  }
  const connect = (d: WorkerDevice, extra: Record<string, unknown> = {}): Buffer => mp.generate({
    cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: `${d.id}-h${n}`, keepalive: 60,
    username: d.id, password: Buffer.from(d.secret ?? ''), ...extra,
  });

  const run: Record<HostileOp, () => void> = {
    // A wrong secret for a neighbour's id, or an invented id.
    guess: () => socket((s) => s.end(connect({ id: Math.random() < 0.5 ? pick(o.neighbours) : `guess-${n}`, secret: randomBytes(16).toString('hex') }))),
    // Connects and says nothing: the gateway's CONNECT timeout closes it.
    half_open: () => socket(() => {}),
    // A persistent session under an invented client id with 500 filters, then gone.
    subscribe_flood: () => socket((s) => {
      const d = pick(o.compromised);
      s.write(connect(d, { clean: false, clientId: `evil-${n}` }));
      // After the CONNACK: packets sent before it wait in aedes' pre-connect queue (42 packets).
      s.once('data', () => s.write(mp.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [topics.commandsFilter(d.id), ...Array.from({ length: 499 }, (_, i) => `v1/devices/${d.id}/commands/f${n}-${i}`)].map((topic) => ({ topic, qos: 1 })) })));
      setTimeout(() => s.destroy(), 2_000);
    }),
    // 300 QoS 1 publishes of 8 KiB at once, far over the device's budget.
    publish_flood: () => socket((s) => {
      const d = pick(o.compromised);
      s.write(connect(d));
      const payload = Buffer.alloc(8 * 1024, 0x20);
      s.once('data', () => {
        for (let i = 1; i <= 300; i++) s.write(mp.generate({ cmd: 'publish', topic: topics.telemetry(d.id), payload, qos: 1, messageId: i }));
      });
      setTimeout(() => s.destroy(), 4_000);
    }),
    qos2: () => socket((s) => {
      const d = pick(o.compromised);
      s.write(connect(d));
      s.write(mp.generate({ cmd: 'publish', topic: topics.events(d.id), payload: Buffer.from('{"type":"alarm"}'), qos: 2, messageId: 1 }));
    }),
    nul_topic: () => socket((s) => {
      const d = pick(o.compromised);
      s.write(connect(d));
      s.write(mp.generate({ cmd: 'publish', topic: `${topics.events(d.id)}\u0000`, payload: Buffer.from('{}'), qos: 1, messageId: 1 }));
    }),
    long_client_id: () => socket((s) => s.write(connect(pick(o.compromised), { clientId: 'x'.repeat(30_000) }))),
    garbage: () => socket((s) => s.end(randomBytes(1 + Math.floor(Math.random() * 512)))),
  };

  // --hostile-ops=0: the honest baseline of the same soak, nothing hostile.
  const tick = o.opsPerSec > 0 ? setInterval(() => {
    const op = HOSTILE_OPS[n++ % HOSTILE_OPS.length]!;
    ops[op]++;
    run[op]();
  }, Math.max(1, Math.round(1000 / o.opsPerSec))) : undefined;

  return {
    counts: () => ({ ops: { ...ops }, closedByGateway, open: open.size }),
    async stop() {
      clearInterval(tick);
      const all = [...open];
      for (const s of all) s.destroy();
      await Promise.all(all.map((s) => new Promise<void>((r) => (s.closed ? r() : s.once('close', () => r())))));
    },
  };
}
