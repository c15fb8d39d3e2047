// What the HTTP channels (webhook, templated webhook, WeCom/DingTalk robots) share: a POST with a
// deadline that close() cuts short, its answer read to the end so the connection is reused or
// closed cleanly, and every failure a WatchfireError with the channel's code (STYLE.md: errors
// have codes; a slow gateway is an event, never a stall).
import { WatchfireError, type ErrorCode } from '../../contracts/errors.ts';

export function createHttpPoster(code: ErrorCode, channel: string) {
  const inflight = new Set<AbortController>();
  let closed = false;
  return {
    /** Throws once close() was called. */
    assertOpen(): void {
      if (closed) throw new WatchfireError(code, `${channel} channel is closed`);
    },
    /** Sends and resolves with the answer's text once it is 2xx; `who` names the receiver in errors. */
    async post(url: string, req: { method?: string; body: string; headers: Record<string, string> }, timeoutMs: number, who: string): Promise<string> {
      const ac = new AbortController();
      inflight.add(ac);
      const timer = setTimeout(() => ac.abort(new Error(`no answer in ${timeoutMs} ms`)), timeoutMs);
      try {
        const res = await fetch(url, { method: req.method ?? 'POST', body: req.body, headers: req.headers, signal: ac.signal });
        const text = await res.text().catch(() => '');
        if (!res.ok) throw new WatchfireError(code, `${who} answered HTTP ${res.status}`);
        return text;
      } catch (err) {
        if (err instanceof WatchfireError) throw err;
        throw new WatchfireError(code, `${who} failed: ${(err as Error).message}`);
      } finally {
        clearTimeout(timer);
        inflight.delete(ac);
      }
    },
    close(): void {
      closed = true;
      for (const ac of inflight) ac.abort(new Error('channel closed'));
    },
  };
}
