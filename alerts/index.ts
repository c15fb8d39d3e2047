// The alerts module (DESIGN.md "Incidents and escalation"): incidents from findings, escalation
// policies and their timers, duty rosters, the durable outbox and its channels, and reports.
// createAlerts does no I/O; start() creates the tables, recovers the outbox and picks up every
// due escalation; stop() stops the timers and cron tasks and waits for sends in flight.
import type { Agent } from 'node:http';
import type { Database } from 'better-sqlite3';
import type { Logger } from 'pino';
import type { Registry as MetricsRegistry } from 'prom-client';
import type { EventBus } from '../contracts/bus.ts';
import type { FiringClaims } from '../contracts/cluster.ts';
import type { Config } from '../contracts/config.ts';
import type { Clock, Lifecycle, RegistryReader } from '../contracts/ports.ts';
import type { Finding } from '../contracts/findings.ts';
import type { AckLinks, IncidentService } from '../contracts/incidents.ts';
import { DEFAULT_POLICIES, type ChannelName, type EscalationPolicies } from './policies.ts';
import { createRosters } from './roster.ts';
import { createRecipients } from './recipients.ts';
import { createOutbox, type Outbox, type OutboxOptions, type OutboxRow } from './outbox.ts';
import { createEscalation, type Escalation } from './escalation.ts';
import { createIncidents } from './incidents.ts';
import { createReports, type Reports } from './reports.ts';
import { createSchedules, type ScheduledJob } from './cron.ts';
import { createAlertMetrics } from './metrics.ts';
import { renderIncident, renderReport, incidentLink, type NotificationKind } from './messages.ts';
import type { Channel, OutboundMessage } from './channels/types.ts';
import { createConsoleChannel, type ConsoleChannel } from './channels/console.ts';
import { createChannels, parseSections } from './channels/registry.ts';
import type { ChannelLedger } from '../contracts/channels.ts';
import { ackLink, createAckTokens } from './ack.ts';
import { createRemoteAck } from './acknowledge.ts';
import { createDeliveries } from './deliveries.ts';
import { sqliteRunner, type SqlRunner } from '../storage/index.ts';

export { DEFAULT_POLICIES, parsePolicies, parsePolicyYaml, loadPolicyFile, policyFor } from './policies.ts';
export type { EscalationPolicies, EscalationPoliciesInput, ChannelName, Policy, Step } from './policies.ts';
export { incidentKey, RECURRENCE_WINDOW_MS } from './incidents.ts';
export { rateGridWorker, RATING_TARGETS } from './rating.ts';
export type { Rating, WorkerMonth } from './rating.ts';
export { createConsoleChannel } from './channels/console.ts';
export type { ConsoleChannel } from './channels/console.ts';
export { createEmailChannel } from './channels/email.ts';
export { createWebhookChannel, sign as signWebhook, SIGNATURE_HEADER, TIMESTAMP_HEADER, DELIVERY_HEADER } from './channels/webhook.ts';
export type { Channel, OutboundMessage, SendResult } from './channels/types.ts';
export { ChannelRefusal } from './channels/types.ts';
export { CHANNELS, CHANNEL_NAMES, checkChannelConfig, parseSections as parseChannelConfig } from './channels/registry.ts';
export type { ChannelSpec, ChannelContext } from './channels/registry.ts';
export type { OutboxRow, OutboxOptions, OutboxAttempt } from './outbox.ts';
export type { Report, WorkerRating } from './reports.ts';
export type { OnDuty } from './roster.ts';
export type { ScheduledJob } from './cron.ts';

export interface AlertsDeps {
  db: Database;
  bus: EventBus;
  registry: RegistryReader;
  clock: Clock;
  logger: Logger;
  metrics: MetricsRegistry;
  config: {
    timezone: string;
    publicUrl: string;
    smtp?: Config['alerts']['smtp'];
    webhook?: Config['alerts']['webhook'];
    /** Issue 19: alerts.channels (sms, voice, wecom, dingtalk, template), each checked by its schema in the channel table. */
    channels?: Config['alerts']['channels'];
    providers?: Config['alerts']['providers'];
    /**
     * Issue 19 point 5: the key that signs one-tap acknowledge links (none: messages carry no
     * link), how long a link lasts, the SMS replies and the keypress that acknowledge.
     */
    ack?: { secret: string; ttlMs: number; replyWords: readonly string[]; keypressDigit: string };
  };
  /** Default: DEFAULT_POLICIES (DESIGN.md); load a file with loadPolicyFile(config.alerts.policyFile). */
  policies?: EscalationPolicies;
  /** Replace a channel (the bench injects slowed ones; tests inject recorders). */
  channels?: Partial<Record<ChannelName, Channel>>;
  /** HTTP agent for SMS/voice provider APIs (tests route the providers' hosts to a local fake). */
  providerAgent?: Agent;
  /** Retry and concurrency of the outbox workers. */
  outbox?: Partial<OutboxOptions>;
  /** Schedule handover, daily and monthly reports with node-cron (default true). */
  cron?: boolean;
  /** When this installation began (wf_meta.installed_at): no daily or monthly report for a period that ended before. */
  installedAt?: number;
  /** Other modules' jobs on the same scheduler (the nightly pseudonymisation, issue 18 point 8). */
  jobs?: readonly ScheduledJob[];
  /** Cluster mode: each scheduled firing runs on one node only (issue 21 point 5). */
  claims?: FiringClaims;
  /**
   * Where incidents, escalations, the outbox and reports live (issue 21): the embedded database
   * (`db`, the default) or the PostgreSQL several nodes share (app/stores.ts).
   */
  sql?: SqlRunner;
  /** This node's name in outbox claims (cluster mode). */
  node?: string;
  /** How often to look for escalation steps another node scheduled or left behind (default: 1 s on PostgreSQL, never on SQLite). */
  escalationPollMs?: number;
}

export function createAlerts(deps: AlertsDeps) {
  const { db, bus, registry, clock, logger, config } = deps;
  const sql = deps.sql ?? sqliteRunner(db);
  const policies = deps.policies ?? DEFAULT_POLICIES;
  const rosters = createRosters({ registry, timezone: config.timezone });
  const consoleChannel: ConsoleChannel = createConsoleChannel({ onListenerError: (err) => logger.warn({ err }, 'console listener failed') });
  // Every configured channel from the one table (alerts/channels/registry.ts); throws WF_CONFIG_INVALID.
  const sectionsInput = { smtp: config.smtp, webhook: config.webhook, channels: config.channels ?? {}, providers: config.providers ?? {} };
  const channelConfig = parseSections(sectionsInput);
  const built = createChannels(sectionsInput, { clock, logger: logger.child({ part: 'channels' }), providers: config.providers ?? {}, agent: deps.providerAgent });
  const own: Channel[] = Object.values(built);
  const channels: Partial<Record<ChannelName, Channel>> = { console: consoleChannel, ...built };
  Object.assign(channels, deps.channels);
  const host = (() => {
    try {
      return new URL(config.publicUrl).hostname || 'watchfire.local';
    } catch {
      return 'watchfire.local';
    }
  })();

  let parts: ReturnType<typeof build> | undefined;

  function build() {
    // The metrics and the renderer are built before the parts they read; they look them up at use.
    const refs: { outbox?: Outbox; reports?: Reports; incidents?: ReturnType<typeof createIncidents> } = {};
    const metrics = createAlertMetrics(deps.metrics, {
      outboxDepth: () => refs.outbox?.depth() ?? {},
      activeByLevel: async (): Promise<Record<string, number>> => (await refs.incidents?.activeByLevel()) ?? {},
    });
    const recipients = createRecipients({ registry, rosters, channelConfig });

    function phoneOf(row: OutboxRow): string | undefined {
      const hash = row.recipientId.indexOf('#contact');
      if (hash > 0) return registry.site(row.recipientId.slice(0, hash))?.contacts[Number(row.recipientId.slice(hash + 8))]?.phone;
      if (row.recipientId.endsWith('#resident')) return registry.site(row.recipientId.slice(0, -9))?.resident?.phone;
      return registry.person(row.recipientId)?.phone;
    }

    async function render(row: OutboxRow): Promise<OutboundMessage> {
      const recipient = { kind: row.recipientKind, id: row.recipientId, name: row.recipientName, locale: row.locale, phone: phoneOf(row) };
      const base = { id: row.id, channel: row.channel, kind: row.kind, address: row.address, recipient };
      if (row.reportId !== null) {
        const r = await refs.reports?.get(row.reportId);
        if (!r) throw new Error(`report ${row.reportId} is gone`);
        const lines = row.locale === 'en' ? r.body.lines.en : r.body.lines.zh;
        const m = renderReport({ kind: r.kind, centerName: registry.center(r.centerId)?.name ?? r.centerId, period: r.period, lines, locale: row.locale, publicUrl: config.publicUrl });
        return { ...base, messageId: `<outbox-${row.id}.report-${r.id}@${host}>`, subject: m.subject, text: m.text, html: m.html, data: { type: 'report', report: r.kind, centerId: r.centerId, period: r.period, lines, recipient } };
      }
      const incident = row.incidentId ? await refs.incidents?.get(row.incidentId) : undefined;
      if (!incident) throw new Error(`incident ${row.incidentId} is gone`);
      const site = registry.site(incident.siteId);
      const device = registry.get(incident.deviceId);
      // A storm digest (issue 17 point 3): the site's other open incidents travel in the same message.
      const others = await refs.incidents!.openAtSite(incident.siteId, incident.id);
      // Issue 19 point 5: everyone but the console (whose readers are logged in) can acknowledge from the message itself.
      const ack = tokens && row.channel !== 'console' ? ackLink(config.publicUrl, tokens.sign(row.id, clock.now())) : undefined;
      const m = renderIncident({ incident, kind: row.kind as NotificationKind, site, device, locale: row.locale, recipientName: row.recipientName, publicUrl: config.publicUrl, timezone: rosters.timezoneOf(incident.centerId), others, ...(ack ? { ackLink: ack, replyWord: config.ack!.replyWords[0] } : {}) });
      return {
        ...base,
        messageId: `<outbox-${row.id}.${incident.id}@${host}>`,
        subject: m.subject,
        text: m.text,
        html: m.html,
        data: {
          type: 'incident',
          kind: row.kind,
          step: row.step,
          // A voice call is read out: no link, the key to press instead (issue 19 point 5).
          text: row.channel === 'voice' && ack ? `${m.subject}${row.locale === 'en' ? ` Press ${config.ack!.keypressDigit} to acknowledge.` : ` 请按${config.ack!.keypressDigit}键确认接警。`}` : m.short,
          link: incidentLink(config.publicUrl, incident.id),
          ackLink: ack ?? null,
          ackReply: ack ? config.ack!.replyWords[0] ?? null : null,
          ackDigit: ack ? config.ack!.keypressDigit : null,
          incident: {
            id: incident.id, level: incident.level, state: incident.state, category: incident.category, condition: incident.condition,
            title: row.locale === 'en' ? incident.title.en : incident.title.zh, centerId: incident.centerId, siteId: incident.siteId,
            siteName: site?.name ?? null, address: site?.address ?? null, deviceId: incident.deviceId, location: device?.location ?? null,
            zone: incident.zone, openedAt: incident.openedAt, findingCount: incident.findingCount, recurrenceOf: incident.recurrenceOf,
          },
          resident: site?.resident ? { name: site.resident.name, phone: site.resident.phone ?? null } : null,
          others: others.map((o) => ({ id: o.id, level: o.level, state: o.state, zone: o.zone, title: row.locale === 'en' ? o.title.en : o.title.zh, link: incidentLink(config.publicUrl, o.id) })),
          recipient,
        },
      };
    }

    const tokens = config.ack ? createAckTokens({ secret: config.ack.secret, ttlMs: config.ack.ttlMs }) : undefined;
    const outbox = createOutbox({
      sql, clock, logger: logger.child({ part: 'outbox' }), metrics, channels, render, ...(deps.outbox ? { options: deps.outbox } : {}),
    });
    refs.outbox = outbox;
    const escalation: Escalation = createEscalation({
      sql, clock, logger: logger.child({ part: 'escalation' }), bus, outbox, recipients, policies, metrics,
      pollMs: deps.escalationPollMs ?? (sql.dialect === 'postgres' ? 1_000 : 0),
    });
    const incidents = createIncidents({ sql, bus, clock, logger, escalation, outbox, metrics, deliveries: createDeliveries(sql) });
    refs.incidents = incidents;
    const remoteAck = createRemoteAck({
      clock, logger: logger.child({ part: 'ack' }), registry, incident: incidents.get, outbox, tokens, timezoneOf: (c) => rosters.timezoneOf(c),
      acknowledgeFrom: incidents.acknowledgeFrom, remark: incidents.remark, stopTree: escalation.stopTree, unanswered: escalation.unanswered,
      notified: (id, note) => {
        void incidents.get(id).then((i) => {
          if (i) bus.emit('incident', { kind: 'notified', incident: i, at: clock.now(), note });
        }, (err: unknown) => logger.warn({ err, incident: id }, 'could not read the incident a receipt is about'));
      },
      options: { replyWords: config.ack?.replyWords ?? ['1'], keypressDigit: config.ack?.keypressDigit ?? '1' },
    });
    const reports = createReports({ sql, registry, rosters, outbox, clock, logger: logger.child({ part: 'reports' }), installedAt: deps.installedAt });
    refs.reports = reports;
    const schedules = createSchedules({ registry, rosters, reports, clock, logger: logger.child({ part: 'cron' }), installedAt: deps.installedAt, jobs: deps.jobs, claims: deps.claims });
    return { outbox, escalation, incidents, reports, schedules, remoteAck, unsubscribe: undefined as (() => void) | undefined };
  }

  function must() {
    if (!parts) throw new Error('alerts not started');
    return parts;
  }

  // The public surface is asynchronous (issue 21): the stores run on a SQL runner that may be
  // PostgreSQL. `async` also makes "alerts not started" a rejection, as every refusal is.
  const service: IncidentService = {
    list: async (f) => must().incidents.service.list(f),
    get: async (id) => must().incidents.service.get(id),
    timeline: async (id) => must().incidents.service.timeline(id),
    acknowledge: async (id, actor, note) => must().incidents.service.acknowledge(id, actor, note),
    dispatch: async (id, actor, assignee, note) => must().incidents.service.dispatch(id, actor, assignee, note),
    onSite: async (id, actor, note) => must().incidents.service.onSite(id, actor, note),
    enRoute: async (id, actor, note) => must().incidents.service.enRoute(id, actor, note),
    resolve: async (id, actor, body) => must().incidents.service.resolve(id, actor, body),
    review: async (id, actor, note) => must().incidents.service.review(id, actor, note),
    note: async (id, actor, text) => must().incidents.service.note(id, actor, text),
    call: async (id, actor, c) => must().incidents.service.call(id, actor, c),
    deliveries: async (id) => must().incidents.service.deliveries(id),
    remarks: async (centerId, from, to) => must().incidents.service.remarks(centerId, from, to),
  };

  const lifecycle: Lifecycle = {
    async start() {
      if (parts) return;
      const p = build();
      parts = p;
      p.outbox.start();
      // Provider receipts (contracts/channels.ts) land on the attempt they answer, and then replies,
      // keypresses and unanswered calls act: in that order, since "every call of the stage went
      // unanswered" reads the receipt just recorded.
      const remote = p.remoteAck;
      p.unsubscribe = bus.on('channel.inbound', 'alerts', (e) => {
        const work = async () => {
          if (e.kind === 'receipt') await p.outbox.recordReceipt({ channel: e.channel, providerId: e.providerId, outboxId: e.match?.outboxId, status: e.status, at: e.at, detail: e.detail });
          await remote.onInbound(e);
        };
        work().catch((err: unknown) => logger.error({ err, channel: e.channel, kind: e.kind }, 'could not act on a message from a provider'));
      });
      // Every due and overdue step runs before start() returns, as a restart finds them.
      await p.escalation.start();
      if (deps.cron !== false) await p.schedules.start();
    },
    async stop() {
      const p = parts;
      if (!p) return;
      p.unsubscribe?.();
      // Held repeats are written before the database closes.
      await p.incidents.flush();
      await p.schedules.stop();
      await p.escalation.stop();
      await p.outbox.stop();
      await Promise.allSettled([...own, consoleChannel].map((c) => c.close()));
      parts = undefined;
    },
  };

  return {
    ...lifecycle,
    /**
     * Resolves once every finding handed over before is recorded (repeats held for their window
     * aside): cluster mode's rule worker acknowledges a log record only then, so a record whose
     * alarm a dying node had not committed is handled again by the next owner. Never rejects.
     */
    recorded(): Promise<void> {
      return parts ? parts.incidents.recorded() : Promise.resolve();
    },
    /** Whether a finding handed over is not yet recorded (what recorded() would wait for). */
    get unrecorded(): boolean {
      return parts?.incidents.unrecorded ?? false;
    },
    /**
     * The alarm path: resolves once the finding is recorded (its incident opened or updated, its
     * first notifications queued, bus 'incident' emitted); never rejects. Scoring never waits for
     * it; a PUBACK only on PostgreSQL without the partitioned log, at most 1 s (app/watchfire.ts).
     * Call only between start() and stop().
     */
    handleFinding(f: Finding, receivedAt?: number): Promise<void> {
      if (!parts) {
        logger.fatal({ finding: f }, 'finding arrived while alerts are not started');
        return Promise.resolve();
      }
      return parts.incidents.handleFinding(f, receivedAt);
    },
    service,
    /** Issue 19 point 5: the one action a signed link may take (the dashboards' /ack page). */
    ackLinks: {
      inspect: async (token) => must().remoteAck.links.inspect(token),
      redeem: async (token) => must().remoteAck.links.redeem(token),
    } satisfies AckLinks as AckLinks,
    policies,
    /** Console notifications (escalations, reminders) as an in-process stream. */
    console: consoleChannel,
    outbox: {
      stats: async () => must().outbox.stats(),
      pending: async (limit?: number) => must().outbox.pending(limit),
      ofIncident: async (incidentId: string) => must().outbox.ofIncident(incidentId),
      attempts: async (outboxId: number) => must().outbox.attempts(outboxId),
    },
    /** Issue 19 point 4: someone answered; the incident's call trees reach nobody else. Returns the stages cancelled. */
    stopTree: async (incidentId: string) => must().escalation.stopTree(incidentId, clock.now()),
    /** Who a provider's callback is about (contracts/channels.ts); the callback adapter asks it. */
    ledger: {
      byProviderId: async (channel: string, providerId: string, outboxId?: number) => must().outbox.byProviderId(channel, providerId, outboxId),
      lastTo: async (channel: string, phone: string, withinMs: number) => must().outbox.lastTo(channel, phone, withinMs),
    } satisfies ChannelLedger as ChannelLedger,
    escalations: {
      pending: async () => must().escalation.pending(),
      of: async (incidentId: string) => must().escalation.steps(incidentId),
    },
    rosters: {
      onDuty: (centerId: string, at: number) => rosters.onDuty(centerId, at),
      activeShifts: (centerId: string, at: number) => rosters.activeShifts(centerId, at),
    },
    reports: {
      handover: async (centerId: string, at: number) => must().reports.handover(centerId, at),
      daily: async (centerId: string, day: string) => must().reports.daily(centerId, day),
      monthlyRatings: async (centerId: string, month: string) => must().reports.monthlyRatings(centerId, month),
      get: async (id: number) => must().reports.get(id),
      /** The cron plan, in memory: synchronous. */
      scheduled: () => must().schedules.planned(),
    },
  };
}

export type Alerts = ReturnType<typeof createAlerts>;
