// The rule worker of cluster mode: owns partitions of the log of readings under leases, rebuilds
// their rule state from the log, scores what is appended to them (issue 21 point 4).
export { createRuleWorker } from './rule-worker.ts';
export type { RuleWorker, RuleWorkerDeps } from './rule-worker.ts';
