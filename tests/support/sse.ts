// A minimal EventSource over fetch for tests of the console stream (/api/stream): the test sends
// the session cookie and Last-Event-ID itself, and reads events in order or by type.
import { expect } from 'vitest';
import type { Session } from '../dashboards.fixture.ts';

export interface Sse {
  /** The next event of any type, in order. */
  any(): Promise<{ type: string; data: Record<string, unknown> }>;
  next(type: string, pred?: (data: Record<string, unknown>) => boolean): Promise<{ id: string; data: Record<string, unknown> }>;
  lastId(): string;
  close(): void;
}

/** Opens the stream as `who` (and resumes after `lastEventId`). */
export async function openStream(base: string, who: Session, lastEventId?: string, query = ''): Promise<Sse> {
  const ac = new AbortController();
  const res = await fetch(`${base}/api/stream${query}`, { headers: { cookie: who.cookie, ...(lastEventId ? { 'last-event-id': lastEventId } : {}) }, signal: ac.signal });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/event-stream');
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  const queue: Array<{ type: string; id: string; data: Record<string, unknown> }> = [];
  let buf = '';
  let last = '';
  const pump = async (): Promise<void> => {
    const { value, done } = await reader.read();
    if (done) throw new Error('stream ended');
    buf += decoder.decode(value, { stream: true });
    let i: number;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      let type = 'message';
      let id = '';
      let data = '';
      for (const line of block.split('\n')) {
        if (line.startsWith('event: ')) type = line.slice(7);
        else if (line.startsWith('id: ')) id = line.slice(4);
        else if (line.startsWith('data: ')) data += line.slice(6);
      }
      if (!data) continue;
      if (id) last = id;
      queue.push({ type, id, data: JSON.parse(data) as Record<string, unknown> });
    }
  };
  return {
    async any() {
      while (!queue.length) await pump();
      return queue.shift()!;
    },
    async next(type, pred = () => true) {
      for (;;) {
        const k = queue.findIndex((e) => e.type === type && pred(e.data));
        if (k >= 0) return queue.splice(k, 1)[0]!;
        await pump();
      }
    },
    lastId: () => last,
    close: () => ac.abort(),
  };
}

