// A simulated NB-IoT platform (CTWing or OneNET) pushing a detector's reports to Watchfire over
// HTTP, in the platform's documented message format and signed as it signs (contracts/nbiot.ts).
// Fed with a device model's emissions, it is how NB-IoT smoke detectors of elderly people's homes
// reach Watchfire in scenarios and the demo.
import { randomBytes } from 'node:crypto';
import type { Clock } from '../contracts/ports.ts';
import { systemClock } from '../contracts/ports.ts';
import { onenetSignature } from '../contracts/nbiot.ts';
import type { Emission } from './models/types.ts';

export interface NbDevice {
  /** 15-digit IMEI, the registry's meta.imei. */
  readonly imei: string;
  /** The platform's device id, the registry's meta.nbDeviceId (OneNET: numeric dev_id). */
  readonly platformId: string;
}

export interface NbiotPlatformOptions {
  readonly platform: 'onenet' | 'ctwing';
  /** Watchfire's HTTP base URL, e.g. http://127.0.0.1:8080. */
  readonly baseUrl: string;
  /** OneNET: the push token; CTWing: the secret path token. */
  readonly token: string;
  readonly clock?: Clock;
}

export interface PushAnswer {
  readonly status: number;
  readonly body: string;
}

export function createNbiotPlatform(opts: NbiotPlatformOptions) {
  const clock = opts.clock ?? systemClock;
  const url = opts.platform === 'onenet' ? `${opts.baseUrl}/ingress/onenet` : `${opts.baseUrl}/ingress/ctwing/${opts.token}`;
  let upPacketSN = 0;

  async function post(body: string): Promise<PushAnswer> {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    return { status: res.status, body: await res.text() };
  }

  /** OneNET: {msg, msg_signature, nonce}; signature = base64(md5(token + nonce + msg)). */
  function onenetBody(msg: unknown, token = opts.token): string {
    const nonce = randomBytes(6).toString('base64url');
    const text = JSON.stringify(msg);
    return JSON.stringify({ msg, msg_signature: onenetSignature(token, nonce, text), nonce });
  }

  const ctwingBase = (d: NbDevice) => ({ timestamp: clock.now(), tenantId: '10000001', productId: '15000001', deviceId: d.platformId, IMEI: d.imei, protocol: 'lwm2m' });

  return {
    url,
    post,
    onenetBody,
    /** A data report of thing-model properties (PROTOCOL.md names or the aliases of contracts/NBIOT.md). */
    dataReport(d: NbDevice, props: Record<string, unknown>): Promise<PushAnswer> {
      if (opts.platform === 'onenet') {
        const at = clock.now();
        const msgs = Object.entries(props).map(([k, v]) => ({ type: 1, dev_id: Number(d.platformId) || d.platformId, imei: d.imei, ds_id: k, at, value: v }));
        return post(onenetBody(msgs.length === 1 ? msgs[0] : msgs));
      }
      return post(JSON.stringify({ ...ctwingBase(d), messageType: 'dataReport', serviceId: 'data_report', upPacketSN: upPacketSN++, upDataSN: -1, topic: 'v1/up/ad', payload: props }));
    },
    online(d: NbDevice, online: boolean): Promise<PushAnswer> {
      if (opts.platform === 'onenet') return post(onenetBody({ type: 2, dev_id: Number(d.platformId) || d.platformId, imei: d.imei, status: online ? 1 : 0, login_type: 10, at: clock.now() }));
      return post(JSON.stringify({ ...ctwingBase(d), messageType: 'deviceOnlineOfflineReport', eventType: online ? 1 : 0 }));
    },
    /** An event report: `type` is a PROTOCOL.md event type or an alias (smoke_alarm, fault_report, …). */
    event(d: NbDevice, type: string, fields: Record<string, unknown> = {}): Promise<PushAnswer> {
      if (opts.platform === 'onenet') return post(onenetBody({ type: 1, dev_id: Number(d.platformId) || d.platformId, imei: d.imei, ds_id: 'event', at: clock.now(), value: { type, ...fields } }));
      return post(JSON.stringify({ ...ctwingBase(d), messageType: 'eventReport', serviceId: type, eventType: type.includes('alarm') ? 2 : 1, payload: fields }));
    },
    /** What a smoke detector model emitted, as its platform would push it. */
    async emit(d: NbDevice, emissions: readonly Emission[]): Promise<PushAnswer[]> {
      const out: PushAnswer[] = [];
      for (const e of emissions) {
        const { ts: _ts, seq: _seq, type, ...rest } = e.payload as Record<string, unknown>;
        out.push(await (e.kind === 'telemetry' ? this.dataReport(d, rest) : this.event(d, String(type), rest)));
      }
      return out;
    },
  };
}

export type NbiotPlatform = ReturnType<typeof createNbiotPlatform>;
