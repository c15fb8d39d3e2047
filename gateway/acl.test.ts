import { describe, expect, it } from 'vitest';
import { DEVICE_FILTERS_PER_DEVICE, deviceFilters, publishKind, subscribeAllowed, type Identity } from './acl.ts';

const dev: Identity = { kind: 'device', deviceId: 'sd-1' };
const obs: Identity = { kind: 'observer', name: 'recorder' };

describe('topic ACL', () => {
  it('lets a device publish only under its own prefix, never to commands', () => {
    expect(publishKind(dev, 'v1/devices/sd-1/telemetry')).toBe('telemetry');
    expect(publishKind(dev, 'v1/devices/sd-1/events')).toBe('events');
    expect(publishKind(dev, 'v1/devices/sd-1/status')).toBe('status');
    expect(publishKind(dev, 'v1/devices/sd-1/firmware')).toBe('other');
    expect(publishKind(dev, 'v1/devices/sd-1/')).toBeUndefined();
    expect(publishKind(dev, 'v1/devices/sd-1/commands/silence')).toBeUndefined();
    expect(publishKind(dev, 'v1/devices/sd-1/commands')).toBeUndefined();
    expect(publishKind(dev, 'v1/devices/sd-10/telemetry')).toBeUndefined();
    expect(publishKind(dev, 'v1/devices/sd-2/telemetry')).toBeUndefined();
    expect(publishKind(dev, 'v2/devices/sd-1/telemetry')).toBeUndefined();
    expect(publishKind(obs, 'v1/devices/sd-1/telemetry')).toBeUndefined();
  });

  it('lets a device subscribe to its own commands only, and an observer under v1/devices/', () => {
    expect(subscribeAllowed(dev, 'v1/devices/sd-1/commands/#')).toBe(true);
    expect(subscribeAllowed(dev, 'v1/devices/sd-1/commands/+')).toBe(true);
    expect(subscribeAllowed(dev, 'v1/devices/sd-1/commands/config')).toBe(true);
    expect(subscribeAllowed(dev, 'v1/devices/sd-1/commandsX')).toBe(false);
    // A fixed set (issue 16): no other name, no deeper level, however many a device tries.
    expect(subscribeAllowed(dev, 'v1/devices/sd-1/commands/config/x')).toBe(false);
    expect(subscribeAllowed(dev, 'v1/devices/sd-1/commands/x1')).toBe(false);
    expect(subscribeAllowed(dev, 'v1/devices/sd-1/commands/+/#')).toBe(false);
    expect(deviceFilters('sd-1').every((f) => subscribeAllowed(dev, f))).toBe(true);
    expect(deviceFilters('sd-1')).toHaveLength(DEVICE_FILTERS_PER_DEVICE);
    expect(subscribeAllowed(dev, 'v1/devices/sd-1/#')).toBe(false);
    expect(subscribeAllowed(dev, 'v1/devices/+/commands/#')).toBe(false);
    expect(subscribeAllowed(dev, 'v1/devices/sd-10/commands/#')).toBe(false);
    expect(subscribeAllowed(obs, 'v1/devices/+/telemetry')).toBe(true);
    expect(subscribeAllowed(obs, 'v1/devices/#')).toBe(true);
    expect(subscribeAllowed(obs, '#')).toBe(false);
    expect(subscribeAllowed(obs, '$SYS/#')).toBe(false);
  });
});
