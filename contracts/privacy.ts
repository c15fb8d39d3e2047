// Residents' personal data (issue 18 point 8, PIPL): the export of everything held about one
// resident, the erasure report, the read audit, the retention run. privacy/ implements them;
// dashboards/ and the CLI call them through these ports.
import { z } from 'zod';

/** Who read or exported personal data: a console user, or `cli:<os user>` for the command line. */
export interface Reader {
  readonly username: string;
  readonly role: string;
  readonly centerId?: string | null | undefined;
}

/** What was read: a site's view, an incident's detail, an incident list, an export. */
export const ReadResource = z.enum(['site', 'incident', 'incidents', 'export']);
export type ReadResource = z.infer<typeof ReadResource>;

export const ReadRow = z.object({
  id: z.number(),
  at: z.number(),
  username: z.string(),
  role: z.string(),
  centerId: z.string().nullable(),
  resource: z.string(),
  resourceId: z.string().nullable(),
  siteId: z.string().nullable(),
});
export type ReadRow = z.infer<typeof ReadRow>;

export interface ReadAudit {
  /**
   * Records that `reader` read `resource` (of site `siteId`), at most once per reader and resource
   * per dedup window (privacy.readAuditDedupMinutes): a console polling a site writes one row per
   * window, not one per request. Exports are always recorded. Resolves once written (at once
   * when the window already holds it); the dedup is decided before any write, synchronously.
   */
  record(reader: Reader, resource: ReadResource, resourceId: string | null, siteId: string | null, centerId: string | null): Promise<void>;
  /** Newest first, from every node (the rows live where alerts/ runs: on PostgreSQL in cluster mode). */
  list(filter: { siteId?: string | undefined; username?: string | undefined; centerId?: string | undefined; before?: number | undefined; limit: number }): Promise<ReadRow[]>;
}

export const ErasureResult = z.object({
  erasureId: z.number(),
  siteId: z.string(),
  pseudonym: z.string(),
  at: z.number(),
  actor: z.string(),
  reason: z.string(),
  /** Rows changed, per table (registry_sites, alert_incidents, alert_audit, alert_outbox, …). */
  counts: z.record(z.string(), z.number()),
  /** Columns where the resident's name, phone, address or a contact's still occur (e.g. another resident's notes): review them. */
  leftovers: z.array(z.object({ table: z.string(), column: z.string(), rows: z.number() })),
  /**
   * False when another connection kept old pages in the SQLite WAL (run `wf privacy erase` again
   * once Watchfire is stopped, or wait for its checkpoint), or on PostgreSQL when the VACUUM of
   * the rewritten tables failed (their old row versions stay until the next autovacuum).
   */
  walCleared: z.boolean(),
});
export type ErasureResult = z.infer<typeof ErasureResult>;

export const RetentionResult = z.object({
  cutoff: z.number(),
  incidents: z.number(),
  auditEntries: z.number(),
  outboxRows: z.number(),
  attempts: z.number(),
  reports: z.number(),
  /** Shift handover summaries and remarks (issue 17's 交接班, which name homes, residents and calls). */
  handovers: z.number(),
  readAuditDeleted: z.number(),
});
export type RetentionResult = z.infer<typeof RetentionResult>;

export const AuditVerification = z.object({
  ok: z.boolean(),
  entries: z.number(),
  redacted: z.number(),
  erasures: z.number(),
  problems: z.array(z.string()),
});
export type AuditVerification = z.infer<typeof AuditVerification>;

export const PrivacyExport = z.object({
  subject: z.object({ siteId: z.string(), pseudonym: z.string(), centerId: z.string() }),
  exportedAt: z.number(),
  /** The registry entry as held now: resident, contacts, address. */
  site: z.record(z.string(), z.unknown()),
  devices: z.array(z.record(z.string(), z.unknown())),
  /** Each incident of the site with its timeline (notes, call log) and the notifications sent about it. */
  incidents: z.array(z.record(z.string(), z.unknown())),
  /** Notifications addressed to the site's emergency contacts, with their delivery attempts. */
  notifications: z.array(z.record(z.string(), z.unknown())),
  /** Reports whose text names the resident or the home. */
  reports: z.array(z.record(z.string(), z.unknown())),
  erasures: z.array(z.record(z.string(), z.unknown())),
  /** Who read this resident's data, when. */
  reads: z.array(ReadRow),
});
export type PrivacyExport = z.infer<typeof PrivacyExport>;

export interface PrivacyService {
  /** A site id, or a resident's exact name or phone when it names exactly one site. */
  resolve(subject: string): { siteId: string; centerId: string };
  // Asynchronous: the rows live on whichever database alerts/ runs (issue 21), PostgreSQL included.
  export(subject: string, reader: Reader): Promise<PrivacyExport>;
  erase(subject: string, actor: string, reason: string): Promise<ErasureResult>;
  verify(): Promise<AuditVerification>;
  readonly reads: ReadAudit;
}
