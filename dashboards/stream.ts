// Live updates for the console over server-sent events (WHATWG HTML §9.2). Each event carries an
// id; a browser that reconnects (EventSource does so by itself) sends Last-Event-ID and gets what
// it missed from a ring buffer, or a `reset` telling it to reload the queue when it was away too
// long. A slow client never holds anyone up: past a buffer limit it is dropped and reconnects.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { EventBus } from '../contracts/bus.ts';
import type { ConsoleEvent, ConsoleRelay } from '../contracts/cluster.ts';
import type { Incident } from '../contracts/incidents.ts';
import type { User } from './users.ts';
import { canSee } from './kit.ts';

export interface StreamEvent {
  id: number;
  type: 'incident' | 'presence' | 'reading';
  /** Used to decide who may receive it. */
  incident?: Incident;
  centerId?: string;
  siteId?: string;
  data: string;
}

interface Client {
  user: User;
  siteId: string | undefined;
  reply: FastifyReply;
}

/** Heartbeat comment: keeps proxies from closing an idle stream and finds dead sockets. */
const HEARTBEAT_MS = 15_000;
const RING = 1000;
/** Bytes a client may have unsent before it is dropped (it reconnects and replays). */
const MAX_BUFFERED = 1024 * 1024;
/** EventSource reconnect delay the server asks for (the `retry:` field). */
const RETRY_MS = 2_000;

export function createStreamHub(deps: {
  bus: EventBus;
  view: (inc: Incident) => unknown;
  onDrop?: (reason: 'slow' | 'error') => void;
  /** The center of a device, so a center's consoles get their own devices' presence only. */
  centerOf?: (deviceId: string) => string | undefined;
  /** Cluster mode: incident and presence events cross to the other nodes' consoles and back. */
  relay?: ConsoleRelay | undefined;
}) {
  const clients = new Set<Client>();
  /** Sites someone has open, with how many: the reading listener runs on the hot path, O(1). */
  const watched = new Map<string, number>();
  const ring: StreamEvent[] = [];
  let nextId = 1;
  // A per-process epoch in ids: after a restart the old ids mean nothing, and the client is told
  // to reset instead of being replayed a wrong range.
  const epoch = Date.now().toString(36);
  let heartbeat: NodeJS.Timeout | undefined;
  const unsubscribe: Array<() => void> = [];

  function allowed(c: Client, e: StreamEvent): boolean {
    if (e.incident) return canSee(c.user, e.incident);
    // An event without a center (a device not in the registry) is for center-less staff only.
    if (c.user.centerId && e.centerId !== c.user.centerId) return false;
    if (e.type === 'reading') return c.siteId !== undefined && c.siteId === e.siteId;
    return c.user.role !== 'grid_worker';
  }

  function frame(e: StreamEvent): string {
    return `id: ${epoch}-${e.id}\nevent: ${e.type}\ndata: ${e.data}\n\n`;
  }

  function send(c: Client, text: string): void {
    const raw = c.reply.raw;
    if (raw.destroyed) {
      clients.delete(c);
      return;
    }
    if (raw.writableLength > MAX_BUFFERED) {
      clients.delete(c);
      deps.onDrop?.('slow');
      raw.destroy();
      return;
    }
    raw.write(text);
  }

  function publish(e: Omit<StreamEvent, 'id'>): void {
    const ev = { ...e, id: nextId++ };
    // Readings are for whoever has that site open; they are not replayed after a reconnect.
    if (ev.type !== 'reading') {
      ring.push(ev);
      if (ring.length > RING) ring.shift();
    }
    const text = frame(ev);
    for (const c of clients) if (allowed(c, ev)) send(c, text);
  }

  /** An event of this node: to its own clients and, in a cluster, to the other nodes'. */
  function local(e: ConsoleEvent): void {
    publish(e);
    deps.relay?.tell(e);
  }

  return {
    start(): void {
      unsubscribe.push(
        deps.bus.on('incident', 'dashboards.stream', (ev) => {
          local({ type: 'incident', incident: ev.incident, data: JSON.stringify({ kind: ev.kind, at: ev.at, actor: ev.actor ?? null, incident: deps.view(ev.incident) }) });
        }),
        deps.bus.on('device.presence', 'dashboards.stream', (p) => {
          // A keep-alive changes nothing an operator sees.
          if (p.reason === 'heartbeat') return;
          const centerId = deps.centerOf?.(p.deviceId);
          local({ type: 'presence', ...(centerId ? { centerId } : {}), data: JSON.stringify(p) });
        }),
        deps.bus.on('reading.scored', 'dashboards.stream', (s) => {
          const r = s.reading;
          if (!watched.has(r.siteId)) return;
          publish({ type: 'reading', siteId: r.siteId, centerId: r.centerId, data: JSON.stringify({ deviceId: r.deviceId, ts: r.ts, kind: r.kind, values: r.values, level: s.level, score: s.score }) });
        }),
      );
      // The other nodes' events go to this node's clients only (never told on again).
      if (deps.relay) unsubscribe.push(deps.relay.listen((e) => publish(e)));
      heartbeat = setInterval(() => {
        for (const c of clients) send(c, `: ${Date.now()}\n\n`);
      }, HEARTBEAT_MS);
      heartbeat.unref();
    },

    /** Serves one EventSource connection; resolves when it closes. */
    serve(req: FastifyRequest, reply: FastifyReply, user: User, siteId: string | undefined): void {
      void reply.hijack();
      const raw = reply.raw;
      raw.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        connection: 'keep-alive',
        // nginx and similar would otherwise hold events back in their buffer.
        'x-accel-buffering': 'no',
      });
      raw.socket?.setNoDelay(true);
      const client: Client = { user, siteId, reply };
      raw.write(`retry: ${RETRY_MS}\n\n`);
      const last = String(req.headers['last-event-id'] ?? '');
      if (last) {
        const [ep, n] = last.split('-');
        const lastId = Number(n);
        const first = ring[0]?.id ?? nextId;
        if (ep !== epoch || !Number.isFinite(lastId) || lastId + 1 < first) {
          raw.write(`event: reset\ndata: {}\n\n`);
        } else {
          for (const e of ring) if (e.id > lastId && allowed(client, e)) raw.write(frame(e));
        }
      } else {
        raw.write(`event: hello\ndata: {}\n\n`);
      }
      clients.add(client);
      if (siteId) watched.set(siteId, (watched.get(siteId) ?? 0) + 1);
      let gone = false;
      const done = () => {
        clients.delete(client);
        if (gone || !siteId) return;
        gone = true;
        const n = (watched.get(siteId) ?? 1) - 1;
        if (n > 0) watched.set(siteId, n);
        else watched.delete(siteId);
      };
      raw.on('close', done);
      raw.on('error', () => {
        done();
        deps.onDrop?.('error');
      });
    },

    clients(): number {
      return clients.size;
    },

    stop(): void {
      for (const u of unsubscribe.splice(0)) u();
      if (heartbeat) clearInterval(heartbeat);
      heartbeat = undefined;
      for (const c of clients) c.reply.raw.end();
      clients.clear();
      watched.clear();
    },
  };
}
export type StreamHub = ReturnType<typeof createStreamHub>;
