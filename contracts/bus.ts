// The typed in-process event bus. Listeners have owners and each is wrapped, so one failing
// listener can never break another or the publisher (STYLE.md, after zigbee2mqtt).
import type { Finding } from './findings.ts';
import type { ScoredReading } from './reading.ts';
import type { IncidentEvent } from './incidents.ts';
import type { RejectRecord } from './ports.ts';
import type { ChannelInbound } from './channels.ts';

/** connect, status (retained status payload), will (last will published), socket (closed without will), shutdown;
 * heartbeat: heard from, already online (an adapter's keep-alive; not streamed to consoles). The
 * order is the partitioned log's encoding of a reason (contracts/cluster.ts): add at the end only. */
export const PRESENCE_REASONS = ['connect', 'status', 'will', 'socket', 'shutdown', 'heartbeat'] as const;

export interface DevicePresence {
  readonly deviceId: string;
  readonly online: boolean;
  readonly at: number;
  readonly reason: (typeof PRESENCE_REASONS)[number];
}

export interface BusEvents {
  /** Every reading after scoring (stored by the writer). */
  'reading.scored': ScoredReading;
  /** Non-green findings and clearing findings, from readings and from the offline sweep. */
  finding: Finding;
  'device.presence': DevicePresence;
  /** Every rejected element or message, already dead-lettered. */
  reject: RejectRecord;
  /** Incident opened, updated, transitioned (the console stream serves these). */
  incident: IncidentEvent;
  /** A provider's receipt, SMS reply or voice keypress (contracts/channels.ts), matched to its outbox row when possible. */
  'channel.inbound': ChannelInbound;
}

export type BusListener<K extends keyof BusEvents> = (payload: BusEvents[K]) => void;

export interface EventBus {
  on<K extends keyof BusEvents>(event: K, owner: string, listener: BusListener<K>): () => void;
  emit<K extends keyof BusEvents>(event: K, payload: BusEvents[K]): void;
  /** Errors thrown by listeners: counted and handed to onListenerError. */
  readonly listenerErrors: number;
}

export function createEventBus(deps: { onListenerError?: (owner: string, event: string, err: unknown) => void } = {}): EventBus {
  const listeners = new Map<string, Array<{ owner: string; fn: (p: unknown) => void }>>();
  let listenerErrors = 0;
  return {
    on(event, owner, listener) {
      const list = listeners.get(event) ?? [];
      const entry = { owner, fn: listener as (p: unknown) => void };
      list.push(entry);
      listeners.set(event, list);
      return () => {
        const l = listeners.get(event);
        if (l) listeners.set(event, l.filter((e) => e !== entry));
      };
    },
    emit(event, payload) {
      const list = listeners.get(event);
      if (!list) return;
      for (const { owner, fn } of list) {
        try {
          fn(payload);
        } catch (err) {
          listenerErrors++;
          deps.onListenerError?.(owner, event, err);
        }
      }
    },
    get listenerErrors() {
      return listenerErrors;
    },
  };
}
