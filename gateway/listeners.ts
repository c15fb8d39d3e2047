// The sockets: MQTT over TCP and, when a certificate is configured, over TLS. Nagle is off on
// both (NOTES.md: with Node's default sockets QoS 0 p99 is 17–38 ms, almost all Nagle + delayed
// ACK; noDelay brings it to 1–2 ms).
import net, { type Socket, type AddressInfo } from 'node:net';
import tls from 'node:tls';
import { tlsFiles, watchTlsFiles } from './tls-files.ts';
import { readProxyHeader, type Peer } from './proxy-protocol.ts';
import type { Config } from '../contracts/config.ts';
import { WatchfireError } from '../contracts/errors.ts';

export interface Listeners {
  /** `mqtt` is absent when gateway.plain is false. */
  addresses(): { mqtt?: number; mqtts?: number };
  /** Stops accepting, destroys every socket still open (also those that never sent CONNECT). */
  close(): Promise<void>;
}

function listen(server: net.Server, port: number, host: string, what: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(new WatchfireError('WF_GATEWAY_LISTEN', `cannot listen for ${what} on ${host}:${port}: ${err.message}`));
    server.once('error', onError);
    // A reconnect storm (19,000 devices after a network outage) overflowed Node's default
    // accept queue of 511: every dropped SYN costs the device a ≥ 1 s TCP retry. 4096 is also
    // this kernel's somaxconn cap (bench/results/reconnect.json).
    server.listen({ port, host, backlog: 4096 }, () => {
      server.off('error', onError);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** Node reports an IPv4 peer of a dual-stack socket as ::ffff:a.b.c.d. */
const plainAddress = (a: string | undefined): string => (a?.startsWith('::ffff:') ? a.slice(7) : a ?? 'unknown');

export async function openListeners(deps: {
  config: Config['gateway'];
  /** `peer` is the device's address: the socket's own, or the one its PROXY header named. */
  onConnection(socket: Socket, peer: Peer): void;
  /** A trusted balancer's socket whose PROXY header was missing or malformed; it is closed. */
  onProxyError(err: Error, socket: Socket): void;
  onTlsError(err: Error, socket: Socket): void;
  onServerError(err: Error): void;
  /** A new TCP socket (plain or before its TLS handshake) from `address`: false closes it at once (admission control). */
  admit(socket: Socket, address: string): boolean;
  /** An admitted socket closed. */
  release(socket: Socket, address: string): void;
  /** A TLS socket that did not finish its handshake within connectTimeoutMs; it is closed. */
  onHandshakeTimeout(socket: Socket): void;
  /** The certificate files changed: reloaded, or why not (the previous one stays in use). */
  onTlsReload(err: Error | undefined): void;
}): Promise<Listeners> {
  const { config } = deps;
  /** Admitted sockets and the address admission counted them under. */
  const sockets = new Map<Socket, string>();
  /** Sockets of a trusted balancer whose PROXY header is still being read. */
  const unproxied = new Set<Socket>();
  const trusted = new Set(config.proxyProtocol.trustedAddresses.map(plainAddress));
  // 'close' comes once per socket; one handler for all of them, no closure per connection.
  function untrack(this: Socket): void {
    const address = sockets.get(this);
    sockets.delete(this);
    handshaking.delete(this);
    if (address !== undefined) deps.release(this, address);
  }
  /**
   * TLS sockets admitted and not yet through their handshake, with when they came. Node's
   * handshakeTimeout starts only once a ClientHello arrives: a socket that sends nothing at all
   * would hold its descriptor until the peer goes away. A sweep closes those past
   * connectTimeoutMs. The finished handshake is matched to its socket through TLSSocket's
   * `_parent` (Node internals; tests/gateway.tls.test.ts covers it): should that ever be missing,
   * the sweep turns itself off rather than close live connections.
   */
  const handshaking = new Map<Socket, number>();
  let sweepHandshakes = true;
  let sweeper: NodeJS.Timeout | undefined;
  const track = (socket: Socket, address: string): boolean => {
    if (!deps.admit(socket, address)) {
      socket.destroy();
      return false;
    }
    sockets.set(socket, address);
    socket.on('close', untrack);
    return true;
  };
  const ownPeer = (socket: Socket): Peer => ({ address: plainAddress(socket.remoteAddress), port: socket.remotePort ?? 0 });
  const accept = (socket: Socket, peer: Peer): void => {
    if (track(socket, peer.address)) deps.onConnection(socket, peer);
  };
  /**
   * Issue 21: a trusted balancer's socket starts with a PROXY header; admission waits for it, so
   * it counts the device's address. Other sockets are plain MQTT from their own address: a header
   * from them would be a forged address, and is refused by the MQTT parser as garbage.
   */
  function onPlain(socket: Socket): void {
    if (!config.proxyProtocol.enabled || !trusted.has(plainAddress(socket.remoteAddress))) {
      accept(socket, ownPeer(socket));
      return;
    }
    unproxied.add(socket);
    readProxyHeader(socket, config.connectTimeoutMs, (err, peer) => {
      unproxied.delete(socket);
      if (err) {
        deps.onProxyError(err, socket);
        socket.destroy();
        return;
      }
      accept(socket, peer ?? ownPeer(socket));
    });
  }
  const servers: net.Server[] = [];
  let stopWatch: (() => void) | undefined;

  let mqtts: number | undefined;
  let mqtt: number | undefined;
  try {
    if (config.plain) {
      const plain = net.createServer({ noDelay: true }, onPlain);
      plain.on('error', deps.onServerError);
      servers.push(plain);
      mqtt = await listen(plain, config.port, config.host, 'MQTT');
    }
    if (config.tls) {
      const files = tlsFiles(config.tls);
      const secure = tls.createServer({
        noDelay: true,
        // A socket that never finishes its handshake holds a descriptor as long as one that never
        // sends CONNECT: the same limit (Node's default is 120 s).
        handshakeTimeout: config.connectTimeoutMs,
        ...files.read(),
      });
      // Before the TLS layer takes the socket: a refused one costs no handshake.
      secure.prependListener('connection', (socket: Socket) => {
        if (track(socket, plainAddress(socket.remoteAddress)) && sweepHandshakes) handshaking.set(socket, Date.now());
      });
      sweeper = setInterval(() => {
        const due = Date.now() - config.connectTimeoutMs;
        for (const [socket, at] of handshaking) {
          if (at > due) break;
          handshaking.delete(socket);
          deps.onHandshakeTimeout(socket);
          socket.destroy();
        }
      }, Math.max(100, config.connectTimeoutMs / 4));
      sweeper.unref();
      stopWatch = watchTlsFiles(files, (err, options) => {
        if (options) secure.setSecureContext(options);
        deps.onTlsReload(err);
      });
      secure.on('secureConnection', (socket: tls.TLSSocket) => {
        const raw = (socket as unknown as { _parent?: Socket })._parent;
        if (raw && handshaking.has(raw)) handshaking.delete(raw);
        else if (!raw) {
          sweepHandshakes = false;
          handshaking.clear();
        }
        socket.setNoDelay(true);
        deps.onConnection(socket, ownPeer(socket));
      });
      // A plain-TCP client or a bad handshake on the TLS port: counted, the socket is closed by Node.
      secure.on('tlsClientError', deps.onTlsError);
      secure.on('error', deps.onServerError);
      servers.push(secure);
      mqtts = await listen(secure, config.tls.port, config.host, 'MQTTS');
    }
  } catch (err) {
    stopWatch?.();
    await closeAll();
    throw err;
  }

  async function closeAll(): Promise<void> {
    stopWatch?.();
    if (sweeper) clearInterval(sweeper);
    const closed = servers.map((s) => new Promise<void>((resolve) => (s.listening ? s.close(() => resolve()) : resolve())));
    for (const s of sockets.keys()) s.destroy();
    for (const s of unproxied) s.destroy();
    await Promise.all(closed);
  }

  return {
    addresses: () => ({ ...(mqtt === undefined ? {} : { mqtt }), ...(mqtts === undefined ? {} : { mqtts }) }),
    close: closeAll,
  };
}

/** Bytes of the MQTT fixed header for a remaining length (MQTT 3.1.1 §2.2.3: 1–4 length bytes). */
function fixedHeaderBytes(remaining: number): number {
  return 1 + (remaining < 128 ? 1 : remaining < 16_384 ? 2 : remaining < 2_097_152 ? 3 : 4);
}

interface PacketParser {
  /** mqtt-packet sets cmd from the fixed header's first byte before it parses the length. */
  packet: { length: number; cmd?: string };
  /** Set by aedes (lib/client.js): the client this parser reads for. */
  client: unknown;
  _parseLength(): boolean;
  _emitError(err: Error): void;
}

export interface PacketLimits {
  /** Largest packet taken as it is. */
  readonly maxBytes: number;
  /** Largest PUBLISH of an authenticated device still read (then dead-lettered and acked, issue 15). */
  readonly hardBytes: number;
  /** Whether this client is an authenticated device (asked only for a PUBLISH above maxBytes). */
  isDevice(client: unknown): boolean;
}

/**
 * Refuses an MQTT packet larger than its limit as soon as its fixed header is read, before its
 * body is buffered: mqtt-packet's parser has no size option and aedes 1.2 builds it without one,
 * so the check wraps the parser's length state. The limit is maxBytes, except for a device's
 * PUBLISH, which is read up to hardBytes so that it can be dead-lettered and acknowledged (a QoS 1
 * device would otherwise re-send it on every reconnect, forever). The aedes client then closes the
 * connection on the parser error. One wrapper serves every connection (a closure per connection
 * cost ≈ 0.3 KiB of each idle device's heap). install() returns false when the parser is not the
 * expected shape (an upgrade moved it); the caller still checks each PUBLISH's size, after it
 * was buffered.
 */
export function packetSizeGuard(limits: PacketLimits, onTooLarge: (client: unknown, bytes: number) => void): { install(client: unknown): boolean } {
  const { maxBytes } = limits;
  const hardBytes = Math.max(limits.hardBytes, maxBytes);
  let parseLength: (() => boolean) | undefined;
  function guardedParseLength(this: PacketParser): boolean {
    const done = parseLength!.call(this);
    if (done) {
      const bytes = this.packet.length + fixedHeaderBytes(this.packet.length);
      if (bytes > maxBytes && !(bytes <= hardBytes && this.packet.cmd === 'publish' && limits.isDevice(this.client))) {
        onTooLarge(this.client, bytes);
        this._emitError(new WatchfireError('WF_PACKET_TOO_LARGE', `MQTT packet of ${bytes} bytes exceeds the maximum of ${maxBytes}`));
        return false;
      }
    }
    return done;
  }
  return {
    install(client) {
      const parser = (client as { _parser?: Partial<PacketParser> })._parser;
      if (!parser || typeof parser._parseLength !== 'function' || typeof parser._emitError !== 'function' || parser.client !== client) return false;
      // mqtt-packet's own method, from its prototype: the same for every parser.
      parseLength ??= parser._parseLength;
      if (parser._parseLength !== parseLength) return false;
      parser._parseLength = guardedParseLength;
      return true;
    },
  };
}
