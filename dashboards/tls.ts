// Issue 16 point 4: HTTPS for the console and API from certificate files, re-read when they
// change, no restart (a certificate renewed by certbot or a deployment tool is picked up within
// reloadCheckMs; live connections keep the context they were opened with). The server is made
// with no certificate at construction (createX does no I/O); start() reads the files first.
import { EventEmitter } from 'node:events';
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import type { Config } from '../contracts/config.ts';

type TlsConfig = NonNullable<Config['http']['tls']>;

export interface TlsEvents {
  reload: [{ ok: boolean; error?: string }];
}

export function createListener(tls: TlsConfig | undefined, logger: Logger) {
  let server: http.Server | https.Server | undefined;
  const events = new EventEmitter<TlsEvents>();
  const files = tls ? [tls.cert, tls.key, ...(tls.ca ? [tls.ca] : [])] : [];

  function load(): void {
    if (!tls || !(server instanceof https.Server)) return;
    // Read all three before switching: a half-renewed pair (new cert, old key) throws here and
    // the running context stays.
    const ctx = { cert: readFileSync(tls.cert), key: readFileSync(tls.key), ...(tls.ca ? { ca: readFileSync(tls.ca) } : {}) };
    server.setSecureContext(ctx);
  }

  const onChange = () => {
    try {
      load();
      logger.info({ cert: tls?.cert }, 'HTTPS certificate reloaded');
      events.emit('reload', { ok: true });
    } catch (err) {
      logger.error({ err, cert: tls?.cert }, 'HTTPS certificate reload failed; the previous certificate stays in use');
      events.emit('reload', { ok: false, error: (err as Error).message });
    }
  };

  return {
    events,
    /** For Fastify's serverFactory: plain HTTP, or HTTPS whose context start() sets. */
    factory(handler: http.RequestListener): http.Server {
      // TLS 1.2 is the floor (RFC 9325 §3.1.1); the certificate comes in start().
      server = tls ? https.createServer({ minVersion: 'TLSv1.2' }, handler) : http.createServer(handler);
      return server as http.Server;
    },
    /** Reads the certificate (throws when it cannot: better not to start than to serve nothing). */
    start(): void {
      if (!tls) return;
      load();
      for (const f of files) watchFile(f, { interval: tls.reloadCheckMs, persistent: false }, onChange);
    },
    stop(): void {
      for (const f of files) unwatchFile(f, onChange);
    },
  };
}

function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

/**
 * Issue 16 point 4: a loud start-up warning when the console is served in plain text to the
 * network. Behind a TLS-terminating proxy (publicUrl https) passwords still cross the LAN between
 * the proxy and us, so it is said too, more quietly.
 */
export function warnIfPlainText(config: Config['http'], logger: Logger): void {
  if (config.tls || isLoopback(config.host)) return;
  const proxied = config.publicUrl.startsWith('https:');
  const msg = proxied
    ? `HTTP listener on ${config.host}:${config.port} is plain text; publicUrl is https, so a proxy is assumed to terminate TLS. Bind http.host to 127.0.0.1 if the proxy is on this machine.`
    : `!!! INSECURE: the console and API listen on ${config.host}:${config.port} in PLAIN TEXT: passwords and session cookies cross the network readable by anyone on it. Set http.tls.cert and http.tls.key (README "Securing a deployment") or bind http.host to 127.0.0.1. !!!`;
  logger.warn({ host: config.host, port: config.port, tls: false }, msg);
}
