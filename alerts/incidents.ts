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
import type { EventBus } from '../contracts/bus.ts';
import type { Clock } from '../contracts/ports.ts';
import { maxLevel, type Finding, type Level } from '../contracts/findings.ts';
import { WatchfireError } from '../contracts/errors.ts';
import {
  IncidentFilter, ResolveBody, type Delivery, type Incident, type IncidentEvent, type IncidentService, type IncidentState, type Disposition,
} from '../contracts/incidents.ts';
import type { AuditNew, IncidentStamp } from '../contracts/storage.ts';
import { createIncidentStorage, type SqlRunner, type TxBody } from '../storage/index.ts';
import type { Escalation } from './escalation.ts';
import type { Outbox } from './outbox.ts';
import type { AlertMetrics } from './metrics.ts';

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
  sql: SqlRunner;
  bus: EventBus;
  clock: Clock;
  logger: Logger;
  escalation: Escalation;
  outbox: Pick<Outbox, 'kick'>;
  metrics: AlertMetrics;
  /** Issue 19 point 6: the incident's messages and calls with their outcomes (deliveries.ts). */
  deliveries: { of(incidentId: string): Promise<Delivery[]> };
}

/** A write refused because the incident moved on meanwhile is tried again on what it moved to, this often. */
const RETRIES = 3;

type Outcome = { ev: IncidentEvent | undefined; rows: number; repeat?: true; lead?: string };

export function createIncidents(deps: IncidentsDeps) {
  const { sql, bus, clock, logger, escalation, outbox, metrics } = deps;
  const store = createIncidentStorage({ sql });

  const rank: Record<Level, number> = { green: 0, yellow: 1, red: 2 };
  const system = (action: string, note: string | null, noteZh: string | null): AuditNew => ({ actor: 'system', action, note, noteZh });

  /**
   * A finding's effect on the database; returns the event to emit. Each write is one transaction
   * with its escalation steps and outbox rows. Findings of one key come in order through one queue
   * (handleFinding), and a site's findings reach one node only (its partition's owner), so what
   * was read before a write still holds for findings; a person's transition in between is what
   * the writes guard against (addFindings applies only while the incident is open, a transition
   * only from the state it was decided on).
   */
  async function apply(f: Finding, key: string, now: number, receivedAt: number | undefined, attempt = 0): Promise<Outcome> {
    const open = await store.findOpen(key);
    const lastReading = lastReadingOf(f);
    const extra = receivedAt !== undefined ? { receivedAt } : {};
    if (f.clears) {
      if (!open) return { ev: undefined, rows: 0 };
      if (open.level === 'yellow') {
        // A condition that cleared by itself resolves the yellow incident, recording how long it lasted.
        const note = `condition cleared by the device after ${humanDuration(now - open.openedAt)}: ${f.message.en}`;
        const w = await store.transition(open.id, { from: open.state, to: 'resolved', at: now, stamp: 'resolvedAt', disposition: 'condition_cleared', feedback: note },
          system('auto_resolve', note, `设备自行恢复，持续${humanDurationZh(now - open.openedAt)}：${f.message.zh}`),
          () => escalation.cancelAll(open.id, now));
        if (!w.ok) return attempt < RETRIES ? apply(f, key, now, receivedAt, attempt + 1) : { ev: undefined, rows: 0 };
        metrics.transitions.inc({ state: 'resolved' });
        return { ev: { kind: 'transition', incident: w.incident, at: now, actor: 'system', note, ...extra }, rows: 0 };
      }
      // Red closes only by a person: the device clearing is noted, the incident stays.
      const w = await store.remark(open.id, now, system('condition_cleared', f.message.en, f.message.zh));
      if (!w.ok) return { ev: undefined, rows: 0 };
      return { ev: { kind: 'updated', incident: w.incident, at: now, actor: 'system', note: 'condition cleared at the device', ...extra }, rows: 0 };
    }
    if (open) {
      const before = open;
      const level = maxLevel(before.level, f.level);
      const raised = rank[level] > rank[before.level];
      // The title and condition follow the finding that set the level, then that device's own
      // findings at the level. Issue 17: another device at the same level (a second detector
      // confirming) only counts and confirms, so the headline keeps the alarm's value (1.045 dB/m,
      // not the confirming detector's 0.151 dB/m); a lesser finding only counts.
      const leadDevice = before.leadDevice;
      const lead = raised || (f.level === before.level && f.deviceId === leadDevice);
      const audit: AuditNew[] = [];
      if (f.confirmed && !before.confirmed && !lead) audit.push(system('second_detector', f.message.en, f.message.zh));
      if (raised) audit.push(system('raised', `${before.level} → ${level}: ${f.message.en}`, `${LEVEL_ZH[before.level]} → ${LEVEL_ZH[level]}：${f.message.zh}`));
      const after = await store.addFindings(before.id, {
        n: 1, at: now, lastReading, confirmed: f.confirmed, score: f.score, level,
        ...(lead ? { lead: { deviceId: f.deviceId, condition: f.condition, title: f.message } } : {}),
      }, audit, function* (i): TxBody<number> {
        if (!raised) return 0;
        yield* escalation.cancelAll(i.id, now);
        let rows = yield* escalation.begin(i, 'opened', now, 'raised');
        if (i.acknowledgedAt !== null) rows += yield* escalation.begin(i, 'acknowledged', now);
        return rows;
      });
      // Closed meanwhile by a person: this finding opens the next incident of the key.
      if (!after) return attempt < RETRIES ? apply(f, key, now, receivedAt, attempt + 1) : { ev: undefined, rows: 0 };
      const { value: rows = 0, ...incident } = after;
      if (!raised) return { ev: { kind: 'updated', incident, at: now, ...extra }, rows: 0, repeat: true, lead: lead ? f.deviceId : leadDevice };
      return { ev: { kind: 'raised', incident, at: now, ...extra }, rows };
    }
    const prev = await store.lastResolved(key, now - RECURRENCE_WINDOW_MS);
    const made = await store.open({
      id: newId(now), key, level: f.level, score: f.score, category: f.category, condition: f.condition, centerId: f.centerId,
      siteId: f.siteId, gridId: f.gridId ?? null, deviceId: f.deviceId, zone: f.zone ?? null, title: f.message,
      confirmed: f.confirmed, lastReading, recurrenceOf: prev?.id ?? null,
    }, now, system('opened', prev ? `${f.message.en} (recurrence of ${prev.id})` : f.message.en, prev ? `${f.message.zh}（复发，前次警情 ${prev.id}）` : f.message.zh),
    (i) => escalation.begin(i, 'opened', now));
    // Another node opened the key a moment ago (a device that moved gateways): this finding is on it.
    if (!made.created) return attempt < RETRIES ? apply(f, key, now, receivedAt, attempt + 1) : { ev: undefined, rows: 0 };
    metrics.opened.inc({ level: f.level });
    return { ev: { kind: 'opened', incident: made.incident, at: now, ...extra }, rows: made.value ?? 0 };
  }

  const held = new Map<string, Held>();
  let holdTimer: NodeJS.Timeout | undefined;

  /**
   * Writes every held repeat, one update and one 'updated' event per incident. From the timer
   * (`keep`), an incident that had repeats stays held for one more window, so a flood is written
   * once per window; one without repeats is let go. Anything else lets go of all of them.
   */
  async function flushHeld(keep = false): Promise<void> {
    if (holdTimer) clearTimeout(holdTimer);
    holdTimer = undefined;
    if (held.size === 0) return;
    const entries = [...held.values()].filter((h) => h.n > 0);
    if (keep) {
      for (const [key, h] of held) if (h.n === 0) held.delete(key);
    } else {
      held.clear();
    }
    for (const h of entries) {
      const { f, now, receivedAt } = h.last!;
      const n = h.n;
      // Counted as written: repeats arriving while this write is in flight are the next window's.
      h.n = 0;
      const lead = h.lead;
      delete h.lead;
      try {
        const incident = await store.addFindings(h.id, {
          n, at: now, lastReading: lastReadingOf(f), confirmed: h.confirmed, score: h.score, level: h.level,
          ...(lead ? { lead: { deviceId: lead.deviceId, condition: lead.condition, title: lead.message } } : {}),
        }, []);
        if (incident) bus.emit('incident', { kind: 'updated', incident, at: now, ...(receivedAt !== undefined ? { receivedAt } : {}) });
      } catch (err) {
        metrics.findings.inc({ outcome: 'error' }, n);
        logger.fatal({ err, incident: h.id }, 'could not record repeated findings on their incident');
      }
    }
    if (held.size > 0 && !holdTimer) holdTimer = setTimeout(() => void queued(() => flushHeld(true)), REPEAT_HOLD_MS);
  }

  /**
   * Findings and flushes in arrival order, one at a time: a finding's reads and writes see the
   * one before it complete, as the synchronous alarm path did.
   */
  let tail: Promise<void> = Promise.resolve();
  function queued(work: () => Promise<void>): Promise<void> {
    const next = tail.then(work, work);
    tail = next.catch(() => undefined);
    return tail;
  }

  async function handleOne(f: Finding, receivedAt: number | undefined): Promise<void> {
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
      await flushHeld();
    }
    let result: Outcome;
    try {
      result = await apply(f, key, now, receivedAt);
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
      holdTimer ??= setTimeout(() => void queued(() => flushHeld(true)), REPEAT_HOLD_MS);
    }
  }

  /** Findings handed over and not yet recorded (or their failure logged). */
  let unrecorded = 0;

  /** The alarm path: resolves once the finding is recorded (or its failure logged); never rejects. */
  function handleFinding(f: Finding, receivedAt?: number): Promise<void> {
    if (f.level === 'green' && !f.clears) {
      metrics.findings.inc({ outcome: 'ignored' });
      return Promise.resolve();
    }
    unrecorded++;
    return queued(() => handleOne(f, receivedAt).finally(() => void unrecorded--));
  }

  /** Everything that arrived before is written: what a person reads or changes is never behind the findings. */
  function settled(): Promise<void> {
    return queued(() => flushHeld());
  }

  /**
   * Every finding that arrived before is recorded (its incident opened or updated and committed),
   * except repeats held for their window (counts on an incident that is recorded). Unlike
   * settled(), it lets the repeats' hold be: a storm is still written once per window.
   */
  function recorded(): Promise<void> {
    return queued(async () => undefined);
  }

  async function must(id: string): Promise<Incident> {
    const i = await store.get(id);
    if (!i) throw new WatchfireError('WF_INCIDENT_NOT_FOUND', `No incident ${id}`);
    return i;
  }

  function refuse(i: Incident, action: string): never {
    throw new WatchfireError('WF_INCIDENT_TRANSITION', `Cannot ${action} incident ${i.id} in state ${i.state}`);
  }

  interface Change {
    to: IncidentState;
    stamp?: IncidentStamp;
    assignee?: string;
    disposition?: Disposition;
    feedback?: string;
  }

  /**
   * One transition in one transaction: state, entry, escalation changes; then the bus event. It
   * applies only from the state it was decided on: when another node or operator changed the
   * incident meanwhile, it is decided again on what they left (refused if no longer allowed).
   */
  async function transition(id: string, actor: string, action: string, allowed: readonly IncidentState[], c: Change, note: string | undefined, after?: (i: Incident, now: number) => TxBody<number>, noteZh?: string): Promise<Incident> {
    await settled();
    let cur = await must(id);
    for (let attempt = 0; ; attempt++) {
      if (!allowed.includes(cur.state)) refuse(cur, action);
      const now = clock.now();
      const w = await store.transition(id, {
        from: cur.state, to: c.to, at: now, ...(c.stamp ? { stamp: c.stamp } : {}), ...(c.assignee !== undefined ? { assignee: c.assignee } : {}),
        ...(c.disposition !== undefined ? { disposition: c.disposition } : {}), ...(c.feedback !== undefined ? { feedback: c.feedback } : {}),
      }, { actor, action, note: note ?? null, noteZh: noteZh ?? null }, function* (i): TxBody<number> {
        yield* escalation.cancelUpTo(id, c.to, now);
        return after ? yield* after(i, now) : 0;
      });
      if (w.ok) {
        const { value: rows = 0 } = w as typeof w & { value?: number };
        metrics.transitions.inc({ state: w.incident.state });
        bus.emit('incident', { kind: 'transition', incident: w.incident, at: now, actor, ...(note !== undefined ? { note } : {}) });
        if (rows) outbox.kick();
        return w.incident;
      }
      if (!w.current) throw new WatchfireError('WF_INCIDENT_NOT_FOUND', `No incident ${id}`);
      if (attempt >= RETRIES) refuse(w.current, action);
      cur = w.current;
    }
  }

  /** A timeline entry that changes no state (notes, the call log; issue 17 point 6; an SMS reply, issue 19). */
  async function remark(id: string, actor: string, action: string, text: string, textZh: string | null = null): Promise<Incident> {
    await settled();
    const now = clock.now();
    const w = await store.remark(id, now, { actor, action, note: text, noteZh: textZh });
    if (!w.ok) throw new WatchfireError('WF_INCIDENT_NOT_FOUND', `No incident ${id}`);
    bus.emit('incident', { kind: 'updated', incident: w.incident, at: now, actor, note: text });
    return w.incident;
  }

  const service: IncidentService = {
    async list(filter) {
      await settled();
      return store.list(IncidentFilter.parse(filter));
    },
    async get(id) {
      await settled();
      return store.get(id);
    },
    async timeline(id) {
      await settled();
      await must(id);
      return store.timeline(id);
    },
    remarks: (centerId, from, to) => store.remarks(centerId, from, to),
    acknowledge(id, actor, note) {
      return transition(id, actor, 'acknowledge', ['open'], { to: 'acknowledged', stamp: 'acknowledgedAt' }, note,
        (i, now) => escalation.begin(i, 'acknowledged', now));
    },
    dispatch(id, actor, assignee, note) {
      // Issue 17 point 4: the policy's `from: dispatched` steps notify the assignee at once and
      // escalate when they do not set out in time.
      return transition(id, actor, 'dispatch', ['acknowledged'], { to: 'dispatched', stamp: 'dispatchedAt', assignee },
        note ? `to ${assignee}: ${note}` : `to ${assignee}`, (i, now) => escalation.begin(i, 'dispatched', now));
    },
    onSite(id, actor, note) {
      return transition(id, actor, 'on_site', ['acknowledged', 'dispatched'], { to: 'on_site', stamp: 'onSiteAt' }, note);
    },
    async enRoute(id, actor, note) {
      await settled();
      const now = clock.now();
      const w = await store.remark(id, now, { actor, action: 'en_route', note: note ?? null, noteZh: null }, 'dispatched',
        () => escalation.cancelAccepted(id, now));
      if (!w.ok) {
        if (!w.current) throw new WatchfireError('WF_INCIDENT_NOT_FOUND', `No incident ${id}`);
        refuse(w.current, 'report en route for');
      }
      bus.emit('incident', { kind: 'updated', incident: w.incident, at: now, actor, note: note ?? 'en route' });
      return w.incident;
    },
    note(id, actor, text) {
      return remark(id, actor, 'note', text);
    },
    async deliveries(id) {
      await must(id);
      return deps.deliveries.of(id);
    },
    call(id, actor, c) {
      return remark(id, actor, `call:${c.outcome}`, `${c.contact}${c.phone ? ` ${c.phone}` : ''}${c.note ? `: ${c.note}` : ''}`);
    },
    async resolve(id, actor, body) {
      const cur = await must(id);
      const parsed = ResolveBody.safeParse(body);
      if (cur.level === 'red' && (!parsed.success || !HUMAN_DISPOSITIONS.includes(parsed.data.disposition))) {
        throw new WatchfireError('WF_INCIDENT_DISPOSITION', `Red incident ${id} is closed only with a disposition (${HUMAN_DISPOSITIONS.join(', ')}) and feedback`);
      }
      if (!parsed.success) throw new WatchfireError('WF_INCIDENT_DISPOSITION', `Incident ${id} is resolved with a disposition and feedback`);
      const { disposition, feedback } = parsed.data;
      return transition(id, actor, 'resolve', ['acknowledged', 'dispatched', 'on_site'],
        { to: 'resolved', stamp: 'resolvedAt', disposition, feedback }, `${disposition}: ${feedback}`);
    },
    review(id, actor, note) {
      return transition(id, actor, 'review', ['resolved'], { to: 'reviewed', stamp: 'reviewedAt' }, note);
    },
  };

  /**
   * Issue 19 point 5: acknowledged from a message (link, SMS reply, keypress) by its recipient
   * (`site#contact0`, a person id); the incident's call trees stop in the same transaction.
   */
  function acknowledgeFrom(id: string, actor: string, note: { en: string; zh: string }): Promise<Incident> {
    return transition(id, actor, 'acknowledge', ['open'], { to: 'acknowledged', stamp: 'acknowledgedAt' }, note.en,
      function* (i, now) {
        yield* escalation.stopTreeTx(i.id, now);
        return yield* escalation.begin(i, 'acknowledged', now);
      }, note.zh);
  }

  return {
    handleFinding,
    service,
    acknowledgeFrom,
    remark: (id: string, actor: string, action: string, note: { en: string; zh: string }) => remark(id, actor, action, note.en, note.zh),
    /** Writes what is held (stop, and before the database closes). */
    flush: settled,
    recorded,
    /** Whether a finding handed over is not yet recorded. */
    get unrecorded(): boolean {
      return unrecorded > 0;
    },
    get: (id: string) => store.get(id),
    openAtSite: (siteId: string, exceptId: string) => store.openAtSite(siteId, exceptId),
    activeByLevel: () => store.activeByLevel(),
  };
}
