// A gateway in a process of its own, for tests that measure that process: started by fork() with
// --expose-gc and a small heap; it reports its port, then answers {t:'heap'} with its memory
// after full collections and {t:'stats'} with the gateway's stats. Frames are counted, not kept.
import pino from 'pino';
import { Registry } from 'prom-client';
import { createEventBus } from '../../contracts/bus.ts';
import { Config } from '../../contracts/config.ts';
import { createGateway } from '../../gateway/index.ts';
import { DEVICES, memoryDirectory } from '../gateway.fixture.ts';

const config = Config.parse({ gateway: { host: '127.0.0.1', port: 0, ...(JSON.parse(process.argv[2] ?? '{}') as object) } }).gateway;
let frames = 0;
const gateway = createGateway({
  config,
  directory: memoryDirectory(DEVICES),
  sink: { accept: () => { frames++; return { accepted: 1, rejected: 0, duplicates: 0 }; } },
  bus: createEventBus(),
  metrics: new Registry(),
  logger: pino({ level: 'silent' }),
});
await gateway.start();

const gc = (globalThis as { gc?: () => void }).gc;
process.on('message', (m: { t: string }) => {
  if (m.t === 'heap') {
    // Several passes: weak maps and finalizers free what one pass only marks.
    for (let i = 0; i < 4; i++) gc?.();
    const u = process.memoryUsage();
    process.send!({ t: 'heap', heapUsed: u.heapUsed, arrayBuffers: u.arrayBuffers, rss: u.rss });
  } else if (m.t === 'stats') {
    process.send!({ t: 'stats', stats: gateway.stats(), frames });
  } else if (m.t === 'stop') {
    void gateway.stop().then(() => process.exit(0));
  }
});
process.send!({ t: 'ready', port: gateway.addresses().mqtt });
