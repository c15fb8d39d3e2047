// The alerts module's Prometheus metrics. Get-or-create, so a second instance on the same registry
// (a restart inside one process, as the restart tests do) reuses the series instead of throwing.
import { Counter, Gauge, type Registry } from 'prom-client';

function counter<L extends string>(reg: Registry, name: string, help: string, labelNames: readonly L[]): Counter<L> {
  return (reg.getSingleMetric(name) as Counter<L> | undefined) ?? new Counter({ name, help, labelNames, registers: [reg] });
}

export function createAlertMetrics(reg: Registry, collect: { outboxDepth: () => Record<string, number> | Promise<Record<string, number>>; activeByLevel: () => Promise<Record<string, number>> }) {
  const depthName = 'watchfire_alerts_outbox_depth';
  const activeName = 'watchfire_alerts_incidents_active';
  // Gauges read the database at scrape time (asynchronously: it may be PostgreSQL); a re-created instance replaces the old callback.
  reg.removeSingleMetric(depthName);
  reg.removeSingleMetric(activeName);
  new Gauge({
    name: depthName,
    help: 'Notifications not yet delivered, by channel',
    labelNames: ['channel'],
    registers: [reg],
    async collect() {
      const depth = await collect.outboxDepth();
      this.reset();
      for (const [channel, n] of Object.entries(depth)) this.set({ channel }, n);
    },
  });
  new Gauge({
    name: activeName,
    help: 'Incidents not yet resolved, by level',
    labelNames: ['level'],
    registers: [reg],
    async collect() {
      const active = await collect.activeByLevel();
      this.reset();
      for (const [level, n] of Object.entries(active)) this.set({ level }, n);
    },
  });
  return {
    findings: counter(reg, 'watchfire_alerts_findings_total', 'Findings handled, by what they did to incidents', ['outcome']),
    opened: counter(reg, 'watchfire_alerts_incidents_opened_total', 'Incidents opened, by level', ['level']),
    transitions: counter(reg, 'watchfire_alerts_transitions_total', 'Incident transitions, by target state', ['state']),
    escalations: counter(reg, 'watchfire_alerts_escalations_total', 'Escalation steps executed, by step', ['step']),
    attempts: counter(reg, 'watchfire_alerts_notify_attempts_total', 'Notification send attempts, by channel and outcome', ['channel', 'outcome']),
    digested: counter(reg, 'watchfire_alerts_digested_total', 'Notifications not sent because the person already had this step for the same site within the storm window (issue 17)', ['step']),
    receipts: counter(reg, 'watchfire_alerts_notify_receipts_total', 'Provider delivery receipts recorded on attempts (issue 19), by channel and status', ['channel', 'status']),
    noRecipient: counter(reg, 'watchfire_alerts_no_recipient_total', 'Notification targets that found nobody (WF_NOTIFY_NO_RECIPIENT), by step and target', ['step', 'to']),
  };
}

export type AlertMetrics = ReturnType<typeof createAlertMetrics>;
