#!/usr/bin/env node
/* global process, console, fetch, AbortSignal, setTimeout */
// Exit 0 when Watchfire answers its /healthz (or the URL given) with 2xx within 10 s, in one of
// three tries 5 s apart; exit 1 otherwise. Used by watchfire-healthz.service and the container's
// HEALTHCHECK. Three tries: one slow answer (a long GC, a burst) is no reason to restart.
const url = process.argv[2] ?? 'http://127.0.0.1:8080/healthz';
const tries = Number(process.env.WF_HEALTHZ_TRIES ?? 3);
const pauseMs = Number(process.env.WF_HEALTHZ_PAUSE_MS ?? 5000);
let last = '';
for (let i = 0; i < tries; i++) {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
    if (res.ok) process.exit(0);
    last = `HTTP ${res.status}`;
  } catch (err) {
    last = err instanceof Error ? err.message : String(err);
  }
  if (i < tries - 1) await new Promise((r) => setTimeout(r, pauseMs));
}
console.error(`watchfire healthz ${url}: ${last} (${tries} tries)`);
process.exit(1);
