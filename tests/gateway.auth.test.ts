// CONNECT: device credentials, refusals with their CONNACK codes and counters, MQTT 5, keep-alive,
// observer accounts. Real broker, real sockets, real mqtt clients.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, secretOf, type TestGateway } from './gateway.fixture.ts';
import { connackRefusal } from './support/mqtt-raw.ts';

const OBSERVER = { name: 'recorder', password: 'observer-pass-0123456789' };

let t: TestGateway;
beforeAll(async () => {
  t = await startTestGateway({
    observers: { verify: (u, p) => u === OBSERVER.name && p?.toString() === OBSERVER.password },
  });
});
afterAll(async () => {
  await t?.stop();
});

const refusal = connackRefusal;

describe('gateway authentication', () => {
  it('accepts a device with its secret and counts the connection', async () => {
    const c = await t.device('sd-1');
    expect(c.connected).toBe(true);
    expect(t.gateway.stats().connectionsCurrent).toBeGreaterThanOrEqual(1);
    const text = await t.metrics.getSingleMetricAsString('watchfire_gateway_connections_total');
    expect(text).toMatch(/watchfire_gateway_connections_total [1-9]/);
    c.end(true);
  });

  it('refuses a wrong secret, an unknown device and a missing password with CONNACK 4, and a disabled device with 5', async () => {
    const before = t.gateway.stats().refusals;
    expect(await refusal(t.connect('sd-1', 'not-the-secret'))).toBe(4);
    expect(await refusal(t.connect('nobody', 'whatever'))).toBe(4);
    expect(await refusal(t.connect('sd-2'))).toBe(4);
    expect(await refusal(t.connect('sd-off', secretOf('sd-off')))).toBe(5);
    // Another device's secret does not open this one.
    expect(await refusal(t.connect('sd-2', secretOf('sd-1')))).toBe(4);
    const after = t.gateway.stats().refusals;
    expect(after.bad_secret - before.bad_secret).toBe(3);
    expect(after.unknown - before.unknown).toBe(1);
    expect(after.disabled - before.disabled).toBe(1);
    const text = await t.metrics.getSingleMetricAsString('watchfire_gateway_refusals_total');
    expect(text).toMatch(/reason="bad_secret"\} [1-9]/);
    expect(t.sink.frames.filter((f) => f.deviceId === 'sd-off' || f.deviceId === 'nobody')).toEqual([]);
  });

  it('refuses MQTT 5 as an unacceptable protocol version, counted', async () => {
    const before = t.gateway.stats().refusals.protocol;
    const code = await refusal(t.connect('sd-3', secretOf('sd-3'), { protocolVersion: 5 }));
    expect(code).toBe(1);
    expect(t.gateway.stats().refusals.protocol).toBe(before + 1);
    expect(t.gateway.isOnline('sd-3')).toBe(false);
  });

  it('tolerates a keep-alive of 1200 s and refuses one above the configured maximum', async () => {
    const c = await t.device('sd-2', { keepalive: 1200 });
    expect(c.connected).toBe(true);
    c.end(true);
    const before = t.gateway.stats().refusals.keepalive;
    expect(await refusal(t.device('sd-2', { keepalive: 1201 }))).toBe(5);
    expect(t.gateway.stats().refusals.keepalive).toBe(before + 1);
  });

  it('lets an observer in with its own account, and not with a wrong password', async () => {
    const o = await t.connect(OBSERVER.name, OBSERVER.password);
    expect(o.connected).toBe(true);
    o.end(true);
    expect(await refusal(t.connect(OBSERVER.name, 'wrong'))).toBe(4);
  });

  it('hands nothing to the sink from refused connections', async () => {
    expect(t.sink.frames).toEqual([]);
  });
});
