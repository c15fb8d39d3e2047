// aedes-persistence-redis ships no types; the parts of its async class the gateway uses.
declare module 'aedes-persistence-redis/asyncPersistence.js' {
  import type { Redis } from 'ioredis';
  /** A will as it streams one: the packet, its client and the node that stored it (putWill). */
  export interface WillPacket {
    topic: string;
    payload: Buffer;
    qos: 0 | 1 | 2;
    retain: boolean;
    cmd: 'publish';
    dup: boolean;
    clientId?: string;
    brokerId?: string;
  }
  export default class AsyncRedisPersistence {
    constructor(opts: { conn: Redis; maxSessionDelivery?: number; packetTTL?: (packet: unknown) => number });
    destroy(): Promise<void>;
    delWill(client: { id: string; brokerId: string }): Promise<unknown>;
    /** The wills of nodes not in `brokers` (node id → last heartbeat): each a packet with its clientId and brokerId. */
    streamWill(brokers?: Record<string, number>): AsyncIterable<WillPacket>;
    createRetainedStreamCombi(patterns: string[]): AsyncIterable<unknown> | NodeJS.ReadableStream;
  }
}
