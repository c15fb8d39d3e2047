// Who is connecting (PROTOCOL.md "Authentication"): user name = device id, password = the
// device secret, checked in memory against its salted hash (O(1), no I/O: a reconnect storm of
// thousands of devices stays cheap). Maintainers' observer accounts are checked only when the
// user name is no valid device credential.
import type { DeviceDirectory } from '../contracts/ports.ts';
import type { Identity } from './acl.ts';
import type { RefusalReason } from './metrics.ts';

export interface ObserverAccounts {
  verify(username: string, password: Buffer | undefined): boolean;
}

/** MQTT 3.1.1 §3.2.2.3 CONNACK return codes. */
export const CONNACK_UNACCEPTABLE_PROTOCOL = 1;
export const CONNACK_BAD_CREDENTIALS = 4;
export const CONNACK_NOT_AUTHORIZED = 5;

export type AuthDecision =
  | { readonly ok: true; readonly identity: Identity }
  | { readonly ok: false; readonly reason: RefusalReason; readonly returnCode: 4 | 5 };

export function authenticate(
  deps: { directory: DeviceDirectory; observers: ObserverAccounts | undefined; maxKeepaliveSec: number },
  username: string | undefined,
  password: Buffer | undefined,
  keepaliveSec: number,
): AuthDecision {
  const result = username === undefined ? 'unknown' : deps.directory.verifySecret(username, password);
  let identity: Identity | undefined;
  if (result === 'ok' && username !== undefined) identity = { kind: 'device', deviceId: username };
  else if (username !== undefined && deps.observers?.verify(username, password)) identity = { kind: 'observer', name: username };
  if (!identity) {
    if (result === 'disabled') return { ok: false, reason: 'disabled', returnCode: CONNACK_NOT_AUTHORIZED };
    return { ok: false, reason: result === 'bad_secret' ? 'bad_secret' : 'unknown', returnCode: CONNACK_BAD_CREDENTIALS };
  }
  // A connection silent for up to 1.5 × keep-alive before the broker notices [MQTT-3.1.2-24];
  // past the configured maximum a dead device would go unnoticed too long. 3.1.1 has no return
  // code for this, so it is refused as not authorised, and counted and logged as 'keepalive'.
  if (keepaliveSec > deps.maxKeepaliveSec) return { ok: false, reason: 'keepalive', returnCode: CONNACK_NOT_AUTHORIZED };
  return { ok: true, identity };
}
