// Issue 16 point 4, HTTP side: HTTPS from certificate files, renewed without a restart; Secure
// cookies and HSTS under HTTPS; a loud warning for a plain-text listener on the network; /metrics
// behind a bearer token (loopback only without one); /docs with a CSP. Real sockets, real TLS.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { X509Certificate } from 'node:crypto';
import pino from 'pino';
import { generate } from 'selfsigned';
import { afterEach, beforeAll, afterAll, describe, expect, it } from 'vitest';
import { generateSecret, hashSecret } from '../contracts/secrets.ts';
import { makeServer, PASSWORD } from './dashboards.fixture.ts';

type Ctx = Awaited<ReturnType<typeof makeServer>>;
let ctx: Ctx | undefined;
let dir: string;
afterEach(async () => {
  await ctx?.close();
  ctx = undefined;
});
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'wf-https-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function pems(cn: string) {
  return generate([{ name: 'commonName', value: cn }], {
    keySize: 2048,
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] }],
  });
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** Fingerprint of the certificate the server presented. */
  cert: string;
}

function request(port: number, ca: string, path: string, opts: { method?: string; body?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    // agent: false → a new TLS connection each time, so a renewed certificate is what we see.
    const req = https.request({ host: '127.0.0.1', port, path, method: opts.method ?? 'GET', ca, servername: 'localhost', agent: false, headers: opts.body ? { 'content-type': 'application/json' } : {} }, (res) => {
      const chunks: Buffer[] = [];
      const cert = (res.socket as TLSSocket).getPeerCertificate().fingerprint256;
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString(), cert }));
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256;

describe('HTTPS', () => {
  it('serves the console over HTTPS with Secure cookies and HSTS, and picks up a renewed certificate without a restart', async () => {
    const a = await pems('watchfire-a');
    const b = await pems('watchfire-b');
    const cert = join(dir, 'cert.pem');
    const key = join(dir, 'key.pem');
    writeFileSync(cert, a.cert);
    writeFileSync(key, a.private);
    ctx = await makeServer({ config: { tls: { cert, key, reloadCheckMs: 100 } } });
    await ctx.server.start();
    const port = ctx.server.address().port;

    const health = await request(port, a.cert, '/healthz');
    expect(health.status).toBe(200);
    expect(health.cert).toBe(fingerprint(a.cert));
    expect(health.headers['strict-transport-security']).toBe('max-age=31536000');
    const login = await request(port, a.cert, '/api/auth/login', { method: 'POST', body: JSON.stringify({ username: 'op', password: PASSWORD }) });
    expect(login.status).toBe(200);
    const cookie = String(login.headers['set-cookie']);
    expect(cookie).toMatch(/wf_session=.*; Secure/);
    expect(cookie).toContain('HttpOnly');

    // Reload events as they come (each watched file reports its own change).
    const seen: Array<{ ok: boolean }> = [];
    let wake = () => {};
    ctx.server.tlsEvents.on('reload', (e) => {
      seen.push(e);
      wake();
    });
    const reload = (ok: boolean) => new Promise<void>((resolve) => {
      const check = () => {
        const i = seen.findIndex((e) => e.ok === ok);
        if (i < 0) return;
        seen.splice(0, i + 1);
        resolve();
      };
      wake = check;
      check();
    });

    // A renewal: both files replaced (in one tick: no poll sees half of it). The next connection
    // gets the new certificate.
    writeFileSync(key, b.private);
    writeFileSync(cert, b.cert);
    await reload(true);
    expect((await request(port, b.cert, '/healthz')).cert).toBe(fingerprint(b.cert));

    // A broken file is refused and the running certificate stays.
    writeFileSync(key, 'not a key');
    await reload(false);
    expect((await request(port, b.cert, '/healthz')).cert).toBe(fingerprint(b.cert));
  });

  it('warns loudly at start when the console listens on the network in plain text, not on loopback', async () => {
    const lines: Array<{ level: number; msg: string }> = [];
    const sink = new Writable({ write(chunk: Buffer, _e, cb) { lines.push(JSON.parse(chunk.toString()) as { level: number; msg: string }); cb(); } });
    ctx = await makeServer({ logger: pino({ level: 'info' }, sink), config: { host: '0.0.0.0' } });
    await ctx.server.start();
    const warn = lines.find((l) => l.level === 40 && l.msg.includes('PLAIN TEXT'));
    expect(warn?.msg).toContain('INSECURE');
    await ctx.close();
    lines.length = 0;
    ctx = await makeServer({ logger: pino({ level: 'info' }, sink) });
    await ctx.server.start();
    expect(lines.filter((l) => l.level === 40)).toEqual([]);
  });
});

describe('/metrics and /docs', () => {
  it('asks for the bearer token when one is configured', async () => {
    const token = generateSecret();
    ctx = await makeServer({ config: { metricsTokenHash: hashSecret(token) } });
    const get = (authorization?: string) => ctx!.app.inject({ method: 'GET', url: '/metrics', headers: authorization ? { authorization } : {} });
    const none = await get();
    expect(none.statusCode).toBe(401);
    expect(none.json()).toMatchObject({ code: 'WF_HTTP_UNAUTHENTICATED' });
    expect(none.headers['www-authenticate']).toContain('Bearer');
    expect(none.body).not.toContain('watchfire_');
    expect((await get(`Bearer ${generateSecret()}`)).statusCode).toBe(401);
    const ok = await get(`Bearer ${token}`);
    expect(ok.statusCode).toBe(200);
    expect(ok.body).toContain('watchfire_http_login_hashing');
  });

  it('answers loopback only when no token is configured', async () => {
    ctx = await makeServer();
    expect((await ctx.app.inject({ method: 'GET', url: '/metrics', remoteAddress: '192.0.2.10' })).statusCode).toBe(401);
    expect((await ctx.app.inject({ method: 'GET', url: '/metrics', remoteAddress: '127.0.0.1' })).statusCode).toBe(200);
  });

  it('serves /docs under a Content-Security-Policy that allows only its own scripts', async () => {
    ctx = await makeServer();
    const page = await ctx.app.inject({ method: 'GET', url: '/docs/' });
    expect(page.statusCode).toBe(200);
    const csp = String(page.headers['content-security-policy']);
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toMatch(/script-src[^;]*unsafe/);
    expect(csp).toContain("frame-ancestors 'none'");
  });
});
