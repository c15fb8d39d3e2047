// Commands back to NB-IoT devices through their platform (issue 20 point 2): a detector on CTWing
// or OneNET cannot be published to; its platform queues the command until the device's next
// uplink (PSM: NB-IoT devices sleep between reports). Behind contracts' DeviceCommandPort; tested
// against a local HTTP server standing in for each platform (tests/adapters.nbiot.test.ts).
import { createHmac } from 'node:crypto';
import type { Clock, DeviceDirectory } from '../../contracts/ports.ts';
import { systemClock } from '../../contracts/ports.ts';
import type { DeviceCommandPort } from '../../contracts/ingress.ts';
import type { Command } from '../../contracts/protocol.ts';
import { WatchfireError } from '../../contracts/errors.ts';

export interface PlatformCommandsConfig {
  readonly onenet?: { readonly url: string; readonly apiKey: string; readonly resource?: { objId: number; objInstId: number; resId: number } } | undefined;
  readonly ctwing?: { readonly url: string; readonly appKey: string; readonly appSecret: string; readonly masterKey: string } | undefined;
}

/** AEP's CreateCommand API version (AEP SDK, aep_device_command). */
const CTWING_COMMAND_VERSION = '20190712225145';
/** OneNET NB-IoT: the LwM2M resource commands are executed on when the installer sets none. */
const DEFAULT_RESOURCE = { objId: 3200, objInstId: 0, resId: 5750 };
const TIMEOUT_MS = 10_000;

/**
 * AEP request signature (AEP SDK): base64(HMAC-SHA1(appSecret, "application:{appKey}\n
 * timestamp:{ms}\n" + "{name}:{value}\n" for each signed parameter, sorted + body + "\n")).
 */
export function ctwingSignature(appKey: string, appSecret: string, timestamp: string, params: Readonly<Record<string, string>>, body: string): string {
  let text = `application:${appKey}\ntimestamp:${timestamp}\n`;
  for (const k of Object.keys(params).sort()) text += `${k}:${params[k]}\n`;
  text += `${body}\n`;
  return createHmac('sha1', appSecret).update(text, 'utf8').digest('base64');
}

export function createPlatformCommands(deps: { config: PlatformCommandsConfig; directory: DeviceDirectory; clock?: Clock }): DeviceCommandPort & { handles(deviceId: string): boolean } {
  const clock = deps.clock ?? systemClock;
  const platformOf = (deviceId: string) => {
    const m = deps.directory.get(deviceId)?.meta;
    const p = m?.nbPlatform;
    return p === 'ctwing' || p === 'onenet' ? { platform: p, meta: m! } : undefined;
  };

  async function call(url: string, init: RequestInit): Promise<Record<string, unknown>> {
    let res: Response;
    try {
      res = await fetch(url, { ...init, signal: AbortSignal.timeout(TIMEOUT_MS) });
    } catch (err) {
      throw new WatchfireError('WF_NBIOT_COMMAND', `platform API ${new URL(url).host} unreachable: ${(err as Error).message}`);
    }
    const text = await res.text();
    if (!res.ok) throw new WatchfireError('WF_NBIOT_COMMAND', `platform API answered ${res.status}: ${text.slice(0, 200)}`);
    try {
      return JSON.parse(text) as Record<string, unknown>;
    } catch {
      throw new WatchfireError('WF_NBIOT_COMMAND', `platform API answered no JSON: ${text.slice(0, 200)}`);
    }
  }

  return {
    handles: (deviceId) => platformOf(deviceId) !== undefined,
    async send(deviceId: string, command: Command): Promise<void> {
      const p = platformOf(deviceId);
      if (!p) throw new WatchfireError('WF_NBIOT_COMMAND', `device ${deviceId} has no meta.nbPlatform (ctwing or onenet)`);
      const { name, ...args } = command;
      if (p.platform === 'ctwing') {
        const c = deps.config.ctwing;
        if (!c) throw new WatchfireError('WF_NBIOT_COMMAND', 'ingress.nbiot.ctwing.api is not configured');
        const body = JSON.stringify({
          content: { serviceIdentifier: name, params: args },
          deviceId: String(p.meta.nbDeviceId ?? ''),
          productId: Number(p.meta.nbProductId ?? 0),
          operator: 'watchfire',
          // NB-IoT devices sleep (PSM): the platform keeps the command until the next uplink, ≤ 2 h.
          ttl: 7200,
          level: 1,
        });
        const timestamp = String(clock.now());
        const params = { MasterKey: c.masterKey };
        const out = await call(`${c.url}/aep_device_command/command`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json; charset=UTF-8',
            application: c.appKey, timestamp, version: CTWING_COMMAND_VERSION, MasterKey: c.masterKey,
            signature: ctwingSignature(c.appKey, c.appSecret, timestamp, params, body),
          },
          body,
        });
        if (out.code !== 0) throw new WatchfireError('WF_NBIOT_COMMAND', `CTWing refused ${name} for ${deviceId}: code ${JSON.stringify(out.code)} ${JSON.stringify(out.msg ?? '')}`);
        return;
      }
      const c = deps.config.onenet;
      if (!c) throw new WatchfireError('WF_NBIOT_COMMAND', 'ingress.nbiot.onenet.api is not configured');
      const r = c.resource ?? DEFAULT_RESOURCE;
      const q = new URLSearchParams({ imei: String(p.meta.imei ?? ''), obj_id: String(r.objId), obj_inst_id: String(r.objInstId), res_id: String(r.resId), timeout: '25' });
      const out = await call(`${c.url}/nbiot/execute?${q}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'api-key': c.apiKey },
        body: JSON.stringify({ args: JSON.stringify({ name, ...args }) }),
      });
      if (out.errno !== 0) throw new WatchfireError('WF_NBIOT_COMMAND', `OneNET refused ${name} for ${deviceId}: errno ${JSON.stringify(out.errno)} ${JSON.stringify(out.error ?? '')}`);
    },
  };
}
