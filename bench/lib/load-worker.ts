// One load worker process: holds a share of the simulated devices as real MQTT connections and
// publishes telemetry at the rate the runner asks, spreading it round-robin over its devices.
// A device with its PUBACKs outstanding, or whose socket the broker has paused, waits — the way
// firmware slows down when the gateway does — and that shows up as `deferred`, never as a drop.
import { connect as netConnect, type Socket } from 'node:net';
import { setPriority } from 'node:os';
import type { WorkerCommand, WorkerDevice, WorkerInit, WorkerReply, WorkerSnapshot } from './load-protocol.ts';
import {
  CONNACK, PINGRESP, PUBACK, PUBLISH, SUBACK, DISCONNECT_BYTES, PINGREQ_BYTES,
  createParser, encodeConnect, encodePuback, encodePublish, encodeSubscribe, parsePublish,
} from './mqtt-wire.ts';
import { newHistogram, record } from './stats.ts';
import { createConnector, createPacer } from './load-pace.ts';
import { monitorEventLoopDelay } from 'node:perf_hooks';

/** This worker's event-loop delay: reported with each snapshot (WorkerSnapshot.loop). */
const loopDelay = monitorEventLoopDelay({ resolution: 5 });
loopDelay.enable();
const loopDelaySince = (): { p99: number; max: number } => ({ p99: Math.round(loopDelay.percentile(99) / 1e5) / 10, max: Math.round(loopDelay.max / 1e5) / 10 });

// The devices stand in for homes across a county, not for programs on the server: they run below
// the stacks under test (nice 10; BENCH_LOAD_NICE=0 to compare without), so the figures measure
// the stack, not who won the CPU on a 2-core box. Set first, so the worker's threads inherit it.
setPriority(Number(process.env.BENCH_LOAD_NICE ?? 10));

interface Conn {
  dev: WorkerDevice;
  addr: string;
  topic: string;
  sock: Socket | undefined;
  connected: boolean;
  paused: boolean;
  inflight: Map<number, number>;
  nextId: number;
  seq: number;
  /** When the device last sent anything: it pings only after PING_IDLE_MS of silence. */
  lastSentAt: number;
  retryTimer: NodeJS.Timeout | undefined;
}

const send = (m: WorkerReply): void => {
  process.send?.(m);
};

let init: WorkerInit | undefined;
let conns: Conn[] = [];
let stopping = false;
let qos: 0 | 1 = 1;
const snap: WorkerSnapshot = freshSnapshot();
const pacer = createPacer(snap);
const connector = createConnector({ snap, total: () => conns.length, send: (m) => send(m) });

function freshSnapshot(): WorkerSnapshot {
  return { offered: 0, sent: 0, acked: 0, deferred: 0, unackedAtClose: 0, inflight: 0, connected: 0, disconnects: 0, refused: 0, errors: 0, hist: newHistogram(), received: 0, recvHist: newHistogram(), loop: { p99: 0, max: 0 } };
}

const ONLINE = Buffer.from('{"online":true}');
const OFFLINE = Buffer.from('{"online":false}');

function open(c: Conn, timeoutMs: number): void {
  const cfg = init!;
  c.retryTimer = undefined;
  const sock = netConnect({ host: cfg.host, port: cfg.port, localAddress: c.addr });
  c.sock = sock;
  sock.setNoDelay(true);
  const deadline = setTimeout(() => {
    if (!c.connected) sock.destroy(new Error('CONNACK timeout'));
  }, timeoutMs);
  sock.on('connect', () => {
    sock.write(encodeConnect({
      clientId: `${c.dev.id}-b${process.pid}`,
      ...(c.dev.secret !== undefined ? { username: c.dev.id, password: c.dev.secret } : {}),
      keepaliveSec: cfg.keepaliveSec,
      ...(cfg.announce ? { will: { topic: `v1/devices/${c.dev.id}/status`, payload: OFFLINE, qos: 1 as const, retain: true } } : {}),
    }));
  });
  sock.on('drain', () => {
    c.paused = false;
  });
  sock.on('data', createParser((p) => {
    if (p.type === PUBACK) {
      const id = p.body.readUInt16BE(0);
      const t0 = c.inflight.get(id);
      if (t0 !== undefined) {
        c.inflight.delete(id);
        snap.acked++;
        record(snap.hist, (performance.now() - t0) * 1000);
      }
    } else if (p.type === CONNACK) {
      clearTimeout(deadline);
      const rc = p.body[1];
      if (rc === 0) {
        c.connected = true;
        c.lastSentAt = performance.now();
        snap.connected++;
        if (cfg.announce) sock.write(encodePublish(`v1/devices/${c.dev.id}/status`, ONLINE, 1, nextId(c), true));
        connector.onConnected();
      } else {
        snap.refused++;
        sock.destroy();
      }
    } else if (p.type === PUBLISH) {
      const m = parsePublish(p);
      snap.received++;
      const ts = /"ts":(\d+)/.exec(m.payload.toString('latin1', 0, 40))?.[1];
      if (ts) record(snap.recvHist, Math.max(0, Date.now() - Number(ts)) * 1000);
      if (((p.flags >> 1) & 3) > 0) sock.write(encodePuback(m.packetId));
    } else if (p.type === SUBACK) {
      send({ ev: 'subscribed' });
    } else if (p.type === PINGRESP) {
      // keep-alive answered
    }
  }));
  sock.on('error', () => {
    if (!c.connected) snap.errors++;
  });
  sock.on('close', () => {
    clearTimeout(deadline);
    if (c.sock !== sock) return;
    detach(c);
    if (!stopping && cfg.retryMs > 0) {
      // Firmware backs off with jitter so a whole county does not retry in lockstep.
      c.retryTimer = setTimeout(() => open(c, timeoutMs), cfg.retryMs * (0.5 + Math.random()));
    }
  });
}

/** Forgets a connection's socket and what was in flight on it, counting the disconnect once. */
function detach(c: Conn): void {
  c.sock = undefined;
  if (c.connected) {
    c.connected = false;
    snap.connected--;
    snap.disconnects++;
  }
  snap.unackedAtClose += c.inflight.size;
  c.inflight.clear();
  c.paused = false;
}

function nextId(c: Conn): number {
  c.nextId = c.nextId >= 65535 ? 1 : c.nextId + 1;
  return c.nextId;
}

function connectAll(perSec: number, timeoutMs: number): void {
  connector.connectAll(conns.filter((c) => !c.sock), open, perSec, timeoutMs);
}

function publishTick(): void {
  if (!init) return;
  const cap = init.inflightPerDevice;
  pacer.tick(conns, (c) => c.connected && !c.paused && !!c.sock && (qos === 0 || c.inflight.size < cap), (c, tsNow, now) => {
    const seq = c.seq++;
    const payload = Buffer.from(`{"ts":${tsNow},"seq":${seq},"smoke":${(seq % 13) / 1000},"temp":${20 + (seq % 7) / 2},"battery":87,"rssi":-71}`);
    const id = qos === 1 ? nextId(c) : 0;
    if (qos === 1) c.inflight.set(id, performance.now());
    c.lastSentAt = now;
    if (!c.sock!.write(encodePublish(c.topic, payload, qos, id))) c.paused = true;
  });
}

const ticker = setInterval(publishTick, 10);
// A device pings when it has sent nothing for PING_IDLE_MS, on its own clock, as MQTT clients do
// (the keep-alive is met by any packet, [MQTT-3.1.2-23]). Pinging every connection from one 60 s
// timer sent 10,000 PINGREQs in the same millisecond: the broker then spent ≈ 300 ms answering
// them while county PUBACKs waited — a lockstep no county of real detectors produces.
const PING_IDLE_MS = 60_000;
const pinger = setInterval(() => {
  const now = performance.now();
  for (const c of conns) {
    if (c.connected && c.sock && now - c.lastSentAt >= PING_IDLE_MS) {
      c.lastSentAt = now;
      c.sock.write(PINGREQ_BYTES);
    }
  }
}, 1000);

process.on('message', (m: WorkerCommand) => {
  switch (m.cmd) {
    case 'init': {
      init = m;
      conns = m.devices.map((dev, i) => ({
        dev, addr: m.localAddresses[i % m.localAddresses.length]!, topic: `v1/devices/${dev.id}/telemetry`, sock: undefined,
        connected: false, paused: false, inflight: new Map(), nextId: 0, seq: 0, lastSentAt: 0, retryTimer: undefined,
      }));
      send({ ev: 'ready' });
      break;
    }
    case 'connect':
      stopping = false;
      connectAll(m.perSec, m.timeoutMs);
      break;
    case 'rate':
      pacer.setRate(m.perSec);
      qos = m.qos;
      break;
    case 'snapshot': {
      let inflight = 0;
      for (const c of conns) inflight += c.inflight.size;
      send({ ev: 'snapshot', snap: { ...snap, offered: Math.round(snap.offered), inflight, loop: loopDelaySince() } });
      if (m.reset) {
        loopDelay.reset();
        snap.hist = newHistogram();
        snap.recvHist = newHistogram();
      }
      break;
    }
    case 'drop':
      // The radio dies everywhere at once: sockets close without DISCONNECT (wills fire).
      pacer.setRate(0);
      for (const c of conns) {
        if (c.retryTimer) clearTimeout(c.retryTimer);
        c.retryTimer = undefined;
        const s = c.sock;
        // Detached first, so its close handler neither counts it again nor schedules a retry.
        detach(c);
        s?.destroy();
      }
      send({ ev: 'done' });
      break;
    case 'end': {
      stopping = true;
      pacer.setRate(0);
      clearInterval(ticker);
      clearInterval(pinger);
      for (const c of conns) {
        if (c.retryTimer) clearTimeout(c.retryTimer);
        if (c.sock) c.sock.end(DISCONNECT_BYTES);
      }
      send({ ev: 'done' });
      setTimeout(() => process.exit(0), 500).unref();
      break;
    }
    case 'subscribe': {
      const c = conns[0];
      if (!c?.sock) break;
      c.sock.write(encodeSubscribe(nextId(c), m.filter, m.qos));
      break;
    }
  }
});
process.on('disconnect', () => process.exit(0));
