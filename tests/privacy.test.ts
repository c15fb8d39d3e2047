// Residents' personal data (issue 18 point 8): the nightly pseudonymisation touches only old
// closed incidents and their sent notifications; the export finds everything; the erasure leaves
// neither name nor phone anywhere in the database file (before and after VACUUM) while the audit
// trail still verifies and records the erasure. Real alerts, registry and SQLite file.
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { WatchfireError } from '../contracts/errors.ts';
import { createPrivacy, type Privacy } from '../privacy/index.ts';
import { DAY_SHIFT_TIME, finding, manualClock, recordingChannel, startAlerts, tempDir, WEBHOOK_SECRET, type Harness } from './alerts.fixture.ts';

const tmp = tempDir();
afterAll(() => tmp.remove());
let n = 0;
let current: Harness | undefined;
afterEach(async () => {
  await current?.close();
  current = undefined;
});

const DAY = 86_400_000;
const RESIDENT = '张桂英';
const PHONE = '13800000001';
const PERSONAL = [RESIDENT, PHONE, '李明', '13900000001', '王芳', '13900000002', 'wangfang@example.org', '幸福小区3栋201'];

async function setup(start: number) {
  const clock = manualClock(start);
  const h = await startAlerts({
    file: join(tmp.dir, `p${n++}.db`),
    clock,
    config: { webhook: { url: 'http://127.0.0.1:9/sms-gateway', secret: WEBHOOK_SECRET } },
    alerts: { channels: { email: recordingChannel('email'), webhook: recordingChannel('webhook') } },
  });
  current = h;
  const privacy = createPrivacy({ db: h.db, registry: h.registry, clock, logger: pino({ level: 'silent' }), config: { pseudonymiseAfterDays: 365, readAuditDedupMinutes: 5, readAuditKeepDays: 1095 } });
  return { h, clock, privacy };
}

/** An alarm at h1 handled to the end, with a note and a call log that name the resident. */
async function closedIncident(h: Harness, clock: ReturnType<typeof manualClock>, over = {}): Promise<string> {
  await h.alerts.handleFinding(finding({ ts: clock.now(), ...over }));
  const id = h.events.at(-1)!.incident.id;
  await h.alerts.service.acknowledge(id, 'op-liu');
  await h.alerts.service.note(id, 'op-liu', `${RESIDENT}说是做饭的烟，电话 138 0000 0001`);
  await h.alerts.service.call(id, 'op-liu', { contact: '李明', phone: '13900000001', outcome: 'reached', note: '儿子马上过去' });
  await h.alerts.service.resolve(id, 'op-liu', { disposition: 'nuisance', feedback: `${RESIDENT}在厨房烧焦了锅` });
  // Sent, so that the outbox rows are ones the retention may touch.
  await vi.waitFor(async () => expect(await h.alerts.outbox.pending()).toEqual([]));
  return id;
}

/** A shift handover (issue 17) signed for, and so final, whose summary and remark name the resident and contacts. */
function receivedHandover(h: Harness, at: number): number {
  return Number(h.db.prepare(`INSERT INTO shift_handovers (center_id, from_at, to_at, summary, remark, outgoing_user, outgoing_name, handed_at, incoming_user, incoming_name, received_at, receipt_note)
    VALUES ('fc1', ?, ?, ?, ?, 'op-liu', '刘值班', ?, 'op-chen', '陈值班', ?, ?)`).run(at - 3_600_000, at,
    JSON.stringify({ stillOpen: [{ site: `${RESIDENT}家`, lastNote: `${RESIDENT}说是做饭的烟` }], calls: [{ contact: '王芳', phone: '13900000002' }] }),
    '明早回访李明 139 0000 0001', at, at + 60_000, '已知悉，回访王芳').lastInsertRowid);
}

function rows(h: Harness, sql: string, ...args: unknown[]): Array<Record<string, unknown>> {
  return h.db.prepare(sql).all(...args) as Array<Record<string, unknown>>;
}

function fileHas(file: string, text: string): string[] {
  return [file, `${file}-wal`].filter((f) => existsSync(f) && readFileSync(f).includes(Buffer.from(text, 'utf8')));
}

describe('privacy: retention', () => {
  it('pseudonymises closed incidents older than the retention, their notes and sent notifications; never open or recent ones', async () => {
    const start = DAY_SHIFT_TIME - 400 * DAY;
    const { h, clock, privacy } = await setup(start);
    const old = await closedIncident(h, clock);
    clock.set(DAY_SHIFT_TIME - 400 * DAY + 3_600_000);
    // Still open 400 days later: an incident nobody closed is never touched.
    await h.alerts.handleFinding(finding({ deviceId: 'fp1', deviceType: 'fire_panel', siteId: 'b1', category: 'fire', zone: '2', ts: clock.now() }));
    const open = h.events.at(-1)!.incident.id;
    await h.alerts.service.note(open, 'op-liu', `tell ${RESIDENT}'s neighbour 13900000002`);
    // A low battery at her home, open at the handover: the report names the home (张桂英家).
    await h.alerts.handleFinding(finding({ ruleId: 'smoke.low_battery', level: 'yellow', score: 45, category: 'maintenance', condition: 'low_battery', message: { en: 'Low battery', zh: '低电量' }, ts: clock.now() }));
    const report = await h.alerts.reports.handover('fc1', clock.now());
    expect(report.body.lines.zh.join()).toContain('张桂英家');
    const oldHandover = receivedHandover(h, clock.now());
    clock.set(DAY_SHIFT_TIME - 10 * DAY);
    const recentHandover = receivedHandover(h, clock.now());
    const recent = await closedIncident(h, clock);
    clock.set(DAY_SHIFT_TIME);

    const r = await privacy.pseudonymise();
    expect(r.incidents).toBe(1);
    expect(r.reports).toBe(1);
    expect(JSON.stringify(rows(h, 'SELECT body FROM alert_reports'))).not.toContain(RESIDENT);
    // The old handover (final, signed for) is rewritten through its redaction record; the recent one is not.
    expect(r.handovers).toBe(1);
    const [oldH, recentH] = [oldHandover, recentHandover].map((id) => JSON.stringify(rows(h, 'SELECT summary, remark, receipt_note FROM shift_handovers WHERE id = ?', id)));
    for (const s of [RESIDENT, '王芳', '13900000002', '李明']) {
      expect(oldH).not.toContain(s);
      expect(recentH).toContain(s);
    }
    expect(r.auditEntries).toBeGreaterThanOrEqual(3);
    expect(r.outboxRows).toBeGreaterThan(0);

    const p = (await privacy.export('h1', { username: 'test', role: 'admin' })).subject.pseudonym;
    expect(p).toMatch(/^P-[0-9a-f]{10}$/);
    const oldTimeline = rows(h, 'SELECT action, note FROM alert_audit WHERE incident_id = ? ORDER BY id', old);
    const text = JSON.stringify(oldTimeline);
    for (const s of [RESIDENT, PHONE, '李明', '13900000001']) expect(text).not.toContain(s);
    expect(text).toContain(`[${p}]说是做饭的烟`);
    expect(text).toContain(`[${p}:contact0] [${p}:contact0:phone]: 儿子马上过去`);
    expect(rows(h, 'SELECT feedback, pseudonymised_at FROM alert_incidents WHERE id = ?', old)[0]).toEqual({ feedback: `[${p}]在厨房烧焦了锅`, pseudonymised_at: DAY_SHIFT_TIME });
    const oldOutbox = rows(h, "SELECT recipient_id, recipient_name, pseudonymised_at FROM alert_outbox WHERE incident_id = ? AND recipient_id LIKE 'h1#contact%'", old);
    expect(oldOutbox.length).toBeGreaterThan(0);
    for (const o of oldOutbox) expect(o.recipient_name).toMatch(new RegExp(`^\\[${p}:contact\\d\\]$`));

    // The recent and the open incidents keep every word.
    expect(JSON.stringify(rows(h, 'SELECT note FROM alert_audit WHERE incident_id = ?', recent))).toContain(PHONE.slice(0, 3));
    expect(rows(h, 'SELECT feedback, pseudonymised_at FROM alert_incidents WHERE id = ?', recent)[0]).toEqual({ feedback: `${RESIDENT}在厨房烧焦了锅`, pseudonymised_at: null });
    expect(JSON.stringify(rows(h, 'SELECT note FROM alert_audit WHERE incident_id = ?', open))).toContain('13900000002');
    expect(rows(h, "SELECT COUNT(*) AS n FROM alert_outbox WHERE incident_id = ? AND recipient_name = '李明'", recent)[0]!.n).toBeGreaterThan(0);

    // Done once: a second run finds nothing; the trail verifies and names each rewrite.
    expect(await privacy.pseudonymise()).toMatchObject({ incidents: 0, auditEntries: 0, outboxRows: 0, handovers: 0 });
    const v = await privacy.verify();
    expect(v).toMatchObject({ ok: true, problems: [] });
    expect(v.redacted).toBe(r.auditEntries);
    // Nothing else may rewrite the trail: no record, no update.
    expect(() => h.db.prepare('UPDATE alert_audit SET note = ? WHERE incident_id = ?').run('rewritten', recent)).toThrow(/append-only/);
    expect(() => h.db.prepare('DELETE FROM alert_audit WHERE incident_id = ?').run(old)).toThrow(/append-only/);
  });
});

describe('privacy: export and erase', () => {
  let privacy: Privacy;

  it('exports everything held about a resident, found by site id, name or phone', async () => {
    const s = await setup(DAY_SHIFT_TIME);
    privacy = s.privacy;
    const id = await closedIncident(s.h, s.clock);
    const byName = await privacy.export(RESIDENT, { username: 'sup-huang', role: 'supervisor', centerId: 'fc1' });
    expect((await privacy.export('138 0000 0001', { username: 'sup-huang', role: 'supervisor' })).subject.siteId).toBe('h1');
    expect(byName.subject.siteId).toBe('h1');
    expect(byName.site).toMatchObject({ name: '张桂英家', resident: { name: RESIDENT, phone: PHONE, age: 84 } });
    expect(byName.devices.map((d) => d.id)).toEqual(['sd1', 'sd2']);
    const inc = byName.incidents.find((i) => i.id === id) as { timeline: Array<{ action: string; note: string }>; notifications: Array<{ recipientName: string; attempts: unknown[] }> };
    expect(inc.timeline.map((t) => t.action)).toEqual(['opened', 'acknowledge', 'note', 'call:reached', 'resolve']);
    expect(inc.notifications.some((o) => o.recipientName === '李明' && o.attempts.length === 1)).toBe(true);
    // The export is itself a read of personal data, recorded with who and when.
    expect((await privacy.reads.list({ siteId: 'h1', limit: 10 })).map((r) => [r.username, r.resource])).toEqual([['sup-huang', 'export'], ['sup-huang', 'export']]);
    await expect(privacy.export('nobody', { username: 'x', role: 'admin' })).rejects.toThrow(WatchfireError);
  });

  it('refuses to erase while an incident of the site is open, and without a reason', async () => {
    const { h, clock, privacy: pv } = await setup(DAY_SHIFT_TIME);
    await h.alerts.handleFinding(finding({ ts: clock.now() }));
    const code = async (p: Promise<unknown>) => { try { await p; } catch (e) { return (e as WatchfireError).code; } return undefined; };
    expect(await code(pv.erase('h1', 'admin', 'request of the resident\'s son'))).toBe('WF_PRIVACY_OPEN_INCIDENT');
    expect(await code(pv.erase('b1', 'admin', '  '))).toBe('WF_PRIVACY_REASON');
    expect(h.registry.site('h1')?.resident?.name).toBe(RESIDENT);
  });

  it('erases name, phone, address and contacts from every table; no byte of them is left in the file, before or after VACUUM', async () => {
    const { h, clock, privacy: pv } = await setup(DAY_SHIFT_TIME);
    const first = await closedIncident(h, clock);
    clock.advance(DAY);
    await h.alerts.handleFinding(finding({ ts: clock.now() }));
    const second = h.events.at(-1)!.incident.id;
    // A handover report naming the home (张桂英家) of the incident open at the time.
    await h.alerts.reports.handover('fc1', clock.now());
    await h.alerts.service.acknowledge(second, 'op-liu');
    await h.alerts.service.resolve(second, 'op-liu', { disposition: 'test', feedback: '测试' });
    await vi.waitFor(async () => expect(await h.alerts.outbox.pending()).toEqual([]));
    await pv.reads.record({ username: 'op-liu', role: 'operator' }, 'site', 'h1', 'h1', 'fc1');
    // A shift handover (issue 17), signed for and so final, whose summary and remark name them.
    const handover = receivedHandover(h, clock.now());
    expect(() => h.db.prepare('UPDATE shift_handovers SET remark = ? WHERE id = ?').run('changed', handover)).toThrow(/final/);
    for (const s of PERSONAL) expect(fileHas(h.file, s).length + rows(h, 'SELECT 1 FROM registry_sites WHERE json LIKE ?', `%${s}%`).length).toBeGreaterThan(0);
    const auditBefore = (rows(h, 'SELECT COUNT(*) AS n FROM alert_audit')[0]!.n as number);

    const r = await pv.erase('h1', 'admin-zhao', 'PIPL art. 47 request of 2026-12-01 (ticket 17)');
    expect(r.leftovers).toEqual([]);
    expect(r.walCleared).toBe(true);
    expect(r.counts).toMatchObject({ registry_sites: 1, alert_incidents: 2 });
    expect(r.counts.alert_audit).toBe(4);
    expect(r.counts.alert_outbox).toBeGreaterThan(0);
    expect(r.counts.alert_reports).toBe(1);
    expect(r.counts.shift_handovers).toBe(1);
    for (const s of PERSONAL) expect(fileHas(h.file, s), s).toEqual([]);
    // Still final: only the erasure's recorded redaction rewrote it.
    expect(rows(h, 'SELECT cause FROM privacy_handover_redactions WHERE handover_id = ?', handover)).toEqual([{ cause: `erasure:${r.erasureId}` }]);
    expect(() => h.db.prepare('UPDATE shift_handovers SET remark = ? WHERE id = ?').run('changed', handover)).toThrow(/final/);

    // The running registry forgot them too; the site and its devices stay, under the pseudonym.
    expect(h.registry.site('h1')).toMatchObject({ name: r.pseudonym, address: '', contacts: [] });
    expect(h.registry.site('h1')?.resident).toBeUndefined();
    expect(h.registry.devicesOfSite('h1').length).toBe(2);

    // Nothing deleted from the trail: one entry more per incident, saying who, when and why.
    expect(rows(h, 'SELECT COUNT(*) AS n FROM alert_audit')[0]!.n).toBe(auditBefore + 2);
    expect(rows(h, "SELECT actor, note FROM alert_audit WHERE incident_id = ? AND action = 'privacy_erase'", first)).toEqual([
      { actor: 'admin-zhao', note: `personal data of site h1 erased (erasure #${r.erasureId}, pseudonym ${r.pseudonym}): PIPL art. 47 request of 2026-12-01 (ticket 17)` },
    ]);
    expect(rows(h, 'SELECT actor, reason, site_id, counts FROM privacy_erasures')).toEqual([
      { actor: 'admin-zhao', reason: 'PIPL art. 47 request of 2026-12-01 (ticket 17)', site_id: 'h1', counts: JSON.stringify(r.counts) },
    ]);
    expect(await pv.verify()).toMatchObject({ ok: true, erasures: 1 });
    // The export after the erasure still lists the incidents, under the pseudonym, and the erasure.
    const after = await pv.export('h1', { username: 'admin-zhao', role: 'admin' });
    expect(after.erasures).toHaveLength(1);
    expect(after.incidents).toHaveLength(2);
    expect(JSON.stringify(after)).not.toContain(RESIDENT);

    h.db.exec('VACUUM');
    h.db.pragma('wal_checkpoint(TRUNCATE)');
    for (const s of PERSONAL) expect(fileHas(h.file, s), s).toEqual([]);
    expect((await pv.verify()).ok).toBe(true);
  });

  it('a rewrite of the trail that bypasses its redaction record is found by verify (here: the trigger dropped by hand)', async () => {
    const { h, clock, privacy: pv } = await setup(DAY_SHIFT_TIME);
    const id = await closedIncident(h, clock);
    h.db.exec('DROP TRIGGER alert_audit_no_delete');
    h.db.prepare("DELETE FROM alert_audit WHERE incident_id = ? AND action = 'note'").run(id);
    const v = await pv.verify();
    expect(v.ok).toBe(false);
    expect(v.problems.join('\n')).toMatch(/1 entries are missing[\s\S]*alert_audit_no_delete is missing/);
  });
});

describe('privacy: read audit', () => {
  it('writes one row per user and resource per window; exports always; old rows are pruned by the nightly run', async () => {
    const { h, clock, privacy } = await setup(DAY_SHIFT_TIME);
    const op = { username: 'op-liu', role: 'operator', centerId: 'fc1' };
    for (let i = 0; i < 10; i++) await privacy.reads.record(op, 'site', 'h1', 'h1', 'fc1');
    await privacy.reads.record(op, 'incident', 'i1', 'h1', 'fc1');
    await privacy.reads.record({ ...op, username: 'op-sun' }, 'site', 'h1', 'h1', 'fc1');
    clock.advance(5 * 60_000 - 1);
    await privacy.reads.record(op, 'site', 'h1', 'h1', 'fc1');
    clock.advance(1);
    await privacy.reads.record(op, 'site', 'h1', 'h1', 'fc1');
    await privacy.export('h1', op);
    await privacy.export('h1', op);
    expect((await privacy.reads.list({ siteId: 'h1', limit: 100 })).map((r) => `${r.username} ${r.resource}`).reverse()).toEqual([
      'op-liu site', 'op-liu incident', 'op-sun site', 'op-liu site', 'op-liu export', 'op-liu export',
    ]);
    clock.advance(1096 * DAY);
    await privacy.reads.record(op, 'site', 'h1', 'h1', 'fc1');
    expect((await privacy.pseudonymise()).readAuditDeleted).toBe(6);
    expect(rows(h, 'SELECT COUNT(*) AS n FROM read_audit')[0]!.n).toBe(1);
  });
});

describe('privacy: an erasure is not undone by importing the registry again', () => {
  it('erases a resident who comes back with a stale registry file again, and logs WF_PRIVACY_REIMPORTED', async () => {
    const { h, clock, privacy } = await setup(DAY_SHIFT_TIME);
    await closedIncident(h, clock);
    await privacy.start();
    const r = await privacy.erase('h1', 'admin', 'request 17');
    // The installer's registry file still lists her (as at every start with registryFile).
    const { registryFile } = await import('./alerts.fixture.ts');
    h.registry.importFile(registryFile());
    expect(h.registry.site('h1')).toMatchObject({ name: r.pseudonym, contacts: [] });
    expect(h.registry.site('h1')?.resident).toBeUndefined();
    for (const s of [RESIDENT, PHONE]) expect(fileHas(h.file, s), s).toEqual([]);
    // Another resident moving into another home is not touched.
    expect(h.registry.site('b1')?.contacts[0]?.name).toBe('周主任');
    await privacy.stop();
  });
});

describe('privacy: the nightly job', () => {
  it('is planned on the alerts scheduler beside the reports, in the configured time zone', async () => {
    const clock = manualClock(DAY_SHIFT_TIME);
    let runs = 0;
    const h = await startAlerts({
      file: join(tmp.dir, `p${n++}.db`), clock,
      alerts: { cron: true, jobs: [{ name: 'privacy:pseudonymise', pattern: '30 3 * * *', timezone: 'Asia/Shanghai', run: async () => { runs++; } }] },
    });
    current = h;
    expect(h.alerts.reports.scheduled()).toContainEqual({ name: 'privacy:pseudonymise', pattern: '30 3 * * *', timezone: 'Asia/Shanghai' });
    expect(h.alerts.reports.scheduled().some((t) => t.name.startsWith('daily:'))).toBe(true);
    expect(runs).toBe(0);
  });
});
