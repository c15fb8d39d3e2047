// The registry: who and what Watchfire watches over (DESIGN.md "Registry").
import { z } from 'zod';
import { DeviceId, DeviceType } from './protocol.ts';

const Id = z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, { error: 'expected 1..64 characters of A-Z a-z 0-9 _ . : -' });
export const Locale = z.enum(['zh-CN', 'en']);
export type Locale = z.infer<typeof Locale>;

export const Role = z.enum(['operator', 'grid_worker', 'supervisor', 'admin', 'manager', 'liaison', 'maintainer']);
export type Role = z.infer<typeof Role>;

export const Center = z.object({
  id: Id,
  name: z.string().min(1),
  timezone: z.string().default('Asia/Shanghai'),
  /** A consortium (消防联合体): the compounds and businesses this center watches. */
  consortium: z.array(z.string()).default([]),
});
export type Center = z.infer<typeof Center>;

export const Grid = z.object({
  id: Id,
  centerId: Id,
  name: z.string().min(1),
  /** The grid worker (网格员) responsible for the homes of this grid. */
  workerId: Id.optional(),
});
export type Grid = z.infer<typeof Grid>;

/**
 * Issue 19 point 4: how a person wants to be reached. `channels`: the channels they accept, in the
 * order they prefer (`[voice, sms]`); a policy step reaches them over the step's channels that are
 * in the list, in the list's order (none in the list: the step's own). `quietHours`: local times
 * (center's zone) when yellow notices wait until the end; red always goes through at once.
 */
const HHMM = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, { error: 'expected HH:MM' });
export const ReachPreferences = {
  channels: z.array(z.string().regex(/^[a-z][a-z0-9_]{0,31}$/)).min(1).optional(),
  quietHours: z.object({ from: HHMM, to: HHMM }).refine((q) => q.from !== q.to, { error: 'from and to must differ' }).optional(),
};

export const Contact = z.object({
  name: z.string().min(1),
  relation: z.string().optional(),
  phone: z.string().optional(),
  email: z.email().optional(),
  /** Per-contact webhook target (an SMS/voice gateway); default is the center's webhook. */
  webhook: z.url().optional(),
  locale: Locale.default('zh-CN'),
  ...ReachPreferences,
});
export type Contact = z.infer<typeof Contact>;

export const SiteKind = z.enum(['home', 'building', 'compound', 'business']);
export type SiteKind = z.infer<typeof SiteKind>;

export const Site = z.object({
  id: Id,
  kind: SiteKind,
  centerId: Id,
  gridId: Id.optional(),
  name: z.string().min(1),
  address: z.string().default(''),
  /** For homes: the resident (usually an elderly person living alone, 独居老人). */
  resident: z.object({ name: z.string().min(1), phone: z.string().optional(), age: z.number().int().positive().optional(), livesAlone: z.boolean().default(true), notes: z.string().optional(), locale: Locale.optional(), ...ReachPreferences }).optional(),
  contacts: z.array(Contact).default([]),
  /** For buildings: the compound it belongs to. */
  compound: z.string().optional(),
  /** Where it is (WGS 84 degrees), for the console's map (issue 17 point 6); a site without them is listed, not drawn. */
  lat: z.number().min(-90).max(90).optional(),
  lon: z.number().min(-180).max(180).optional(),
});
export type Site = z.infer<typeof Site>;

/** Default expected reporting intervals (DESIGN.md "Rules", offline). */
export const DEFAULT_INTERVAL_SEC: Record<DeviceType, number> = {
  smoke_detector: 300,
  fire_panel: 60,
  settlement_sensor: 3600,
};

export const Device = z.object({
  id: DeviceId,
  type: DeviceType,
  siteId: Id,
  /** Where it hangs: "kitchen ceiling", "3F corridor", "NE corner column". */
  location: z.string().default(''),
  /** Expected reporting interval; offline after interval × 2 + grace. */
  intervalSec: z.number().int().positive().optional(),
  enabled: z.boolean().default(true),
  /** Per-device rule overrides: a partial of the device type's thresholds (rules/ validates). */
  rules: z.record(z.string(), z.unknown()).optional(),
  /** Settlement baseline etc. that installers set. */
  meta: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
  /** Salted hash of the device secret, `sha256$<salt hex>$<hash hex>`; never the secret. */
  secretHash: z.string().optional(),
});
export type Device = z.infer<typeof Device>;

export const Person = z.object({
  id: Id,
  name: z.string().min(1),
  role: Role,
  centerId: Id.optional(),
  email: z.email().optional(),
  phone: z.string().optional(),
  webhook: z.url().optional(),
  locale: Locale.default('zh-CN'),
  ...ReachPreferences,
});
export type Person = z.infer<typeof Person>;

/**
 * A shift (值班): starts at a cron-like pattern in the center's time zone and lasts a duration.
 * e.g. day shift `0 8 * * *` for 720 minutes, night shift `0 20 * * *` for 720 minutes.
 */
export const Shift = z.object({
  id: Id,
  name: z.string().min(1),
  start: z.string().min(9),
  durationMinutes: z.number().int().min(1).max(7 * 24 * 60),
  operators: z.array(Id).min(1),
  supervisor: Id.optional(),
});
export type Shift = z.infer<typeof Shift>;

export const Roster = z.object({
  centerId: Id,
  timezone: z.string().default('Asia/Shanghai'),
  shifts: z.array(Shift).min(1),
  /** Fire-brigade liaison (消防救援联络) and the center's manager for enforcement notices. */
  liaison: Id.optional(),
  manager: Id.optional(),
});
export type Roster = z.infer<typeof Roster>;

export const RegistryFile = z.object({
  centers: z.array(Center).default([]),
  grids: z.array(Grid).default([]),
  sites: z.array(Site).default([]),
  devices: z.array(Device).default([]),
  people: z.array(Person).default([]),
  rosters: z.array(Roster).default([]),
});
export type RegistryFile = z.infer<typeof RegistryFile>;

/** What the hot path needs of a device: resolved once, looked up in O(1). */
export interface DeviceInfo {
  readonly id: string;
  readonly type: DeviceType;
  readonly siteId: string;
  readonly centerId: string;
  readonly gridId: string | undefined;
  readonly location: string;
  readonly intervalSec: number;
  readonly enabled: boolean;
  readonly rules: Readonly<Record<string, unknown>> | undefined;
  readonly meta: Readonly<Record<string, string | number | boolean>> | undefined;
}
