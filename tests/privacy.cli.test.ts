// `wf privacy …` run through commander as the binary runs it, over a real SQLite file that real
// alerts wrote (issue 18 point 8).
import { afterAll, describe, expect, it, vi } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { loadConfig } from '../app/config.ts';
import { registerPrivacyCommands } from '../app/commands/privacy.ts';
import { DAY_SHIFT_TIME, finding, manualClock, recordingChannel, startAlerts, WEBHOOK_SECRET } from './alerts.fixture.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'wf-privacy-cli-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));
const cfg = loadConfig({ env: {}, overrides: { dataDir } });
const dbFile = join(dataDir, 'watchfire.db');

async function wf(...args: string[]): Promise<{ out: string; err: string; exitCode: number }> {
  let out = '';
  let err = '';
  const program = new Command().exitOverride().configureOutput({ writeOut: (s) => { out += s; }, writeErr: (s) => { err += s; } });
  registerPrivacyCommands(program, () => cfg);
  try {
    await program.parseAsync(['node', 'wf', ...args]);
    return { out, err, exitCode: 0 };
  } catch (e) {
    if (!(e instanceof CommanderError)) throw e;
    return { out, err, exitCode: e.exitCode };
  }
}

describe('wf privacy', () => {
  it('pseudonymises, exports, erases and verifies from the command line', async () => {
    const clock = manualClock(DAY_SHIFT_TIME);
    const h = await startAlerts({ file: dbFile, clock, config: { webhook: { url: 'http://127.0.0.1:9/sms', secret: WEBHOOK_SECRET } }, alerts: { channels: { webhook: recordingChannel('webhook'), email: recordingChannel('email') } } });
    await h.alerts.handleFinding(finding({ ts: clock.now() }));
    const id = h.events.at(-1)!.incident.id;
    await h.alerts.service.acknowledge(id, 'op-liu');
    await h.alerts.service.call(id, 'op-liu', { contact: '张桂英', phone: '13800000001', outcome: 'no_answer' });
    await h.alerts.service.resolve(id, 'op-liu', { disposition: 'nuisance', feedback: '做饭' });
    await vi.waitFor(async () => expect(await h.alerts.outbox.pending()).toEqual([]));
    await h.close();

    // Closed on 2026-11-23: not past a 10,000-day retention, past a 1-day one.
    expect(JSON.parse((await wf('privacy', 'pseudonymise', '--days', '10000', '--json')).out)).toMatchObject({ incidents: 0 });
    expect((await wf('privacy', 'pseudonymise', '--days', 'x')).exitCode).toBe(1);
    const export1 = JSON.parse((await wf('privacy', 'export', '13800000001', '--json')).out) as { subject: { siteId: string; pseudonym: string }; site: { resident: { name: string } }; incidents: Array<{ timeline: Array<{ note: string | null }> }> };
    expect(export1.subject.siteId).toBe('h1');
    expect(export1.site.resident.name).toBe('张桂英');
    expect(export1.incidents[0]!.timeline.some((t) => t.note === '张桂英 13800000001')).toBe(true);

    const p = JSON.parse((await wf('privacy', 'pseudonymise', '--days', '1', '--json')).out) as { incidents: number; auditEntries: number };
    expect(p).toMatchObject({ incidents: 1, auditEntries: 1 });
    const export2 = JSON.parse((await wf('privacy', 'export', 'h1')).out) as typeof export1;
    expect(export2.incidents[0]!.timeline.some((t) => t.note === `[${export2.subject.pseudonym}] [${export2.subject.pseudonym}:phone]`)).toBe(true);

    const noReason = await wf('privacy', 'erase', 'h1');
    expect(noReason.exitCode).toBe(1);
    expect(noReason.err).toContain("required option '--reason <text>'");
    const erased = await wf('privacy', 'erase', '张桂英', '--reason', 'PIPL request 2026-12-01, ticket 17', '--by', 'admin-zhao', '--json');
    expect(erased.exitCode).toBe(0);
    const r = JSON.parse(erased.out) as { siteId: string; leftovers: unknown[]; counts: Record<string, number>; warnings: string[] };
    expect(r).toMatchObject({ siteId: 'h1', leftovers: [] });
    expect(r.warnings.join()).toContain('backups taken before now');
    for (const s of ['张桂英', '13800000001', '李明', '13900000001']) expect(readFileSync(dbFile).includes(Buffer.from(s)), s).toBe(false);
    // The name no longer finds anyone: it is gone.
    const again = await wf('privacy', 'export', '张桂英');
    expect(again.exitCode).toBe(1);
    expect(again.err).toContain('WF_PRIVACY_NOT_FOUND');

    const v = await wf('privacy', 'verify');
    expect(v.out).toMatch(/^audit trail OK: \d+ entries, 2 pseudonymised, 1 erasures/);
    const reads = (await wf('privacy', 'reads', '--site', 'h1', '--json')).out.trim().split('\n').map((l) => JSON.parse(l) as { resource: string; username: string });
    expect(reads.map((x) => x.resource)).toEqual(['export', 'export']);
    expect(reads[0]!.username).toMatch(/^cli/);
  });
});
