// Load mode against a real broker on a free port: devices spread over two worker processes,
// everything sent is acknowledged, the summary adds up, and the JSON file says the same.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server, type AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Aedes } from 'aedes';
import { runLoad } from '../simulator/load/index.ts';
import { createHistogram } from '../simulator/load/histogram.ts';

describe('latency histogram', () => {
  it('gives quantiles within its 2 % bucket width and merges by adding', () => {
    const a = createHistogram();
    const b = createHistogram();
    for (let i = 1; i <= 1000; i++) (i % 2 ? a : b).record(i / 10);
    a.merge(b.counts, b.max);
    expect(a.count).toBe(1000);
    expect(a.quantile(0.5)).toBeGreaterThanOrEqual(50);
    expect(a.quantile(0.5)).toBeLessThanOrEqual(51);
    expect(a.quantile(0.99)).toBeGreaterThanOrEqual(99);
    expect(a.quantile(0.99)).toBeLessThanOrEqual(101);
    expect(a.max).toBe(100);
  });
});

describe('runLoad', () => {
  let broker: Aedes;
  let server: Server;
  let url: string;
  let dir: string;
  const seen = new Set<string>();
  const sources = new Set<string>();
  let received = 0;

  beforeAll(async () => {
    broker = await Aedes.createBroker();
    broker.on('publish', (packet, client) => {
      if (client && packet.topic.endsWith('/telemetry')) {
        received++;
        seen.add(client.id);
      }
    });
    server = createServer((socket) => {
      if (socket.remoteAddress) sources.add(socket.remoteAddress.replace(/^::ffff:/, ''));
      broker.handle(socket);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`;
    dir = mkdtempSync(join(tmpdir(), 'wf-load-'));
  });
  afterAll(async () => {
    await new Promise<void>((r) => broker.close(() => r()));
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs N devices over W workers and reports what the broker received', async () => {
    const jsonFile = join(dir, 'summary.json');
    const s = await runLoad({ url, devices: 20, rate: 5, durationSec: 2, workers: 2, connectPerSec: 200, jsonFile });
    expect(s).toMatchObject({ devices: 20, workers: 2, connected: 20, connectErrors: 0, errors: 0 });
    expect(s.sent).toBeGreaterThan(20 * 5); // at least a second of full rate
    expect(s.sent).toBeLessThanOrEqual(20 * 5 * 2 + 20);
    expect(s.acked).toBe(s.sent);
    expect(received).toBe(s.sent);
    expect(seen.size).toBe(20);
    expect(s.latencyMs.p50).toBeGreaterThan(0);
    expect(s.latencyMs.p50).toBeLessThanOrEqual(s.latencyMs.p99);
    expect(s.latencyMs.p99).toBeLessThanOrEqual(s.latencyMs.max);
    expect(JSON.parse(readFileSync(jsonFile, 'utf8'))).toEqual(s);
  });

  it('spreads connections over loopback source addresses when asked', async () => {
    sources.clear();
    const s = await runLoad({ url, devices: 6, rate: 2, durationSec: 0.5, workers: 1, sourceAddresses: 3 });
    expect(s).toMatchObject({ connected: 6, connectErrors: 0, errors: 0 });
    expect([...sources].sort()).toEqual(['127.0.0.2', '127.0.0.3', '127.0.0.4']);
  });
});
