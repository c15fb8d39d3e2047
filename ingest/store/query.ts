// InfluxQL reads over the v1 `/query` endpoint, which InfluxDB 1.x serves natively and 2.x/3.x
// serve for compatibility (NOTES.md "InfluxDB"): one client for all three.
import type { InfluxQuery } from '../../contracts/ports.ts';

export interface InfluxQueryDeps {
  url: string;
  database: string;
  username?: string;
  password?: string;
  /** Time column precision of returned rows (default ms, as epoch numbers; `ns` values exceed 2⁵³ and lose their last digits). */
  epoch?: 'ns' | 'u' | 'ms' | 's';
  timeoutMs?: number;
}

interface V1Series {
  name?: string;
  tags?: Record<string, string>;
  columns: string[];
  values?: unknown[][];
}
interface V1Response {
  results?: Array<{ statement_id?: number; series?: V1Series[]; error?: string }>;
  error?: string;
}

/** Query strings that change state need POST on 1.x; reads go as GET, which every version serves. */
const READ_RE = /^\s*(SELECT|SHOW)\b/i;

export function createInfluxQuery(deps: InfluxQueryDeps): InfluxQuery {
  const base = deps.url.replace(/\/+$/, '');
  return {
    async query(q) {
      const params = new URLSearchParams({ db: deps.database, q, epoch: deps.epoch ?? 'ms' });
      if (deps.username !== undefined) params.set('u', deps.username);
      if (deps.password !== undefined) params.set('p', deps.password);
      const read = READ_RE.test(q);
      const res = await fetch(read ? `${base}/query?${params}` : `${base}/query`, {
        method: read ? 'GET' : 'POST',
        ...(read ? {} : { body: params, headers: { 'content-type': 'application/x-www-form-urlencoded' } }),
        signal: AbortSignal.timeout(deps.timeoutMs ?? 30_000),
      });
      const text = await res.text();
      let body: V1Response;
      try {
        body = JSON.parse(text) as V1Response;
      } catch {
        throw new Error(`InfluxDB /query answered ${res.status}: ${text.slice(0, 200)}`);
      }
      if (!res.ok || body.error) throw new Error(`InfluxDB /query answered ${res.status}: ${body.error ?? text.slice(0, 200)}`);
      const rows: Array<Record<string, unknown>> = [];
      for (const result of body.results ?? []) {
        if (result.error) throw new Error(`InfluxQL error: ${result.error}`);
        for (const s of result.series ?? []) {
          for (const values of s.values ?? []) {
            // Series name and GROUP BY tags come first, so a column of the same name wins.
            const row: Record<string, unknown> = { ...(s.name !== undefined ? { _measurement: s.name } : {}), ...s.tags };
            s.columns.forEach((c, i) => {
              row[c] = values[i];
            });
            rows.push(row);
          }
        }
      }
      return rows;
    },
  };
}
