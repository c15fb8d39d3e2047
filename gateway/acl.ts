// Topic ACL (PROTOCOL.md "Transport"): a device publishes only under v1/devices/{own id}/ and
// subscribes only to its own commands; an observer (a maintainer's recorder) reads v1/devices/
// and publishes nothing. Pure functions of (identity, topic).
import { TOPIC_KINDS, topics } from '../contracts/protocol.ts';
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

export function subscribeAllowed(identity: Identity, filter: string): boolean {
  if (identity.kind === 'observer') return filter.startsWith(DEVICES_ROOT) && filter.length > DEVICES_ROOT.length;
  // commands/# also matches the parent level `commands` [MQTT-4.7.1-2]; anything under it is fine.
  const own = topics.commandsFilter(identity.deviceId);
  return filter === own || filter.startsWith(own.slice(0, -1));
}
