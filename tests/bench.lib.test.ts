// The benchmark's own arithmetic and wire format: if these are wrong, every figure is.
import { describe, expect, it } from 'vitest';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { Aedes } from 'aedes';
import { bucketQuantilesMs, count, merge, newHistogram, percentiles, quantileMs, record, ratio, median } from '../bench/lib/stats.ts';
import { createParser, encodeConnect, encodePublish, encodeSubscribe, parsePublish, CONNACK, PUBACK, SUBACK, PUBLISH, type Packet } from '../bench/lib/mqtt-wire.ts';

describe('bench histograms', () => {
  it('puts quantiles within the bucket precision (≈ 2.2 %) of the true values', () => {
    const h = newHistogram();
    // 1..10,000 µs uniformly: p50 ≈ 5 ms, p99 ≈ 9.9 ms.
    for (let us = 1; us <= 10_000; us++) record(h, us);
    expect(count(h)).toBe(10_000);
    expect(quantileMs(h, 0.5)!).toBeGreaterThan(5 * 0.97);
    expect(quantileMs(h, 0.5)!).toBeLessThan(5 * 1.03);
    expect(quantileMs(h, 0.99)!).toBeGreaterThan(9.9 * 0.97);
    expect(quantileMs(h, 0.99)!).toBeLessThan(9.9 * 1.03);
  });

  it('merges histograms from several workers into the histogram of all samples', () => {
    const a = newHistogram();
    const b = newHistogram();
    const all = newHistogram();
    for (let i = 0; i < 1000; i++) {
      const v = (i * 37) % 5000;
      record(i % 2 ? a : b, v);
      record(all, v);
    }
    expect(merge(a, b)).toEqual(all);
    expect(quantileMs(newHistogram(), 0.5)).toBeNull();
  });

  it('exact percentiles, medians and ratios of small samples', () => {
    const xs = Array.from({ length: 200 }, (_, i) => 200 - i);
    expect(percentiles(xs)).toEqual({ n: 200, p50: 100, p99: 198, max: 200 });
    expect(median([3, 1, 2, 4])).toBe(2.5);
    expect(ratio(30, 20)).toBe(1.5);
    expect(ratio(1, 0)).toBeNull();
  });

  it('quantiles of what a Prometheus histogram counted between two reads, as histogram_quantile interpolates', () => {
    const before: Array<[number, number]> = [[0.001, 100], [0.01, 100], [0.1, 100], [Infinity, 100]];
    // Since then: 50 in (0, 1 ms], 40 in (1, 10 ms], 10 in (10, 100 ms].
    const after: Array<[number, number]> = [[0.001, 150], [0.01, 190], [0.1, 200], [Infinity, 200]];
    const [p50, p90, p99] = bucketQuantilesMs(before, after, [0.5, 0.9, 0.99]);
    expect(p50).toBe(1);
    expect(p90).toBe(10);
    expect(p99).toBeCloseTo(10 + 0.9 * 90, 6);
    // Beyond the last finite bound only that bound is known; nothing counted gives nothing.
    expect(bucketQuantilesMs([[0.1, 0], [Infinity, 0]], [[0.1, 0], [Infinity, 5]], [0.99])).toEqual([100]);
    expect(bucketQuantilesMs(after, after, [0.5])).toEqual([null]);
    expect(bucketQuantilesMs(undefined, undefined, [0.5])).toEqual([null]);
  });
});

describe('bench MQTT wire format against Aedes', () => {
  it('connects, subscribes, publishes QoS 1 and gets PUBACK and the delivery, across split chunks', async () => {
    const broker = await Aedes.createBroker();
    const server = createServer(broker.handle);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as AddressInfo).port;
    const packets: Packet[] = [];
    const sock: Socket = await new Promise((resolve) => {
      const s = connect(port, '127.0.0.1', () => resolve(s));
    });
    const feed = createParser((p) => packets.push(p));
    // Feed byte by byte: the parser must reassemble packets split anywhere.
    sock.on('data', (c: Buffer) => {
      for (const b of c) feed(Buffer.from([b]));
    });
    const waitFor = async (type: number, n = 1) => {
      const deadline = Date.now() + 5000;
      while (packets.filter((p) => p.type === type).length < n) {
        if (Date.now() > deadline) throw new Error(`no packet of type ${type}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    sock.write(encodeConnect({ clientId: 'bench-test', username: 'u', password: 'p', keepaliveSec: 60, will: { topic: 'v1/devices/x/status', payload: Buffer.from('{"online":false}'), qos: 1, retain: true } }));
    await waitFor(CONNACK);
    expect(packets[0]!.body[1]).toBe(0);
    sock.write(encodeSubscribe(1, 'v1/devices/+/telemetry', 1));
    await waitFor(SUBACK);
    const big = Buffer.alloc(300, 'a'); // remaining length over 127: two length bytes
    sock.write(encodePublish('v1/devices/d1/telemetry', big, 1, 7));
    await waitFor(PUBACK);
    await waitFor(PUBLISH);
    const ack = packets.find((p) => p.type === PUBACK)!;
    expect(ack.body.readUInt16BE(0)).toBe(7);
    const pub = parsePublish(packets.find((p) => p.type === PUBLISH)!);
    expect(pub.topic).toBe('v1/devices/d1/telemetry');
    expect(pub.payload.equals(big)).toBe(true);
    sock.destroy();
    await new Promise<void>((r) => broker.close(() => r()));
    await new Promise<void>((r) => server.close(() => r()));
  });
});

describe('bench MQTT.js load workers (devices as firmware behaves)', () => {
  it('each reading its own QoS 1 PUBLISH, acknowledged once; devices reconnect by themselves after a cut', async () => {
    const { createLoadPool } = await import('../bench/lib/load.ts');
    const { waitFor } = await import('./support/wait.ts');
    const broker = await Aedes.createBroker();
    let publishes = 0;
    broker.on('publish', (packet, client) => {
      if (client && packet.topic.endsWith('/telemetry')) publishes++;
    });
    const server = createServer(broker.handle);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as AddressInfo).port;
    const devices = Array.from({ length: 20 }, (_, i) => ({ id: `sd-${i}` }));
    const pool = await createLoadPool({ host: '127.0.0.1', port, devices, client: 'mqttjs', workers: 2, sourceAddresses: 1, retryMs: 200 });
    try {
      const c = await pool.connect({ perSec: 0, timeoutMs: 10_000 });
      expect(c).toMatchObject({ connected: 20, complete: true });
      pool.setRate(400);
      await waitFor(async () => (await pool.snapshot()).acked >= 200, { what: '200 PUBACKs', timeoutMs: 20_000 });
      pool.setRate(0);
      await waitFor(async () => (await pool.snapshot()).inflight === 0, { what: 'nothing in flight' });
      const s = await pool.snapshot();
      // One PUBLISH per reading reached the broker, and each was acknowledged once.
      expect(s.acked).toBe(s.sent);
      expect(publishes).toBe(s.sent);
      expect(count(s.hist)).toBe(s.acked);
      // Each worker says how long its own thread was held: a latency it measured includes that.
      expect(s.loop.max).toBeGreaterThan(0);
      expect(s.loop.max).toBeGreaterThanOrEqual(s.loop.p99);
      // A network cut: every socket closed; MQTT.js reconnects on its own.
      await pool.drop();
      await waitFor(async () => (await pool.snapshot()).disconnects >= 20, { what: 'every device cut' });
      await waitFor(async () => (await pool.snapshot()).connected === 20, { what: 'every device back', timeoutMs: 20_000 });
    } finally {
      await pool.close();
      await new Promise<void>((r) => server.close(() => r()));
      await new Promise<void>((r) => broker.close(() => r()));
    }
  });
});
