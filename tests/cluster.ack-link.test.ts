// Issue 19 point 5 across nodes (issue 21): two whole Watchfire nodes on one PostgreSQL
// (storage.postgresUrl), each with its own SQLite file and its own SMTP server. A detector's alarm
// on node A mails the resident's family and the duty people a one-tap acknowledge link; whichever
// node sent a mail signed its link. The load balancer may send the click to the other node: the
// link must open and acknowledge there too, so both nodes sign with the one key kept on PostgreSQL
// (wf_meta), not each with its own file's.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topics } from '../contracts/protocol.ts';
import { smallCounty } from './support/registries.ts';
import { startTestInfluxd, type TestInfluxd } from './support/influxd.ts';
import { startTestPostgres, type TestPostgres } from './support/postgres.ts';
import type { TestMail } from './support/smtp.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';

let pg: TestPostgres;
let influx: TestInfluxd;
const nodes: TestSystem[] = [];

beforeAll(async () => {
  [pg, influx] = await Promise.all([startTestPostgres(), startTestInfluxd()]);
  const url = await pg.createDatabase({ name: 'wf_ack_link' });
  nodes.push(...await Promise.all([1, 2].map(() => startTestSystem({ registry: smallCounty(), influx, config: { 'storage.postgresUrl': url } }))));
});

afterAll(async () => {
  for (const n of nodes.splice(0)) await n.stop();
  await influx?.stop();
  await pg?.stop();
});

const tokenIn = (m: TestMail): string | undefined => /\/ack\/([0-9a-z]+\.[0-9a-z]+\.[\w-]{22})/.exec(m.text)?.[1];

describe('a one-tap acknowledge link in a cluster', () => {
  it('sent by one node opens and acknowledges on the other', async () => {
    const [a, b] = nodes as [TestSystem, TestSystem];
    // Each node's own SQLite file made its own key at first start; the shared one is one of them.
    const keys = nodes.map((n) => (n.wf.db.prepare("SELECT value FROM wf_meta WHERE key = 'ack_link_key'").get() as { value: string }).value);
    expect(keys[0]).not.toBe(keys[1]);

    const { secret } = await a.wf.registry.provision('sd-1');
    const detector = await a.connectDevice('sd-1', { password: secret });
    try {
      await detector.publishAsync(topics.events('sd-1'), JSON.stringify({ type: 'alarm', seq: 1 }), { qos: 1 });
      // The first mail with a link, on whichever node's SMTP server it arrived: that node signed it.
      const { sender, mail } = await a.waitFor(() => {
        for (const n of nodes) {
          const m = n.smtp!.mails.find((x) => tokenIn(x));
          if (m) return { sender: n, mail: m };
        }
        return undefined;
      }, { what: 'a mail with an acknowledge link' });
      const other = sender === a ? b : a;
      const token = tokenIn(mail)!;
      const page = await fetch(`${other.httpUrl}/ack/${token}`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('data-status="ready"');
      const post = await fetch(`${other.httpUrl}/ack/${token}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: '' });
      expect(post.status).toBe(200);
      expect(await post.text()).toContain('data-status="done"');
      const open = await sender.wf.alerts.service.list({ siteId: 'h-1' });
      expect(open.map((i) => i.state)).toEqual(['acknowledged']);
      // And the sender's own node says the same link was used.
      const again = await fetch(`${sender.httpUrl}/ack/${token}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: '' });
      expect(await again.text()).toContain('data-status="already"');
    } finally {
      await detector.endAsync();
    }
  });
});
