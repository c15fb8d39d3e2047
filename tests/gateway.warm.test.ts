// Issue 15: what a restart does before its first device. mqtt-packet builds its cache of the
// 65,536 two-byte numbers on the first packet it writes (22 ms on the event loop here); the
// gateway builds it before its listener opens, so it does not fall on the reconnect storm's first
// CONNACK and hold every reconnecting device's PUBACK behind it.
import { createRequire } from 'node:module';
import { afterAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from './gateway.fixture.ts';

const numbers = createRequire(import.meta.url)('mqtt-packet/numbers.js') as { cache: Record<number, Buffer> };

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
