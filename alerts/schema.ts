// The alerts module's tables in the embedded SQL store (DESIGN.md "Storage": incidents, audit
// trail, notification outbox, escalation timers — the state that must survive a restart) are
// created and changed by the migration list in app/migrations/ (issue 18 point 3).

export const ACTIVE_STATES = ['open', 'acknowledged', 'dispatched', 'on_site'] as const;
