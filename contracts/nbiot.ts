// NB-IoT platform pushes (issue 20 point 2): the message formats of China Telecom's CTWing (AEP
// "订阅推送") and China Mobile's OneNET ("HTTP推送", NB-IoT suite), as zod schemas, and OneNET's token
// signature. Shared by the HTTP adapter (adapters/nbiot) and the simulated platform (simulator/).
// Fields and examples: contracts/NBIOT.md.
import { createHash, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';

// ---- OneNET ------------------------------------------------------------------------------------
/** One OneNET message: type 1 data point, 2 online/offline, 7 result of a cached command (NB only). */
export const OneNetMessage = z.looseObject({
  type: z.union([z.literal(1), z.literal(2), z.literal(7)], { error: (i) => `expected message type 1, 2 or 7, got ${JSON.stringify(i.input)}` }),
  dev_id: z.union([z.number().int(), z.string().min(1)]),
  /** NB-IoT devices carry their IMEI (the registry's meta.imei). */
  imei: z.string().regex(/^\d{15}$/).optional(),
  ds_id: z.string().optional(),
  at: z.number().int().nonnegative(),
  value: z.unknown().optional(),
  status: z.union([z.literal(0), z.literal(1)]).optional(),
  login_type: z.number().int().optional(),
  cmd_type: z.number().int().optional(),
  cmd_id: z.string().optional(),
});
export type OneNetMessage = z.infer<typeof OneNetMessage>;

/** The POST body: `msg` (one message or an array; a JSON string when encrypted mode is off but the platform stringifies), signature and nonce. */
export const OneNetPush = z.looseObject({
  msg: z.unknown(),
  msg_signature: z.string().min(1),
  nonce: z.string().min(1),
});

/** OneNET: signature = base64(md5(token + nonce + msg)), msg as the JSON text the platform sent. */
export function onenetSignature(token: string, nonce: string, msg: string): string {
  return createHash('md5').update(token + nonce + msg, 'utf8').digest('base64');
}
export function onenetVerify(token: string, nonce: string, msg: string, signature: string): boolean {
  const want = Buffer.from(onenetSignature(token, nonce, msg));
  const got = Buffer.from(signature);
  return want.length === got.length && timingSafeEqual(want, got);
}
/** The text OneNET signs: a string msg as is, an object msg as its compact JSON. */
export const onenetMsgText = (msg: unknown): string => (typeof msg === 'string' ? msg : JSON.stringify(msg));

/**
 * The texts an object `msg` may have been signed as: first exactly as it stands in the body the
 * platform sent, then re-serialised. Re-serialising alone changes what was signed whenever the
 * platform writes JSON differently from JSON.stringify — `25.0` for a Java float, `\/`, `\u4e2d`,
 * spaces — and a genuine push would then be refused for ever.
 */
export function onenetSignedTexts(body: string, msg: unknown): string[] {
  if (typeof msg === 'string') return [msg];
  const raw = rawMember(body, 'msg');
  const compact = onenetMsgText(msg);
  return raw === undefined || raw === compact ? [compact] : [raw, compact];
}

/** The text of a top-level member's value in a JSON object, as written; undefined if not found. */
export function rawMember(text: string, key: string): string | undefined {
  let i = 0;
  const ws = () => {
    while (i < text.length && ' \t\r\n'.includes(text[i]!)) i++;
  };
  /** From a quote to past its closing quote. */
  const str = () => {
    for (i++; i < text.length; i++) {
      if (text[i] === '\\') i++;
      else if (text[i] === '"') return void i++;
    }
  };
  /** Past one value: a string, or anything up to the comma or brace closing it at this depth. */
  const value = () => {
    let depth = 0;
    while (i < text.length) {
      const c = text[i]!;
      if (c === '"') {
        str();
        if (depth === 0) return;
        continue;
      }
      if (c === '{' || c === '[') depth++;
      else if (c === '}' || c === ']') {
        if (depth === 0) return;
        depth--;
      } else if (c === ',' && depth === 0) return;
      i++;
    }
  };
  ws();
  if (text[i] !== '{') return undefined;
  i++;
  for (;;) {
    ws();
    if (text[i] !== '"') return undefined;
    const k0 = i;
    str();
    let name: unknown;
    try {
      name = JSON.parse(text.slice(k0, i));
    } catch {
      return undefined;
    }
    ws();
    if (text[i] !== ':') return undefined;
    i++;
    ws();
    const v0 = i;
    value();
    if (name === key) return text.slice(v0, i).trimEnd();
    ws();
    if (text[i] !== ',') return undefined;
    i++;
  }
}

// ---- CTWing ------------------------------------------------------------------------------------
const ctwingBase = {
  timestamp: z.number().int().nonnegative(),
  tenantId: z.string().optional(),
  productId: z.union([z.string(), z.number()]).optional(),
  /** CTWing's device id (the registry's meta.nbDeviceId); often productId + IMEI. */
  deviceId: z.string().min(1),
  IMEI: z.string().optional(),
  IMSI: z.string().optional(),
  protocol: z.string().optional(),
};
export const CtwingMessage = z.discriminatedUnion('messageType', [
  z.looseObject({
    ...ctwingBase, messageType: z.literal('dataReport'),
    serviceId: z.union([z.string(), z.number()]).optional(),
    /** Thing-model products: the properties; transparent products: { APPdata: base64 }. */
    payload: z.record(z.string(), z.unknown()),
    upPacketSN: z.union([z.string(), z.number()]).optional(),
    upDataSN: z.union([z.string(), z.number()]).optional(),
    topic: z.string().optional(),
  }),
  z.looseObject({ ...ctwingBase, messageType: z.literal('deviceOnlineOfflineReport'), eventType: z.union([z.literal(0), z.literal(1)]) }),
  z.looseObject({
    ...ctwingBase, messageType: z.literal('eventReport'),
    serviceId: z.union([z.string(), z.number()]).optional(),
    /** 1 information, 2 alarm (告警), 3 fault (故障). */
    eventType: z.number().int().optional(),
    payload: z.record(z.string(), z.unknown()),
  }),
  z.looseObject({ ...ctwingBase, messageType: z.literal('commandResponse'), taskId: z.union([z.number(), z.string()]).optional(), result: z.unknown().optional() }),
], { error: (i) => `expected messageType dataReport, deviceOnlineOfflineReport, eventReport or commandResponse, got ${JSON.stringify((i.input as { messageType?: unknown } | undefined)?.messageType)}` });
export type CtwingMessage = z.infer<typeof CtwingMessage>;
