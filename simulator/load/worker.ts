// A load-generator worker process: holds its share of the devices' MQTT connections, ramps them
// up, publishes at the device rate until the duration ends, and measures publish → PUBACK latency.
import { createConnection } from 'node:net';
import mqtt, { MqttClient, type IClientOptions } from 'mqtt';
import { createHistogram } from './histogram.ts';
import type { FromWorker, ToWorker, WorkerCounters, WorkerStart } from './protocol.ts';

/** Outstanding PUBACKs per worker above which sends are skipped (and counted): the broker is behind. */
const MAX_INFLIGHT = 20_000;
const TICK_MS = 5;

const send = (m: FromWorker) => process.send?.(m);

/** Connects one device, from a given loopback source address when there are many connections. */
function connectDevice(url: string, opts: IClientOptions, localAddress: string | undefined): Promise<MqttClient> {
  if (!localAddress) return mqtt.connectAsync(url, opts);
  const u = new URL(url);
  // Ephemeral ports are per source address: spreading thousands of connections over 127.0.0.x
  // keeps one client host from running out of them (NOTES.md, "Measured limits").
  const client = new MqttClient(() => createConnection({ host: u.hostname, port: Number(u.port || 1883), localAddress }), opts);
  return new Promise((resolve, reject) => {
    client.once('connect', () => resolve(client));
    client.once('error', (err) => {
      client.end(true);
      reject(err);
    });
  });
}

async function run(job: WorkerStart): Promise<void> {
  const hist = createHistogram();
  const c: WorkerCounters = { connected: 0, connectErrors: 0, sent: 0, acked: 0, errors: 0, backpressure: 0 };
  const clients: MqttClient[] = [];
  const seqs: number[] = [];
  let inflight = 0;
  let stopping = false;
  const began = performance.now();
  const progress = setInterval(() => send({ type: 'progress', ...c, elapsedMs: performance.now() - began }), 250);

  // Ramp: connections at connectPerSec, in small groups every 50 ms.
  const connectAll = (async () => {
    const perStep = Math.max(1, Math.round(job.connectPerSec / 20));
    for (let i = 0; i < job.devices.length && !stopping; i += perStep) {
      const t0 = Date.now();
      await Promise.all(job.devices.slice(i, i + perStep).map(async (d, k) => {
        try {
          const src = job.sourceAddresses.length ? job.sourceAddresses[(i + k) % job.sourceAddresses.length] : undefined;
          // A client id of its own, so a load run beside a simulator of the same devices does not take over their sessions.
          const cl = await connectDevice(job.url, { clientId: `${d.id}-load`, username: d.id, password: d.secret, protocolVersion: 4, reconnectPeriod: 0, keepalive: 120, connectTimeout: 15_000 }, src);
          cl.on('error', () => c.errors++);
          clients.push(cl);
          seqs.push(0);
          c.connected++;
        } catch {
          c.connectErrors++;
        }
      }));
      const wait = 50 - (Date.now() - t0);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  })();

  // Publishing: a token bucket for the worker's total rate (connected devices × rate), served
  // round-robin so that every connected device sends at about its own rate.
  const start = performance.now();
  let firstSend = 0;
  let lastSend = 0;
  let owed = 0;
  let rr = 0;
  let last = start;
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const now = performance.now();
      if (now - start >= job.durationMs) {
        clearInterval(timer);
        resolve();
        return;
      }
      owed += ((now - last) / 1000) * clients.length * job.rate;
      last = now;
      while (owed >= 1 && clients.length) {
        owed--;
        const k = rr++ % clients.length;
        const cl = clients[k]!;
        if (inflight >= MAX_INFLIGHT || !cl.connected) {
          c.backpressure++;
          continue;
        }
        const seq = seqs[k]!;
        seqs[k] = seq + 1;
        const body = `{"smoke":${(0.005 + Math.random() * 0.005).toFixed(4)},"temp":${(20 + Math.random() * 3).toFixed(1)},"battery":90,"rssi":-70,"ts":${Date.now()},"seq":${seq}}`;
        const t0 = performance.now();
        if (!firstSend) firstSend = t0;
        lastSend = t0;
        c.sent++;
        inflight++;
        cl.publish(`v1/devices/${cl.options.username}/telemetry`, body, { qos: job.qos }, (err) => {
          inflight--;
          if (err) c.errors++;
          else {
            c.acked++;
            if (job.qos === 1) hist.record(performance.now() - t0);
          }
        });
      }
    }, TICK_MS);
  });
  stopping = true;
  await connectAll;
  const deadline = Date.now() + job.drainMs;
  while (inflight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  c.errors += inflight; // never acknowledged within the drain time
  clearInterval(progress);
  await Promise.all(clients.map((cl) => cl.endAsync(true).catch(() => undefined)));
  send({ type: 'done', ...c, counts: [...hist.counts], max: hist.max, publishMs: lastSend - firstSend });
}

process.on('message', (m: ToWorker) => {
  if (m.type === 'start') {
    run(m).then(
      () => process.disconnect?.(),
      (err: unknown) => {
        send({ type: 'error', message: err instanceof Error ? err.message : String(err) });
        process.disconnect?.();
      },
    );
  } else if (m.type === 'stop') process.exit(0);
});
send({ type: 'ready' });
