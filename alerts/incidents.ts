// Incidents: one per situation and place (DESIGN.md "Incidents and escalation"). handleFinding is
// on the alarm path: synchronous SQLite only (microseconds under WAL + synchronous=NORMAL), no
// network; it opens or updates the incident, writes the first step's outbox rows in the same
// transaction and emits the bus 'incident' event the console serves. Transitions come from people
// through IncidentService, each one in the append-only audit trail.
//
// An alarm flood (a panel's 200 events/s over four zones, a detector repeating its alarm) is mostly
// repeats: the same condition, at or below the level of the incident already open for it. The
// first repeat is written at once; the ones after it are held in memory and written every
// REPEAT_HOLD_MS as one update (count, last reading, highest score) with one 'updated' event —
// a panel's 1,000-event storm is ≈ 20 writes per zone instead of 250. Opening, raising and
// clearing never wait; anything that changes an incident, and every read through the service,
// writes what is held first, so no one reads a count that is behind. A crash loses at most the
// last window's count; the readings themselves are stored by ingest.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Database } from 'better-sqlite3';
import type { EventBus } from '../contracts/bus.ts';
import type { Clock } from '../contracts/ports.ts';
import { maxLevel, type Finding, type Level } from '../contracts/findings.ts';
import { WatchfireError } from '../contracts/errors.ts';
import {
  IncidentFilter, ResolveBody, type Delivery, type Incident, type IncidentEvent, type IncidentService, type IncidentState, type Disposition,
} from '../contracts/incidents.ts';
import { STATE_RANK, toIncident, type IncidentRow, type IncidentStore } from './store.ts';
import type { Escalation } from './escalation.ts';
import type { Outbox } from './outbox.ts';
import type { AlertMetrics } from './metrics.ts';
import type { Synchronous } from './sync.ts';

/** DESIGN.md: a condition that comes back to the same place within 60 days is a recurrence. */
export const RECURRENCE_WINDOW_MS = 60 * 86_400_000;

/** The dedup key: homes (site, category); panels (panel, zone, category); structural (point); maintenance (device, condition). */
export function incidentKey(f: Pick<Finding, 'category' | 'condition' | 'deviceId' | 'deviceType' | 'siteId' | 'zone'>): string {
  if (f.category === 'maintenance' || f.category === 'info') return `device:${f.deviceId}:${f.condition}`;
  // Issue 14: one structural incident per monitoring point, so its title, device and values agree.
  if (f.category === 'structural') return `point:${f.deviceId}:structural`;
  if (f.deviceType === 'fire_panel') return `panel:${f.deviceId}:${f.zone ?? '-'}:${f.category}`;
  return `site:${f.siteId}:${f.category}`;
}

/** How long repeats of an open incident's condition are held before they are written as one update. */
export const REPEAT_HOLD_MS = 250;

/** Repeats held for one open incident since its last write. */
interface Held {
  id: string;
  level: Level;
  n: number;
  last?: { f: Finding; now: number; receivedAt: number | undefined };
  /** The last repeat at the incident's level from the lead device: the title and condition follow it. */
  lead?: Finding;
  /** The device whose findings write the title (see apply). */
  leadDevice: string;
  /** Whether the incident was confirmed when held: a first confirmation is written at once, with its timeline entry. */
  wasConfirmed: boolean;
  confirmed: boolean;
  score: number;
}

/** What the incident keeps of the finding that touched it last. */
function lastReadingOf(f: Finding): string {
  return JSON.stringify({ ruleId: f.ruleId, score: f.score, level: f.level, ts: f.ts, message: f.message, confirmed: f.confirmed });
}

function newId(now: number): string {
  return `i${now.toString(36)}${randomBytes(4).toString('hex')}`;
}

const HUMAN_DISPOSITIONS: readonly Disposition[] = ['real_fire', 'nuisance', 'device_false_alarm', 'test', 'unknown'];

function humanDuration(ms: number): string {
  const m = Math.round(ms / 60_000);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  return h < 48 ? `${h} h ${m % 60} min` : `${Math.floor(h / 24)} d ${h % 24} h`;
}

function humanDurationZh(ms: number): string {
  const m = Math.round(ms / 60_000);
  if (m < 60) return `${m}分钟`;
  const h = Math.floor(m / 60);
  return h < 48 ? `${h}小时${m % 60}分钟` : `${Math.floor(h / 24)}天${h % 24}小时`;
}

/** GLOSSARY.md: 红 / 黄 / 绿 (three-colour management). */
const LEVEL_ZH: Record<Level, string> = { red: '红', yellow: '黄', green: '绿' };

export interface IncidentsDeps {
  db: Database;
  bus: EventBus;
  clock: Clock;
  logger: Logger;
  store: IncidentStore;
  escalation: Escalation;
  outbox: Outbox;
  metrics: AlertMetrics;
  /** Issue 19 point 6: the incident's messages and calls with their outcomes (deliveries.ts). */
  deliveries: { of(incidentId: string): Delivery[] };
}

export function createIncidents(deps: IncidentsDeps) {
  const { db, bus, clock, logger, store, escalation, outbox, metrics } = deps;
  const { s } = store;

  const rank: Record<Level, number> = { green: 0, yellow: 1, red: 2 };

  /** The whole of a finding's effect on the database, in one transaction; returns the event to emit. */
  const apply = db.transaction((f: Finding, key: string, now: number, receivedAt: number | undefined): { ev: IncidentEvent | undefined; rows: number; repeat?: true; lead?: string } => {
    const row = s.activeByKey.get(key) as IncidentRow | undefined;
    const lastReading = lastReadingOf(f);
    const extra = receivedAt !== undefined ? { receivedAt } : {};
    if (f.clears) {
      if (!row) return { ev: undefined, rows: 0 };
      const i = toIncident(row);
      if (i.level === 'yellow') {
        // A condition that cleared by itself resolves the yellow incident, recording how long it lasted.
        const note = `condition cleared by the device after ${humanDuration(now - i.openedAt)}: ${f.message.en}`;
        s.transition.run({ id: i.id, state: 'resolved', active: 0, now, acknowledged_at: null, dispatched_at: null, on_site_at: null, resolved_at: now, reviewed_at: null, assignee: null, disposition: 'condition_cleared', feedback: note });
        store.audit(i.id, now, 'system', 'auto_resolve', i.state, 'resolved', note, `设备自行恢复，持续${humanDurationZh(now - i.openedAt)}：${f.message.zh}`);
        escalation.cancelAll(i.id, now);
        metrics.transitions.inc({ state: 'resolved' });
        return { ev: { kind: 'transition', incident: store.get(i.id)!, at: now, actor: 'system', note, ...extra }, rows: 0 };
      }
      // Red closes only by a person: the device clearing is noted, the incident stays.
      store.audit(i.id, now, 'system', 'condition_cleared', i.state, i.state, f.message.en, f.message.zh);
      s.touch.run(now, i.id);
      return { ev: { kind: 'updated', incident: store.get(i.id)!, at: now, actor: 'system', note: 'condition cleared at the device', ...extra }, rows: 0 };
    }
    if (row) {
      const before = toIncident(row);
      const level = maxLevel(before.level, f.level);
      const raised = rank[level] > rank[before.level];
      // The title and condition follow the finding that set the level, then that device's own
      // findings at the level. Issue 17: another device at the same level (a second detector
      // confirming) only counts and confirms, so the headline keeps the alarm's value (1.045 dB/m,
      // not the confirming detector's 0.151 dB/m); a lesser finding only counts.
      const leadDevice = row.lead_device ?? before.deviceId;
      const lead = raised || (f.level === before.level && f.deviceId === leadDevice);
      s.update.run({
        id: before.id, now, last_reading: lastReading, confirmed: f.confirmed ? 1 : 0, score: f.score, level,
        condition: lead ? f.condition : before.condition, title_en: lead ? f.message.en : before.title.en, title_zh: lead ? f.message.zh : before.title.zh,
        lead_device: lead ? f.deviceId : leadDevice,
      });
      if (f.confirmed && !before.confirmed && !lead) {
        store.audit(before.id, now, 'system', 'second_detector', before.state, before.state, f.message.en, f.message.zh);
      }
      if (!raised) return { ev: { kind: 'updated', incident: store.get(before.id)!, at: now, ...extra }, rows: 0, repeat: true, lead: leadDevice };
      store.audit(before.id, now, 'system', 'raised', before.state, before.state, `${before.level} → ${level}: ${f.message.en}`, `${LEVEL_ZH[before.level]} → ${LEVEL_ZH[level]}：${f.message.zh}`);
      escalation.cancelAll(before.id, now);
      const after = store.get(before.id)!;
      let rows = escalation.begin(after, 'opened', now, 'raised');
      if (after.acknowledgedAt !== null) rows += escalation.begin(after, 'acknowledged', now);
      return { ev: { kind: 'raised', incident: after, at: now, ...extra }, rows };
    }
    const prev = s.lastResolvedByKey.get(key, now - RECURRENCE_WINDOW_MS) as { id: string } | undefined;
    const id = newId(now);
    s.insert.run({
      id, key, level: f.level, score: f.score, category: f.category, condition: f.condition, center_id: f.centerId,
      site_id: f.siteId, grid_id: f.gridId ?? null, device_id: f.deviceId, zone: f.zone ?? null, title_en: f.message.en,
      title_zh: f.message.zh, confirmed: f.confirmed ? 1 : 0, last_reading: lastReading, now, recurrence_of: prev?.id ?? null,
    });
    store.audit(id, now, 'system', 'opened', null, 'open', prev ? `${f.message.en} (recurrence of ${prev.id})` : f.message.en, prev ? `${f.message.zh}（复发，前次警情 ${prev.id}）` : f.message.zh);
    const i = store.get(id)!;
    const rows = escalation.begin(i, 'opened', now);
    metrics.opened.inc({ level: f.level });
    return { ev: { kind: 'opened', incident: i, at: now, ...extra }, rows };
  });

  const held = new Map<string, Held>();
  let holdTimer: NodeJS.Timeout | undefined;

  const writeHeld = db.transaction((entries: Held[]) => {
    for (const h of entries) {
      const { f, now } = h.last!;
      s.repeat.run({
        id: h.id, n: h.n, at: now, confirmed: h.confirmed ? 1 : 0, score: h.score,
        last_reading: lastReadingOf(f),
        condition: h.lead?.condition ?? null, title_en: h.lead?.message.en ?? null, title_zh: h.lead?.message.zh ?? null,
      });
    }
  });

  /**
   * Writes every held repeat, one update and one 'updated' event per incident. From the timer
   * (`keep`), an incident that had repeats stays held for one more window, so a flood is written
   * once per window; one without repeats is let go. Anything else lets go of all of them.
   */
  function flushHeld(keep = false): void {
    if (holdTimer) clearTimeout(holdTimer);
    holdTimer = undefined;
    if (held.size === 0) return;
    const entries = [...held.values()].filter((h) => h.n > 0);
    if (keep) {
      for (const [key, h] of held) if (h.n === 0) held.delete(key);
    } else {
      held.clear();
    }
    if (entries.length > 0) {
      try {
        writeHeld(entries);
      } catch (err) {
        metrics.findings.inc({ outcome: 'error' }, entries.reduce((n, h) => n + h.n, 0));
        logger.fatal({ err, incidents: entries.map((h) => h.id) }, 'could not record repeated findings on their incidents');
        held.clear();
        return;
      }
      for (const h of entries) {
        const incident = store.get(h.id);
        const { now, receivedAt } = h.last!;
        if (incident) bus.emit('incident', { kind: 'updated', incident, at: now, ...(receivedAt !== undefined ? { receivedAt } : {}) });
        h.n = 0;
        delete h.lead;
      }
    }
    if (held.size > 0) holdTimer = setTimeout(flushHeld, REPEAT_HOLD_MS, true);
  }

  function handleFinding(f: Finding, receivedAt?: number): void {
    if (f.level === 'green' && !f.clears) {
      metrics.findings.inc({ outcome: 'ignored' });
      return;
    }
    const now = clock.now();
    const key = incidentKey(f);
    const h = held.get(key);
    if (h) {
      if (!f.clears && rank[f.level] <= rank[h.level] && !(f.confirmed && !h.wasConfirmed)) {
        h.n++;
        h.last = { f, now, receivedAt };
        if (f.level === h.level && f.deviceId === h.leadDevice) h.lead = f;
        h.confirmed ||= f.confirmed;
        h.score = Math.max(h.score, f.score);
        metrics.findings.inc({ outcome: 'updated' });
        return;
      }
      // What this finding changes comes after the repeats before it.
      flushHeld();
    }
    let result: { ev: IncidentEvent | undefined; rows: number; repeat?: true; lead?: string };
    try {
      result = apply(f, key, now, receivedAt);
    } catch (err) {
      // Never throw into the ingest path; this is loud because an alarm may be going unrecorded.
      metrics.findings.inc({ outcome: 'error' });
      logger.fatal({ err, finding: f }, 'could not record a finding as an incident');
      return;
    }
    metrics.findings.inc({ outcome: result.ev?.kind ?? 'no_incident' });
    if (result.ev) bus.emit('incident', result.ev);
    if (result.rows) outbox.kick();
    if (result.repeat && result.ev) {
      held.set(key, { id: result.ev.incident.id, level: result.ev.incident.level, n: 0, confirmed: false, score: 0, leadDevice: result.lead ?? result.ev.incident.deviceId, wasConfirmed: result.ev.incident.confirmed });
      holdTimer ??= setTimeout(flushHeld, REPEAT_HOLD_MS, true);
    }
  }

  function must(id: string): Incident {
    const i = store.get(id);
    if (!i) throw new WatchfireError('WF_INCIDENT_NOT_FOUND', `No incident ${id}`);
    return i;
  }

  function refuse(i: Incident, action: string): never {
    throw new WatchfireError('WF_INCIDENT_TRANSITION', `Cannot ${action} incident ${i.id} in state ${i.state}`);
  }

  interface Change {
    to: IncidentState;
    stamps?: Partial<Record<'acknowledged_at' | 'dispatched_at' | 'on_site_at' | 'resolved_at' | 'reviewed_at', number>>;
    assignee?: string;
    disposition?: Disposition;
    feedback?: string;
  }

  /** One transition in one transaction: state, audit, escalation changes; then the bus event. */
  function transition(id: string, actor: string, action: string, allowed: readonly IncidentState[], change: (i: Incident, now: number) => Change, note: string | undefined, after?: (i: Incident, now: number) => number, noteZh?: string): Incident {
    flushHeld();
    const now = clock.now();
    const { incident, rows } = db.transaction(() => {
      const i = must(id);
      if (!allowed.includes(i.state)) refuse(i, action);
      const c = change(i, now);
      s.transition.run({
        id, state: c.to, active: STATE_RANK[c.to] < STATE_RANK.resolved ? 1 : 0, now,
        acknowledged_at: c.stamps?.acknowledged_at ?? null, dispatched_at: c.stamps?.dispatched_at ?? null,
        on_site_at: c.stamps?.on_site_at ?? null, resolved_at: c.stamps?.resolved_at ?? null, reviewed_at: c.stamps?.reviewed_at ?? null,
        assignee: c.assignee ?? null, disposition: c.disposition ?? null, feedback: c.feedback ?? null,
      });
      store.audit(id, now, actor, action, i.state, c.to, note ?? null, noteZh ?? null);
      escalation.cancelUpTo(id, c.to, now);
      const updated = store.get(id)!;
      return { incident: updated, rows: after ? after(updated, now) : 0 };
    })();
    metrics.transitions.inc({ state: incident.state });
    bus.emit('incident', { kind: 'transition', incident, at: now, actor, ...(note !== undefined ? { note } : {}) });
    if (rows) outbox.kick();
    return incident;
  }

  /** A timeline entry that changes no state (notes, the call log; issue 17 point 6; an SMS reply, issue 19). */
  function remark(id: string, actor: string, action: string, text: string, textZh: string | null = null): Incident {
    flushHeld();
    const now = clock.now();
    const i = db.transaction(() => {
      const cur = must(id);
      store.audit(id, now, actor, action, cur.state, cur.state, text, textZh);
      s.touch.run(now, id);
      return store.get(id)!;
    })();
    bus.emit('incident', { kind: 'updated', incident: i, at: now, actor, note: text });
    return i;
  }

  const service: Synchronous<IncidentService> = {
    list(filter) {
      flushHeld();
      const f = IncidentFilter.parse(filter);
      const where: string[] = [];
      const args: unknown[] = [];
      const inList = (col: string, vals: readonly string[] | undefined) => {
        if (!vals?.length) return;
        where.push(`${col} IN (${vals.map(() => '?').join(',')})`);
        args.push(...vals);
      };
      inList('state', f.state);
      inList('level', f.level);
      for (const [col, v] of [['center_id', f.centerId], ['grid_id', f.gridId], ['site_id', f.siteId], ['assignee', f.assignee]] as const) {
        if (v !== undefined) {
          where.push(`${col} = ?`);
          args.push(v);
        }
      }
      if (f.active !== undefined) where.push(`active = ${f.active ? 1 : 0}`);
      if (f.openedFrom !== undefined) { where.push('opened_at >= ?'); args.push(f.openedFrom); }
      if (f.openedBefore !== undefined) { where.push('opened_at < ?'); args.push(f.openedBefore); }
      // Red on top, then the newest: the order the console shows.
      const sql = `SELECT * FROM alert_incidents ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
        ORDER BY active DESC, CASE level WHEN 'red' THEN 0 WHEN 'yellow' THEN 1 ELSE 2 END, opened_at DESC LIMIT ? OFFSET ?`;
      return (db.prepare(sql).all(...args, f.limit, f.offset) as IncidentRow[]).map(toIncident);
    },
    get: (id) => {
      flushHeld();
      return store.get(id);
    },
    timeline(id) {
      flushHeld();
      must(id);
      return store.timeline(id);
    },
    remarks: (centerId, from, to) => store.remarks(centerId, from, to),
    acknowledge(id, actor, note) {
      return transition(id, actor, 'acknowledge', ['open'], (_i, now) => ({ to: 'acknowledged', stamps: { acknowledged_at: now } }), note,
        (i, now) => escalation.begin(i, 'acknowledged', now));
    },
    dispatch(id, actor, assignee, note) {
      // Issue 17 point 4: the policy's `from: dispatched` steps notify the assignee at once and
      // escalate when they do not set out in time.
      return transition(id, actor, 'dispatch', ['acknowledged'], (_i, now) => ({ to: 'dispatched', stamps: { dispatched_at: now }, assignee }),
        note ? `to ${assignee}: ${note}` : `to ${assignee}`, (i, now) => escalation.begin(i, 'dispatched', now));
    },
    onSite(id, actor, note) {
      return transition(id, actor, 'on_site', ['acknowledged', 'dispatched'], (_i, now) => ({ to: 'on_site', stamps: { on_site_at: now } }), note);
    },
    enRoute(id, actor, note) {
      flushHeld();
      const now = clock.now();
      const i = db.transaction(() => {
        const cur = must(id);
        if (cur.state !== 'dispatched') refuse(cur, 'report en route for');
        store.audit(id, now, actor, 'en_route', cur.state, cur.state, note ?? null);
        escalation.cancelAccepted(id, now);
        s.touch.run(now, id);
        return store.get(id)!;
      })();
      bus.emit('incident', { kind: 'updated', incident: i, at: now, actor, note: note ?? 'en route' });
      return i;
    },
    note(id, actor, text) {
      return remark(id, actor, 'note', text);
    },
    deliveries(id) {
      must(id);
      return deps.deliveries.of(id);
    },
    call(id, actor, c) {
      return remark(id, actor, `call:${c.outcome}`, `${c.contact}${c.phone ? ` ${c.phone}` : ''}${c.note ? `: ${c.note}` : ''}`);
    },
    resolve(id, actor, body) {
      const cur = must(id);
      const parsed = ResolveBody.safeParse(body);
      if (cur.level === 'red' && (!parsed.success || !HUMAN_DISPOSITIONS.includes(parsed.data.disposition))) {
        throw new WatchfireError('WF_INCIDENT_DISPOSITION', `Red incident ${id} is closed only with a disposition (${HUMAN_DISPOSITIONS.join(', ')}) and feedback`);
      }
      if (!parsed.success) throw new WatchfireError('WF_INCIDENT_DISPOSITION', `Incident ${id} is resolved with a disposition and feedback`);
      const { disposition, feedback } = parsed.data;
      return transition(id, actor, 'resolve', ['acknowledged', 'dispatched', 'on_site'],
        (_i, now) => ({ to: 'resolved', stamps: { resolved_at: now }, disposition, feedback }), `${disposition}: ${feedback}`);
    },
    review(id, actor, note) {
      return transition(id, actor, 'review', ['resolved'], (_i, now) => ({ to: 'reviewed', stamps: { reviewed_at: now } }), note);
    },
  };

  /** Issue 19 point 5: acknowledged from a message (link, SMS reply, keypress) by its recipient (`site#contact0`, a person id). */
  function acknowledgeFrom(id: string, actor: string, note: { en: string; zh: string }): Incident {
    return transition(id, actor, 'acknowledge', ['open'], (_i, now) => ({ to: 'acknowledged', stamps: { acknowledged_at: now } }), note.en,
      (i, now) => escalation.begin(i, 'acknowledged', now), note.zh);
  }

  return { handleFinding, service, acknowledgeFrom, remark: (id: string, actor: string, action: string, note: { en: string; zh: string }) => remark(id, actor, action, note.en, note.zh), flush: () => flushHeld(), activeByLevel: () => Object.fromEntries((s.activeByLevel.all() as Array<{ level: string; n: number }>).map((r) => [r.level, r.n])) };
}
