// A device that spews malformed messages (a firmware bug after an update): not JSON, a bare
// string, an array over 500, values of the wrong type, values out of range (kept, flagged, and no
// incident from one such sample), an unknown event type, a
// payload over 64 KiB, bytes that are not UTF-8, and a batch with one bad element among good ones.
import { MAX_BATCH, MAX_PAYLOAD_BYTES, topics } from '../../contracts/protocol.ts';
import { devicesOfSite, pickHome, type Scenario } from './types.ts';

export const malformed: Scenario = {
  name: 'malformed',
  title: { en: 'A device spewing malformed messages', zh: '设备发送畸形报文' },
  description: {
    en: 'After a bad firmware update a detector sends garbage for a minute: not JSON, a bare string, an array of 501 readings, "smoke": "high", an unknown event type, 65 KiB of padding, invalid UTF-8, and a batch of three readings with one bad one. Then it behaves again.',
    zh: '固件升级出错后，探测器一分钟内发送各种垃圾报文：非JSON、纯字符串、501条的数组、"smoke":"high"、未知事件类型、65 KiB超长报文、非UTF-8字节，以及三条中有一条错误的批量数据。之后恢复正常。',
  },
  expects: {
    incidents: [],
    deadLetters: ['WF_INGEST_NOT_JSON', 'WF_INGEST_NOT_OBJECT', 'WF_INGEST_BATCH_TOO_LARGE', 'WF_INGEST_SCHEMA', 'WF_INGEST_TOO_LARGE'],
    text: { en: 'No incident, no crash; every bad message or element in the dead-letter store with its reason; the two good readings of the mixed batch are stored.', zh: '不产生事件、网关不崩溃；每条错误报文或元素连同原因进入死信库；混合批次中的两条正确数据被存储。' },
  },
  select(r, rng, exclude) {
    const siteId = pickHome(r, rng, exclude, (ds) => ds.length > 0);
    if (!siteId) return undefined;
    return { siteId, deviceIds: [devicesOfSite(r, siteId).find((d) => d.type === 'smoke_detector')!.id] };
  },
  async run(ctx) {
    const dev = ctx.device(ctx.targets.deviceIds[0]!);
    const id = dev.device.id;
    const tel = topics.telemetry(id);
    const ev = topics.events(id);
    const now = () => Date.now();
    const garbage: Array<[string, string | Buffer]> = [
      [tel, 'smoke=0.01;temp=22.5'],
      [tel, '"ok"'],
      [tel, JSON.stringify(Array.from({ length: MAX_BATCH + 1 }, (_, i) => ({ smoke: 0.01, ts: now() - i * 1000 })))],
      [tel, JSON.stringify({ smoke: 'high', ts: now() })],
      [tel, JSON.stringify({ temp: 400, ts: now() })],
      [ev, JSON.stringify({ type: 'explode', ts: now() })],
      // Over the 64 KiB payload limit but inside the gateway's packet limit: rejected by ingest, not by the socket.
      [tel, JSON.stringify({ smoke: 0.01, pad: 'x'.repeat(MAX_PAYLOAD_BYTES) })],
      [tel, Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d])],
      [tel, JSON.stringify([{ smoke: 0.011, temp: 22.4, ts: now() }, { smoke: -5, ts: now() + 1 }, { smoke: 0.012, temp: 22.5, ts: now() + 2 }])],
    ];
    for (const [topic, payload] of garbage) {
      await dev.client.publishRaw(topic, payload);
      await ctx.sleep(5);
    }
    ctx.log('firmware behaves again');
    dev.reportNow();
  },
};
