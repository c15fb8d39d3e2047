// Where the gateway relies on aedes' internals or fills a gap in them (STYLE.md "Pin what you
// patch": aedes is pinned in package.json, and each seam has a test that fails if it moves:
// tests/gateway.acl.test.ts for skipUndeliverable, tests/gateway.memory.test.ts and
// tests/gateway.bounds.test.ts for the persistence ones).
import type { Aedes, Client, PublishPacket } from 'aedes';

type BrokerPublish = (packet: PublishPacket, client: Client | null | ((err?: Error) => void), done?: (err?: Error | null) => void) => void;

/**
 * Aedes sends every PUBLISH it acknowledged through its delivery pipeline: a copy of the packet,
 * the retained store, a look-up of offline sessions to queue it for, the emitter's topic match.
 * Only maintainers' observer accounts can subscribe to a device's telemetry, events or status
 * (a device subscribes to its own commands, which devices cannot publish: acl.ts), and the
 * gateway itself subscribes to nothing. So while no observer is connected, a device's message
 * has no one to go to, and the gateway skips that pipeline: 3 µs less CPU per reading at
 * 15,000–20,000 readings/s (8 %; README "Performance"). Retained messages (statuses) always go
 * through, for an observer who subscribes later. Skipped too: aedes' `published` hook and its
 * 'publish' event, which the gateway does not use. A server-side subscription to device topics
 * (broker.subscribe) or a 'publish' listener would have to count as an observer here.
 */
export function skipUndeliverable(b: Aedes, fromDevice: (client: Client) => boolean, observers: () => number): void {
  const publish = (b.publish as unknown as BrokerPublish).bind(b);
  (b as unknown as { publish: BrokerPublish }).publish = (packet, client, done) => {
    if (observers() === 0 && !packet.retain && client && typeof client !== 'function' && fromDevice(client)) {
      done?.(null);
      return;
    }
    publish(packet, client, done);
  };
}

/** The parts of aedes-persistence (its documented interface) the gateway reads; aedes types it as any. */
interface Persistence {
  addSubscriptions(client: Client, subs: Array<{ topic: string }>): Promise<void>;
  countOffline(): Promise<{ subsCount: number; clientsCount: number }>;
  outgoingStream(client: { id: string }): AsyncIterable<unknown>;
}
export const persistenceOf = (b: Aedes): Persistence => (b as unknown as { persistence: Persistence }).persistence;

/**
 * aedes 1.2 (lib/handlers/subscribe.js storeSubscriptions) stores the whole SUBSCRIBE's filter list
 * in a persistent session as soon as one of them is granted: with one allowed filter a device
 * could store thousands refused with SUBACK 0x80, kept after disconnect and replayed through the
 * ACL on every reconnect (issue 16; found by tests/gateway.memory.test.ts). The persistence is
 * handed only the filters authorizeSubscribe granted this connection. Each granted filter's own
 * storeSubscriptions call comes after its grant, so none is lost.
 */
export function storeOnlyGranted(b: Aedes, granted: (client: Client, filter: string) => boolean): void {
  const p = persistenceOf(b);
  const add = p.addSubscriptions.bind(p);
  p.addSubscriptions = (client, subs) => add(client, subs.filter((s) => granted(client, s.topic)));
}


/** Commands queued for a device's persistent session (its client id is its device id: hooks.ts preConnect), counted up to `cap`. */
export async function queuedCommands(b: Aedes, deviceId: string, cap: number): Promise<number> {
  let n = 0;
  for await (const packet of persistenceOf(b).outgoingStream({ id: deviceId })) {
    if (packet && ++n >= cap) break;
  }
  return n;
}
