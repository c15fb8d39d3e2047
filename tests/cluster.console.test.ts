// Issue 21 point 5, console streams across API nodes: an operator whose console is on node B sees
// an alarm raised on node A live, through the real Redis the nodes share (app/console-relay.ts),
// under the same permissions as on A; A's own consoles get it once, not echoed back.
import { afterEach, beforeAll, afterAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { createRedisConsoleRelay } from '../app/console-relay.ts';
import { makeServer, login } from './dashboards.fixture.ts';
import { startTestRedis, type TestRedis } from './support/redis.ts';
import { openStream } from './support/sse.ts';

let redis: TestRedis;
beforeAll(async () => {
  redis = await startTestRedis();
});
afterAll(async () => {
  await redis?.stop();
});

type Node = Awaited<ReturnType<typeof makeServer>> & { base: string; relay: ReturnType<typeof createRedisConsoleRelay> };
const nodes: Node[] = [];
afterEach(async () => {
  for (const n of nodes.splice(0)) {
    await n.close();
    await n.relay.close();
  }
});

async function node(name: string): Promise<Node> {
  const relay = createRedisConsoleRelay({ redisUrl: redis.url, nodeId: name, logger: pino({ level: 'silent' }) });
  await relay.start();
  const ctx = await makeServer({ consoleRelay: relay });
  await ctx.server.start();
  const n = Object.assign(ctx, { base: `http://127.0.0.1:${ctx.server.address().port}`, relay });
  nodes.push(n);
  return n;
}

describe('console streams across nodes', () => {
  it("shows node A's alarm live on node B's console, to those who may see it, once on A", async () => {
    const a = await node('node-a');
    const b = await node('node-b');
    const opB = await openStream(b.base, await login(b.app, 'op'));
    await opB.next('hello');
    const opA = await openStream(a.base, await login(a.app, 'op'));
    await opA.next('hello');

    // Another center's alarm first (sd-9 is center c2's): op (center c1) is not told, on either node.
    await a.raise('sd-9');
    const inc = await a.raise('sd-1');
    const seenOnB = await opB.next('incident');
    expect(seenOnB.data).toMatchObject({ kind: 'opened', incident: { id: inc.id, level: 'red', deviceId: 'sd-1' } });
    await a.incidents.acknowledge(inc.id, 'op1');
    // On B the very next event is the acknowledgement: c2's alarm never came.
    expect((await opB.any()).data).toMatchObject({ actor: 'op1', incident: { id: inc.id, state: 'acknowledged' } });
    // On A: opened, then acknowledged — each once (B's relay does not echo them back).
    expect((await opA.any()).data).toMatchObject({ kind: 'opened', incident: { id: inc.id } });
    expect((await opA.any()).data).toMatchObject({ incident: { id: inc.id, state: 'acknowledged' } });
    // And back the other way: B's alarm on A's console.
    const fromB = await b.raise('sd-2');
    expect((await opA.next('incident', (d) => (d.incident as { id: string }).id === fromB.id)).data).toMatchObject({ kind: 'opened' });
    opA.close();
    opB.close();
  });
});
