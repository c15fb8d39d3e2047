// Issue 17 point 6, a shift's tools: operator notes and the call log on an incident (timeline
// entries that change no state), and the incident history with filters and a CSV export.
import { z } from 'zod';
import { CallBody, Disposition, IncidentState, type Incident } from '../../contracts/incidents.ts';
import { Category, Level } from '../../contracts/findings.ts';
import { DISPOSITION_WORDS, STATE_WORDS } from '../../contracts/words.ts';
import { ApiError, EpochMsQuery, httpError } from '../http-errors.ts';
import { actorOf, auditRead, canSee, userOf, type App, type HttpDeps } from '../kit.ts';
import { listAll } from '../overview.ts';
import type { User } from '../users.ts';
import { IncidentView, viewOf } from '../views.ts';

const Id = z.object({ id: z.string().min(1).max(200) });
const NoteBody = z.object({ note: z.string().trim().min(1).max(2000) });
const FIELD = ['grid_worker', 'operator', 'supervisor'] as const;
const errors = { 400: ApiError, 401: ApiError, 403: ApiError, 404: ApiError };

const HistoryQuery = z.object({
  from: EpochMsQuery.optional().describe('Opened at or after (ms since the epoch)'),
  to: EpochMsQuery.optional().describe('Opened before (ms since the epoch)'),
  centerId: z.string().optional(),
  gridId: z.string().optional(),
  level: Level.optional(),
  category: Category.optional(),
  disposition: Disposition.optional(),
  state: IncidentState.optional(),
  q: z.string().trim().max(100).optional().describe('Text in the site, address, resident, title or feedback'),
  format: z.enum(['json', 'csv']).optional(),
  limit: z.coerce.number().int().min(1).max(5000).optional(),
});

/** RFC 4180 quoting, and a leading ' before = + - @ so a spreadsheet never runs a cell (OWASP CSV injection). */
function cell(v: unknown): string {
  let s = v === null || v === undefined ? '' : String(v);
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function localTime(ms: number | null, tz: string): string {
  if (ms === null) return '';
  return new Intl.DateTimeFormat('sv-SE', { timeZone: tz, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' }).format(ms);
}

export function shiftRoutes(app: App, deps: HttpDeps): void {
  const tz = deps.config.timezone;
  const visible = async (id: string, user: User): Promise<Incident> => {
    const inc = await deps.incidents.get(id);
    if (!inc || !canSee(user, inc)) throw httpError('WF_INCIDENT_NOT_FOUND', `No incident ${id}`);
    return inc;
  };

  app.route({
    method: 'POST',
    url: '/api/incidents/:id/note',
    config: { roles: FIELD },
    schema: { tags: ['incidents'], summary: 'An operator\'s note on the incident (e.g. 电话未接通); the state is unchanged', params: Id, body: NoteBody, response: { 200: IncidentView, ...errors } },
    handler: async (req) => {
      const user = userOf(req);
      const inc = await visible(req.params.id, user);
      return viewOf(deps.registry, await deps.incidents.note(inc.id, actorOf(user), req.body.note), tz);
    },
  });

  app.route({
    method: 'POST',
    url: '/api/incidents/:id/call',
    config: { roles: FIELD },
    schema: { tags: ['incidents'], summary: 'Log a call and its outcome (reached, no_answer, busy, unreachable, wrong_number)', params: Id, body: CallBody, response: { 200: IncidentView, ...errors } },
    handler: async (req) => {
      const user = userOf(req);
      const inc = await visible(req.params.id, user);
      return viewOf(deps.registry, await deps.incidents.call(inc.id, actorOf(user), req.body), tz);
    },
  });

  app.route({
    method: 'GET',
    url: '/api/history',
    config: { roles: ['operator', 'supervisor', 'admin'] },
    schema: {
      tags: ['incidents'],
      summary: 'Incident history, newest first, filtered by time, center, grid, level, category, disposition, state and text; format=csv downloads it (UTF-8 with BOM, times in the center\'s zone)',
      querystring: HistoryQuery,
      response: { 200: z.object({ incidents: z.array(IncidentView) }), ...errors },
    },
    handler: async (req, reply) => {
      const user = userOf(req);
      const q = req.query;
      const centerId = user.centerId ?? q.centerId;
      const base = { ...(centerId ? { centerId } : {}), ...(q.gridId ? { gridId: q.gridId } : {}), ...(q.level ? { level: [q.level] } : {}), ...(q.state ? { state: [q.state] } : {}),
        // The time range in SQL: listAll reads at most 20 pages, and they must be pages of this range.
        ...(q.from !== undefined ? { openedFrom: q.from } : {}), ...(q.to !== undefined ? { openedBefore: q.to } : {}) };
      const text = q.q?.toLowerCase();
      const found = (await listAll(deps.incidents, base))
        .filter((i) => (q.from === undefined || i.openedAt >= q.from) && (q.to === undefined || i.openedAt < q.to)
          && (!q.category || i.category === q.category) && (!q.disposition || i.disposition === q.disposition))
        .map((i) => viewOf(deps.registry, i, tz))
        .filter((v) => !text || [v.context.siteName, v.context.address, v.context.resident?.name, v.title.zh, v.title.en, v.feedback, v.id].some((s) => s?.toLowerCase().includes(text)))
        .sort((a, b) => b.openedAt - a.openedAt)
        .slice(0, q.limit ?? 1000);
      if (found.some((v) => v.context.resident)) auditRead(deps, req, 'incidents', q.format === 'csv' ? 'history.csv' : 'history', null, centerId ?? null);
      if (q.format !== 'csv') return { incidents: found };
      const head = ['编号 id', '等级 level', '类别 category', '状态 state', '地点 site', '地址 address', '住户 resident', '网格 grid', '警情 title', '报警时间 opened', '接警时间 acknowledged', '到场时间 on site', '处置时间 resolved', '处置结论 disposition', '现场情况 feedback', '网格员 assignee'];
      const rows = found.map((v) => {
        const z8 = v.context.timezone;
        return [v.id, v.level, v.category, `${STATE_WORDS[v.state].zh} ${STATE_WORDS[v.state].en}`, v.context.siteName, v.context.address, v.context.resident?.name, v.context.gridName, v.title.zh,
          localTime(v.openedAt, z8), localTime(v.acknowledgedAt, z8), localTime(v.onSiteAt, z8), localTime(v.resolvedAt, z8),
          v.disposition ? DISPOSITION_WORDS[v.disposition].zh : '', v.feedback, v.context.assigneeName].map(cell).join(',');
      });
      // The BOM makes Excel read UTF-8 (the Chinese) instead of the system code page.
      return reply.type('text/csv; charset=utf-8').header('content-disposition', 'attachment; filename="watchfire-history.csv"')
        .send(`\uFEFF${[head.map(cell).join(','), ...rows].join('\r\n')}\r\n` as never); // a string: sent as is, not through the JSON schema
    },
  });
}
