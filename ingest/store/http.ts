// Small HTTP helpers of the writer: one POST of lines through the client's own transport (same
// timeouts and error types as its WriteApi), and creating the database on InfluxDB 1.x.
import { HttpError } from '@influxdata/influxdb-client';
import type { Transport } from '@influxdata/influxdb-client';
import type { Logger } from 'pino';

/**
 * The lines, newline-separated, as one UTF-8 Buffer written line by line. Joined into a string
 * first, a batch (1,000 lines ≈ 200 KiB) was a string in V8's large-object space, which only a
 * full GC frees: at 30,000 readings/s they were half of the heap's growth, ≈ 100 MiB of garbage
 * before a full GC came (issue 15's memory bound). A Buffer's bytes live outside the heap and go
 * with its small wrapper, which a batch's short POST lets die young.
 */
export function linesBody(lines: readonly string[]): Buffer {
  let bytes = lines.length > 0 ? lines.length - 1 : 0;
  for (const line of lines) bytes += Buffer.byteLength(line);
  const body = Buffer.allocUnsafe(bytes);
  let at = 0;
  for (let i = 0; i < lines.length; i++) {
    if (i > 0) body[at++] = 0x0a;
    at += body.write(lines[i]!, at);
  }
  return body;
}

/** Posts a body of newline-separated lines (linesBody). `gzipThreshold`: bodies of this many bytes or more are gzipped by the transport (undefined: never). */
export function postBody(transport: Transport, path: string, body: Buffer, gzipThreshold?: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let status: number | undefined;
    // The transport's send() is typed for a string and makes its body with Buffer.from(body,
    // 'utf-8'), which takes a Buffer as well (a copy, outside the heap too): @influxdata/influxdb-client
    // 1.35 NodeHttpTransport.createRequestMessage; tests/ingest.store.test.ts stores Chinese text through it.
    transport.send(path, body as unknown as string, { method: 'POST', headers: { 'content-type': 'text/plain; charset=utf-8' }, ...(gzipThreshold !== undefined ? { gzipThreshold } : {}) }, {
      responseStarted(_headers, statusCode) {
        status = statusCode;
      },
      error: reject,
      complete() {
        // 204 from 1.x and 2.x; 3.x answers 201 for a partial write and 204 otherwise.
        if (status === undefined || status === 204 || status === 200 || status === 201) resolve();
        else reject(new HttpError(status, `unexpected status ${status}`));
      },
    });
  });
}

/**
 * `CREATE DATABASE` is idempotent on 1.x. 2.x/3.x map databases to buckets that are created by
 * their own tools; there the statement fails harmlessly and writes tell whether the bucket exists.
 */
export async function ensureDatabase(cfg: { url: string; database: string; username?: string | undefined; password?: string | undefined }, timeoutMs: number, log: Logger): Promise<boolean> {
  const params = new URLSearchParams({ q: `CREATE DATABASE "${cfg.database.replace(/["\\]/g, '\\$&')}"` });
  if (cfg.username !== undefined) {
    params.set('u', cfg.username);
    params.set('p', cfg.password ?? '');
  }
  try {
    const res = await fetch(`${cfg.url.replace(/\/+$/, '')}/query`, {
      method: 'POST',
      body: params,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    if (!res.ok || text.includes('"error"')) {
      log.debug({ status: res.status, body: text.slice(0, 200) }, 'CREATE DATABASE not accepted (fine on InfluxDB 2.x/3.x)');
      return false;
    }
    return true;
  } catch (err) {
    log.debug({ err: (err as Error).message }, 'InfluxDB not reachable to create the database (readings stay in the journal until it is)');
    return false;
  }
}
