// Online/offline per device, keyed on the authenticated device id (PROTOCOL.md: the client id
// is free). One connection owns a device at a time; what an older, superseded connection does
// on its way out (its will, its socket closing) does not change the device's presence.
import type { Client } from 'aedes';
import type { DevicePresence, EventBus } from '../contracts/bus.ts';
import type { Clock } from '../contracts/ports.ts';
import type { GatewayMetrics } from './metrics.ts';

export function createPresence(deps: { bus: EventBus; clock: Clock; metrics: GatewayMetrics }) {
  const owner = new Map<string, Client>();
  const online = new Set<string>();

  function set(deviceId: string, isOnline: boolean, reason: DevicePresence['reason']): void {
    if (online.has(deviceId) === isOnline) return;
    if (isOnline) online.add(deviceId);
    else online.delete(deviceId);
    deps.metrics.stats.onlineDevices = online.size;
    deps.bus.emit('device.presence', { deviceId, online: isOnline, at: deps.clock.now(), reason });
  }

  return {
    set,
    /** Makes `client` the device's connection; returns the one it supersedes, if any. */
    claim(deviceId: string, client: Client): Client | undefined {
      const prev = owner.get(deviceId);
      owner.set(deviceId, client);
      return prev !== client ? prev : undefined;
    },
    owns: (deviceId: string, client: Client): boolean => owner.get(deviceId) === client,
    owner: (deviceId: string): Client | undefined => owner.get(deviceId),
    /** The connection ended; true when it was the device's current one. */
    release(deviceId: string, client: Client): boolean {
      if (owner.get(deviceId) !== client) return false;
      owner.delete(deviceId);
      return true;
    },
    /**
     * The device connected to another node of a cluster (gateway/cluster.ts): this connection no
     * longer owns it, and no offline is told, since the device is not offline; the other node
     * told its online.
     */
    movedAway(deviceId: string, client: Client): boolean {
      if (owner.get(deviceId) !== client) return false;
      owner.delete(deviceId);
      online.delete(deviceId);
      deps.metrics.stats.onlineDevices = online.size;
      return true;
    },
    /** A status payload (`{"online":true}` / `{"online":false}`) from the owning connection. */
    fromStatus(deviceId: string, payload: Buffer): void {
      // Status payloads are tiny; a malformed one is ingest's to dead-letter, not ours to judge.
      if (payload.length > 4096) return;
      try {
        const v = JSON.parse(payload.toString('utf8')) as { online?: unknown } | null;
        if (v && typeof v === 'object' && typeof v.online === 'boolean') set(deviceId, v.online, 'status');
      } catch {
        /* not JSON: ingest rejects it */
      }
    },
    isOnline: (deviceId: string): boolean => online.has(deviceId),
    count: (): number => online.size,
    onlineIds: (): string[] => [...online],
  };
}

export type Presence = ReturnType<typeof createPresence>;
