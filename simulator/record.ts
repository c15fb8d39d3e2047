// Recording traffic to JSONL, one publish per line: {t, topic, payload, qos, retain, deviceId}.
// Either the simulator's own outgoing traffic (the device clients' tap) or a live gateway's, as a
// subscriber with observer/maintainer credentials.
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { createInterface } from 'node:readline';
import mqtt from 'mqtt';
import type { Logger } from 'pino';
import { z } from 'zod';
import { parseTopic } from '../contracts/protocol.ts';
import type { Clock } from '../contracts/ports.ts';
import { systemClock } from '../contracts/ports.ts';
import type { TrafficRecord } from './device-client.ts';

export const TrafficRecordSchema = z.object({
  t: z.number(),
  topic: z.string().min(1),
  payload: z.string(),
  enc: z.literal('base64').optional(),
  qos: z.union([z.literal(0), z.literal(1), z.literal(2)]),
  retain: z.boolean(),
  deviceId: z.string().min(1),
});

export interface JsonlWriter {
  write(rec: TrafficRecord): void;
  readonly count: number;
  close(): Promise<void>;
}

export function createJsonlWriter(file: string): JsonlWriter {
  const stream: WriteStream = createWriteStream(file, { flags: 'w' });
  let count = 0;
  let failed: Error | undefined;
  stream.on('error', (err) => {
    failed = err;
  });
  return {
    write(rec) {
      count++;
      stream.write(`${JSON.stringify(rec)}\n`);
    },
    get count() {
      return count;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        if (failed) return reject(failed);
        stream.end(() => (failed ? reject(failed) : resolve()));
      }),
  };
}

export async function readJsonl(file: string): Promise<TrafficRecord[]> {
  const out: TrafficRecord[] = [];
  const lines = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
  let n = 0;
  for await (const line of lines) {
    n++;
    if (!line.trim()) continue;
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch {
      throw new Error(`${file}:${n}: not JSON`);
    }
    const r = TrafficRecordSchema.safeParse(raw);
    if (!r.success) throw new Error(`${file}:${n}: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    out.push(r.data as TrafficRecord);
  }
  return out;
}

export function payloadBytes(rec: TrafficRecord): Buffer {
  return rec.enc === 'base64' ? Buffer.from(rec.payload, 'base64') : Buffer.from(rec.payload, 'utf8');
}

export interface LiveRecorderDeps {
  url: string;
  username: string;
  password: string;
  out: string;
  /** Topic filter; default every device topic. */
  filter?: string;
  /** Keep the retained status messages delivered at subscribe (state, not traffic); default false. */
  includeRetained?: boolean;
  logger?: Logger | undefined;
  clock?: Clock;
}

/** Subscribes to a live gateway and writes what it sees, until stop(). */
export async function recordLive(deps: LiveRecorderDeps): Promise<{ readonly count: number; stop(): Promise<number> }> {
  const clock = deps.clock ?? systemClock;
  const writer = createJsonlWriter(deps.out);
  const client = await mqtt.connectAsync(deps.url, {
    username: deps.username,
    password: deps.password,
    clientId: `wf-recorder-${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
    protocolVersion: 4,
    reconnectPeriod: 2000,
  });
  client.on('message', (topic, payload, packet) => {
    if (packet.retain && !deps.includeRetained) return;
    const parsed = parseTopic(topic);
    const text = payload.toString('utf8');
    const exact = Buffer.from(text, 'utf8').equals(payload);
    writer.write({
      t: clock.now(),
      topic,
      payload: exact ? text : payload.toString('base64'),
      ...(exact ? {} : { enc: 'base64' as const }),
      qos: packet.qos,
      // MQTT 3.1.1 clears the retain flag on live forwarding [MQTT-3.3.1-9]; status is always
      // published retained by devices (PROTOCOL.md), so it is replayed retained.
      retain: packet.retain || parsed?.kind === 'status',
      deviceId: parsed?.deviceId ?? topic.split('/')[2] ?? 'unknown',
    });
  });
  const granted = await client.subscribeAsync(deps.filter ?? 'v1/devices/+/+', { qos: 1 });
  if (granted.some((g) => g.qos === 128)) {
    await client.endAsync(true);
    await writer.close();
    throw new Error(`subscription to ${deps.filter ?? 'v1/devices/+/+'} refused: the account may not observe device traffic`);
  }
  deps.logger?.info({ out: deps.out }, 'recording');
  return {
    get count() {
      return writer.count;
    },
    async stop() {
      await client.endAsync();
      await writer.close();
      return writer.count;
    },
  };
}
