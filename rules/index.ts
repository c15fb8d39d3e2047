// The rule engine's public face (issue 3). app/ wires it: ingest → evaluate → store + findings.
export { createRuleEngine } from './engine.ts';
export type { RuleEngine, RuleEngineDeps, Evaluation, ReloadResult, RuleEngineStats, RuleError } from './engine.ts';
export { parseRuleSet, resolveDeviceRules, resolveDeviceRulesLenient, checkDeviceRules, RuleSetSchema } from './schema.ts';
export type { RuleSet, SmokeRules, PanelRules, SettlementRules } from './schema.ts';
export { DEFAULT_RULE_SET } from './defaults.ts';
export { watchRuleFile } from './watch.ts';
export type { WatchRuleFileOptions } from './watch.ts';
export { offlineAfterMs } from './any.ts';
