// A load worker whose devices are MQTT.js clients, as firmware-like as a library gets: every
// reading is its own `client.publish()` (its own PUBLISH packet, QoS 1), the client keeps its own
// in-flight store and resends, reconnects on its own after a lost connection (`reconnectPeriod`),
// and the PUBACK latency is what the publish callback sees. The hand-written codec of
// load-worker.ts is faster and lets the broker be the limit; this one is what the issue asks the
// targets to be met with (issue 15 point 6). Same commands and snapshot as load-worker.ts.
import { connect as netConnect } from 'node:net';
import { setPriority } from 'node:os';
import { MqttClient, type IClientOptions } from 'mqtt';
import type { WorkerCommand, WorkerDevice, WorkerInit, WorkerReply, WorkerSnapshot } from './load-protocol.ts';
import { newHistogram, record } from './stats.ts';
import { createConnector, createPacer } from './load-pace.ts';
import { monitorEventLoopDelay } from 'node:perf_hooks';

/** This worker's event-loop delay: reported with each snapshot (WorkerSnapshot.loop). */
const loopDelay = monitorEventLoopDelay({ resolution: 5 });
loopDelay.enable();
const loopDelaySince = (): { p99: number; max: number } => ({ p99: Math.round(loopDelay.percentile(99) / 1e5) / 10, max: Math.round(loopDelay.max / 1e5) / 10 });

setPriority(Number(process.env.BENCH_LOAD_NICE ?? 10));

interface Dev {
  dev: WorkerDevice;
  addr: string;
  topic: string;
  client: MqttClient | undefined;
  connected: boolean;
  inflight: number;
  seq: number;
}

const send = (m: WorkerReply): void => {
  process.send?.(m);
};

let init: WorkerInit | undefined;
let devs: Dev[] = [];
const snap: WorkerSnapshot = fresh();
const pacer = createPacer(snap);
const connector = createConnector({ snap, total: () => devs.length, send: (m) => send(m) });
function fresh(): WorkerSnapshot {
  return { offered: 0, sent: 0, acked: 0, deferred: 0, unackedAtClose: 0, inflight: 0, connected: 0, disconnects: 0, refused: 0, errors: 0, hist: newHistogram(), received: 0, recvHist: newHistogram(), loop: { p99: 0, max: 0 } };
}

function open(d: Dev, connectTimeoutMs: number): void {
  const cfg = init!;
  const opts: IClientOptions = {
    clientId: `${d.dev.id}-j${process.pid}`,
    ...(d.dev.secret !== undefined ? { username: d.dev.id, password: d.dev.secret } : {}),
    keepalive: cfg.keepaliveSec,
    protocolVersion: 4,
    clean: true,
    connectTimeout: connectTimeoutMs,
    // Firmware retries with jitter; MQTT.js uses a fixed period, so the jitter goes into the first try.
    reconnectPeriod: cfg.retryMs > 0 ? Math.round(cfg.retryMs * (0.5 + Math.random())) : 0,
    // Resend what was not acknowledged when the connection comes back (the client's own store).
    resubscribe: false,
    ...(cfg.announce ? { will: { topic: `v1/devices/${d.dev.id}/status`, payload: Buffer.from('{"online":false}'), qos: 1, retain: true } } : {}),
  };
  // The stream builder lets connections spread over loopback source addresses (ephemeral ports
  // are per source address); otherwise this is MQTT.js's own TCP transport.
  const client = new MqttClient(() => {
    const s = netConnect({ host: cfg.host, port: cfg.port, localAddress: d.addr });
    s.setNoDelay(true);
    return s;
  }, opts);
  d.client = client;
  client.on('connect', () => {
    d.connected = true;
    snap.connected++;
    if (cfg.announce) client.publish(`v1/devices/${d.dev.id}/status`, '{"online":true}', { qos: 1, retain: true });
    connector.onConnected();
  });
  client.on('close', () => {
    if (d.connected) {
      d.connected = false;
      snap.connected--;
      snap.disconnects++;
    }
  });
  client.on('error', (err: Error & { code?: number }) => {
    if (typeof err.code === 'number') snap.refused++;
    else if (!d.connected) snap.errors++;
  });
}

function connectAll(perSec: number, timeoutMs: number): void {
  connector.connectAll(devs.filter((d) => !d.client), open, perSec, timeoutMs);
}

function publishTick(): void {
  if (!init) return;
  const cap = init.inflightPerDevice;
  pacer.tick(devs, (d) => d.connected && !!d.client && d.inflight < cap, (d, tsNow) => {
    const seq = d.seq++;
    const t0 = performance.now();
    d.inflight++;
    d.client!.publish(d.topic, `{"ts":${tsNow},"seq":${seq},"smoke":${(seq % 13) / 1000},"temp":${20 + (seq % 7) / 2},"battery":87,"rssi":-71}`, { qos: 1 }, (err) => {
      d.inflight--;
      if (err) {
        snap.unackedAtClose++;
        return;
      }
      snap.acked++;
      record(snap.hist, (performance.now() - t0) * 1000);
    });
  });
}

const ticker = setInterval(publishTick, 10);

process.on('message', (m: WorkerCommand) => {
  switch (m.cmd) {
    case 'init':
      init = m;
      devs = m.devices.map((dev, i) => ({ dev, addr: m.localAddresses[i % m.localAddresses.length]!, topic: `v1/devices/${dev.id}/telemetry`, client: undefined, connected: false, inflight: 0, seq: 0 }));
      send({ ev: 'ready' });
      break;
    case 'connect':
      connectAll(m.perSec, m.timeoutMs);
      break;
    case 'rate':
      pacer.setRate(m.perSec);
      break;
    case 'snapshot': {
      let inflight = 0;
      for (const d of devs) inflight += d.inflight;
      send({ ev: 'snapshot', snap: { ...snap, offered: Math.round(snap.offered), inflight, loop: loopDelaySince() } });
      if (m.reset) {
        loopDelay.reset();
        snap.hist = newHistogram();
        snap.recvHist = newHistogram();
      }
      break;
    }
    case 'drop':
      pacer.setRate(0);
      for (const d of devs) d.client?.stream.destroy();
      send({ ev: 'done' });
      break;
    case 'end':
      pacer.setRate(0);
      clearInterval(ticker);
      void Promise.all(devs.map((d) => (d.client ? d.client.endAsync(true).catch(() => undefined) : Promise.resolve()))).finally(() => {
        send({ ev: 'done' });
        setTimeout(() => process.exit(0), 200).unref();
      });
      break;
    case 'subscribe':
      devs[0]?.client?.subscribe(m.filter, { qos: m.qos }, () => send({ ev: 'subscribed' }));
      break;
  }
});
process.on('disconnect', () => process.exit(0));
