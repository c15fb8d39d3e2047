// Who a policy step reaches, from the registry: the shift on duty (operators, supervisor), the
// site's grid worker, the resident's emergency contacts, the roster's liaison and manager, the
// center's maintainers, the home's resident. Each target becomes one outbox row per channel it can be
// reached on, in the order the person prefers; a yellow notice in their quiet hours waits for the
// end of them (issue 19 point 4).
import type { Incident } from '../contracts/incidents.ts';
import type { RegistryReader } from '../contracts/ports.ts';
import type { Contact, Locale, Person, Site } from '../contracts/registry.ts';
import type { Notify, RecipientKind } from './policies.ts';
import { CHANNELS, type ChannelName } from './channels/registry.ts';
import type { Rosters } from './roster.ts';
import type { NewOutboxRow } from './outbox.ts';
import { wallClock, zonedInstant } from './zoned.ts';

export interface QuietHours { readonly from: string; readonly to: string }

export interface Target {
  readonly kind: RecipientKind;
  readonly id: string;
  /** The incident's center (a group robot is the center's duty group). */
  readonly centerId: string;
  readonly name: string;
  readonly locale: Locale;
  readonly email?: string | undefined;
  readonly phone?: string | undefined;
  readonly webhook?: string | undefined;
  /** Channels the person accepts, preferred first. */
  readonly channels?: readonly string[] | undefined;
  readonly quietHours?: QuietHours | undefined;
}

function fromPerson(kind: RecipientKind, centerId: string, p: Person): Target {
  return { kind, id: p.id, centerId, name: p.name, locale: p.locale, email: p.email, phone: p.phone, webhook: p.webhook, channels: p.channels, quietHours: p.quietHours };
}

function fromContact(siteId: string, centerId: string, index: number, c: Contact): Target {
  return { kind: 'contacts', id: `${siteId}#contact${index}`, centerId, name: c.name, locale: c.locale, email: c.email, phone: c.phone, webhook: c.webhook, channels: c.channels, quietHours: c.quietHours };
}

function fromResident(site: Site): Target | undefined {
  const r = site.resident;
  // Only someone with a phone can be reached (the resident has no email or webhook of their own).
  if (!r?.phone) return undefined;
  return { kind: 'resident', id: `${site.id}#resident`, centerId: site.centerId, name: r.name, locale: r.locale ?? 'zh-CN', phone: r.phone, channels: r.channels, quietHours: r.quietHours };
}

/** The step's channels the person accepts, in the person's order; none accepted: the step's own. */
export function preferredChannels(t: Pick<Target, 'channels'>, via: readonly ChannelName[]): readonly ChannelName[] {
  if (!t.channels) return via;
  const ordered = t.channels.filter((c): c is ChannelName => (via as readonly string[]).includes(c));
  return ordered.length > 0 ? ordered : via;
}

const minutes = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/** When `at` falls in the quiet hours (local to `tz`), the instant they end; else undefined. */
export function quietUntil(q: QuietHours | undefined, at: number, tz: string): number | undefined {
  if (!q) return undefined;
  const w = wallClock(at, tz);
  const m = w.hour * 60 + w.minute;
  const from = minutes(q.from);
  const to = minutes(q.to);
  const inside = from < to ? m >= from && m < to : m >= from || m < to;
  if (!inside) return undefined;
  const end = zonedInstant(tz, w.year, w.month, w.day, Math.floor(to / 60), to % 60);
  // Past midnight of a night window ends today; before midnight, tomorrow.
  return end > at ? end : zonedInstant(tz, w.year, w.month, w.day + 1, Math.floor(to / 60), to % 60);
}

export function createRecipients(deps: {
  registry: RegistryReader;
  rosters: Rosters;
  /** Each configured channel's validated section (alerts/channels/registry.ts parseSections). */
  channelConfig: ReadonlyMap<ChannelName, unknown>;
}) {
  const { registry, rosters } = deps;

  function targets(to: RecipientKind, incident: Incident, at: number): Target[] {
    switch (to) {
      case 'console': {
        const center = registry.center(incident.centerId);
        return [{ kind: 'console', id: incident.centerId, centerId: incident.centerId, name: center?.name ?? incident.centerId, locale: 'zh-CN' }];
      }
      case 'operators':
        return rosters.onDuty(incident.centerId, at).operators.map((p) => fromPerson(to, incident.centerId, p));
      case 'supervisor':
        return rosters.onDuty(incident.centerId, at).supervisors.map((p) => fromPerson(to, incident.centerId, p));
      case 'grid_worker': {
        const gridId = incident.gridId ?? registry.site(incident.siteId)?.gridId;
        const workerId = gridId ? registry.grid(gridId)?.workerId : undefined;
        const p = workerId ? registry.person(workerId) : undefined;
        return p ? [fromPerson(to, incident.centerId, p)] : [];
      }
      case 'contacts':
        return (registry.site(incident.siteId)?.contacts ?? []).map((c, i) => fromContact(incident.siteId, incident.centerId, i, c));
      case 'liaison': {
        const p = rosters.onDuty(incident.centerId, at).liaison;
        return p ? [fromPerson(to, incident.centerId, p)] : [];
      }
      case 'manager': {
        const p = rosters.onDuty(incident.centerId, at).manager;
        return p ? [fromPerson(to, incident.centerId, p)] : [];
      }
      case 'assignee': {
        const p = incident.assignee ? registry.person(incident.assignee) : undefined;
        return p ? [fromPerson(to, incident.centerId, p)] : [];
      }
      case 'maintainers':
        return registry.people().filter((p) => p.role === 'maintainer' && p.centerId === incident.centerId).map((p) => fromPerson(to, incident.centerId, p));
      case 'resident': {
        const site = registry.site(incident.siteId);
        const t = site ? fromResident(site) : undefined;
        return t ? [t] : [];
      }
      default: {
        const never: never = to;
        return never;
      }
    }
  }

  /** The address of a target on a channel, or undefined when it cannot be reached there. */
  function address(t: Target, channel: ChannelName): string | undefined {
    return CHANNELS[channel].address(t, deps.channelConfig.get(channel));
  }

  /**
   * Outbox rows for one notify entry; duplicates (one person both operator and supervisor, or two
   * entries naming the same address) are dropped through `seen`, keyed by channel and address.
   */
  function rows(n: Notify, incident: Incident, at: number, kind: string, step: string, available: (c: ChannelName) => boolean, seen: Set<string>): { rows: NewOutboxRow[]; targets: number } {
    const out: NewOutboxRow[] = [];
    const ts = targets(n.to, incident, at);
    // Quiet hours hold yellow only: a fire is never held (issue 19 point 4).
    const tz = incident.level === 'yellow' ? deps.rosters.timezoneOf(incident.centerId) : undefined;
    for (const t of ts) {
      const notBefore = tz ? quietUntil(t.quietHours, at, tz) : undefined;
      for (const channel of preferredChannels(t, n.via)) {
        if (!available(channel)) continue;
        const addr = address(t, channel);
        if (!addr) continue;
        // A shared gateway URL or group robot is one address for many people: the person makes the row distinct.
        const key = `${channel}|${addr}|${CHANNELS[channel].shared ? t.id : ''}`;
        if (seen.has(key)) continue;
        seen.add(key);
        out.push({ channel, incidentId: incident.id, reportId: null, kind, step, recipientKind: t.kind, recipientId: t.id, recipientName: t.name, address: addr, locale: t.locale, ...(notBefore !== undefined ? { notBefore } : {}) });
      }
    }
    return { rows: out, targets: ts.length };
  }

  return { targets, address, rows };
}

export type Recipients = ReturnType<typeof createRecipients>;
