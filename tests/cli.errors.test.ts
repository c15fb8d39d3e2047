// The command line's failures as a user reads them (app/main.ts): one line saying what to fix and
// exit code 1 — a Watchfire error by its code, a usage mistake by its message — with no stack trace
// unless WF_DEBUG asks for one. A real process, as an operator runs `npm run wf -- …`.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..');
const dataDir = mkdtempSync(join(tmpdir(), 'wf-cli-errors-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

function wf(args: string[], env: Record<string, string> = {}): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'app/main.ts', ...args], {
    cwd: ROOT, encoding: 'utf8', env: { ...process.env, WF_CONFIG: '', WF_DEBUG: '', WF_DATA_DIR: dataDir, ...env },
  });
  return { status: r.status, stderr: r.stderr };
}

describe('wf failures', () => {
  it('say what is wrong in one line, exit 1, and show the stack only with WF_DEBUG', () => {
    const missing = wf(['user', 'set-password', 'nobody', '--password', 'long-enough-1']);
    expect(missing.status).toBe(1);
    expect(missing.stderr.trim()).toBe('error: WF_HTTP_NOT_FOUND: No user nobody  [WF_DEBUG=1 shows where]');
    const usage = wf(['user', 'add', 'x', '--role', 'king']);
    expect(usage.status).toBe(1);
    expect(usage.stderr.trim().split('\n')).toEqual(['error: --role must be one of operator, grid_worker, supervisor, admin  [WF_DEBUG=1 shows where]']);
    const debug = wf(['user', 'add', 'x', '--role', 'king'], { WF_DEBUG: '1' });
    expect(debug.status).toBe(1);
    expect(debug.stderr).toMatch(/--role must be one of[\s\S]*\n\s+at /);
  });
});
