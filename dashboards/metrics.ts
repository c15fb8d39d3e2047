// The HTTP layer's own metrics, registered in the shared prom-client registry.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { IncidentService } from '../contracts/incidents.ts';
import { listAll } from './overview.ts';

export function createHttpMetrics(registry: Registry, deps: { incidents: IncidentService; sseClients: () => number; logins: () => { active: number; queued: number } }) {
  const requests = new Counter({
    name: 'watchfire_http_requests_total',
    help: 'HTTP requests answered, by method, route pattern and status code',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  const logins = new Counter({
    name: 'watchfire_http_logins_total',
    help: 'Login attempts by outcome (ok, refused, rate_limited, busy)',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const sseDrops = new Counter({
    name: 'watchfire_http_sse_dropped_total',
    help: 'Live-update streams closed by the server: slow (too much unsent) or error',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  new Gauge({
    name: 'watchfire_http_sse_clients',
    help: 'Open live-update streams (consoles and phone pages)',
    registers: [registry],
    collect() {
      this.set(deps.sseClients());
    },
  });
  new Gauge({
    name: 'watchfire_http_login_hashing',
    help: 'Logins hashing a password now (state="active") and waiting for a slot (state="queued")',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      const s = deps.logins();
      this.set({ state: 'active' }, s.active);
      this.set({ state: 'queued' }, s.queued);
    },
  });
  new Gauge({
    name: 'watchfire_incidents_open',
    help: 'Incidents not yet resolved, by level and state',
    labelNames: ['level', 'state'] as const,
    registers: [registry],
    async collect() {
      // Computed at scrape time from the incident store: a scrape every 15 s costs one query.
      // Reset after the read, so a scrape never sees the gauge empty while the query runs.
      const active = await listAll(deps.incidents, { active: true });
      this.reset();
      for (const i of active) this.inc({ level: i.level, state: i.state });
    },
  });
  return { requests, logins, sseDrops };
}
