// The shared contracts: error codes are all documented, protocol schemas give the precise reasons
// PROTOCOL.md promises, and configuration problems are listed by path.
import { describe, expect, it } from 'vitest';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ERROR_CODES, formatIssues, WatchfireError } from '../contracts/errors.ts';
import { SmokeTelemetry, SmokeEvent, PanelEvent, parseTopic, DeviceStatus, Command, MEASURED_RANGES } from '../contracts/protocol.ts';
import { loadConfig } from '../app/config.ts';
import { ENV_OVERRIDES } from '../contracts/config.ts';
import { verifySecret, hashSecret, generateSecret } from '../contracts/secrets.ts';

const ROOT = join(import.meta.dirname, '..');
const SOURCE_DIRS = ['adapters', 'contracts', 'gateway', 'ingest', 'rules', 'alerts', 'registry', 'dashboards', 'simulator', 'app'];

function* sourceFiles(dir: string): Generator<string> {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return;
  }
  for (const e of entries) {
    const p = join(dir, e);
    if (e === 'node_modules' || e === 'vendor') continue;
    if (statSync(p).isDirectory()) yield* sourceFiles(p);
    else if (/\.(ts|js)$/.test(e)) yield p;
  }
}

describe('error codes', () => {
  it('every WF_ code used in the code base is listed with its meaning in contracts/errors.ts', () => {
    const used = new Set<string>();
    for (const d of SOURCE_DIRS) {
      for (const f of sourceFiles(join(ROOT, d))) {
        // A code is a quoted WF_ string; environment variables are read as process.env.WF_X.
        for (const m of readFileSync(f, 'utf8').matchAll(/['"`](WF_[A-Z0-9_]+)['"`]/g)) used.add(m[1]!);
      }
    }
    // Environment variable names share the prefix; they are documented in contracts/config.ts.
    const envNames = new Set(Object.keys(ENV_OVERRIDES));
    const undocumented = [...used].filter((c) => !(c in ERROR_CODES) && !envNames.has(c));
    expect(undocumented).toEqual([]);
    for (const [code, meaning] of Object.entries(ERROR_CODES)) {
      expect(meaning.length, code).toBeGreaterThan(20);
    }
  });
});


describe('protocol schemas', () => {
  it('explain a wrong type the way PROTOCOL.md shows', () => {
    const r = SmokeTelemetry.safeParse({ smoke: 'high' });
    expect(r.success).toBe(false);
    expect(formatIssues(r.error!.issues)).toEqual(['smoke: expected number 0..2, got "high"']);
  });
  it('pass out-of-range numbers (ingest flags them, issue 14) and explain wrong types with the range', () => {
    expect(SmokeTelemetry.safeParse({ temp: 151, battery: -1 }).success).toBe(true);
    const r = SmokeTelemetry.safeParse({ temp: '151', battery: null });
    expect(formatIssues(r.error!.issues).sort()).toEqual([
      'battery: expected number 0..100, got null',
      'temp: expected number -40..150, got "151"',
    ]);
  });
  it('document every measured range with its unit', () => {
    for (const fields of Object.values(MEASURED_RANGES)) {
      for (const r of Object.values(fields) as Array<{ min: number; max: number; unit: string }>) {
        expect(r.min).toBeLessThan(r.max);
        expect(r.unit).not.toBe('');
      }
    }
    expect(MEASURED_RANGES.settlement_sensor.settlement.max).toBeGreaterThanOrEqual(5000); // soft-soil rods settle metres
  });
  it('keep unknown fields from newer firmware', () => {
    const r = SmokeTelemetry.parse({ smoke: 0.01, humidity: 40 });
    expect(r).toMatchObject({ smoke: 0.01, humidity: 40 });
  });
  it('refuse an unknown event type with the list of known ones', () => {
    const r = SmokeEvent.safeParse({ type: 'explode' });
    expect(r.success).toBe(false);
    expect(formatIssues(r.error!.issues)[0]).toMatch(/^type: expected one of alarm, alarm_clear, .* got "explode"$/);
  });
  it('require loop and point on panel point events but not on panel faults', () => {
    expect(PanelEvent.safeParse({ type: 'fire', loop: 1, point: 12, zone: '3F' }).success).toBe(true);
    expect(PanelEvent.safeParse({ type: 'fire' }).success).toBe(false);
    expect(PanelEvent.safeParse({ type: 'fault' }).success).toBe(true);
    expect(PanelEvent.safeParse({ type: 'main_power_fail' }).success).toBe(true);
  });
  it('accept epoch ms and ISO 8601 with offset, refuse ISO without offset', () => {
    expect(SmokeTelemetry.safeParse({ ts: 1_700_000_000_000 }).success).toBe(true);
    expect(SmokeTelemetry.safeParse({ ts: '2026-11-23T08:00:00+08:00' }).success).toBe(true);
    expect(SmokeTelemetry.safeParse({ ts: '2026-11-23T08:00:00' }).success).toBe(false);
  });
  it('parse device topics and nothing else', () => {
    expect(parseTopic('v1/devices/sd-1/telemetry')).toEqual({ deviceId: 'sd-1', kind: 'telemetry' });
    expect(parseTopic('v1/devices/sd-1/commands/x')).toBeUndefined();
    expect(parseTopic('v1/devices/bad id/events')).toBeUndefined();
    expect(parseTopic('v2/devices/sd-1/events')).toBeUndefined();
  });
  it('status and commands', () => {
    expect(DeviceStatus.safeParse({ online: false }).success).toBe(true);
    expect(DeviceStatus.safeParse({ online: 'no' }).success).toBe(false);
    expect(Command.safeParse({ name: 'config', id: crypto.randomUUID(), ts: Date.now(), reportEverySec: 60 }).success).toBe(true);
    expect(Command.safeParse({ name: 'config', id: crypto.randomUUID(), ts: Date.now() }).success).toBe(false);
  });
});

describe('device secrets', () => {
  it('are at least 128 bits and verify only against their own salted hash', () => {
    const s = generateSecret();
    expect(Buffer.from(s, 'base64url').length * 8).toBeGreaterThanOrEqual(128);
    const h = hashSecret(s);
    expect(h).not.toContain(s);
    expect(verifySecret(s, h)).toBe(true);
    expect(verifySecret(`${s}x`, h)).toBe(false);
    expect(verifySecret(s, hashSecret(generateSecret()))).toBe(false);
    expect(hashSecret(s)).not.toEqual(h);
  });
});

describe('configuration', () => {
  it('has working defaults', () => {
    const c = loadConfig({ env: {} });
    expect(c.gateway.port).toBe(1883);
    expect(c.gateway.rate).toMatchObject({ perSecond: 20, burst: 200, disconnectAfterMs: 10_000 });
    expect(c.gateway.rate.byType.fire_panel).toEqual({ perSecond: 250, burst: 2000 });
    expect(Object.isFrozen(c.gateway)).toBe(true);
  });
  it('takes environment overrides for what differs per deployment', () => {
    const c = loadConfig({ env: { WF_MQTT_PORT: '11883', WF_INFLUX_URL: 'http://127.0.0.1:9999', WF_DATA_DIR: '/tmp/x' } });
    expect(c.gateway.port).toBe(11883);
    expect(c.influx.url).toBe('http://127.0.0.1:9999');
    expect(c.dataDir).toBe('/tmp/x');
    expect(c.gateway.plain).toBe(true);
    expect(loadConfig({ env: { WF_MQTT_PLAIN: 'false' } }).gateway.plain).toBe(false);
    expect(() => loadConfig({ env: { WF_MQTT_PLAIN: 'nope' } })).toThrow(WatchfireError);
  });
  it('lists every problem by path', () => {
    let err: unknown;
    try {
      loadConfig({ env: { WF_MQTT_PORT: 'abc', WF_INFLUX_URL: 'not a url' }, overrides: { 'gateway.rate.perSecond': -1 } });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(WatchfireError);
    const e = err as WatchfireError;
    expect(e.code).toBe('WF_CONFIG_INVALID');
    expect(e.details).toEqual(expect.arrayContaining([
      'WF_MQTT_PORT: expected a number, got "abc"',
      expect.stringMatching(/^influx\.url: /),
      expect.stringMatching(/^gateway\.rate\.perSecond: /),
    ]));
  });
});
