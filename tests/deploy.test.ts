// Service files (issue 18 point 5): the systemd units pass `systemd-analyze verify` with not one
// warning, and the health check they (and the container) use tells a healthy server from a sick
// or absent one. The Dockerfile and compose file cannot be run here (no Docker engine): their
// shape is checked, nothing more (README "Containers").
import { afterAll, describe, expect, it } from 'vitest';
import { execFile, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { DOWNSAMPLE_STEP_SEC, DOWNSAMPLED, LONG_TERM_RP } from '../contracts/downsampling.ts';
import { startTestSystem } from './support/system.ts';
import { smallCounty } from './support/registries.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const UNITS = join(ROOT, 'deploy', 'systemd');
const HEALTHZ = join(ROOT, 'deploy', 'healthz.mjs');
const work = mkdtempSync(join(tmpdir(), 'wf-deploy-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** The units with /opt/watchfire and /usr/bin/node pointed at this checkout and this node, as installed. */
function installedCopies(): string[] {
  return readdirSync(UNITS).map((name) => {
    const to = join(work, name);
    writeFileSync(to, readFileSync(join(UNITS, name), 'utf8').replaceAll('/opt/watchfire', ROOT.replace(/\/$/, '')).replaceAll('/usr/bin/node', process.execPath));
    return to;
  });
}

/** systemd 252 exits 0 on warnings: everything it prints is a finding. */
function verify(files: string[]): string {
  const r = spawnSync('systemd-analyze', ['verify', '--man=no', ...files], { encoding: 'utf8' });
  if (r.error) throw r.error;
  return `${r.stdout}${r.stderr}`.trim();
}

function healthz(url: string): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [HEALTHZ, url], { env: { ...process.env, WF_HEALTHZ_TRIES: '2', WF_HEALTHZ_PAUSE_MS: '10' } }, (err, _out, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stderr }));
  });
}

async function serve(status: number): Promise<{ url: string; server: Server }> {
  const server = createServer((_req, res) => res.writeHead(status).end('{}'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/healthz`, server };
}

describe('service files', () => {
  it('systemd units verify without a single warning, with restart, hardening and journald', () => {
    const files = installedCopies();
    expect(files.map((f) => f.split('/').pop()).sort()).toEqual(['watchfire-backup.service', 'watchfire-backup.timer', 'watchfire-healthz.service', 'watchfire-healthz.timer', 'watchfire.service']);
    expect(verify(files)).toBe('');
    const unit = readFileSync(join(UNITS, 'watchfire.service'), 'utf8');
    for (const line of ['Restart=on-failure', 'StandardOutput=journal', 'NoNewPrivileges=yes', 'ProtectSystem=strict', 'CapabilityBoundingSet=', 'SystemCallFilter=@system-service', 'StateDirectory=watchfire']) {
      expect(unit).toMatch(new RegExp(`^${line}$`, 'm'));
    }
  });

  it('the verify check can fail: a unit with a bad value is reported', () => {
    const bad = join(work, 'bad.service');
    copyFileSync(join(UNITS, 'watchfire.service'), bad);
    writeFileSync(bad, readFileSync(bad, 'utf8').replace('RestartSec=2', 'RestartSec=soon').replaceAll('/usr/bin/node', process.execPath));
    expect(verify([bad])).toMatch(/RestartSec|soon|parse/);
  });

  it('the health check passes a 200 and fails a 503 or nobody listening', async () => {
    const ok = await serve(200);
    const sick = await serve(503);
    try {
      expect((await healthz(ok.url)).code).toBe(0);
      const s = await healthz(sick.url);
      expect(s.code).toBe(1);
      expect(s.stderr).toContain('HTTP 503 (2 tries)');
    } finally {
      ok.server.close();
      sick.server.close();
    }
    const gone = await serve(200);
    gone.server.close();
    expect((await healthz(gone.url)).code).toBe(1);
  });

  it('the compose file runs Watchfire against InfluxDB 2 with the token as the v1 password', () => {
    const compose = parse(readFileSync(join(ROOT, 'compose.yaml'), 'utf8')) as { services: Record<string, { image?: string; environment?: Record<string, string> }> };
    expect(compose.services.influxdb!.image).toMatch(/^influxdb:2\./);
    expect(compose.services.watchfire!.environment).toMatchObject({ WF_INFLUX_URL: 'http://influxdb:8086', WF_INFLUX_PASSWORD: '${INFLUX_TOKEN}' });
    // Downsampling on InfluxDB 2: the setup script is mounted where the image runs it, and it and
    // its task write the names the readers use (contracts/downsampling.ts). Shape only: no InfluxDB 2 here.
    expect((compose.services.influxdb as { volumes?: string[] }).volumes).toContain('./deploy/influxdb2:/docker-entrypoint-initdb.d:ro');
    const setup = readFileSync(join(ROOT, 'deploy', 'influxdb2', 'watchfire-downsampling.sh'), 'utf8');
    expect(spawnSync('bash', ['-n', join(ROOT, 'deploy', 'influxdb2', 'watchfire-downsampling.sh')]).status).toBe(0);
    expect(setup).toContain(`--db watchfire --rp ${LONG_TERM_RP} --bucket-id "$long_id"`);
    expect(setup).toMatch(/influx task create .*downsample\.flux/);
    const flux = readFileSync(join(ROOT, 'deploy', 'influxdb2', 'downsample.flux'), 'utf8');
    expect(flux).toContain(`_measurement: "${DOWNSAMPLED}", _field: prefix + "_" + r._field`);
    expect(flux).toContain(`every: ${DOWNSAMPLE_STEP_SEC / 60}m`);
    expect([...flux.matchAll(/downsample\(fn: (\w+), prefix: "(\w+)"\)/g)].map((m) => [m[1], m[2]])).toEqual([['min', 'min'], ['max', 'max'], ['mean', 'mean']]);
    const docker = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
    expect(docker).toMatch(/^FROM node:24-bookworm-slim AS build$/m);
    expect(docker).toMatch(/npm prune --omit=dev/);
    expect(docker).toMatch(/^USER node$/m);
  });

  // Issue 18 point 6: refused lines are "alerted on" through deploy/prometheus/watchfire.rules.yml.
  // An alert on a metric that no longer exists (renamed, or gone with the spool) never fires.
  it('every Prometheus alert rule watches a metric a running Watchfire exposes at /metrics', { timeout: 60_000 }, async () => {
    const rules = parse(readFileSync(join(ROOT, 'deploy', 'prometheus', 'watchfire.rules.yml'), 'utf8')) as { groups: Array<{ rules: Array<{ alert: string; expr: string }> }> };
    const watched = rules.groups.flatMap((g) => g.rules).map((r) => ({ alert: r.alert, metrics: [...r.expr.matchAll(/\bwatchfire_\w+/g)].map((m) => m[0]) }));
    expect(watched.map((w) => w.alert)).toContain('WatchfireReadingsRefused');
    const sys = await startTestSystem({ registry: smallCounty(), smtp: false });
    try {
      const exposed = await (await fetch(`${sys.httpUrl}/metrics`)).text();
      const missing = watched.flatMap((w) => (w.metrics.length ? w.metrics : ['(none)']).filter((m) => !new RegExp(`^${m}(\\{| )`, 'm').test(exposed)).map((m) => `${w.alert}: ${m}`));
      expect(missing).toEqual([]);
    } finally {
      await sys.stop();
    }
  });
});
