// Issue 15: what a restart's reconnect storm costs the event loop, where every connected device's
// PUBACK waits. mqtt-packet builds its cache of the 65,536 two-byte numbers on the first packet it
// writes (22 ms on the event loop here); the gateway builds it before its listener opens, so it
// does not fall on the storm's first CONNACK. And aedes drains each connecting client's queue with
// a loop, not a stream pipeline (≈ 90 µs less per CONNECT; patches/aedes+1.2.0.patch): its
// behaviour is tested with queued commands (tests/gateway.bounds.test.ts), its presence here.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { afterAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from './gateway.fixture.ts';

const require = createRequire(import.meta.url);
const numbers = require('mqtt-packet/numbers.js') as { cache: Record<number, Buffer> };

describe('gateway start', () => {
  let gw: TestGateway | undefined;
  afterAll(async () => {
    await gw?.stop();
  });

  it("builds mqtt-packet's number cache before any device connects", async () => {
    // Nothing in this file has written an MQTT packet yet.
    expect(Object.keys(numbers.cache)).toHaveLength(0);
    gw = await startTestGateway();
    expect(Object.keys(numbers.cache)).toHaveLength(65_536);
    expect([...numbers.cache[0x1234]!]).toEqual([0x12, 0x34]);
    // The first device is answered from that cache, as before.
    const c = await gw.device('sd-1');
    expect(c.connected).toBe(true);
  });
});

describe('aedes as patched for the gateway', () => {
  it('drains a connecting client\'s queue without a stream pipeline (the patch is applied)', () => {
    const connect = readFileSync(new URL('../node_modules/aedes/lib/handlers/connect.js', import.meta.url), 'utf8');
    expect(connect).toContain('async function drainQueue');
    expect(connect).not.toMatch(/^\s*pipeline\(/m);
  });
});
