// NB-IoT platform push endpoints (issue 20 point 2) on Watchfire's HTTP server: OneNET's HTTP push
// (URL verification by GET, data by POST, token signature) and CTWing's subscription push (secret
// path token; CTWing signs no pushes). Each message becomes the frames an MQTT detector would have
// published (contracts/ingress.ts). Answers: 200 once handed to ingest or dead-lettered (a platform
// retries anything else, and a retry cannot fix a malformed or unknown-device push); 403 for a
// push that is not the platform's.
import { createHash, timingSafeEqual } from 'node:crypto';
import net from 'node:net';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { Counter } from 'prom-client';
import type { Clock, DeviceDirectory, RegistryChanges } from '../../contracts/ports.ts';
import { systemClock } from '../../contracts/ports.ts';
import type { DeviceInfo } from '../../contracts/registry.ts';
import type { ErrorCode } from '../../contracts/errors.ts';
import { formatIssues } from '../../contracts/errors.ts';
import { adapterFrame, type IngressPort, type IngressSource } from '../../contracts/ingress.ts';
import { familyAccepts } from '../../contracts/families.ts';
import { CtwingMessage, OneNetMessage, OneNetPush, onenetSignedTexts, onenetVerify } from '../../contracts/nbiot.ts';
import { mapEvent, mapProperties, type Body, type PropertyMemory } from './mapping.ts';
import { allowListOf } from '../allow-list.ts';

export interface NbiotPushConfig {
  readonly onenet?: { readonly token: string; readonly allowFrom: readonly string[] } | undefined;
  readonly ctwing?: { readonly token: string; readonly allowFrom: readonly string[] } | undefined;
}

export interface NbiotPushDeps {
  config: NbiotPushConfig;
  directory: DeviceDirectory;
  changes?: RegistryChanges;
  ingress: IngressPort;
  logger: Logger;
  metrics: Registry;
  clock?: Clock;
}

/** Pushes are small (one report); OneNET batches at most a few hundred data points. */
const BODY_LIMIT = 256 * 1024;
/** Platform retries recognised per device (same message text): ingested once, answered 200 each time. */
const RECENT = 32;

class Refusal extends Error {
  constructor(readonly code: ErrorCode, message: string, readonly deviceId?: string) {
    super(message);
  }
}

export function nbiotPushRoutes(deps: NbiotPushDeps) {
  const clock = deps.clock ?? systemClock;
  const { ingress, logger } = deps;
  const pushes = new Counter({ name: 'watchfire_nbiot_pushes_total', help: 'NB-IoT platform pushes, by platform and outcome', labelNames: ['platform', 'outcome'], registers: [deps.metrics] });
  const memory: PropertyMemory = { smokeState: new Map() };
  const recent = new Map<string, string[]>();
  let index: Map<string, string> | undefined;
  deps.changes?.onChange((changes) => {
    if (changes.some((c) => c.kind === 'device')) index = undefined;
  });

  /** meta.imei and meta.nbDeviceId → device id. */
  function lookup(key: string): DeviceInfo | undefined {
    if (!index) {
      index = new Map();
      for (const d of deps.directory.all()) {
        for (const k of [d.meta?.imei, d.meta?.nbDeviceId]) if (typeof k === 'string' || typeof k === 'number') index.set(String(k), d.id);
      }
    }
    const id = index.get(key);
    return id === undefined ? undefined : deps.directory.get(id);
  }

  function deviceFor(source: IngressSource, keys: ReadonlyArray<string | undefined>): DeviceInfo {
    for (const k of keys) {
      if (!k) continue;
      const d = lookup(k);
      if (!d) continue;
      if (!d.enabled) throw new Refusal('WF_NBIOT_UNKNOWN_DEVICE', `device ${d.id} (${k}) is disabled`, d.id);
      if (!familyAccepts(d.type, source)) throw new Refusal('WF_NBIOT_UNKNOWN_DEVICE', `a ${d.type} cannot arrive by ${source}`, d.id);
      return d;
    }
    throw new Refusal('WF_NBIOT_UNKNOWN_DEVICE', `no device with meta.imei or meta.nbDeviceId ${keys.filter(Boolean).map((k) => JSON.stringify(k)).join(' or ')}`);
  }

  /** True when this exact message was already ingested for this device (a platform retry). */
  function seen(deviceId: string, text: string): boolean {
    const h = createHash('sha1').update(text).digest('base64');
    let list = recent.get(deviceId);
    if (!list) recent.set(deviceId, (list = []));
    if (list.includes(h)) return true;
    list.push(h);
    if (list.length > RECENT) list.shift();
    return false;
  }

  /** Last reading time per device: readings of one device in the same ms would be one InfluxDB point. */
  const lastTs = new Map<string, number>();
  function distinct(deviceId: string, bodies: Array<Body | undefined>): void {
    let last = lastTs.get(deviceId) ?? 0;
    for (const b of bodies) {
      if (!b || typeof b.ts !== 'number') continue;
      if (b.ts <= last && b.ts > last - 1000) b.ts = last + 1;
      last = b.ts as number;
    }
    lastTs.set(deviceId, last);
  }

  function hand(d: DeviceInfo, source: IngressSource, telemetry: Body | undefined, events: Body[], receivedAt: number): void {
    distinct(d.id, [...events, telemetry]);
    if (events.length > 0) ingress.accept(adapterFrame(d.id, 'events', events.length === 1 ? events[0] : events, source, receivedAt));
    if (telemetry) ingress.accept(adapterFrame(d.id, 'telemetry', telemetry, source, receivedAt));
  }

  function deadLetter(source: IngressSource, req: FastifyRequest, r: Refusal, payload: string): void {
    pushes.labels(source, r.code).inc();
    ingress.reject({ source, at: clock.now(), deviceId: r.deviceId, origin: `${req.method} ${req.url.split('?')[0]!.replace(/\/ingress\/ctwing\/[^/]+/, '/ingress/ctwing/…')} from ${req.ip}`, code: r.code, reason: r.message, payload });
  }

  function refuse(source: IngressSource, req: FastifyRequest, reply: FastifyReply, r: Refusal, payload: string): FastifyReply {
    deadLetter(source, req, r, payload);
    // A forged push gets no 200; a push a retry cannot fix does, so the platform stops resending.
    if (r.code === 'WF_NBIOT_SIGNATURE') return reply.code(403).send({ code: r.code, message: r.message });
    return reply.code(200).send({ code: r.code, message: r.message });
  }

  /** 200 is a promise: it is sent once the journal holds what the push carried (issue 15). */
  function durable(): Promise<void> {
    return new Promise<void>((resolve, reject) => ingress.durable((err) => (err ? reject(err) : resolve())));
  }
  async function answerDurably(source: IngressSource, reply: FastifyReply, ok: () => FastifyReply): Promise<FastifyReply> {
    try {
      await durable();
    } catch (err) {
      pushes.labels(source, 'not_durable').inc();
      logger.error({ code: 'WF_JOURNAL_WRITE', err: (err as Error).message }, 'push not durable: answered 503 so the platform retries');
      return reply.code(503).send({ code: 'WF_JOURNAL_WRITE', message: 'not stored; retry' });
    }
    return ok();
  }

  function checkFrom(list: net.BlockList | undefined, ip: string): void {
    if (!list) return;
    const bare = ip.replace(/^::ffff:/, '');
    if (!list.check(bare, net.isIPv6(bare) ? 'ipv6' : 'ipv4')) throw new Refusal('WF_NBIOT_SIGNATURE', `push from ${bare}, outside allowFrom`);
  }

  function parseJson(text: string): unknown {
    try {
      return JSON.parse(text);
    } catch (err) {
      throw new Refusal('WF_NBIOT_FORMAT', `not JSON: ${(err as Error).message}`);
    }
  }

  // ---- OneNET --------------------------------------------------------------------------------
  function onenetMessage(m: unknown, receivedAt: number): void {
    const parsed = OneNetMessage.safeParse(m);
    if (!parsed.success) throw new Refusal('WF_NBIOT_FORMAT', formatIssues(parsed.error.issues).join('; '));
    const msg = parsed.data;
    const d = deviceFor('onenet', [msg.imei, String(msg.dev_id)]);
    if (seen(d.id, JSON.stringify(m))) {
      pushes.labels('onenet', 'duplicate').inc();
      return;
    }
    if (msg.type === 2) {
      ingress.presence(d.id, msg.status === 1, msg.at, 'onenet');
      return;
    }
    if (msg.type === 7) return; // a command's delivery result: nothing to ingest
    // Type 1: one data stream value. A stream named like an event type is that event; an object
    // value is a set of properties; otherwise the stream name is the property.
    const ds = msg.ds_id ?? '';
    if (ds === 'event' || ds === 'alarm') {
      const ev = mapEvent(d.type, typeof msg.value === 'object' && msg.value !== null ? msg.value as Record<string, unknown> : { type: msg.value }, undefined, msg.at);
      if (!ev.ok) throw new Refusal('WF_NBIOT_FORMAT', ev.reason, d.id);
      hand(d, 'onenet', undefined, [ev.event], receivedAt);
      return;
    }
    const props = typeof msg.value === 'object' && msg.value !== null && !Array.isArray(msg.value) ? msg.value as Record<string, unknown> : { [ds]: msg.value };
    const mapped = mapProperties(d.id, d.type, props, msg.at, memory);
    hand(d, 'onenet', mapped.telemetry, mapped.events, receivedAt);
  }

  // ---- CTWing --------------------------------------------------------------------------------
  function ctwingMessage(m: unknown, text: string, receivedAt: number): void {
    const parsed = CtwingMessage.safeParse(m);
    if (!parsed.success) throw new Refusal('WF_NBIOT_FORMAT', formatIssues(parsed.error.issues).join('; '));
    const msg = parsed.data;
    const d = deviceFor('ctwing', [msg.IMEI, msg.deviceId]);
    if (seen(d.id, text)) {
      pushes.labels('ctwing', 'duplicate').inc();
      return;
    }
    switch (msg.messageType) {
      case 'deviceOnlineOfflineReport':
        ingress.presence(d.id, msg.eventType === 1, msg.timestamp, 'ctwing');
        return;
      case 'commandResponse':
        return;
      case 'dataReport': {
        let props: Record<string, unknown> = msg.payload;
        if (typeof msg.payload.APPdata === 'string') {
          // Transparent (透传) products: APPdata is the device's own bytes, base64. Watchfire reads
          // them when they are PROTOCOL.md JSON; a vendor's binary needs that vendor's codec.
          const raw = Buffer.from(msg.payload.APPdata, 'base64').toString('utf8');
          let inner: unknown;
          try {
            inner = JSON.parse(raw);
          } catch {
            throw new Refusal('WF_NBIOT_FORMAT', 'payload.APPdata is no JSON: a transparent product with a vendor binary format needs its codec', d.id);
          }
          if (inner === null || typeof inner !== 'object' || Array.isArray(inner)) throw new Refusal('WF_NBIOT_FORMAT', 'payload.APPdata: expected a JSON object', d.id);
          props = inner as Record<string, unknown>;
        }
        const seq = typeof msg.upPacketSN === 'number' && msg.upPacketSN >= 0 ? { seq: msg.upPacketSN } : {};
        const mapped = mapProperties(d.id, d.type, props, msg.timestamp, memory);
        hand(d, 'ctwing', mapped.telemetry ? { ...mapped.telemetry, ...seq } : undefined, mapped.events, receivedAt);
        return;
      }
      case 'eventReport': {
        const ev = mapEvent(d.type, msg.payload, msg.serviceId, msg.timestamp);
        if (!ev.ok) throw new Refusal('WF_NBIOT_FORMAT', ev.reason, d.id);
        hand(d, 'ctwing', undefined, [ev.event], receivedAt);
        return;
      }
      default: {
        const never: never = msg;
        throw new Refusal('WF_NBIOT_FORMAT', `unhandled ${JSON.stringify(never)}`);
      }
    }
  }

  /** CTWing's secret path token, compared in constant time (hashes of equal length). */
  const ctwingWant = deps.config.ctwing && createHash('sha256').update(deps.config.ctwing.token).digest();
  const ctwingTokenOk = ctwingWant && ((t: string) => timingSafeEqual(createHash('sha256').update(t).digest(), ctwingWant));

  return async function plugin(app: FastifyInstance): Promise<void> {
    // The raw text is what OneNET signs and what a dead letter keeps: parse JSON ourselves.
    app.addContentTypeParser(['application/json', 'text/plain'], { parseAs: 'string', bodyLimit: BODY_LIMIT }, (_req, body, done) => done(null, body));
    // Any other or no content type is read as text too, and then dead-lettered for what it is (no
    // JSON, not the format) with a 200: a 415 would be retried by the platform with no trace here.
    app.addContentTypeParser('*', { parseAs: 'string', bodyLimit: BODY_LIMIT }, (_req, body, done) => done(null, body));
    // A body over the limit never reaches a route: it is refused here, before it is read, and
    // dead-lettered with its size. 200, as for any push a retry cannot fix (a 413 would be
    // resent for ever); 403 when the CTWing path token is wrong, as for any forged push.
    app.setErrorHandler((err: Error & { code?: string }, req, reply) => {
      if (err.code !== 'FST_ERR_CTP_BODY_TOO_LARGE') throw err;
      const source: IngressSource = req.url.startsWith('/ingress/ctwing/') ? 'ctwing' : 'onenet';
      const token = (req.params as { token?: string }).token;
      const forged = source === 'ctwing' && !(token !== undefined && ctwingTokenOk?.(token));
      const r = forged
        ? new Refusal('WF_NBIOT_SIGNATURE', 'wrong push URL token')
        : new Refusal('WF_NBIOT_FORMAT', `body over the ${BODY_LIMIT}-byte limit of one push${req.headers['content-length'] ? ` (${req.headers['content-length']} bytes)` : ''}: not read`);
      return refuse(source, req, reply, r, '');
    });
    const onenet = deps.config.onenet;
    if (onenet) {
      const from = allowListOf(onenet.allowFrom);
      // URL verification (OneNET "HTTP推送" 开发指南): GET ?msg&nonce&signature → answer msg.
      app.get('/ingress/onenet', async (req, reply) => {
        const q = req.query as Record<string, string | undefined>;
        try {
          checkFrom(from, req.ip);
          if (!q.msg || !q.nonce || !q.signature || !onenetVerify(onenet.token, q.nonce, q.msg, q.signature)) throw new Refusal('WF_NBIOT_SIGNATURE', 'URL verification with a wrong or missing signature');
        } catch (err) {
          return refuse('onenet', req, reply, err as Refusal, JSON.stringify(q));
        }
        pushes.labels('onenet', 'verified').inc();
        return reply.type('text/plain').send(q.msg);
      });
      app.post('/ingress/onenet', async (req, reply) => {
        const text = typeof req.body === 'string' ? req.body : '';
        const receivedAt = clock.now();
        try {
          checkFrom(from, req.ip);
          const body = OneNetPush.safeParse(parseJson(text));
          if (!body.success) throw new Refusal('WF_NBIOT_FORMAT', formatIssues(body.error.issues).join('; '));
          if (!onenetSignedTexts(text, body.data.msg).some((m) => onenetVerify(onenet.token, body.data.nonce, m, body.data.msg_signature))) throw new Refusal('WF_NBIOT_SIGNATURE', 'msg_signature is not base64(md5(token + nonce + msg))');
          const msg = typeof body.data.msg === 'string' ? parseJson(body.data.msg) : body.data.msg;
          const list = Array.isArray(msg) ? msg : [msg];
          // One bad message of a batch is dead-lettered; the others are still ingested.
          for (const m of list) {
            try {
              onenetMessage(m, receivedAt);
            } catch (err) {
              if (!(err instanceof Refusal)) throw err;
              deadLetter('onenet', req, err, JSON.stringify(m));
            }
          }
        } catch (err) {
          if (err instanceof Refusal) return refuse('onenet', req, reply, err, text);
          throw err;
        }
        pushes.labels('onenet', 'accepted').inc();
        return answerDurably('onenet', reply, () => reply.type('text/plain').send('ok'));
      });
    }
    const ctwing = deps.config.ctwing;
    if (ctwing) {
      const from = allowListOf(ctwing.allowFrom);
      app.post('/ingress/ctwing/:token', async (req, reply) => {
        const text = typeof req.body === 'string' ? req.body : '';
        try {
          checkFrom(from, req.ip);
          if (!ctwingTokenOk!((req.params as { token: string }).token)) throw new Refusal('WF_NBIOT_SIGNATURE', 'wrong push URL token');
          ctwingMessage(parseJson(text), text, clock.now());
        } catch (err) {
          if (err instanceof Refusal) return refuse('ctwing', req, reply, err, text);
          throw err;
        }
        pushes.labels('ctwing', 'accepted').inc();
        return answerDurably('ctwing', reply, () => reply.code(200).send({ code: 0 }));
      });
    }
    logger.info({ onenet: !!onenet, ctwing: !!ctwing }, 'NB-IoT push endpoints ready');
  };
}
