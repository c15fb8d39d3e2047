// Topic ACL (PROTOCOL.md "Transport"): a device publishes only under v1/devices/{own id}/ and
// subscribes only to its own commands; an observer (a maintainer's recorder) reads v1/devices/
// and publishes nothing. Pure functions of (identity, topic).
import { COMMAND_NAMES, TOPIC_KINDS, topics } from '../contracts/protocol.ts';
import type { MessageKind } from './metrics.ts';

export type Identity =
  | { readonly kind: 'device'; readonly deviceId: string }
  | { readonly kind: 'observer'; readonly name: string };

const DEVICES_ROOT = 'v1/devices/';

/**
 * The topic kind of an allowed publish, or undefined when it is outside the ACL.
 * Sub-topics other than telemetry/events/status under the device's own prefix pass as 'other':
 * ingest dead-letters them with WF_INGEST_TOPIC, so a maintainer sees what the firmware sent.
 * The commands subtree is the gateway's direction only: a device may not command itself.
 */
export function publishKind(identity: Identity, topic: string): MessageKind | undefined {
  if (identity.kind !== 'device') return undefined;
  const prefix = topics.devicePrefix(identity.deviceId);
  if (!topic.startsWith(prefix) || topic.length === prefix.length) return undefined;
  const rest = topic.slice(prefix.length);
  if (rest === 'commands' || rest.startsWith('commands/')) return undefined;
  return (TOPIC_KINDS as readonly string[]).includes(rest) ? (rest as MessageKind) : 'other';
}

/**
 * The filters a device may subscribe to: its commands subtree, all names at one level, or one
 * command by name; a small fixed set (issue 16: with a prefix check one device could add
 * unbounded filters under its commands/, ≈ 2–6 KB each in a persistent session, until the
 * process died). Aedes de-duplicates a client's subscriptions by filter, so a device holds at
 * most DEVICE_FILTERS_PER_DEVICE of them, whatever it sends.
 */
export function deviceFilters(deviceId: string): readonly string[] {
  const own = topics.commandsFilter(deviceId);
  const base = own.slice(0, -1);
  return [own, `${base}+`, ...COMMAND_NAMES.map((n) => base + n)];
}
export const DEVICE_FILTERS_PER_DEVICE = 2 + COMMAND_NAMES.length;

export function subscribeAllowed(identity: Identity, filter: string): boolean {
  if (identity.kind === 'observer') return filter.startsWith(DEVICES_ROOT) && filter.length > DEVICES_ROOT.length;
  const own = topics.commandsFilter(identity.deviceId);
  const base = own.slice(0, -1);
  if (filter === own || filter === `${base}+`) return true;
  return filter.startsWith(base) && (COMMAND_NAMES as readonly string[]).includes(filter.slice(base.length));
}
