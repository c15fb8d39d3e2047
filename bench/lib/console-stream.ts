// The operator console's live stream (/api/stream, server-sent events) as the benchmark sees it:
// every incident event stamped with its arrival time in this process, so that PUBLISH → console
// latency is measured on one clock (performance.timeOrigin + performance.now()).
export interface StreamIncident {
  kind: string;
  deviceId: string;
  key: string;
  zone: string | null;
  arrivedAt: number;
}

export const nowMs = (): number => performance.timeOrigin + performance.now();

export async function openConsoleStream(httpPort: number, cookie: string, onIncident: (e: StreamIncident) => void): Promise<{ close(): void }> {
  const ctrl = new AbortController();
  const res = await fetch(`http://127.0.0.1:${httpPort}/api/stream`, { headers: { cookie, accept: 'text/event-stream' }, signal: ctrl.signal });
  if (!res.ok || !res.body) throw new Error(`/api/stream answered ${res.status}`);
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let buf = '';
  void (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        const at = nowMs();
        buf += dec.decode(value, { stream: true });
        let end: number;
        while ((end = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          let event = '';
          let data = '';
          for (const line of block.split('\n')) {
            if (line.startsWith('event: ')) event = line.slice(7);
            else if (line.startsWith('data: ')) data += line.slice(6);
          }
          if (event !== 'incident') continue;
          const d = JSON.parse(data) as { kind: string; incident: { deviceId: string; key: string; zone: string | null } };
          onIncident({ kind: d.kind, deviceId: d.incident.deviceId, key: d.incident.key, zone: d.incident.zone, arrivedAt: at });
        }
      }
    } catch {
      // aborted at close
    }
  })();
  return { close: () => ctrl.abort() };
}
