// Residents' personal data on whichever database alerts/ runs (issue 18 point 8 meets issue 21):
// the same cases on the embedded SQLite file and on a real PostgreSQL, where the incidents, the
// audit trail, the outbox and reports of every node live in cluster mode. An erasure and the
// nightly pseudonymisation rewrite the rows there (each audit rewrite with its redaction record,
// which the database's trigger demands), and verify finds a note rewritten behind its back. The
// node's own file (registry, shift handovers, wf_meta) is SQLite in both cases.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import pino from 'pino';
import { loadConfig } from '../app/config.ts';
import { registerPrivacyCommands } from '../app/commands/privacy.ts';
import { openDatabase, type Db } from '../app/db.ts';
import { createRegistry, type Registry } from '../registry/index.ts';
import { createPrivacy, type Privacy } from '../privacy/index.ts';
import { createRegistryStorage, type SqlRunner } from '../storage/index.ts';
import { DAY_SHIFT_TIME, finding, manualClock, recordingChannel, registryFile, startAlerts, tempDir, WEBHOOK_SECRET } from './alerts.fixture.ts';
import { rejection, sqlBackends, type TestDatabase } from './support/sql-backends.ts';
import { sqliteRegistryStorage } from './support/registries.ts';
import { waitFor } from './support/wait.ts';

const backends = sqlBackends();
const tmp = tempDir();
beforeAll(() => Promise.all(backends.map((b) => b.setup())));
afterAll(async () => {
  await Promise.all(backends.map((b) => b.teardown()));
  tmp.remove();
});

const DAY = 86_400_000;
const RESIDENT = '张桂英';
const PERSONAL = [RESIDENT, '13800000001', '李明', '13900000001', '幸福小区3栋201'];
const silent = pino({ level: 'silent' });
let files = 0;

interface Node {
  db: TestDatabase;
  /** This node's own SQLite file: on SQLite the very database the runner works on. */
  local: Db;
  registry: Registry;
  privacy: Privacy;
  clock: ReturnType<typeof manualClock>;
}

/** A node: its own file with the registry, privacy on the runner alerts would run on. */
async function node(db: TestDatabase, runner: SqlRunner = db.runner, at = DAY_SHIFT_TIME, file?: string): Promise<Node> {
  const local = db.sqlite && runner === db.runner ? db.sqlite : openDatabase(file ?? join(tmp.dir, `node${++files}.db`));
  const clock = manualClock(at);
  // As the product wires it (app/stores.ts): the registry on PostgreSQL when the node's stores are there.
  const registry = createRegistry({ storage: runner.dialect === 'postgres' ? createRegistryStorage({ sql: runner }) : sqliteRegistryStorage(local), logger: silent, clock });
  await registry.start();
  await registry.importFile(registryFile());
  const privacy = createPrivacy({ db: local, sql: runner, registry, clock, logger: silent, config: { pseudonymiseAfterDays: 365, readAuditDedupMinutes: 5, readAuditKeepDays: 1095 } });
  return { db, local, registry, privacy, clock };
}

/**
 * A fire at h1 handled to the end, as alerts/ writes it: the incident, its timeline (a note and a
 * call log naming the resident and her son), a notification to the son with a provider's receipt
 * quoting his number, and a handover report naming the home.
 */
async function closedIncident(runner: SqlRunner, id: string, at: number): Promise<void> {
  const { q } = runner;
  await runner.run(q.insertInto('alert_incidents').values({
    id, key: `h1:fire:${id}`, level: 'red', score: 90, category: 'fire', condition: 'alarm', state: 'resolved', active: 0, center_id: 'fc1',
    site_id: 'h1', grid_id: 'g1', device_id: 'sd1', zone: null, title_en: `Fire at ${RESIDENT}家`, title_zh: `${RESIDENT}家 火警`, confirmed: 0,
    finding_count: 1, last_reading: null, opened_at: at, updated_at: at + 600_000, last_finding_at: at, resolved_at: at + 600_000,
    disposition: 'nuisance', feedback: `${RESIDENT}在厨房烧焦了锅`, pseudonymised_at: null,
  }));
  const entry = (n: number, actor: string, action: string, note: string | null, noteZh: string | null = null) => ({
    incident_id: id, at: at + n, actor, action, from_state: null, to_state: null, note, note_zh: noteZh,
  });
  await runner.run(q.insertInto('alert_audit').values([
    entry(0, 'system', 'opened', 'Fire: smoke alarm (kitchen)', '火警：烟感报警 (厨房)'),
    entry(1, 'op-liu', 'note', `${RESIDENT}说是做饭的烟，电话 138 0000 0001`),
    entry(2, 'op-liu', 'call:reached', '李明 13900000001: 儿子马上过去'),
    entry(3, 'op-liu', 'resolve', `nuisance: ${RESIDENT}在厨房烧焦了锅`),
  ]));
  const [o] = await runner.all(q.insertInto('alert_outbox').values({
    channel: 'webhook', incident_id: id, report_id: null, kind: 'incident', step: 'contacts', recipient_kind: 'contact', recipient_id: 'h1#contact0',
    recipient_name: '李明', address: '13900000001', locale: 'zh-CN', status: 'sent', attempts: 1, next_at: at, created_at: at, sent_at: at + 1_000,
    last_error: null, pseudonymised_at: null, claimed_by: null, claimed_until: null,
  }).returning('id'));
  await runner.run(q.insertInto('alert_outbox_attempts').values({
    outbox_id: o!.id, started_at: at, finished_at: at + 1_000, outcome: 'sent', error: null, provider_id: `sms-${id}`, receipt: 'DELIVRD',
    receipt_at: at + 2_000, receipt_detail: 'delivered to 13900000001',
  }));
  await runner.run(q.insertInto('alert_reports').values({
    kind: 'handover', center_id: 'fc1', period: `shift-${id}`, created_at: at + 700_000, pseudonymised_at: null,
    body: JSON.stringify({ lines: { zh: [`${RESIDENT}家 火警 已处置`], en: [`Fire at ${RESIDENT}家 resolved`] } }),
  }));
}

const text = async (db: TestDatabase, sql: string) => JSON.stringify(await db.query(sql));

describe.each(backends)('privacy on $name', (backend) => {
  it('an erasure rewrites the incident, its notes (each with its redaction record), the outbox and the reports; verify holds', async () => {
    const db = await backend.open();
    const n = await node(db);
    await closedIncident(db.runner, 'inc-1', DAY_SHIFT_TIME - DAY);
    const before = Number((await db.query<{ n: number }>('SELECT COUNT(*) AS n FROM alert_audit'))[0]!.n);
    // A shift handover in this node's own file, signed for (final), naming her and her son: on
    // PostgreSQL rewritten after the shared rows commit, on SQLite in the same transaction.
    const handover = Number(n.local.prepare(`INSERT INTO shift_handovers (center_id, from_at, to_at, summary, remark, outgoing_user, outgoing_name, handed_at, incoming_user, incoming_name, received_at, receipt_note)
      VALUES ('fc1', 1, 2, ?, '明早回访李明 139 0000 0001', 'op-liu', '刘值班', 3, 'op-chen', '陈值班', 4, '已知悉')`).run(`${RESIDENT}家 火警 已处置`).lastInsertRowid);

    const r = await n.privacy.erase('h1', 'admin-zhao', 'PIPL request of 2026-12-01 (ticket 17)');
    expect(r.counts).toMatchObject({ registry_sites: 1, alert_incidents: 1, alert_audit: 3, alert_outbox: 1, alert_outbox_attempts: 1, alert_reports: 1, shift_handovers: 1 });
    expect(n.local.prepare('SELECT summary, remark FROM shift_handovers WHERE id = ?').get(handover)).toEqual({ summary: `[${r.pseudonym}] 火警 已处置`, remark: `明早回访[${r.pseudonym}:contact0] [${r.pseudonym}:contact0:phone]` });
    expect(n.local.prepare('SELECT cause FROM privacy_handover_redactions').all()).toEqual([{ cause: `erasure:${r.erasureId}` }]);
    // Nothing of her is left in any table of either database; PostgreSQL's old row versions were vacuumed.
    expect(r.leftovers).toEqual([]);
    expect(r.walCleared).toBe(true);
    for (const table of ['alert_incidents', 'alert_audit', 'alert_outbox', 'alert_outbox_attempts', 'alert_reports']) {
      const all = await text(db, `SELECT * FROM ${table}`);
      for (const s of PERSONAL) expect(all, `${table}: ${s}`).not.toContain(s);
    }
    const p = r.pseudonym;
    expect(await db.query("SELECT action, note FROM alert_audit WHERE incident_id = 'inc-1' ORDER BY id")).toEqual([
      { action: 'opened', note: 'Fire: smoke alarm (kitchen)' },
      { action: 'note', note: `[${p}: erased]` },
      { action: 'call:reached', note: `[${p}: erased]` },
      { action: 'resolve', note: `nuisance: [${p}: erased]` },
      { action: 'privacy_erase', note: `personal data of site h1 erased (erasure #${r.erasureId}, pseudonym ${p}): PIPL request of 2026-12-01 (ticket 17)` },
    ]);
    expect(await db.query('SELECT recipient_name, address FROM alert_outbox')).toEqual([{ recipient_name: `[${p}:contact0]`, address: `[${p}:contact0:address]` }]);
    // Each rewrite of the trail has its record, naming the erasure; the erasure is recorded where the trail is.
    expect((await db.query<{ cause: string }>('SELECT cause FROM privacy_redactions ORDER BY id')).map((x) => x.cause)).toEqual(Array(3).fill(`erasure:${r.erasureId}`));
    expect(await db.query('SELECT actor, site_id, counts FROM privacy_erasures')).toEqual([{ actor: 'admin-zhao', site_id: 'h1', counts: JSON.stringify(r.counts) }]);
    expect(Number((await db.query<{ n: number }>('SELECT COUNT(*) AS n FROM alert_audit'))[0]!.n)).toBe(before + 1);
    expect(n.registry.site('h1')).toMatchObject({ name: p, address: '', contacts: [] });
    expect(await n.privacy.verify()).toMatchObject({ ok: true, problems: [], redacted: 3, erasures: 1 });
    // The export reads it back from there: the incident under the pseudonym, and the erasure.
    const e = await n.privacy.export('h1', { username: 'admin-zhao', role: 'admin' });
    expect(e.incidents.map((i) => i.id)).toEqual(['inc-1']);
    expect(e.erasures).toHaveLength(1);
    expect(JSON.stringify(e)).not.toContain(RESIDENT);
  });

  it('an erasure lists what it could not know was hers: another site\'s note naming her', async () => {
    const db = await backend.open();
    const n = await node(db);
    await closedIncident(db.runner, 'inc-1', DAY_SHIFT_TIME - DAY);
    await db.runner.run(db.runner.q.insertInto('alert_audit').values({
      incident_id: 'inc-b1', at: 1, actor: 'op-liu', action: 'note', from_state: null, to_state: null, note: `邻居${RESIDENT}报的警`, note_zh: null,
    }));
    const r = await n.privacy.erase('h1', 'admin-zhao', 'ticket 17');
    expect(r.leftovers).toEqual([{ table: db.sqlite ? 'alert_audit' : 'postgres:alert_audit', column: 'note', rows: 1 }]);
  });

  it('the nightly pseudonymisation rewrites what is past the retention there, once; recent incidents keep every word', async () => {
    const db = await backend.open();
    const n = await node(db);
    await closedIncident(db.runner, 'inc-old', DAY_SHIFT_TIME - 400 * DAY);
    await closedIncident(db.runner, 'inc-new', DAY_SHIFT_TIME - 10 * DAY);

    const r = await n.privacy.pseudonymise();
    expect(r).toMatchObject({ incidents: 1, auditEntries: 3, outboxRows: 1, attempts: 1, reports: 1 });
    const p = (await n.privacy.export('h1', { username: 'test', role: 'admin' })).subject.pseudonym;
    const old = await text(db, "SELECT note FROM alert_audit WHERE incident_id = 'inc-old'");
    for (const s of PERSONAL) expect(old, s).not.toContain(s);
    expect(old).toContain(`[${p}]说是做饭的烟，电话 [${p}:phone]`);
    expect(old).toContain(`[${p}:contact0] [${p}:contact0:phone]: 儿子马上过去`);
    // (Raw pg hands BIGINT over as text.)
    expect((await db.query("SELECT feedback, pseudonymised_at FROM alert_incidents WHERE id = 'inc-old'")).map((x) => ({ ...x, pseudonymised_at: Number(x.pseudonymised_at) })))
      .toEqual([{ feedback: `[${p}]在厨房烧焦了锅`, pseudonymised_at: DAY_SHIFT_TIME }]);
    expect(await text(db, "SELECT recipient_name, address, receipt_detail FROM alert_outbox o JOIN alert_outbox_attempts a ON a.outbox_id = o.id WHERE o.incident_id = 'inc-old'"))
      .toBe(JSON.stringify([{ recipient_name: `[${p}:contact0]`, address: `[${p}:contact0:address]`, receipt_detail: 'delivered to [address]' }]));
    expect(await text(db, "SELECT body FROM alert_reports WHERE period = 'shift-inc-old'")).not.toContain(RESIDENT);
    // The recent one keeps every word.
    expect(await text(db, "SELECT note FROM alert_audit WHERE incident_id = 'inc-new'")).toContain('13900000001');
    expect(await text(db, "SELECT body FROM alert_reports WHERE period = 'shift-inc-new'")).toContain(RESIDENT);

    expect(await n.privacy.pseudonymise()).toMatchObject({ incidents: 0, auditEntries: 0, outboxRows: 0, reports: 0 });
    expect(await n.privacy.verify()).toMatchObject({ ok: true, redacted: 3 });
  });

  it('the trail refuses a rewrite without its redaction record; verify finds one made behind the trigger\'s back', async () => {
    const db = await backend.open();
    const n = await node(db);
    await closedIncident(db.runner, 'inc-1', DAY_SHIFT_TIME - 400 * DAY);
    await n.privacy.pseudonymise();
    const [note] = await db.query<{ id: number }>("SELECT id FROM alert_audit WHERE action = 'note'");
    const { q } = db.runner;
    const refused = async (p: Promise<unknown>) => String((await rejection(p) as Error).message);
    // No record, no rewrite; a record allows exactly its text, nothing else of the entry.
    expect(await refused(db.runner.run(q.updateTable('alert_audit').set({ note: 'rewritten' }).where('id', '=', note!.id)))).toMatch(/append-only/);
    expect(await refused(db.runner.run(q.deleteFrom('alert_audit').where('id', '=', note!.id)))).toMatch(/append-only/);
    await db.runner.run(q.insertInto('privacy_redactions').values({ at: 1, audit_id: note!.id, cause: 'retention', before_hmac: 'x', note: 'recorded', note_zh: null }));
    expect(await refused(db.runner.run(q.updateTable('alert_audit').set({ note: 'not recorded' }).where('id', '=', note!.id)))).toMatch(/append-only/);
    expect(await refused(db.runner.run(q.updateTable('alert_audit').set({ note: 'recorded', actor: 'someone else' }).where('id', '=', note!.id)))).toMatch(/append-only/);
    expect(await db.runner.run(q.updateTable('alert_audit').set({ note: 'recorded' }).where('id', '=', note!.id))).toBe(1);
    // The records themselves cannot be changed or removed.
    expect(await refused(db.runner.run(q.updateTable('privacy_redactions').set({ note: 'x' })))).toMatch(/append-only/);
    expect(await refused(db.runner.run(q.deleteFrom('privacy_redactions')))).toMatch(/append-only/);
    expect(await n.privacy.verify()).toMatchObject({ ok: true });

    // By hand, around the trigger: found.
    await db.exec(db.sqlite ? 'DROP TRIGGER alert_audit_no_update' : 'ALTER TABLE alert_audit DISABLE TRIGGER alert_audit_no_update');
    await db.runner.run(q.updateTable('alert_audit').set({ note: `${RESIDENT} again` }).where('id', '=', note!.id));
    const v = await n.privacy.verify();
    expect(v.ok).toBe(false);
    expect(v.problems.join('\n')).toMatch(new RegExp(`alert_audit_no_update is missing[\\s\\S]*alert_audit #${note!.id} differs from its redaction record`));
  });
});

describe('privacy on PostgreSQL shared by several nodes', () => {
  const pg = backends[1]!;

  it('every node uses one key (the first node\'s), so a resident has one pseudonym whichever node computed it', async () => {
    const db = await pg.open();
    const a = await node(db);
    const b = await node(db, db.another());
    const keyOf = (x: Node) => (x.local.prepare("SELECT value FROM wf_meta WHERE key = 'privacy_key'").get() as { value: string }).value;
    expect(keyOf(a)).not.toBe(keyOf(b));
    const pa = (await a.privacy.export('h1', { username: 'a', role: 'admin' })).subject.pseudonym;
    const pb = (await b.privacy.export('h1', { username: 'b', role: 'admin' })).subject.pseudonym;
    expect(pb).toBe(pa);
    expect(await db.query('SELECT value FROM privacy_key')).toEqual([{ value: keyOf(a) }]);
    expect(String((await rejection(db.exec("UPDATE privacy_key SET value = repeat('0', 64)")) as Error).message)).toMatch(/append-only/);
  });

  it('an erasure on one node reaches another node\'s registry: the registry they share announces it', async () => {
    const db = await pg.open();
    const [a, b] = [await node(db), await node(db, db.another())];
    expect(b.registry.site('h1')?.resident?.name).toBe(RESIDENT);
    const r = await a.privacy.erase('h1', 'admin-zhao', 'ticket 17');
    await waitFor(() => b.registry.site('h1')?.name === r.pseudonym, { what: "node B's registry following the erasure" });
    expect(b.registry.site('h1')).toMatchObject({ name: r.pseudonym, contacts: [] });
    expect(b.registry.site('h1')?.resident).toBeUndefined();
    await a.registry.stop();
    await b.registry.stop();
  });

  it('a read recorded on one node is listed, and exported, by another', async () => {
    const db = await pg.open();
    const [a, b] = [await node(db), await node(db, db.another())];
    await a.privacy.reads.record({ username: 'op-liu', role: 'operator', centerId: 'fc1' }, 'site', 'h1', 'h1', 'fc1');
    expect((await b.privacy.reads.list({ siteId: 'h1', limit: 10 })).map((r) => r.username)).toEqual(['op-liu']);
    const e = await b.privacy.export('h1', { username: 'sup-huang', role: 'supervisor' });
    expect(e.reads.map((r) => `${r.username} ${r.resource}`)).toEqual(['sup-huang export', 'op-liu site']);
  });

  it('real alerts on PostgreSQL: the erasure reaches the incident, timeline, notifications and report they wrote there', async () => {
    const db = await pg.open();
    const clock = manualClock(DAY_SHIFT_TIME);
    const h = await startAlerts({
      file: join(tmp.dir, `alerts${++files}.db`), clock,
      config: { webhook: { url: 'http://127.0.0.1:9/sms-gateway', secret: WEBHOOK_SECRET } },
      alerts: { sql: db.another(), channels: { email: recordingChannel('email'), webhook: recordingChannel('webhook') } },
    });
    try {
      await h.alerts.handleFinding(finding({ ts: clock.now() }));
      const id = h.events.at(-1)!.incident.id;
      await h.alerts.service.acknowledge(id, 'op-liu');
      await h.alerts.service.note(id, 'op-liu', `${RESIDENT}说是做饭的烟，电话 138 0000 0001`);
      await h.alerts.service.call(id, 'op-liu', { contact: '李明', phone: '13900000001', outcome: 'reached', note: '儿子马上过去' });
      await h.alerts.reports.handover('fc1', clock.now());
      await h.alerts.service.resolve(id, 'op-liu', { disposition: 'nuisance', feedback: `${RESIDENT}在厨房烧焦了锅` });
      await vi.waitFor(async () => expect(await h.alerts.outbox.pending()).toEqual([]));
      // Written on PostgreSQL, not in the node's file.
      expect(await text(db, 'SELECT note FROM alert_audit')).toContain(RESIDENT);
      expect(await text(db, "SELECT recipient_name FROM alert_outbox WHERE recipient_id LIKE 'h1#contact%'")).toContain('李明');
      expect(await text(db, 'SELECT body FROM alert_reports')).toContain(`${RESIDENT}家`);

      const privacy = createPrivacy({ db: h.db, sql: db.runner, registry: h.registry, clock, logger: silent, config: { pseudonymiseAfterDays: 365, readAuditDedupMinutes: 5, readAuditKeepDays: 1095 } });
      const r = await privacy.erase('h1', 'admin-zhao', 'ticket 17');
      expect(r.leftovers).toEqual([]);
      expect(r.counts.alert_audit).toBeGreaterThanOrEqual(3);
      expect(r.counts.alert_outbox).toBeGreaterThan(0);
      expect(r.counts.alert_reports).toBe(1);
      for (const table of ['alert_incidents', 'alert_audit', 'alert_outbox', 'alert_outbox_attempts', 'alert_reports']) {
        const all = await text(db, `SELECT * FROM ${table}`);
        for (const x of PERSONAL) expect(all, `${table}: ${x}`).not.toContain(x);
      }
      expect(await privacy.verify()).toMatchObject({ ok: true, erasures: 1 });
    } finally {
      await h.close();
    }
  });

  it('wf privacy with storage.postgresUrl erases and verifies there', async () => {
    const db = await pg.open();
    const dataDir = join(tmp.dir, 'cli');
    mkdirSync(dataDir);
    // The node's own file, with its registry, as the server left it.
    const n = await node(db, db.another(), DAY_SHIFT_TIME, join(dataDir, 'watchfire.db'));
    await n.registry.stop();
    n.local.close();
    await closedIncident(db.runner, 'inc-1', DAY_SHIFT_TIME - DAY);
    const cfg = loadConfig({ env: { WF_POSTGRES_URL: db.url }, overrides: { dataDir } });
    const wf = async (...args: string[]) => {
      let out = '';
      const program = new Command().exitOverride().configureOutput({ writeOut: (x) => { out += x; }, writeErr: (x) => { out += x; } });
      registerPrivacyCommands(program, () => cfg);
      await program.parseAsync(['node', 'wf', 'privacy', ...args]);
      return out;
    };
    const r = JSON.parse(await wf('erase', 'h1', '--reason', 'ticket 17', '--by', 'admin-zhao', '--json')) as { counts: Record<string, number>; leftovers: unknown[] };
    expect(r).toMatchObject({ counts: { alert_incidents: 1, alert_audit: 3, alert_outbox: 1, alert_reports: 1 }, leftovers: [] });
    expect(await text(db, 'SELECT note FROM alert_audit')).not.toContain(RESIDENT);
    expect(await wf('verify')).toMatch(/^audit trail OK: 5 entries, 3 pseudonymised, 1 erasures/);
  });

  it('two nodes running the nightly job at once rewrite each entry once (rows another node holds are skipped)', async () => {
    const db = await pg.open();
    for (let i = 0; i < 30; i++) await closedIncident(db.runner, `inc-${i}`, DAY_SHIFT_TIME - 400 * DAY + i);
    const [a, b] = [await node(db), await node(db, db.another())];
    const [ra, rb] = await Promise.all([a.privacy.pseudonymise(), b.privacy.pseudonymise()]);
    expect(ra.incidents + rb.incidents).toBe(30);
    expect(ra.auditEntries + rb.auditEntries).toBe(90);
    expect(Number((await db.query<{ n: number }>('SELECT COUNT(*) AS n FROM privacy_redactions'))[0]!.n)).toBe(90);
    expect(await a.privacy.verify()).toMatchObject({ ok: true, redacted: 90 });
  });
});
