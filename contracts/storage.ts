// The storage seam (issue 21 point 2): what each aggregate's store promises, asynchronously, so
// that one implementation runs on the embedded SQLite file and another on a PostgreSQL shared by
// several nodes (cluster mode). storage/ implements them for both; tests/storage.contract.test.ts
// holds both to the same cases.
//
// Nothing on the alarm path awaits them: the dead letters (ingest/dead-letters.ts) queue in
// memory and write behind through DeadLetterStorage, and the registry runs on RegistryStorage on
// both databases: its reads are answered from memory, only its (rare) writes wait on the database.
import type { InboundMatch, ReceiptStatus } from './channels.ts';
import type { ErrorCode } from './errors.ts';
import type { Category, Level } from './findings.ts';
import type { AuditEntry, Disposition, Incident, IncidentFilter, IncidentState } from './incidents.ts';
import type { RegistryChange, RejectRecord } from './ports.ts';
import type { Center, Device, Grid, Locale, Person, RegistryFile, Roster, Site } from './registry.ts';

export type SqlDialect = 'sqlite' | 'postgres';

// ---- dead letters (ingest) ----

export interface DeadLetterFilter {
  readonly deviceId?: string;
  /** Only rejects of these devices (a center's scope, issue 16); none without a device. Empty: none. */
  readonly deviceIds?: readonly string[];
  readonly code?: ErrorCode;
  /** Only rejects with `at` before this (ms epoch): paging back through older ones. */
  readonly before?: number;
}

export interface DeadLetterStorage {
  /**
   * Stores the records in one transaction, then deletes all but the newest `keep` rows (by id).
   * Ids are the store's, growing in the order rows were written; a record's own id is ignored.
   */
  append(records: readonly RejectRecord[], keep: number): Promise<void>;
  /** Newest first (by id); `limit` is clamped to 1…10,000, default 100. */
  list(filter?: DeadLetterFilter & { readonly limit?: number }): Promise<RejectRecord[]>;
  count(filter?: DeadLetterFilter): Promise<number>;
}

// ---- registry ----

export type RegistryKind = 'center' | 'grid' | 'site' | 'device' | 'person' | 'roster';

/** One entity to store, tagged with its kind (a roster's key is its centerId). */
export type RegistryEntity =
  | { readonly kind: 'center'; readonly value: Center }
  | { readonly kind: 'grid'; readonly value: Grid }
  | { readonly kind: 'site'; readonly value: Site }
  | { readonly kind: 'device'; readonly value: Device }
  | { readonly kind: 'person'; readonly value: Person }
  | { readonly kind: 'roster'; readonly value: Roster };

export interface StoredRegistry {
  /** Every entity, parsed again with the current schemas, each kind in the order first stored. */
  readonly file: RegistryFile;
  /** Devices' secret hashes (kept out of the devices in `file`). */
  readonly hashes: ReadonlyMap<string, string>;
}

/** Entity ids per kind (a roster's is its centerId). */
export type RegistryIds = Partial<Record<RegistryKind, readonly string[]>>;

export interface RegistryWatcher {
  /** Another writer committed these changes (a large write may come in several calls). */
  changed(changes: readonly RegistryChange[]): void;
  /** Changes may have been missed (the listening connection dropped and is back): re-read everything. */
  gap(): void;
}

export interface RegistryStorage {
  /** Everything stored; a row that no longer parses refuses the load (WF_REGISTRY_INVALID, each row named). */
  load(): Promise<StoredRegistry>;
  /**
   * The stored entities among `ids` (those not stored are left out, so a removed one is absent),
   * each kind in the order first stored, read on one snapshot, with the devices' secret hashes.
   * A row that no longer parses refuses the read, as load() does.
   */
  get(ids: RegistryIds): Promise<StoredRegistry>;
  /**
   * Inserts or replaces the entities in one transaction, in the order given: all or none. A
   * device without a secretHash keeps the hash stored for it. Every write here is announced to the
   * other writers' watchers (below) as its (kind, id, op), in the write's own transaction: heard
   * once committed, never for a rolled-back write.
   */
  upsert(entities: readonly RegistryEntity[], at: number): Promise<void>;
  /** Sets a device's secret hash; false when there is no such device. Announced as the device's upsert. */
  setSecret(deviceId: string, hash: string, at: number): Promise<boolean>;
  /** Deletes one entity; false when there was none. Who refers to it is the registry's check. Announced. */
  remove(kind: RegistryKind, id: string): Promise<boolean>;
  /**
   * Hears the changes other writers commit (PostgreSQL: LISTEN on a connection of its own,
   * reconnected when it drops, then `gap()`); resolves once listening, so a load() after it misses
   * nothing. A writer's own changes are not reported back to its own watchers. On SQLite, where
   * one node owns the file, nothing is heard. The result stops listening.
   */
  watch(watcher: RegistryWatcher): Promise<() => Promise<void>>;
}

// ---- the notification outbox (alerts) ----
//
// Issue 21 point 5, "exactly one actor per duty": several nodes send from one outbox. A node
// claims due rows, each for itself alone until its lease ends (FOR UPDATE SKIP LOCKED on
// PostgreSQL; SQLite has one writer, so one UPDATE … RETURNING is the claim); it records the
// outcome under that claim. When a node dies mid-send its claims lapse and reclaimExpired() puts
// the rows back, to be sent again with the same delivery id (at-least-once, as on one node).

export type OutboxStatus = 'pending' | 'sending' | 'sent' | 'failed';

export interface OutboxNew {
  readonly channel: string;
  readonly incidentId: string | null;
  readonly reportId: number | null;
  readonly kind: string;
  readonly step: string | null;
  readonly recipientKind: string;
  readonly recipientId: string;
  readonly recipientName: string;
  readonly address: string;
  readonly locale: Locale;
  /** Not sent before this instant (a yellow notice held over someone's quiet hours). */
  readonly notBefore?: number;
}

export interface OutboxEntry extends OutboxNew {
  readonly id: number;
  readonly status: OutboxStatus;
  readonly attempts: number;
  readonly nextAt: number;
  readonly createdAt: number;
  readonly sentAt: number | null;
  readonly lastError: string | null;
}

export interface OutboxEntryAttempt {
  readonly id: number;
  readonly outboxId: number;
  readonly startedAt: number;
  readonly finishedAt: number | null;
  readonly outcome: 'sending' | 'sent' | 'failed';
  readonly error: string | null;
  readonly providerId: string | null;
  /** The provider's delivery receipt for this attempt, when it sent one (issue 19). */
  readonly receipt: ReceiptStatus | null;
  readonly receiptAt: number | null;
  readonly receiptDetail: string | null;
}

/** Rows per channel and status, and attempts per channel and outcome. */
export interface OutboxCounts {
  readonly byChannel: Record<string, Record<OutboxStatus, number>>;
  readonly attempts: Record<string, Record<string, number>>;
}

/** What the queue of one channel holds: the earliest pending row's due time, and rows not yet delivered (pending or sending). */
export interface OutboxQueue {
  readonly nextDueAt: number | undefined;
  readonly depth: number;
}

/** An incident's row with what became of it (issue 19 point 6): its newest receipt and its last finished attempt. */
export interface OutboxDeliveryRow {
  readonly id: number;
  readonly channel: string;
  readonly kind: string;
  readonly step: string | null;
  readonly recipientKind: string;
  readonly recipientId: string;
  readonly recipientName: string;
  readonly status: OutboxStatus;
  readonly attempts: number;
  readonly createdAt: number;
  readonly sentAt: number | null;
  readonly lastError: string | null;
  readonly receipt: ReceiptStatus | null;
  readonly receiptAt: number | null;
  readonly receiptDetail: string | null;
  /** When its last attempt finished (the time of giving up, for a failed row). */
  readonly failedAt: number | null;
}

export interface OutboxReceipt {
  readonly channel: string;
  readonly providerId: string;
  /** The row the provider named, if any: its last attempt takes the receipt when no attempt has the provider id. */
  readonly outboxId?: number | undefined;
  readonly status: ReceiptStatus;
  readonly at: number;
  readonly detail?: string | undefined;
}

/** A row this claimer alone may send until `until`, and the attempt started for it. */
export interface OutboxClaim {
  readonly row: OutboxEntry;
  readonly attemptId: number;
  /** The claim's token (`<worker>:<uuid>`): the outcome is recorded under it. */
  readonly claim: string;
  readonly until: number;
}

export type OutboxOutcome =
  | { readonly sent: true; readonly at: number; readonly providerId: string | null }
  | { readonly sent: false; readonly at: number; readonly error: string; readonly retryAt: number; readonly giveUp: boolean };

export interface OutboxStorage {
  /** Stores new pending rows, due at max(now, notBefore); their ids, in the order given. */
  enqueue(rows: readonly OutboxNew[], now: number): Promise<number[]>;
  /**
   * Claims up to `limit` (≥ 1) pending rows of the channel due at `now`, oldest due first, for
   * `leaseMs`: each becomes 'sending' with one more attempt, and an attempt row is started. No
   * row is ever handed to two claimers at once.
   */
  claim(opts: { channel: string; worker: string; now: number; limit: number; leaseMs: number }): Promise<OutboxClaim[]>;
  /**
   * Records the attempt's outcome. The row becomes 'sent', or 'pending' again at retryAt (or
   * 'failed' when giving up), only while the claim still holds: false when it lapsed and the row
   * was taken back (the attempt is recorded all the same, unless reclaimExpired marked it).
   */
  finish(claim: OutboxClaim, outcome: OutboxOutcome): Promise<boolean>;
  /** Puts rows whose claim lapsed by `now` back to pending, their attempts failed: how many. */
  reclaimExpired(now: number): Promise<number>;
  /**
   * Puts every 'sending' row back to pending, due at `now`, its attempt failed: for the one
   * process that owns the database (the embedded file), starting, when any claim is its own from
   * before a crash. Never in cluster mode, where another node's claim is alive. How many.
   */
  reclaimAll(now: number): Promise<number>;
  get(id: number): Promise<OutboxEntry | undefined>;
  /** Oldest first. */
  attempts(outboxId: number): Promise<OutboxEntryAttempt[]>;
  /** When the channel's earliest pending row is due; undefined when none is pending. */
  nextDueAt(channel: string): Promise<number | undefined>;
  /** nextDueAt and the rows not yet delivered of one channel, in one read. */
  queue(channel: string): Promise<OutboxQueue>;
  /** Rows not yet delivered, oldest first: pending, sending or given up. */
  pending(limit: number): Promise<OutboxEntry[]>;
  /** The incident's rows, oldest first. */
  ofIncident(incidentId: string): Promise<OutboxEntry[]>;
  /** The incident's rows but the console's, oldest first, each with its newest receipt (issue 19 point 6). */
  deliveries(incidentId: string): Promise<OutboxDeliveryRow[]>;
  counts(): Promise<OutboxCounts>;
  /** The row whose attempt got this provider id, newest attempt first; else the row `outboxId` itself, when of that channel. */
  byProviderId(channel: string, providerId: string, outboxId?: number): Promise<InboundMatch | undefined>;
  /** The newest row of the channel sent to the address at or after `since` (an SMS reply names no message). */
  lastSentTo(channel: string, address: string, since: number): Promise<InboundMatch | undefined>;
  /** Records a receipt on the attempt byProviderId finds (its last attempt); false when none matches. */
  recordReceipt(r: OutboxReceipt): Promise<boolean>;
}

// ---- console users and sessions (dashboards) ----
//
// In cluster mode any API node must open a session another node created: sessions live in the
// shared database, not in a node's memory.

export interface StoredUser {
  readonly username: string;
  /** dashboards/users.ts UserRole; checked there when read. */
  readonly role: string;
  readonly personId: string | null;
  readonly centerId: string | null;
  readonly locale: Locale;
  readonly createdAt: number;
  readonly disabled: boolean;
}

export interface StoredSession {
  /** sha256 of the cookie's token: a stolen database opens no session. */
  readonly id: string;
  readonly username: string;
  readonly csrf: string;
  readonly createdAt: number;
  readonly expiresAt: number;
}

export interface UserStorage {
  /** Stores a new user; false, and nothing changed, when the username is taken (even by a concurrent insert). */
  insert(user: StoredUser & { readonly passwordHash: string }): Promise<boolean>;
  find(username: string): Promise<(StoredUser & { readonly passwordHash: string }) | undefined>;
  /** Every user, by username in byte order (as SQLite's BINARY collation sorts, whatever the server's locale). */
  list(): Promise<StoredUser[]>;
  /** False when there is no such user. */
  setLocale(username: string, locale: Locale): Promise<boolean>;
  /** Replaces the user's password hash and ends every session of theirs, in one transaction; false when there is no such user. */
  setPassword(username: string, passwordHash: string): Promise<boolean>;
  /** Enabled admins: the last one may not be removed or disabled. */
  countAdmins(): Promise<number>;
  /** Stores a session after deleting every session expired at `now`. Rejects for an unknown user. */
  createSession(session: StoredSession, now: number): Promise<void>;
  /** The session and its user while unexpired at `now` and the user enabled. */
  loadSession(id: string, now: number): Promise<{ readonly user: StoredUser; readonly csrf: string; readonly expiresAt: number } | undefined>;
  /** False when there was none. */
  deleteSession(id: string): Promise<boolean>;
}

// ---- leases (issue 21 point 5) ----
//
// A duty that one node at a time must do (a cron job, a report, a sweep) is done while holding its
// lease, renewed well before it expires. `term` grows with each new holder: a node that stalled
// past its lease and wakes up holds an old term, and a write that carries its term can be refused.

export interface Lease {
  readonly holder: string;
  readonly term: number;
  readonly expiresAt: number;
}

export interface LeaseStorage {
  /**
   * Takes the lease when it is free or expired at `now` (a new term), or renews it when `holder`
   * has it (the same term), until now + ttlMs. Undefined while another holder's lease runs.
   */
  acquire(name: string, holder: string, now: number, ttlMs: number): Promise<Lease | undefined>;
  /** Gives the lease up, so the next node need not wait for it to expire; false unless `holder` had it. */
  release(name: string, holder: string): Promise<boolean>;
  /** Who holds it at `now`; undefined when nobody does. */
  current(name: string, now: number): Promise<Lease | undefined>;
}

// ---- reports (alerts) ----

export interface StoredReport {
  readonly id: number;
  readonly kind: string;
  readonly centerId: string;
  /** e.g. `2026-12-07` for a daily report, a shift's start for a handover. */
  readonly period: string;
  readonly createdAt: number;
  /** The report's JSON (alerts/reports.ts ReportBody). */
  readonly body: string;
}

export interface ReportStorage {
  /**
   * Stores the report once per (kind, center, period) and, only when this call created it, its
   * deliveries (outbox rows carrying its id), in one transaction. When it existed already (another
   * node made it first), that one is returned and nothing is queued: a report is mailed once.
   */
  put(report: Omit<StoredReport, 'id'>, deliveries: readonly Omit<OutboxNew, 'reportId'>[]): Promise<{ report: StoredReport; created: boolean }>;
  get(kind: string, centerId: string, period: string): Promise<StoredReport | undefined>;
  byId(id: number): Promise<StoredReport | undefined>;
  /** The center's newest report of that kind. */
  last(kind: string, centerId: string): Promise<StoredReport | undefined>;
}

/**
 * What a report is written from (alerts/reports.ts), each report's facts read on one snapshot so
 * its numbers agree with one another while other nodes write. Incidents of one center; `active`
 * is red first, then oldest first; every list breaks ties by id in byte order.
 */
export interface ReportFacts {
  /** The shift's handover: open now, opened and resolved in [from, to), escalation steps still pending. */
  handover(centerId: string, from: number, to: number): Promise<{ active: Incident[]; opened: Incident[]; resolved: Incident[]; pendingSteps: number }>;
  /** The daily report: opened and resolved in [from, to), open now, and the open ones whose enforcement step ran (the enforcement list). */
  daily(centerId: string, from: number, to: number): Promise<{ opened: Incident[]; resolved: Incident[]; active: Incident[]; enforcement: Incident[] }>;
  /**
   * The month's ratings: incidents opened in [from, to), and for each of them that was dispatched,
   * when someone first took it up (en route or on site) at or after its dispatch.
   */
  month(centerId: string, from: number, to: number): Promise<{ opened: Incident[]; takeUps: ReadonlyMap<string, number> }>;
}

// ---- escalation steps (alerts) ----
//
// Issue 21 point 5: a due step runs on exactly one node, once. runDue() locks due steps row by row
// (FOR UPDATE SKIP LOCKED on PostgreSQL; SQLite's single writer) and runs the caller's work for
// each in the same transaction as marking it done: a node that dies mid-way committed nothing, and
// the step is still due for another.

export interface EscalationStepNew {
  readonly incidentId: string;
  readonly policy: string;
  readonly step: string;
  /** The state that ends the step (alerts/policies.ts Step['until']). */
  readonly untilState: string;
  readonly dueAt: number;
  /** A call tree's stage; null for a plain step. */
  readonly stage: number | null;
}

export interface EscalationStep extends EscalationStepNew {
  readonly id: number;
  /** 0 pending, 1 done, 2 cancelled. */
  readonly done: 0 | 1 | 2;
  readonly doneAt: number | null;
  readonly createdAt: number;
}

// ---- incidents and their audit trail (alerts) ----
//
// Issue 21 points 2 and 5. Every write appends its timeline entries in the same transaction, the
// states in them read by the store inside it, so the trail cannot disagree with the row. A
// transition names the state it was decided on (`from`) and applies only while the incident is
// still in it (a compare-and-set in the UPDATE's WHERE): when two nodes, or two operators on one,
// acknowledge or resolve at once, one wins and the other is told what it found, with nothing
// written. Findings never change the state, so they cannot undo a transition, and they apply only
// while the incident is open. Opening relies on the one-open-incident-per-key index: when two
// nodes open the same key at once, one creates it and the other gets that one back.

export interface IncidentNew {
  readonly id: string;
  readonly key: string;
  readonly level: Level;
  readonly score: number;
  readonly category: Category;
  readonly condition: string;
  readonly centerId: string;
  readonly siteId: string;
  readonly gridId: string | null;
  readonly deviceId: string;
  readonly zone: string | null;
  readonly title: { readonly en: string; readonly zh: string };
  readonly confirmed: boolean;
  readonly lastReading: string | null;
  readonly recurrenceOf: string | null;
}

/** A timeline entry to append; its states before and after are filled in by the store. */
export interface AuditNew {
  readonly actor: string;
  readonly action: string;
  readonly note: string | null;
  /** The Chinese of a system note (issue 17); null for a person's own words. */
  readonly noteZh: string | null;
}

/** Findings on an open incident, written as one (a repeat flood is held and written every 250 ms). */
export interface IncidentFindings {
  readonly n: number;
  readonly at: number;
  readonly lastReading: string;
  /** Confirmed, score and level only ever go up: a lesser finding leaves them. */
  readonly confirmed: boolean;
  readonly score: number;
  readonly level: Level;
  /** A finding that leads (issue 17): the title and condition follow it, its device becomes the lead. */
  readonly lead?: { readonly deviceId: string; readonly condition: string; readonly title: { readonly en: string; readonly zh: string } };
}

export type IncidentStamp = 'acknowledgedAt' | 'dispatchedAt' | 'onSiteAt' | 'resolvedAt' | 'reviewedAt';

export interface IncidentTransition {
  /** The state the change was decided on: it applies only while the incident is still in it. */
  readonly from: IncidentState;
  readonly to: IncidentState;
  readonly at: number;
  /** Which time becomes `at` (acknowledge sets acknowledgedAt, …). */
  readonly stamp?: IncidentStamp;
  readonly assignee?: string;
  readonly disposition?: Disposition;
  readonly feedback?: string;
}

/** A write that may be refused: `current` is what the store found instead (undefined: no such incident). */
export type IncidentWrite =
  | { readonly ok: true; readonly incident: Incident }
  | { readonly ok: false; readonly current: Incident | undefined };

export interface IncidentStorage {
  /**
   * Opens the incident with its `opened` entry (from null to open), unless one is open for its key
   * already: then that one, unchanged, and nothing written.
   */
  open(incident: IncidentNew, at: number, audit: AuditNew): Promise<{ incident: Incident; created: boolean }>;
  /** The open incident of the key, and the device whose findings write its title (issue 17). */
  findOpen(key: string): Promise<(Incident & { readonly leadDevice: string }) | undefined>;
  /** The key's incident resolved last, at or after `since` (a recurrence, DESIGN.md: 60 days). */
  lastResolved(key: string, since: number): Promise<{ id: string; resolvedAt: number } | undefined>;
  /** Records findings and their entries (raised, second_detector) while the incident is open; undefined when it is not. */
  addFindings(id: string, findings: IncidentFindings, audit: readonly AuditNew[]): Promise<Incident | undefined>;
  /** Changes the state from `change.from` to `change.to` with its entry, or refuses when the state is no longer `from`. */
  transition(id: string, change: IncidentTransition, audit: AuditNew): Promise<IncidentWrite>;
  /**
   * An entry that changes no state (a note, a call, en route, the device clearing a red alarm),
   * and the incident's updatedAt; when `inState` is given, only while the incident is in it.
   */
  remark(id: string, at: number, audit: AuditNew, inState?: IncidentState): Promise<IncidentWrite>;
  get(id: string): Promise<Incident | undefined>;
  /** The console's order: open first, red first, newest first (ties by id). */
  list(filter: IncidentFilter): Promise<Incident[]>;
  /** Oldest first. */
  timeline(id: string): Promise<AuditEntry[]>;
  /** Notes and calls on a center's incidents in [from, to), oldest first: a shift's log for its handover (at most 5,000). */
  remarks(centerId: string, from: number, to: number): Promise<AuditEntry[]>;
  /** Open incidents per level (the gauge); a level without any is absent. */
  activeByLevel(): Promise<Partial<Record<Level, number>>>;
  /** The site's other open incidents, oldest first, at most 50 (a storm digest, issue 17 point 3). */
  openAtSite(siteId: string, exceptId: string): Promise<Incident[]>;
  /** A center's incidents opened in [from, to), oldest first (reports). */
  openedIn(centerId: string, from: number, to: number): Promise<Incident[]>;
  /** A center's incidents resolved in [from, to), by resolution time (reports). */
  resolvedIn(centerId: string, from: number, to: number): Promise<Incident[]>;
}
