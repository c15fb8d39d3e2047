// `npm run demo`: Watchfire with a generated demo county, live simulated traffic, a scenario every
// few minutes and a mail catcher, so a newcomer sees homes, a fire, escalations and emails at once.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { stringify } from 'yaml';
import { loadConfig } from './config.ts';
import { createWatchfire } from './watchfire.ts';
import { createMailCatcher } from './mailcatcher.ts';
import { createPhoneCatcher } from './phonecatcher.ts';
import { DEFAULT_POLICIES, type EscalationPoliciesInput } from '../alerts/index.ts';
import type { ChannelInbound } from '../contracts/channels.ts';
import { generateCounty } from '../simulator/county.ts';
import { startDemo } from '../simulator/demo.ts';
import { INGRESS_SCENARIOS, startIngressFleet, withIngressDevices } from '../simulator/ingress-fleet.ts';
import { createUser, findUser, setUserPassword } from '../dashboards/index.ts';
import type { UserStorage } from '../contracts/storage.ts';

export interface DemoOptions {
  configFile: string | undefined;
  homes: number;
  seed: number;
  speed: number;
  scenarioEveryMs: number;
  /** Where the banner goes (default: stdout). */
  print?: (text: string) => void;
  /** Print the addresses and accounts as one JSON object instead of the banner (`wf demo --json`). */
  json?: boolean;
}

/**
 * Issue 19 point 4: the demo's fire policy is a call tree — the console and the operators at once,
 * then the resident's phone (a call and a text), a minute later the emergency contacts, a minute
 * after that the grid worker, unless someone answers the call with 1, replies 1 or acknowledges.
 * The rest is DESIGN.md's default (escalation to the supervisor, nobody on site, dispatch).
 */
export function demoPolicies(): EscalationPoliciesInput {
  const red = DEFAULT_POLICIES.policies.find((p) => p.id === 'red')!;
  return {
    policies: [
      {
        id: 'red-fire-call-tree', level: 'red', categories: ['fire'],
        steps: [
          { id: 'alarm', kind: 'alarm', notify: [{ to: 'console' }, { to: 'operators', via: ['email'] }] },
          {
            id: 'call_tree', kind: 'alarm',
            sequence: [
              { to: 'resident', via: ['voice', 'sms'], wait: '60s' },
              { to: 'contacts', via: ['voice', 'sms'], wait: '60s' },
              { to: 'grid_worker', via: ['voice', 'sms'] },
            ],
          },
          ...red.steps.filter((s) => s.id !== 'alarm'),
        ],
      },
      ...DEFAULT_POLICIES.policies,
    ],
  } as EscalationPoliciesInput;
}

export async function runDemo(opts: DemoOptions): Promise<{ stop(): Promise<void> }> {
  const logger = pino({ level: process.env.WF_LOG_LEVEL ?? 'info', name: 'watchfire' });
  const base = loadConfig({ file: opts.configFile });
  const demoDir = resolve(base.dataDir, 'demo');
  mkdirSync(demoDir, { recursive: true });

  const county = generateCounty({ seed: opts.seed, homes: opts.homes });
  // Issue 20: a few devices as they actually arrive, beside the MQTT county: panels behind GB/T
  // 26875.3 transmission units, NB-IoT detectors behind CTWing and OneNET.
  const registry = withIngressDevices(county.registry);
  const registryFile = join(demoDir, 'registry.yaml');
  writeFileSync(registryFile, stringify(registry));
  writeFileSync(join(demoDir, 'credentials.json'), JSON.stringify(county.credentials, null, 2), { mode: 0o600 });

  // The phones' buttons (reply 1, press 1, let it ring) reach Watchfire as provider callbacks would.
  let inbound: (e: ChannelInbound) => void = () => undefined;
  const phones = createPhoneCatcher({ onInbound: (e) => inbound(e) });
  const mail = createMailCatcher({ smtpPort: Number(process.env.WF_DEMO_SMTP_PORT ?? 0), httpPort: Number(process.env.WF_DEMO_MAIL_PORT ?? 8025), phones });
  const mailPorts = await mail.start();
  const policyFile = join(demoDir, 'policies.yaml');
  writeFileSync(policyFile, stringify(demoPolicies()));
  // SMS and voice through the real Alibaba Cloud SDK to the catcher (it checks no keys: demo ones).
  const phone = { provider: 'aliyun', endpoint: `127.0.0.1:${mailPorts.httpPort}`, protocol: 'http', params: { text: '{text}' }, maxParamChars: 500 };

  const onenetToken = randomBytes(12).toString('base64url');
  const ctwingToken = randomBytes(18).toString('base64url');
  const config = loadConfig({
    file: opts.configFile,
    overrides: {
      dataDir: demoDir,
      // Links in the demo's emails and webhooks point at this console.
      ...(base.http.port ? { 'http.publicUrl': `http://localhost:${base.http.port}` } : {}),
      registryFile,
      'alerts.smtp': { host: '127.0.0.1', port: mailPorts.smtpPort, ignoreTLS: true, from: 'Watchfire 演示 <watchfire@demo.local>' },
      'alerts.webhook': { url: `http://127.0.0.1:${mailPorts.httpPort}/hooks`, secret: randomBytes(24).toString('base64url') },
      'alerts.policyFile': policyFile,
      'alerts.providers': { aliyun: { accessKeyId: 'demo-access-key', accessKeySecret: 'demo-access-key-secret' } },
      'alerts.channels': {
        sms: { ...phone, signName: '守望演示', templateId: 'SMS_100000001' },
        voice: { ...phone, templateId: 'TTS_100000001', limits: { perMinute: 10, perHour: 60, perDay: 500 } },
      },
      'ingress.gbt26875': { ...base.ingress.gbt26875, enabled: true },
      'ingress.nbiot': { onenet: { token: onenetToken }, ctwing: { token: ctwingToken } },
    },
  });
  const wf = createWatchfire({ config, logger });
  await wf.start();
  inbound = (e) => wf.bus.emit('channel.inbound', e);
  const addr = wf.addresses();

  const accounts = await demoAccounts(wf.users, county.registry.people);

  const sim = await startDemo({
    mqttUrl: `mqtt://127.0.0.1:${addr.mqtt}`,
    credentials: county.credentials,
    registry: county.registry,
    speed: opts.speed,
    scenarioEveryMs: opts.scenarioEveryMs,
    logger: logger.child({ module: 'simulator' }),
  });
  const ingress = await startIngressFleet({
    registry,
    gbt: { host: '127.0.0.1', port: addr.gbt26875!, centerAddress: config.ingress.gbt26875.centerAddress },
    nbiot: { baseUrl: `http://127.0.0.1:${addr.http}`, onenetToken, ctwingToken },
    speed: opts.speed,
    logger: logger.child({ module: 'simulator.ingress' }),
    seed: opts.seed,
  });
  // The ingress scenarios take turns half a period after the MQTT ones.
  let ingressTurn = 0;
  const ingressTimer = setInterval(() => {
    const s = INGRESS_SCENARIOS[ingressTurn++ % INGRESS_SCENARIOS.length]!;
    ingress.runScenario(s.name).then((id) => logger.info({ scenario: s.name, deviceId: id }, 'ingress scenario played'))
      .catch((err: unknown) => logger.warn({ err, scenario: s.name }, 'ingress scenario failed'));
  }, opts.scenarioEveryMs);
  ingressTimer.unref();

  const host = 'http://localhost';
  const print = opts.print ?? ((text: string) => console.log(text));
  if (opts.json) {
    print(JSON.stringify({
      sites: registry.sites.length, devices: registry.devices.length,
      console: `${host}:${addr.http}/`, worker: `${host}:${addr.http}/worker.html`, docs: `${host}:${addr.http}/docs`, metrics: `${host}:${addr.http}/metrics`,
      mail: `${host}:${mailPorts.httpPort}/`, mqtt: `mqtt://localhost:${addr.mqtt}`, credentials: join(demoDir, 'credentials.json'),
      gbt26875: `tcp://localhost:${addr.gbt26875}`, transmissionUnits: ingress.units(), nbiotDetectors: ingress.detectors(), accounts,
      scenarioEverySec: Math.round(opts.scenarioEveryMs / 1000),
    }));
  } else print(`
  Watchfire demo is running — ${registry.sites.length} sites, ${registry.devices.length} devices.

    Operator console   ${host}:${addr.http}/
    Grid worker page   ${host}:${addr.http}/worker.html
    API docs           ${host}:${addr.http}/docs
    Metrics            ${host}:${addr.http}/metrics
    Phones and emails  ${host}:${mailPorts.httpPort}/   (texts and calls to residents, contacts and grid workers; emails; webhooks)
    MQTT               mqtt://localhost:${addr.mqtt}   (device credentials: ${join(demoDir, 'credentials.json')})
    GB/T 26875.3       tcp://localhost:${addr.gbt26875}   (transmission units ${ingress.units().join(', ')})
    NB-IoT push        ${host}:${addr.http}/ingress/onenet and /ingress/ctwing/{token}   (detectors ${ingress.detectors().join(', ')})

  Demo accounts (passwords are new each run):
${accounts.map((a) => `    ${a.username.padEnd(11)} ${a.password.padEnd(10)} ${a.role}${a.personId ? ` (${a.personId})` : ''}`).join('\n')}

  A scenario (kitchen smoke, a fire spreading, a panel storm, a dying battery…) starts every
  ${Math.round(opts.scenarioEveryMs / 1000)} s. Ctrl-C stops everything.
`);

  return {
    async stop() {
      clearInterval(ingressTimer);
      await ingress.stop();
      await sim.stop();
      await wf.stop();
      await mail.stop();
    },
  };
}

export interface DemoAccount { username: string; role: string; personId?: string; password: string }

/**
 * The demo's accounts, each with a fresh random password printed in the banner; a real deployment
 * creates its first admin by command. On a second run over the same data directory the accounts
 * exist: each gets the new password (its old sessions end), or the banner would print passwords
 * that do not sign in.
 */
export async function demoAccounts(users: UserStorage, people: ReadonlyArray<{ id: string; role: string }>): Promise<DemoAccount[]> {
  const accounts: DemoAccount[] = [];
  for (const [username, role] of [['operator', 'operator'], ['supervisor', 'supervisor'], ['grid', 'grid_worker'], ['admin', 'admin']] as const) {
    const password = randomBytes(6).toString('base64url');
    const person = people.find((p) => p.role === role);
    if (await findUser(users, username)) await setUserPassword(users, username, password);
    else await createUser(users, { username, password, role, ...(person ? { personId: person.id } : {}), locale: 'zh-CN' });
    accounts.push({ username, role, ...(person ? { personId: person.id } : {}), password });
  }
  return accounts;
}
