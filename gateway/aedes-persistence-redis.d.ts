// aedes-persistence-redis ships no types; the parts of its async class the gateway uses.
declare module 'aedes-persistence-redis/asyncPersistence.js' {
  import type { Redis } from 'ioredis';
  export default class AsyncRedisPersistence {
    constructor(opts: { conn: Redis; maxSessionDelivery?: number; packetTTL?: (packet: unknown) => number });
    destroy(): Promise<void>;
    delWill(client: { id: string; brokerId: string }): Promise<unknown>;
    createRetainedStreamCombi(patterns: string[]): AsyncIterable<unknown> | NodeJS.ReadableStream;
  }
}
