// Live updates over server-sent events. EventSource reconnects by itself and sends
// Last-Event-ID, so the server replays what was missed; a `reset` means "reload everything".
// When the server refuses outright (session expired, server restarted) we start a new one.
export function connect(url, handlers, onStatus) {
  let es;
  let retry;
  const open = () => {
    es = new EventSource(url);
    es.addEventListener('open', () => onStatus('live'));
    es.addEventListener('hello', () => handlers.reset?.());
    es.addEventListener('reset', () => handlers.reset?.());
    es.addEventListener('incident', (e) => handlers.incident?.(JSON.parse(e.data)));
    es.addEventListener('presence', (e) => handlers.presence?.(JSON.parse(e.data)));
    es.addEventListener('reading', (e) => handlers.reading?.(JSON.parse(e.data)));
    es.addEventListener('error', () => {
      onStatus('reconnecting');
      if (es.readyState === EventSource.CLOSED) {
        clearTimeout(retry);
        retry = setTimeout(open, 3000);
      }
    });
  };
  open();
  return {
    close() {
      clearTimeout(retry);
      es.close();
    },
  };
}
